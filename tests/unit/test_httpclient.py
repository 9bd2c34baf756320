"""deployer's stdlib HTTP client against real local servers (TLS with a CA made at run time): what
it keeps (connections, headers, verified TLS) and how each failure without an answer is told."""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from deployer import httpclient
from deployer_localplatform import pki


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[tuple[str, int]] = set()
    seen: list[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        type(self).connections.add(self.client_address)
        type(self).seen.append(list(self.headers.items()))
        if self.path == "/slow":
            time.sleep(2)
        if self.path == "/pause":
            time.sleep(0.3)
        if self.path == "/close":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"ok")
            self.close_connection = True
            return
        body = b'{"path": "%s"}' % self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Retry-After", "3")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def server(tls) -> Iterator[str]:
    _Handler.connections, _Handler.seen = set(), []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls[1]), str(tls[2]))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _pool(server: str, tls, **kwargs) -> httpclient.Pool:
    return httpclient.Pool(server, context=httpclient.tls_context(ca_file=str(tls[0])), **kwargs)


def test_keep_alive_connections_are_reused_and_repeated_headers_are_all_sent(server: str, tls) -> None:
    pool = _pool(server, tls)
    answers = [pool.request("GET", f"/a?i={i}", headers=[("Impersonate-Group", "one"), ("Impersonate-Group", "two")])
               for i in range(3)]
    pool.close()
    assert [a.status for a in answers] == [200, 200, 200] and answers[2].data == b'{"path": "/a?i=2"}'
    assert answers[0].header("Retry-After") == "3"
    assert len(_Handler.connections) == 1  # one TLS handshake for three requests
    assert [v for k, v in _Handler.seen[0] if k == "Impersonate-Group"] == ["one", "two"]


def test_a_connection_the_server_closed_is_not_reused(server: str, tls) -> None:
    pool = _pool(server, tls)
    assert pool.request("GET", "/close").data == b"ok"
    assert pool.request("GET", "/after").status == 200  # a new connection, no failure
    assert len(_Handler.connections) == 2


def test_an_idle_connection_dropped_by_the_server_is_noticed_before_reuse(server: str, tls) -> None:
    pool = _pool(server, tls)
    pool.request("GET", "/first")
    idle = pool._idle[0]
    assert idle.sock is not None
    idle.sock.shutdown(socket.SHUT_RD)  # as if the server had closed it: the socket reads as ended
    assert httpclient._dropped(idle)
    assert pool.request("GET", "/second").status == 200


def test_a_certificate_from_another_ca_is_refused_at_the_handshake(server: str) -> None:
    other = pki.new_ca("another CA").cert_pem.decode()
    pool = httpclient.Pool(server, context=httpclient.tls_context(ca_data=other))
    with pytest.raises(httpclient.NoAnswer) as caught:
        pool.request("GET", "/")
    assert caught.value.phase == "tls" and caught.value.certificate_refused
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value.cause)


def test_nothing_listening_is_a_connect_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpclient.NoAnswer) as caught:
        httpclient.Pool(f"https://127.0.0.1:{port}").request("GET", "/")
    assert caught.value.phase == "connect" and isinstance(caught.value.cause, ConnectionRefusedError)


def test_an_answer_slower_than_the_read_timeout_is_a_timeout_after_sending(server: str, tls) -> None:
    pool = _pool(server, tls, read_timeout=0.3)
    with pytest.raises(httpclient.NoAnswer) as caught:
        pool.request("GET", "/slow")
    assert caught.value.phase == "sent" and caught.value.timed_out


def test_a_server_that_hangs_up_after_the_request_is_a_reset_not_a_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def hang_up() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    pool = httpclient.Pool(f"http://127.0.0.1:{listener.getsockname()[1]}")
    with pytest.raises(httpclient.NoAnswer) as caught:
        pool.request("GET", "/")
    listener.close()
    assert caught.value.phase == "sent" and not caught.value.timed_out


def test_after_a_request_without_an_answer_the_idle_connections_are_dropped(server: str, tls) -> None:
    pool = _pool(server, tls, read_timeout=1.0)
    both = [threading.Thread(target=pool.request, args=("GET", "/pause")) for _ in range(2)]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join()
    assert len(pool._idle) == 2  # two requests at once: two connections kept
    with pytest.raises(httpclient.NoAnswer):
        pool.request("GET", "/slow")  # takes one of them and times out
    assert pool._idle == []  # the server may have gone: the other is dropped, a retry starts anew


def test_a_kube_client_keeps_the_path_of_a_server_behind_a_proxy(server: str, tls) -> None:
    # Rancher and other proxies serve a cluster's API under a path: requests go beneath it.
    from deployer.kube.client import Endpoint, KubeClient
    from tests.unit.test_kube_client_retry import FixedToken

    client = KubeClient(Endpoint("proxied", f"{server}/k8s/clusters/c-1/", ca_file=str(tls[0])), FixedToken())
    try:
        assert client.get_json("/api/v1/namespaces", what="list", query={"limit": 5}) == {
            "path": "/k8s/clusters/c-1/api/v1/namespaces?limit=5"}
    finally:
        client.close()
