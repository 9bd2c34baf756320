"""The headers every response carries, as ASGI middleware, and the server's access log.

Scripts and styles come from this server only, so injected markup could not run anyway.
"""

from __future__ import annotations

import sys
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployer.redact import scrub

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class _ResponseStart:
    """ASGI middleware that passes every HTTP response's start message through ``start``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.start(scope, message)
            await send(message)

        await self.app(scope, receive, sending)

    def start(self, scope: Scope, message: Message) -> None:
        raise NotImplementedError


class SecurityHeaders(_ResponseStart):
    """Adds SECURITY_HEADERS to every HTTP response (pages, JSON, the event stream, errors)."""

    def start(self, scope: Scope, message: Message) -> None:
        headers = MutableHeaders(scope=message)
        for name, value in SECURITY_HEADERS.items():
            headers.setdefault(name, value)


class AccessLog(_ResponseStart):
    """One line per request on stderr: address, method, path, status; scrubbed of known secrets
    (uvicorn's own access log is off: it would print paths unscrubbed)."""

    def start(self, scope: Scope, message: Message) -> None:
        client = scope.get("client") or ("-", 0)
        stamp = time.strftime("%d/%b/%Y %H:%M:%S", time.gmtime())
        sys.stderr.write(scrub(f'{client[0]} [{stamp}] "{scope["method"]} {scope["path"]}" {message["status"]}\n'))
