"""A loopback proxy in front of one real kube-apiserver that injects the faults a test asks for.

HTTP faults cannot be injected into TLS passed through, so the proxy terminates TLS with a
throwaway CA and a certificate for 127.0.0.1 (the cluster file the test writes names that CA) and
opens its own TLS connection to the real API server, trusting the platform's CA. Requests are
forwarded unchanged, Authorization included: the API server authenticates exactly what deployer
sent. What the proxy can do to a request matching a ``Fault`` (methods, a path pattern, a query
word it must or must not carry), for its first ``times`` matches or always:

- ``status``: answer it itself (429 with Retry-After, 500, 503, 401) with a Kubernetes Status body;
- ``reset``: reset the connection before forwarding (the server never saw it);
- ``reset-after``: forward it, then reset the connection instead of answering (the server acted);
- ``delay``: wait, then forward;
- ``sever``: stop listening and reset every open connection, as an API server that stopped, for
  ``seconds`` (or until ``restore()``); the request that triggered it is reset unanswered.

Every request is logged (time, method, path, what was done, the status returned) for assertions,
and every bearer token seen is kept so a test can search its captured output for them.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import re
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from deployer_localplatform import pki

Action = Literal["status", "reset", "reset-after", "delay", "sever"]
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te",
               "trailer", "upgrade"}


@dataclass
class Fault:
    action: Action
    methods: tuple[str, ...] = ()
    """Matched methods; empty matches every method."""
    path: str = ""
    """A regular expression searched in the path (without the query)."""
    query_has: str | None = None
    query_lacks: str | None = None
    times: int | None = 1
    """How many matching requests it hits; None: every one."""
    status: int = 503
    retry_after: str | None = None
    reason: str = "ServiceUnavailable"
    seconds: float = 0.0
    """``delay``: the wait; ``sever``: how long the server stays away (0: until restore())."""
    hits: int = 0

    def matches(self, method: str, path: str, query: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.methods and method not in self.methods:
            return False
        if self.path and not re.search(self.path, path):
            return False
        if self.query_has is not None and self.query_has not in query:
            return False
        return not (self.query_lacks is not None and self.query_lacks in query)


@dataclass(frozen=True)
class Seen:
    at: float
    """When the request arrived (time.monotonic)."""
    method: str
    path: str
    query: str
    action: str
    """``forwarded``, or the fault's action."""
    status: int | None
    """What the client was answered; None when it got no answer."""
    credential: str = ""
    """A short hash of the bearer token sent (never the token): tells a refreshed token apart."""


@dataclass
class _State:
    faults: list[Fault] = field(default_factory=list)
    log: list[Seen] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)


