"""Reading Prometheus metrics in tests: the samples of a scrape (the text format parsed by
prometheus_client's own parser), an ASGI app scraped in process, and a real Pushgateway."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from deployer.polling import poll_until


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scraped: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in scraped.items() if n == name and wanted <= have)


def scrape_asgi(app: Callable[..., Any]) -> str:
    """GET /metrics from an ASGI app, in process (the way a server would call it)."""
    sent: list[dict[str, Any]] = []

    async def call() -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": "/metrics", "raw_path": b"/metrics", "query_string": b"",
                 "root_path": "", "headers": [], "server": ("test", 80), "client": ("test", 1)}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)

    # In a thread of its own: Playwright's sync API (the browser tests' session fixture) keeps an
    # event loop running in the main thread, where asyncio.run refuses to start a second one.
    caller = threading.Thread(target=lambda: asyncio.run(call()), name="scrape-asgi")
    caller.start()
    caller.join(30)
    assert sent and sent[0]["status"] == 200, sent
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode()


def scrape_url(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
        return answer.read().decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def pushgateway(state: Path) -> Iterator[str]:
    """Debian's prometheus-pushgateway on a free port, until the block ends."""
    binary = shutil.which("prometheus-pushgateway")
    assert binary, "prometheus-pushgateway is not installed (scripts/test-prerequisites.sh installs it)"
    port = free_port()
    log = (state / "pushgateway.log").open("w")
    proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool | None:
        try:
            scrape_url(url)
            return True
        except OSError:
            return None

    try:
        assert poll_until(answers, 10.0, interval=0.05), f"the Pushgateway did not start: {state / 'pushgateway.log'}"
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
