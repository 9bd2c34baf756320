"""The HTTP face of the stand-in: one small server on 127.0.0.1 for every path Google would split
across hosts (iam.googleapis.com, cloudresourcemanager.googleapis.com, oauth2.googleapis.com) plus
GKE's token check and the admin API.

Paths served:

- ``/v1/projects/{p}/locations/{l}/clusters/{c}``: GKE's clusters.get (see container).
- ``/v1/projects/-/serviceAccounts/{email}:generateAccessToken``: IAM Credentials (see
  iamcredentials).
- ``/v1/...`` and ``/v1/v1/...``: IAM and Resource Manager (see google_rest). The doubled prefix
  is what the google provider sends to an http custom endpoint: it strips the ``/v1/`` from an
  endpoint only when the URL is https (``RemoveBasePathVersion``'s ``http[s]://`` regex), then
  appends ``v1/...`` itself.
- ``/token``: the OAuth token endpoint (see oauth).
- ``/tokenreview``: the kube-apiserver TokenReview webhook.
- ``/_admin/...``: the admin API (see admin; ``/_admin/oidc/clients`` and ``/_admin/oidc/users``
  configure the sign-in).
- ``/.well-known/openid-configuration``, ``/o/oauth2/v2/auth``, ``/oauth2/v3/certs``,
  ``/v1/userinfo`` and ``/token``'s authorization-code grant: Google's OpenID Connect sign-in
  (see oidc).

Every Google API request (not the admin API's) is counted by method and path, in memory, so tests
can tell how often deployer called (``GET /_admin/requests``).

Every request leaves one log line (method, path, status, outcome, time) and nothing else: no
query string, no headers, no body, so no token, assertion or key ever reaches the log.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from deployer_localplatform.gcp_standin import oauth
from deployer_localplatform.gcp_standin.admin import MAX_TOKEN_TTL, AdminApi
from deployer_localplatform.gcp_standin.container import ContainerApi
from deployer_localplatform.gcp_standin.google_rest import GoogleRest, add_project
from deployer_localplatform.gcp_standin.iamcredentials import IamCredentialsApi
from deployer_localplatform.gcp_standin.oidc import OidcProvider
from deployer_localplatform.gcp_standin.responses import GoogleApiError, OAuthError, Response, invalid_argument
from deployer_localplatform.gcp_standin.state import StateStore

LOG = logging.getLogger("deployer_localplatform.gcp_standin")
MAX_BODY = 1 << 20
# The admin API has no authentication: it must never be reachable from another machine.
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class StandInApp:
    """Routes one request to the part that answers it; knows nothing of sockets."""

    def __init__(self, store: StateStore, base_url: str, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self.token_uri = base_url + "/token"
        self.google = GoogleRest(store, self.token_uri, clock)
        self.container = ContainerApi(store, clock)
        self.iamcredentials = IamCredentialsApi(store, clock)
        self.requests: Counter[str] = Counter()
        self._counting = threading.Lock()
        self.admin = AdminApi(store, self.token_uri, clock, self.request_counts)
        self.oidc = OidcProvider(store.path.parent, base_url)

    def request_counts(self) -> dict[str, int]:
        with self._counting:
            return dict(self.requests)

    def handle(self, method: str, target: str, content_type: str, authorization: str | None,
               body: bytes) -> Response:
        split = urlsplit(target)
        path = unquote(split.path)
        try:
            if path == "/_admin/oidc/clients" and method == "POST":
                return Response(200, self.oidc.add_client(_json(body)))
            if path == "/_admin/oidc/users" and method == "POST":
                return Response(200, self.oidc.add_user(_json(body)))
            if path.startswith("/_admin/"):
                return Response(200, self.admin.handle(method, path.removeprefix("/_admin/"), _json(body)))
            with self._counting:
                self.requests[f"{method} {path}"] += 1
            oidc_answer = self._oidc(method, path, split.query, content_type, authorization, body)
            if oidc_answer is not None:
                return oidc_answer
            if path == "/token" and method == "POST":
                form = _json(body) if content_type.startswith("application/json") else _form(body)
                return Response(200, oauth.grant(self.store, form, self.token_uri, self.clock()),
                                {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"})
            if path == "/tokenreview" and method == "POST":
                review = _json(body)
                if review.get("kind") != "TokenReview":
                    raise invalid_argument("the webhook expects an authentication.k8s.io TokenReview.")
                return Response(200, oauth.review(self.store, review, self.clock()))
            if path.startswith("/v1/"):
                google_path = path.removeprefix("/v1/")
                if self.container.serves(google_path):
                    return Response(200, self.container.handle(method, google_path, authorization))
                if self.iamcredentials.serves(google_path):
                    return Response(200, self.iamcredentials.handle(method, google_path, _json(body), authorization))
            for prefix in ("/v1/v1/", "/v1/"):
                if path.startswith(prefix):
                    answer = self.google.handle(method, path.removeprefix(prefix), parse_qs(split.query),
                                                _json(body), authorization)
                    return Response(200, answer)
            raise GoogleApiError(404, "NOT_FOUND", f"The stand-in serves no {method} {path}.")
        except GoogleApiError as exc:
            return exc.response()
        except OAuthError as exc:
            return exc.response()

    def _oidc(self, method: str, path: str, query: str, content_type: str, authorization: str | None,
              body: bytes) -> Response | None:
        """The sign-in's endpoints (see oidc), or None for any other request."""
        if path == "/.well-known/openid-configuration" and method == "GET":
            return Response(200, self.oidc.discovery())
        if path == "/oauth2/v3/certs" and method == "GET":
            return Response(200, self.oidc.jwks())
        if path == "/o/oauth2/v2/auth" and method in ("GET", "POST"):
            params = {k: v[0] for k, v in parse_qs(query).items()}
            if method == "POST":
                params.update(_form(body))
            return self.oidc.authorize(params, self.clock())
        if path == "/v1/userinfo" and method in ("GET", "POST"):
            return Response(200, self.oidc.userinfo(authorization, self.clock()))
        if path == "/token" and method == "POST" and not content_type.startswith("application/json"):
            form = _form(body)
            if form.get("grant_type") == "authorization_code":
                return Response(200, self.oidc.exchange(form, authorization, self.clock()),
                                {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"})
        return None


def _json(body: bytes) -> dict:
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        raise invalid_argument("Invalid JSON payload received.") from None
    if not isinstance(value, dict):
        raise invalid_argument("Invalid JSON payload received. The body must be a JSON object.")
    return value


def _form(body: bytes) -> dict[str, str]:
    try:
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
    except UnicodeDecodeError:
        raise OAuthError("invalid_request", "the body is not form-encoded UTF-8") from None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: google-auth and Go reuse connections
    server_version = "gcp-standin"
    sys_version = ""
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _serve(self) -> None:
        started = time.monotonic()
        try:
            body = self._read_body()
            response = self.server.app.handle(self.command, self.path, self.headers.get("Content-Type", ""),
                                              self.headers.get("Authorization"), body)
        except GoogleApiError as exc:
            response = exc.response()
        except Exception:
            LOG.exception("%s %s failed inside the stand-in", self.command, urlsplit(self.path).path)
            response = GoogleApiError(500, "INTERNAL", "Internal error encountered.").response()
        payload = response.content if response.content is not None else json.dumps(response.body).encode("utf-8")
        # logged before the answer leaves, so whoever got the answer also finds the line
        LOG.info("%s %s -> %d%s (%.0f ms)", self.command, urlsplit(self.path).path, response.status,
                 f" {response.outcome}" if response.outcome else "", (time.monotonic() - started) * 1000)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
                if sum(map(len, chunks)) > MAX_BODY:
                    raise invalid_argument("Request body too large.")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise invalid_argument("Request body too large.")
        return self.rfile.read(length) if length else b""

    def log_request(self, code="-", size="-") -> None:
        pass  # _serve logs its own line; http.server's would carry the query string

    def log_error(self, format, *args) -> None:
        # http.server's message may quote the request line, query string included
        code = args[0] if args and isinstance(args[0], int) else "?"
        LOG.warning("http.server answered %s to a request it could not parse or serve", code)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: StandInApp


class GcpStandIn:
    """The stand-in, in process: ``start()`` serves from a background thread, ``stop()`` ends it.

    ``clock`` is injected so tests can let tokens expire without waiting.
    """

    def __init__(self, state_dir: Path | str, *, projects: Iterable[str] = (), token_ttl: int | None = None,
                 host: str = "127.0.0.1", port: int = 0, clock: Callable[[], float] = time.time) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the stand-in listens on loopback only ({', '.join(LOOPBACK_HOSTS)}), not {host}")
        if token_ttl is not None and not 1 <= token_ttl <= MAX_TOKEN_TTL:
            raise ValueError(f"token TTL must be 1 to {MAX_TOKEN_TTL} seconds, not {token_ttl}")
        self.store = StateStore(Path(state_dir))
        with self.store.change() as state:
            for project_id in projects:
                add_project(state, project_id, clock())
            if token_ttl is not None:
                state.token_ttl = token_ttl
        self._address = (host, port)
        self._clock = clock
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self) -> str:
        """Listen (the socket accepts connections when this returns) and serve; returns the base URL."""
        if self._server is not None:
            raise RuntimeError("the GCP stand-in is already running")
        server = _Server(self._address, _Handler)
        host, port = server.server_address[:2]
        self.base_url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
        server.app = StandInApp(self.store, self.base_url, self._clock)
        self._server = server
        # a short poll so stop() returns promptly; shutdown() waits for the loop's next poll
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="gcp-standin", daemon=True)
        self._thread.start()
        return self.base_url

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the GCP stand-in is not running")
        return self._server.server_address[1]

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> GcpStandIn:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
