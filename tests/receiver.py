"""A real webhook receiver for tests: an HTTP server on a free local port that records every POST
(its arrival time on the monotonic clock, path and JSON body) and answers as the test scripts it:
a status per request (``answers``; the last one repeats), and an optional delay before answering."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    at: float
    path: str
    body: Any


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)
    """Set to cut a delay short (the test's end: no handler thread outlives it for long)."""

    def bodies(self) -> list[Any]:
        with self.lock:
            return [r.body for r in self.received]


@contextmanager
def receiving(answers: list[int] | None = None, delay: float = 0.0) -> Iterator[Receiver]:
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"null")
            with state.lock:
                state.received.append(Received(time.monotonic(), self.path, body))
                status = state.answers[min(len(state.received), len(state.answers)) - 1]
            if state.delay:
                state.released.wait(state.delay)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except (BrokenPipeError, ConnectionResetError):  # the sender gave up waiting: as a real server
                pass

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 -- http.server's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook/T0KEN-S3CRET-PATH", answers or [200], delay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
