"""What the local platform and tests use around a running stand-in: its admin API and the
kube-apiserver webhook configuration that points at it."""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from deployer.errors import ToolError

_HINT = "Look at the stand-in's log in the platform's state folder (`deployer platform status`)."


class AdminClient:
    """The ``/_admin/`` API of a stand-in at ``base_url`` (for example ``http://127.0.0.1:40123``)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def add_project(self, project_id: str) -> dict:
        return self._call("POST", "projects", {"projectId": project_id})

    def create_service_account_with_key(self, project_id: str, account_id: str, display_name: str = "") -> dict:
        """Create the account unless it exists, add a key, and return the key file's JSON (a dict)."""
        answer = self._call("POST", "service-accounts",
                            {"projectId": project_id, "accountId": account_id, "displayName": display_name})
        return answer["keyFile"]

    def revoke_key(self, key: str) -> None:
        """Disable a key, named by its id (a key file's ``private_key_id``) or its full name."""
        self._call("POST", "revoke-key", {"key": key})

    def set_token_ttl(self, seconds: int) -> None:
        self._call("PUT", "token-ttl", {"seconds": seconds})

    def add_gke_cluster(self, project_id: str, location: str, cluster: str, endpoint: str, ca_pem: str) -> None:
        """Make GKE's clusters.get answer for this cluster (``endpoint``: host[:port]; ``ca_pem``: its CA)."""
        self._call("POST", "gke-clusters", {"projectId": project_id, "location": location, "cluster": cluster,
                                            "endpoint": endpoint, "caCertificate": ca_pem})

    def grant(self, project_id: str, role: str, member: str) -> None:
        """Bind ``member`` (``serviceAccount:EMAIL``) to ``role`` in the project's IAM policy."""
        self._call("POST", "grants", {"projectId": project_id, "role": role, "member": member})

    def requests(self) -> dict[str, int]:
        """Google API requests served since start, by ``"METHOD /path"``."""
        return self._call("GET", "requests")["requests"]

    def state(self) -> dict:
        return self._call("GET", "state")

    def add_oidc_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        """Register a relying party of the OpenID Connect sign-in (as a Google Cloud console OAuth client)."""
        self._call("POST", "oidc/clients", {"clientId": client_id, "clientSecret": client_secret,
                                            "redirectUris": redirect_uris})

    def add_oidc_user(self, email: str, groups: tuple[str, ...] | list[str] = (), name: str = "") -> None:
        """A test user who can sign in (by login_hint or the sign-in form), with a groups claim."""
        self._call("POST", "oidc/users", {"email": email, "groups": list(groups), "name": name})

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        url = f"{self.base_url}/_admin/{path}"
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read())["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = exc.reason
            raise ToolError(f"GCP stand-in at {self.base_url} refused {method} /_admin/{path}: "
                            f"{exc.code} {message}", hint=_HINT) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ToolError(f"GCP stand-in at {self.base_url} is unreachable ({reason})",
                            hint="Start the local platform (`deployer platform up`). " + _HINT) from None


def write_webhook_kubeconfig(path: Path | str, base_url: str) -> Path:
    """Write the file for kube-apiserver's ``--authentication-token-webhook-config-file``.

    Pair it with ``--authentication-token-webhook-version=v1``. The webhook is plain http on
    127.0.0.1, so the cluster entry needs no CA and the API server presents no client credential.
    """
    path = Path(path)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gcp-standin",
                      "cluster": {"server": f"{base_url.rstrip('/')}/tokenreview"}}],
        "users": [{"name": "kube-apiserver", "user": {}}],
        "contexts": [{"name": "gcp-standin", "context": {"cluster": "gcp-standin", "user": "kube-apiserver"}}],
        "current-context": "gcp-standin",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".webhook-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yaml.safe_dump(config, out, sort_keys=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
