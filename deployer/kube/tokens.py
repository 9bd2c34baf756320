"""TokenRequest: a bound, expiring token for a ServiceAccount (``serviceaccounts/NAME/token``).

The caller needs only ``create`` on that one subresource; what it gets back dies on its own.
"""

from __future__ import annotations

import datetime as dt

from deployer.kube.client import KubeClient
from deployer.kube.resources import SERVICE_ACCOUNTS


def request_token(client: KubeClient, namespace: str, service_account: str, seconds: int
                  ) -> tuple[str, dt.datetime]:
    """(token, expiry) of a new token for ``namespace/service_account``, valid ``seconds``."""
    path = SERVICE_ACCOUNTS.item(service_account, namespace) + "/token"
    answer = client.post_json(path, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                     "spec": {"expirationSeconds": seconds}},
                              what=f"request a token for ServiceAccount {namespace}/{service_account}")
    status = (answer or {}).get("status") or {}
    expiry = dt.datetime.fromisoformat(status["expirationTimestamp"].replace("Z", "+00:00"))
    return status["token"], expiry
