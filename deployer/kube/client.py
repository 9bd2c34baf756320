"""One HTTP client per cluster and identity: the choke point every Kubernetes request goes through.

A pool of keep-alive connections per cluster (``deployer.httpclient``, over the standard
library), trusting the cluster's CA, and raw JSON: deployer works with plain dicts, so the
official client's generated model classes would only cost time and lose fields; importing that
client cost every run about 60 ms and a pydantic model build, and urllib3 under it 40 ms more, for
retries and redirects deployer decides itself (issue 13).

Every request here:
- carries the cluster's own bearer token (from its ``BearerSource``), read again and retried once
  after a 401, never logged or put into a message;
- has a connect and a read timeout;
- turns any failure into a deployer error naming the cluster and what was being done.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from deployer import httpclient
from deployer.kube import retry
from deployer.kube.bearer import BearerSource
from deployer.kube.errors import api_error, parse_status, transport_error

USER_AGENT = "deployer (python)"


@dataclass(frozen=True)
class Endpoint:
    """Where a cluster's API server is and how to trust it."""

    cluster: str
    server: str
    ca_file: str | None = None
    ca_data: str | None = None


@dataclass(frozen=True)
class ClientOptions:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    pool_size: int = 16
    """Connections kept per cluster; sync applies up to this many objects at once."""
    retry_policy: retry.RetryPolicy = retry.RetryPolicy()


@dataclass(frozen=True)
class Impersonation:
    user: str
    groups: tuple[str, ...] = ()


class Response:
    __slots__ = ("status", "data")

    def __init__(self, status: int, data: dict[str, Any]) -> None:
        self.status = status
        self.data = data


