"""Serving the ASGI app with uvicorn: on a socket bound first (so a taken port is a clear error
before anything else starts), in the main thread for `deployer web`, or in a background thread
for tests and embedding."""

from __future__ import annotations

import socket
import threading
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from deployer.errors import UsageError
from deployer.polling import poll_until

SHUTDOWN_GRACE = 2
"""Seconds open connections (live logs) may take to close once the server stops listening."""


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         hint="Pick another --port, or stop what is listening there.") from exc
    sock.set_inheritable(True)
    return sock


def make_server(app: Starlette) -> uvicorn.Server:
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", proxy_headers=False,
                            server_header=False, timeout_graceful_shutdown=SHUTDOWN_GRACE)
    return uvicorn.Server(config)


class Serving:
    """``app`` served on ``host:port`` in a background thread until ``stop()`` (or the ``with``
    block's end). ``port`` is the bound port."""

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        self.socket = bind(host, port)
        self.port: int = self.socket.getsockname()[1]
        self.server = make_server(app)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                       name="deployer-web", daemon=True)
        self.thread.start()
        if not poll_until(lambda: True if self.server.started or not self.thread.is_alive() else None, 30,
                          interval=0.02):
            raise RuntimeError("the web server did not start within 30 s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.socket.close()

    def __enter__(self) -> Serving:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
