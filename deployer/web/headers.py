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


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response (pages, JSON, the event stream, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


class AccessLog:
    """One line per request on stderr: address, method, path, status; scrubbed of known secrets
    (uvicorn's own access log is off: it would print paths unscrubbed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [0]

        async def noted(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                client = scope.get("client") or ("-", 0)
                stamp = time.strftime("%d/%b/%Y %H:%M:%S", time.gmtime())
                sys.stderr.write(scrub(f'{client[0]} [{stamp}] "{scope["method"]} {scope["path"]}" '
                                       f"{status[0]}\n"))
            await send(message)

        await self.app(scope, receive, noted)
