"""The middleware that decides, before any route runs, who a request is and whether its POST is
genuine: a forged proxy header is refused, a bearer ID token or the session names the user, and
an unsafe method without this session's CSRF token is refused. The route then only asks
``authorize`` whether that user may do the action.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployer.web.auth import csrf
from deployer.web.auth.denied import AccessDenied
from deployer.web.auth.oidc import OidcSignIn
from deployer.web.auth.policy import Identity
from deployer.web.auth.proxy import ForgedProxyHeader, proxy_identity
from deployer.web.auth.sessions import user_of
from deployer.web.auth.settings import AuthSettings

MAX_FORM = 1 << 20  # the largest form body read for its CSRF field; the page's forms are tiny
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Refusal:
    """One refused request, for the audit trail: who (as far as known), what, where, why."""

    actor: str
    address: str
    action: str
    service: str
    environment: str
    reason: str
    at: float


RefusalHook = Callable[[Refusal], None]


def anonymous() -> Identity:
    """Who a request is when no sign-in is configured at all (the page on localhost for one
    person): unrestricted environments stay usable, production is refused."""
    return Identity(ANONYMOUS, frozenset(), "none")


class Gatekeeper:
    def __init__(self, app: ASGIApp, settings: AuthSettings, signin: OidcSignIn | None,
                 on_refusal: RefusalHook | None = None, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.settings = settings
        self.signin = signin
        self.on_refusal = on_refusal
        self.clock = clock

    @property
    def open_mode(self) -> bool:
        return self.signin is None and not self.settings.trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        address = (scope.get("client") or ("", 0))[0]
        session: dict[str, Any] = scope.get("session", {})
        method, path = scope["method"], scope["path"]
        try:
            identity = proxy_identity(address, headers, self.settings.trusted_proxies)
        except ForgedProxyHeader as exc:
            return await self._refuse(scope, send, 403, str(exc) + "; the request was refused",
                                      "Reach the page through its proxy; only --trusted-proxy addresses may name "
                                      "the user.", None)
        bearer = headers.get("authorization", "")
        by_bearer = False
        if identity is None and bearer.lower().startswith("bearer "):
            if self.signin is None:
                return await self._refuse(scope, send, 401, "this page takes no bearer tokens: no OIDC issuer is "
                                                            "configured", "Use a session (/login).", None)
            try:
                identity = await self.signin.verify_bearer(bearer[7:].strip())
            except AccessDenied as exc:
                return await self._refuse(scope, send, 401, exc.message, exc.hint or "", None)
            by_bearer = True
        if identity is None:
            identity = user_of(session, self.settings.session_lifetime, self.clock())
        if identity is None and self.open_mode:
            identity = anonymous()
        scope.setdefault("state", {})["identity"] = identity
        if method in csrf.UNSAFE_METHODS and not by_bearer:
            sent = headers.get(csrf.HEADER)
            body: bytes | None = None
            if sent is None and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                body = await _read_body(receive, MAX_FORM)
                sent = csrf.token_in_form(body) if body is not None else None
            if not csrf.matches(session, sent):
                return await self._refuse(scope, send, 403, f"{method} {path} came without this session's CSRF token",
                                          "Reload the page and press the button again; scripts send the token "
                                          "from /auth/session in the X-CSRF-Token header.", identity)
            if body is not None:
                receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, status: int, message: str, hint: str,
                      identity: Identity | None) -> None:
        address = (scope.get("client") or ("", 0))[0]
        if self.on_refusal is not None:
            self.on_refusal(Refusal(identity.actor if identity else f"web:unknown@{address}", address,
                                    f"{scope['method']} {scope['path']}", "", "", message, self.clock()))
        await respond(scope, send, status, message, hint)


async def respond(scope: Scope, send: Send, status: int, message: str, hint: str) -> None:
    """A refusal as JSON for the API (and scripts that ask for it), else as plain text."""
    accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1")
    if scope["path"].startswith("/api/") or "application/json" in accept:
        body = json.dumps({"error": message, "hint": hint}).encode()
        content_type = b"application/json"
    else:
        body = f"deployer web: {message}\n{hint}\n".encode()
        content_type = b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, then: Receive) -> Receive:
    """The body read for its token, once more for the route; then the connection's own messages
    (a disconnect, when the client goes)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await then()

    return receive
