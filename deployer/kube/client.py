"""One HTTP client per cluster and identity: the choke point every Kubernetes request goes through.

It uses the official client's ``ApiClient`` for what it is good at (TLS set-up from the cluster's
CA, a pooled urllib3 connection manager) and sends raw JSON itself: deployer works with plain
dicts, so deserialising into the generated model classes would only cost time and lose fields.

Every request here:
- carries the cluster's own bearer token (from its ``BearerSource``), read again and retried once
  after a 401, never logged or put into a message;
- has a connect and a read timeout;
- turns any failure into a deployer error naming the cluster and what was being done.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import sys
import threading
import time
import types
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3


class _ExecutedOnFirstUse(types.ModuleType):
    """A module whose code runs the first time one of its own attributes is asked for.

    (importlib's LazyLoader is not enough here: it runs the module on *any* attribute access,
    and the import system reads ``__spec__`` while importing the parent package.)
    """

    def __getattr__(self, attr: str) -> Any:
        self.__class__ = types.ModuleType  # type: ignore[assignment]  # becomes a plain module for good
        assert self.__spec__ is not None and self.__spec__.loader is not None  # set by _defer below
        self.__spec__.loader.exec_module(self)
        return getattr(self, attr)


def _defer_kubeconfig_loading() -> None:
    """Let subpackages deployer never uses run only when used, before ``kubernetes`` is imported.

    The package's ``__init__`` imports all of them; ``kubernetes.config`` alone (kubeconfig and
    in-cluster loading, which pull in google-auth, requests and oauthlib) costs about 0.25 s, most
    of what importing the client costs, for code deployer never runs (it builds clients from
    cluster files). Each is registered unexecuted and runs, complete, on first use by anyone.
    Nothing changes if ``kubernetes`` was imported already.
    """
    if "kubernetes" in sys.modules:
        return
    package = importlib.util.find_spec("kubernetes")  # locates the package without running it
    if package is None or not package.submodule_search_locations:
        return
    for name in _UNUSED_SUBPACKAGES:
        spec = importlib.machinery.PathFinder.find_spec(name, list(package.submodule_search_locations))
        if name in sys.modules or spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        module.__class__ = _ExecutedOnFirstUse
        sys.modules[name] = module


# What kubernetes/__init__ imports and deployer never calls: kubeconfig loading (google-auth,
# oauthlib), exec/attach streams (websocket-client, requests), the dynamic client, watches (pydoc),
# utils (yaml creation, durations), leader election and informers.
_UNUSED_SUBPACKAGES = ("kubernetes.config", "kubernetes.stream", "kubernetes.dynamic", "kubernetes.watch",
                       "kubernetes.utils", "kubernetes.leaderelection", "kubernetes.informer")


_defer_kubeconfig_loading()

from kubernetes.client import ApiClient, Configuration  # noqa: E402 - after the deferral above
from kubernetes.client.exceptions import ApiException  # noqa: E402

from deployer.kube import retry  # noqa: E402
from deployer.kube.bearer import BearerSource  # noqa: E402
from deployer.kube.errors import api_error, parse_status, transport_error  # noqa: E402

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
                 identity: str = "", _api: ApiClient | None = None, _shared: dict[str, Any] | None = None,
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
        self._api = _api or self._make_api(endpoint, options)
        # Discovery answers, shared with impersonating copies (same cluster, same API).
        self.shared: dict[str, Any] = _shared if _shared is not None else {"lock": threading.Lock()}

    @staticmethod
    def _make_api(endpoint: Endpoint, options: ClientOptions) -> ApiClient:
        config = Configuration()
        config.host = endpoint.server.rstrip("/")
        config.verify_ssl = True
        if endpoint.ca_file:
            config.ssl_ca_cert = endpoint.ca_file
        if endpoint.ca_data:
            config.ca_cert_data = endpoint.ca_data
        config.connection_pool_maxsize = options.pool_size
        # urllib3 retries nothing: every retry is decided in ``request`` (deployer.kube.retry), where
        # it knows whether the request may be sent twice, waits within a budget and says so.
        config.retries = False
        return ApiClient(config)

    def impersonating(self, user: str, groups: tuple[str, ...]) -> KubeClient:
        """The same connection acting as another identity (Impersonate-User/Group headers): how
        verify checks each declared subject with the admin credential."""
        label = f"{self.identity} impersonating {user}"
        return KubeClient(self.endpoint, self._bearer, self.options, identity=label, _api=self._api,
                          _shared=self.shared, impersonate=Impersonation(user, groups), sleep=self._sleep,
                          on_retry=self._on_retry)

    def close(self) -> None:
        if self.impersonate is None:
            self._api.close()  # type: ignore[no-untyped-call]  # the kubernetes client ships no types

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
        url = self._api.configuration.host + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        payload: Any = None
        if body is not None:
            # The client JSON-encodes dicts itself for JSON types; others are sent as given.
            payload = body if "json" in content_type else json.dumps(body).encode()
        sent = retry.Sent(method, content_type if body is not None else "",
                          has_resource_version=_has_resource_version(body))
        policy = self.options.retry_policy
        attempt, waited, refreshed = 0, 0.0, False
        while True:
            attempt += 1
            try:
                status, retry_after, data = self._send(method, url, payload, content_type)
            except _NoAnswer as failed:
                decision = retry.decide(policy, sent, retry.Failure(transport=failed.kind), attempt, waited)
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

    def _send(self, method: str, url: str, payload: Any, content_type: str) -> tuple[int, str | None, bytes]:
        """(status, Retry-After, body) of one send; ``_NoAnswer`` when there was no HTTP answer."""
        headers = urllib3.HTTPHeaderDict()
        headers["Accept"] = "application/json"
        # Named in the API server's audit log, so an operator can tell deployer's requests from
        # kubectl's and the controllers'.
        headers["User-Agent"] = USER_AGENT
        headers["Authorization"] = f"Bearer {self._bearer.token()}"
        if payload is not None:
            headers["Content-Type"] = content_type
        if self.impersonate is not None:
            headers["Impersonate-User"] = self.impersonate.user
            for group in self.impersonate.groups:
                headers.add("Impersonate-Group", group)
        try:
            response = self._api.call_api(method, url, header_params=headers, body=payload,
                                          _request_timeout=(self.options.connect_timeout,
                                                            self.options.read_timeout))
            return response.status, response.getheader("Retry-After"), response.read()  # type: ignore[no-untyped-call]
        except (urllib3.exceptions.HTTPError, ApiException, OSError) as exc:
            # ApiException here only wraps TLS failures (status 0); its headers are never read.
            raise _NoAnswer(_transport_kind(exc), exc) from exc

    # --- conveniences ----------------------------------------------------------------------------

    def get_json(self, path: str, *, what: str, query: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("GET", path, what=what, query=query).data

    def post_json(self, path: str, body: dict[str, Any], *, what: str) -> dict[str, Any]:
        return self.request("POST", path, what=what, body=body).data


class _NoAnswer(Exception):
    """A send that got no HTTP answer, with how it failed (``retry.Transport``)."""

    def __init__(self, kind: retry.Transport | None, cause: BaseException) -> None:
        super().__init__(kind)
        self.kind = kind
        self.cause = cause


def _transport_kind(exc: BaseException) -> retry.Transport | None:
    """How a send failed without an answer; None for a TLS verification failure (never retried)."""
    if isinstance(exc, ApiException):  # the kubernetes client's wrapper of urllib3's SSLError
        text = str(exc.reason)
        # A handshake that failed on a broken connection sent no request; a certificate that does
        # not verify will not verify next time either.
        return None if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower() else "connect"
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):  # NewConnectionError is one too
        return "connect"
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError | TimeoutError):
        return "timeout"
    return "reset"


def _has_resource_version(body: Any) -> bool:
    """Whether a body carries a resourceVersion precondition (a PUT the server refuses to replay)."""
    if isinstance(body, dict):
        return bool((body.get("metadata") or {}).get("resourceVersion"))
    return False


def _say_nothing(message: str) -> None:
    pass


def _json(data: bytes | None) -> dict[str, Any]:
    """Every answer of the API server is a JSON object; an empty or unreadable body is an empty one."""
    if not data:
        return {}
    try:
        parsed = json.loads(data)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