class FaultProxy:
    def __init__(self, upstream: str, upstream_ca: Path, workdir: Path) -> None:
        match = re.fullmatch(r"https://([^:/]+):(\d+)/?", upstream)
        assert match, upstream
        self._upstream = (match.group(1), int(match.group(2)))
        self._upstream_tls = ssl.create_default_context(cafile=str(upstream_ca))
        ca = pki.new_ca("fault-proxy-ca")
        serving = pki.new_serving_cert(ca, "fault-proxy")
        workdir.mkdir(parents=True, exist_ok=True)
        self.ca_file = workdir / "proxy-ca.crt"
        self.ca_file.write_bytes(ca.cert_pem)
        (workdir / "proxy.crt").write_bytes(serving.cert_pem)
        key = workdir / "proxy.key"
        key.touch(mode=0o600)
        key.write_bytes(serving.key_pem)
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(workdir / "proxy.crt", key)
        self._state = _State()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._port = 0
        self._closed = False
        self._restore_timer: threading.Timer | None = None
        self._listen()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._port}"

    # --- what a test controls --------------------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self._state.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Disarm every fault and forget what was seen."""
        with self._lock:
            self._state.faults.clear()
            self._state.log.clear()

    def log(self) -> list[Seen]:
        with self._lock:
            return list(self._state.log)

    def tokens(self) -> set[str]:
        with self._lock:
            return set(self._state.tokens)

    def sever(self, seconds: float = 0.0) -> None:
        """Stop listening and reset every open connection; listen again after ``seconds`` (> 0)."""
        with self._lock:
            listener, self._listener = self._listener, None
            open_now = list(self._connections)
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave the
            # kernel accepting on the socket that accept() still holds.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for conn in open_now:
            _reset(conn)
        if seconds > 0:
            self._restore_timer = threading.Timer(seconds, self.restore)
            self._restore_timer.daemon = True
            self._restore_timer.start()

    def restore(self) -> None:
        with self._lock:
            if self._listener is not None or self._closed:
                return
        self._listen()

    def close(self) -> None:
        self._closed = True
        if self._restore_timer is not None:
            self._restore_timer.cancel()
        self.sever()

    # --- serving ---------------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._port))
        listener.listen(64)
        self._port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="fault-proxy-accept").start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return  # closed by sever()
            threading.Thread(target=self._serve, args=(raw,), daemon=True, name="fault-proxy-conn").start()

    def _serve(self, raw: socket.socket) -> None:
        conn: socket.socket = raw
        with self._lock:
            self._connections.add(conn)
        upstream: http.client.HTTPSConnection | None = None
        try:
            tls = self._tls.wrap_socket(raw, server_side=True)  # takes over raw's file descriptor
            with self._lock:
                self._connections.discard(raw)
                self._connections.add(tls)
            conn = tls
            reader = conn.makefile("rb")
            while True:
                request = _read_request(reader)
                if request is None:
                    return
                method, target, headers, body = request
                path, _, query = target.partition("?")
                token = headers.get("authorization", "").removeprefix("Bearer ").strip()
                fault = self._fault_for(method, path, query, token)
                seen = functools.partial(self._record, time.monotonic(), method, path, query,
                                         credential=_fingerprint(token))
                if fault is not None and fault.action == "status":
                    # Logged before the answer leaves: a client that has its answer finds it in the log.
                    seen("status", fault.status)
                    conn.sendall(_status_answer(fault))
                    continue
                if fault is not None and fault.action in ("reset", "sever"):
                    seen(fault.action, None)
                    if fault.action == "sever":
                        self.sever(fault.seconds)
                    _reset(conn)
                    return
                if fault is not None and fault.action == "delay":
                    time.sleep(fault.seconds)
                if upstream is None:
                    upstream = http.client.HTTPSConnection(*self._upstream, context=self._upstream_tls, timeout=60)
                upstream.request(method, target, body=body,
                                 headers={k: v for k, v in headers.items() if k not in _HOP_BY_HOP | {"host"}})
                answer = upstream.getresponse()
                data = answer.read()
                if fault is not None and fault.action == "reset-after":
                    seen("reset-after", None)
                    _reset(conn)
                    return
                seen(fault.action if fault else "forwarded", answer.status)
                conn.sendall(_answer(answer, data))
        except (OSError, ssl.SSLError, http.client.HTTPException):
            return
        finally:
            if upstream is not None:
                upstream.close()
            with self._lock:
                self._connections.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _fault_for(self, method: str, path: str, query: str, token: str) -> Fault | None:
        with self._lock:
            if token:
                self._state.tokens.add(token)
            for fault in self._state.faults:
                if fault.matches(method, path, query):
                    fault.hits += 1
                    return fault
        return None

    def _record(self, arrived: float, method: str, path: str, query: str, action: str, status: int | None, *,
                credential: str) -> None:
        with self._lock:
            self._state.log.append(Seen(arrived, method, path, query, action, status, credential))


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12] if token else ""


def _reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a crashed peer or a load balancer dropping it does.

    Called from another thread (``sever``) on a connection whose serving thread still reads it,
    ``close()`` alone would be put off until that reader lets go, and the connection would go on
    serving: ``shutdown`` ends it at once for both sides."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _read_request(reader) -> tuple[str, str, dict[str, str], bytes] | None:
    line = reader.readline(65536)
    if not line:
        return None
    method, target, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = reader.readline(65536).decode("latin-1").rstrip("\r\n")
        if not header:
            break
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length") or 0))
    return method, target, headers, body


def _answer(answer: http.client.HTTPResponse, data: bytes) -> bytes:
    head = [f"HTTP/1.1 {answer.status} {answer.reason}"]
    head += [f"{k}: {v}" for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP]
    head += [f"Content-Length: {len(data)}", "Connection: keep-alive"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data


def _status_answer(fault: Fault) -> bytes:
    texts = {401: "Unauthorized", 429: "Too Many Requests", 500: "Internal Server Error",
             503: "Service Unavailable", 504: "Gateway Timeout"}
    body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": fault.status,
                       "reason": fault.reason, "message": f"injected by the fault proxy ({fault.status})"}).encode()
    head = [f"HTTP/1.1 {fault.status} {texts.get(fault.status, 'Error')}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", "Connection: keep-alive"]
    if fault.retry_after is not None:
        head.append(f"Retry-After: {fault.retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
