"""The few HTTP calls the platform itself makes: readiness probes, creating fake nodes, the
GCP stand-in's admin API.

Plain urllib rather than the Kubernetes client: `deployer platform status` and `up` stay quick to
import, and deployer.kube remains the only user of the Kubernetes client for deploy work.
TLS is verified against the cluster's own CA; a bearer token is read from its file per request
and never logged.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT = 5.0


class ApiHttp:
    def __init__(self, server: str, ca_file: Path | None = None, token_file: Path | None = None) -> None:
        self.server = server.rstrip("/")
        self._context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
        self._token_file = token_file

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, decoded JSON or text). HTTP error statuses are returned, not raised."""
        headers = {"Accept": "application/json"}
        if self._token_file is not None:
            headers["Authorization"] = "Bearer " + self._token_file.read_text().strip()
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.server + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT, context=self._context) as resp:
                return resp.status, _decode(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _decode(exc.read())

    def ok(self, path: str) -> bool:
        status, _ = self.request("GET", path)
        return status == 200


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
