"""The Host allowlist: a request naming any other host is refused with 400 before anything else
runs.

Why: a page on attacker.example can rebind its DNS name to 127.0.0.1; the browser then sends the
deploy page requests whose Origin and Host both say attacker.example, so a same-origin check
passes. Only a list of the names this server is really reached by stops that.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send


def host_allowed(host_header: str | None, allowed: Iterable[str]) -> bool:
    """An entry without a port allows the name on any port; with one, only on that port."""
    if not host_header:
        return False
    host = host_header.strip().lower().rstrip(".")
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name, port = name + "]", rest.removeprefix(":")
    else:
        name, _, port = host.partition(":")
    for entry in allowed:
        entry = entry.strip().lower().rstrip(".")
        if entry == host or (entry == name and (port == "" or port.isdigit())):
            return True
    return False


class HostAllowlist:
    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope.get("headers") or [])
            host = headers.get(b"host", b"").decode("latin-1")
            if not host_allowed(host, self.allowed):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                body = (f"deployer web: this server does not answer to the host {host[:100]!r}; it answers to "
                        f"{', '.join(self.allowed)} (--allowed-host)\n").encode("utf-8", "replace")
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
