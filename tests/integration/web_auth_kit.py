"""Helpers for the sign-in tests: the GCP stand-in as the issuer, a page served by a real uvicorn
on a free loopback port, and a configuration folder whose service names who may act."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
import yaml

from deployer.polling import poll_until

REPO = Path(__file__).resolve().parents[2]
CLIENT_ID = "deployer-web.apps.example"
CLIENT_SECRET = "web-client-s3cret"
ALICE = "alice@example.com"  # in payments-oncall (the ID token's groups claim)
BOB = "bob@example.com"  # in staff only
CAROL = "carol@example.com"  # in no claim group; in release-managers by the mapping file


def config_folder(root: Path) -> Path:
    """The repository's clusters, chart and hello service; production may be deployed, promoted
    and rolled back by payments-oncall, and rolled back by release-managers too."""
    for part in ("clusters", "charts", "services", "apps"):
        shutil.copytree(REPO / part, root / part)
    service_file = root / "services" / "hello.yaml"
    service = yaml.safe_load(service_file.read_text())
    service["environments"]["production"]["access"] = {
        "deploy": ["payments-oncall"], "promote": ["payments-oncall"],
        "rollback": ["payments-oncall", "release-managers"]}
    service_file.write_text(yaml.safe_dump(service, sort_keys=False))
    return root


@contextmanager
def serve(app: object) -> Iterator[str]:
    """``app`` under uvicorn in a thread on a free 127.0.0.1 port; yields its base URL.

    proxy_headers is off: which addresses may name the user is the page's decision
    (--trusted-proxy), not uvicorn's X-Forwarded-For rewriting."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", proxy_headers=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert poll_until(lambda: server.started or None, 10, interval=0.01), "uvicorn did not start within 10 s"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
