"""Reading and writing coordination.k8s.io Leases: the requests behind the deploy lock.

Who may hold a lock is decided in ``deployer.rollout.lock``; taking, renewing and releasing it is
``deployer.pipeline.locking``. Writes here are plain creates and replaces that carry the Lease's
resourceVersion, so a write based on a stale read fails with a 409 (``ConflictError``) instead
of overwriting the other writer.
"""

from __future__ import annotations

from typing import Any

from deployer.kube.client import KubeClient
from deployer.kube.resources import LEASES


def read_lease(client: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The Lease, or None when there is none."""
    answer = client.request("GET", LEASES.item(name, namespace), what=f"read lease {name}", ok=(404,))
    return answer.data if answer.status != 404 else None


def create_lease(client: KubeClient, lease: dict[str, Any]) -> dict[str, Any]:
    """Create ``lease``; a ConflictError when one by that name exists already."""
    meta = lease["metadata"]
    return client.request("POST", LEASES.collection(meta["namespace"]), what=f"create lease {meta['name']}",
                          body=lease).data


def replace_lease(client: KubeClient, lease: dict[str, Any], *, what: str) -> dict[str, Any]:
    """Write ``lease`` as read and changed; a ConflictError when it changed since that read."""
    meta = lease["metadata"]
    return client.request("PUT", LEASES.item(meta["name"], meta["namespace"]), what=f"{what} lease {meta['name']}",
                          body=lease).data