class KubeClient:
    """Requests to one cluster as one identity. Thread-safe: syncs share it across workers."""

    def __init__(self, endpoint: Endpoint, bearer: BearerSource, options: ClientOptions = ClientOptions(), *,
                 identity: str = "", _pool: httpclient.Pool | None = None, _shared: dict[str, Any] | None = None,
                 impersonate: Impersonation | None = None, sleep: Callable[[float], None] = time.sleep,
                 on_retry: Callable[[str], None] | None = None) -> None:
        self.endpoint = endpoint
        self.cluster = endpoint.cluster
        self.options = options
        self._bearer = bearer
        self.identity = identity or bearer.describe()
        self.impersonate = impersonate
        self._sleep = sleep
        self._on_retry = on_retry or _say_nothing
        self._base_path = urllib.parse.urlsplit(endpoint.server).path.rstrip("/")
        self._pool = _pool or self._make_pool(endpoint, options)
        # Discovery answers, shared with impersonating copies (same cluster, same API).
        self.shared: dict[str, Any] = _shared if _shared is not None else {"lock": threading.Lock()}

    @staticmethod
    def _make_pool(endpoint: Endpoint, options: ClientOptions) -> httpclient.Pool:
        # Verified TLS against the cluster's CA (the system's when the file gives none), as the
        # official client sets it up. The pool retries nothing: every retry is decided in
        # ``request`` (deployer.kube.retry), where it knows whether the request may be sent twice,
        # waits within a budget and says so.
        return httpclient.Pool(endpoint.server, context=httpclient.tls_context(endpoint.ca_file, endpoint.ca_data),
                               connect_timeout=options.connect_timeout, read_timeout=options.read_timeout,
                               maxsize=options.pool_size)

    def impersonating(self, user: str, groups: tuple[str, ...]) -> KubeClient:
        """The same connection acting as another identity (Impersonate-User/Group headers): how
        verify checks each declared subject with the admin credential."""
        label = f"{self.identity} impersonating {user}"
        return KubeClient(self.endpoint, self._bearer, self.options, identity=label, _pool=self._pool,
                          _shared=self.shared, impersonate=Impersonation(user, groups), sleep=self._sleep,
                          on_retry=self._on_retry)

    def close(self) -> None:
        if self.impersonate is None:
            self._pool.close()

    # --- the one request path ------------------------------------------------------------------

    def request(self, method: str, path: str, *, what: str, query: dict[str, Any] | None = None,
                body: Any = None, content_type: str = "application/json",
                ok: tuple[int, ...] = ()) -> Response:
        """Send one request; return the parsed JSON of a 2xx answer (or of a status in ``ok``).

        Sent again when the API server asks for it or the network failed, as ``retry.decide``
        allows for this request (never a create or delete that may have been acted on), each retry
        announced as progress. A 401 reads the credential again once and retries.

        Raises a deployer error (Forbidden, Conflict, NotFound, Unreachable, Credentials, Api)
        whose message starts with the cluster and ``what``.
        """
        url = self._base_path + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        # JSON is YAML too: an apply patch (application/apply-patch+yaml) is sent as JSON.
        payload = None if body is None else json.dumps(body, default=_isoformat).encode()
        sent = retry.Sent(method, content_type if body is not None else "",
                          has_resource_version=_has_resource_version(body))
        policy = self.options.retry_policy
        attempt, waited, refreshed = 0, 0.0, False
        while True:
            attempt += 1
            try:
                status, retry_after, data = self._send(method, url, payload, content_type)
            except httpclient.NoAnswer as failed:
                kind = _transport_kind(failed)
                decision = retry.decide(policy, sent, retry.Failure(transport=kind), attempt, waited)
                if decision is None:
                    raise transport_error(self.cluster, self.endpoint.server, what, failed.cause) from failed.cause
            else:
                if status == 401 and not refreshed:
                    refreshed = True
                    self._bearer.invalidate()  # the token may have expired or rotated: get it once more
                    attempt -= 1  # a fresh credential is not a retry of a failing server
                    continue
                if 200 <= status < 300 or status in ok:
                    return Response(status, _json(data))
                answer = parse_status(data)
                failure = retry.Failure(status=status, retry_after=retry_after, reason=answer.get("reason") or "",
                                        message=str(answer.get("message") or ""))
                decision = retry.decide(policy, sent, failure, attempt, waited)
                if decision is None:
                    raise api_error(self.cluster, what, status, data, identity=self.identity)
            self._on_retry(f"{decision.why} during {what}, retrying in {decision.delay:.1f} s "
                           f"({attempt + 1}/{policy.max_attempts})")
            self._sleep(decision.delay)
            waited += decision.delay

    def _send(self, method: str, url: str, payload: bytes | None, content_type: str) -> tuple[int, str | None, bytes]:
        """(status, Retry-After, body) of one send; ``httpclient.NoAnswer`` when there was no answer."""
        headers = [("Accept", "application/json"),
                   # Named in the API server's audit log, so an operator can tell deployer's
                   # requests from kubectl's and the controllers'.
                   ("User-Agent", USER_AGENT),
                   ("Authorization", f"Bearer {self._bearer.token()}")]
        if payload is not None:
            headers.append(("Content-Type", content_type))
        if self.impersonate is not None:
            headers.append(("Impersonate-User", self.impersonate.user))
            headers += [("Impersonate-Group", group) for group in self.impersonate.groups]
        answer = self._pool.request(method, url, headers=headers, body=payload)
        return answer.status, answer.header("Retry-After"), answer.data

    # --- conveniences ----------------------------------------------------------------------------

    def get_json(self, path: str, *, what: str, query: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("GET", path, what=what, query=query).data

    def post_json(self, path: str, body: dict[str, Any], *, what: str) -> dict[str, Any]:
        return self.request("POST", path, what=what, body=body).data


def _transport_kind(failed: httpclient.NoAnswer) -> retry.Transport | None:
    """How a send failed without an answer; None for a TLS verification failure (never retried)."""
    if failed.phase == "tls":
        # A handshake that failed on a broken connection sent no request; a certificate that does
        # not verify will not verify next time either.
        return None if failed.certificate_refused else "connect"
    if failed.phase == "connect":
        return "connect"
    return "timeout" if failed.timed_out else "reset"


def _has_resource_version(body: Any) -> bool:
    """Whether a body carries a resourceVersion precondition (a PUT the server refuses to replay)."""
    if isinstance(body, dict):
        return bool((body.get("metadata") or {}).get("resourceVersion"))
    return False


def _isoformat(value: Any) -> str:
    """Times in a body as the official client's serialiser writes them."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def _say_nothing(message: str) -> None:
    pass


def _json(data: bytes | None) -> dict[str, Any]:
    """Every answer of the API server is a JSON object; an empty or unreadable body is an empty one.

    orjson reads a list of hundreds of objects about three times as fast as ``json``; what it
    refuses and ``json`` reads (an integer beyond 64 bits) is read by ``json``."""
    if not data:
        return {}
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            parsed = json.loads(data)
        except ValueError:
            return {}
    return parsed if isinstance(parsed, dict) else {}
