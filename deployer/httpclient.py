"""HTTP/1.1 over the standard library's ``http.client``: every request deployer sends to a
Kubernetes API server, to the GKE API and to Google's token endpoint goes through here.

urllib3 did this before (issue 13). Importing it cost every run about 40 ms of its own modules on
top of ``http.client`` and ``ssl``, which it imports too, for features deployer does not use:
retries (``kube.retry`` decides every retry itself), redirects, proxies, compression, HTTP/2. What
deployer needs is small, and kept here:

- a pool of keep-alive connections per server (``Pool``), thread-safe, at most ``maxsize`` kept
  idle; a connection the server closed while idle is noticed before it is reused (as urllib3's
  ``is_connection_dropped`` does), so a request is never written into a dead socket, and after a
  request that got no answer the idle ones are dropped, so a retry starts on a new connection;
- TLS verified against the server's CA (a file or PEM text; the system's store when neither) with
  the host name checked, as ``ssl.create_default_context`` does;
- a connect timeout and a read timeout;
- headers that repeat (``Impersonate-Group``);
- every failure without an answer raised as ``NoAnswer``, saying whether the request may have
  reached the server (``phase``), so the caller's retry policy can decide.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

Phase = Literal["connect", "tls", "sent"]
"""How far a failed request got: no connection, a TLS handshake that failed (a certificate that
did not verify, or a broken connection), or sent (its answer never came whole)."""


class NoAnswer(Exception):
    """A request that got no HTTP answer; ``cause`` is the underlying error."""

    def __init__(self, phase: Phase, cause: BaseException) -> None:
        super().__init__(f"{phase}: {type(cause).__name__}: {cause}")
        self.phase = phase
        self.cause = cause

    @property
    def timed_out(self) -> bool:
        return isinstance(self.cause, TimeoutError | socket.timeout)

    @property
    def certificate_refused(self) -> bool:
        """A certificate that did not verify: it will not verify next time either."""
        if isinstance(self.cause, ssl.SSLCertVerificationError):
            return True
        return isinstance(self.cause, ssl.SSLError) and "certificate" in str(self.cause).lower()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    data: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def tls_context(ca_file: str | None = None, ca_data: str | None = None) -> ssl.SSLContext:
    """Verified TLS with the host name checked, trusting ``ca_file`` or ``ca_data`` when given and
    the system's store otherwise."""
    if ca_file is None and ca_data is None:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=ca_file, cadata=ca_data)


class Pool:
    """Keep-alive connections to one server (``https://host:port`` or ``http://...``)."""

    def __init__(self, base_url: str, *, context: ssl.SSLContext | None = None, connect_timeout: float = 5.0,
                 read_timeout: float = 30.0, maxsize: int = 16) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.secure = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.secure else 80)
        self._context = (context or tls_context()) if self.secure else None
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._maxsize = maxsize
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def request(self, method: str, target: str, *, headers: Iterable[tuple[str, str]] = (),
                body: bytes | None = None) -> Answer:
        """Send ``method target`` (a path with its query) and read the whole answer."""
        connection = self._take()
        if connection.sock is None:
            self._connect(connection)
        try:
            connection.putrequest(method, target, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            # The server may have gone away (a restart resets every connection): the connections
            # kept idle are dropped too, so a retry starts on a fresh one, as urllib3's does.
            self.close()
            raise NoAnswer("sent", exc) from exc
        answer = Answer(response.status, response.headers, data)
        if response.will_close:
            connection.close()
        else:
            self._give(connection)
        return answer

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _connect(self, connection: http.client.HTTPConnection) -> None:
        try:
            connection.connect()
        except ssl.SSLError as exc:
            connection.close()
            raise NoAnswer("tls", exc) from exc
        except OSError as exc:
            connection.close()
            raise NoAnswer("connect", exc) from exc
        assert connection.sock is not None
        connection.sock.settimeout(self._read_timeout)

    def _take(self) -> http.client.HTTPConnection:
        with self._lock:
            while self._idle:
                connection = self._idle.pop()
                if not _dropped(connection):
                    return connection
                connection.close()
        if self.secure:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self._connect_timeout,
                                               context=self._context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self._connect_timeout)

    def _give(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._maxsize:
                self._idle.append(connection)
                return
        connection.close()


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection was closed by the server: an idle socket that reads as ready
    holds an end of stream (or a stray byte); either way it cannot carry the next request."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def request_once(url: str, *, method: str = "GET", headers: Iterable[tuple[str, str]] = (), body: bytes | None = None,
                 timeout: float = 30.0, context: ssl.SSLContext | None = None) -> Answer:
    """One request on a connection of its own (the GKE lookup, a token): ``url`` whole."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    pool = Pool(f"{parts.scheme}://{parts.netloc}", context=context, connect_timeout=timeout, read_timeout=timeout,
                maxsize=0)
    try:
        return pool.request(method, target, headers=headers, body=body)
    finally:
        pool.close()
