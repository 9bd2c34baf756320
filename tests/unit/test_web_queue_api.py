"""The push queue's API and `deployer queue` against a real page server (uvicorn, SQLite job store,
the repository's example configuration; no sign-in, so the caller is named by its address)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployer.cli.main import main
from deployer.web.asgi import create_app
from deployer.web.context import WebContext
from deployer.web.serve import Serving

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[WebContext, str]]:
    ctx = WebContext(REPO, tmp_path / "state")
    try:
        with Serving(create_app(ctx)) as serving:
            yield ctx, f"http://127.0.0.1:{serving.port}"
    finally:
        ctx.close()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--output", "json", "queue", *args])
    return code, capsys.readouterr().out


def test_the_cli_joins_lists_and_leaves_the_pages_queue(served, capsys) -> None:
    ctx, url = served
    code, out = run(capsys, "join", "hello", "--env", "staging", "--url", url)
    assert code == 0
    joined = json.loads(out)
    assert joined["you"] == {"actor": "web:127.0.0.1", "place": 1}
    assert [(e["actor"], e["turn"]) for e in joined["entries"]] == [("web:127.0.0.1", True)]  # nothing runs: the turn
    code, out = run(capsys, "list", "hello", "--env", "staging", "--url", url)
    assert code == 0 and json.loads(out)["length"] == 1
    code, out = run(capsys, "leave", "hello", "--env", "staging", "--url", url)
    assert code == 0 and json.loads(out)["entries"] == []


def test_moving_an_entry_needs_the_administrators_group(served) -> None:
    import requests

    ctx, url = served
    joined = requests.post(f"{url}/api/queues/hello/staging/join", json={}, timeout=10).json()
    moved = requests.post(f"{url}/api/queues/hello/staging/move", json={"entry": joined["entries"][0]["id"], "to": 1},
                          timeout=10)
    assert moved.status_code == 403 and ctx.settings.queue_admin_group in moved.json()["error"]
    ctx.groups_of = lambda request: frozenset({ctx.settings.queue_admin_group})
    removed = requests.post(f"{url}/api/queues/hello/staging/remove", json={"entry": joined["entries"][0]["id"]},
                            timeout=10)
    assert removed.status_code == 200 and removed.json()["entries"] == []


def test_an_unknown_queue_and_an_unreachable_page_are_clear_errors(served, capsys) -> None:
    _ctx, url = served
    code, out = run(capsys, "list", "nope", "--env", "staging", "--url", url)
    assert code == 6 and "there is no queue for nope in staging" in json.loads(out)["message"]
    code, out = run(capsys, "list", "hello", "--env", "staging", "--url", "http://127.0.0.1:9")
    assert code == 6 and "did not answer" in json.loads(out)["message"]
