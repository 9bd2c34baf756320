"""The waves board of a job (pure folding, stored by a real worker on a real SQLite file) and the
checks the steering routes make before they reach a cluster (the platform test presses them for
real: tests/integration/test_web_waves.py)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator

import pytest

from deployer.pipeline.report import ClusterReport, End, EndState, RunReport
from deployer.rollout.waves import WaveEvent, WaveState
from deployer.web.context import Refused, WebContext
from deployer.web.forms import JobForm
from deployer.web.store import waves as stored
from deployer.web.waves import as_of, current_sink, fold, phase, steering
from deployer.web.worker import Worker
from tests.conftest import REPO
from tests.webserver import serve

ONPREM, GKE = ("onprem-dc1",), ("gke-production",)


def test_a_board_folds_each_wave_latest_event_and_counts_the_bake_down() -> None:
    board = fold(None, WaveEvent(1, 2, ONPREM, WaveState.DEPLOYING, "deploying"))
    assert [w["state"] for w in board["waves"]] == ["deploying", "pending"]
    baking = fold(board, WaveEvent(1, 2, ONPREM, WaveState.BAKING, "baking, 60s left", 60.0))
    assert board["waves"][0]["state"] == "deploying"  # the earlier board is not changed
    assert baking["waves"][0] == {"wave": 1, "clusters": ["onprem-dc1"], "state": "baking",
                                  "message": "baking, 60s left", "remaining": 60.0}
    assert steering(baking) == baking["waves"][0]
    shown = as_of(baking, updated=100.0, now=112.5)
    assert shown["waves"][0]["remaining"] == 47.5 and shown["steerable"] is True
    assert as_of(baking, updated=100.0, now=500.0)["waves"][0]["remaining"] == 0.0
    paused = fold(baking, WaveEvent(1, 2, ONPREM, WaveState.PAUSED, "paused by web:alice", 10.0))
    assert as_of(paused, updated=100.0, now=150.0)["waves"][0]["remaining"] == 10.0  # a pause stops the count
    done = fold(fold(paused, WaveEvent(1, 2, ONPREM, WaveState.PASSED, "healthy for 60s")),
                WaveEvent(2, 2, GKE, WaveState.PASSED, "deployed"))
    assert steering(done) is None and as_of(done, 0.0, 1.0)["steerable"] is False
    assert [phase(b) for b in (board, as_of(baking, 100.0, 112.5), paused, done)] == [
        "wave 1/2 deploying", "wave 1/2 baking, 48s left", "wave 1/2 paused", "wave 2/2 passed"]


@pytest.fixture
def web(tmp_path) -> Iterator[tuple[WebContext, int]]:
    ctx, serving = serve(REPO, tmp_path / "state", keep_alive=0.2)
    with serving:
        yield ctx, serving.port


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body="" if method == "POST" else None, headers={
        "Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    return response.status, text


def run_job(ctx: WebContext, events: list[WaveEvent], hold: threading.Event | None = None
            ) -> tuple[str, threading.Thread]:
    """A deploy job run by a real worker on the page's database; its body sends ``events`` to the
    sink the worker hands it (as the pipeline's deploy does), then waits for ``hold``."""
    def work(progress):
        sink = current_sink()
        assert sink is not None
        for event in events:
            sink(event)
        if hold is not None:
            hold.wait(10)
        return RunReport("deploy", "hello", "staging", [ClusterReport("c1", "succeeded", end=EndState(End.NEW, 1))])

    job = ctx.store.submit(JobForm("deploy", "hello", "staging"), "web:alice")
    worker = Worker(ctx.store, REPO, name="w1", work_for=lambda *args: work)
    thread = threading.Thread(target=worker.run_one)
    thread.start()
    return job.id, thread


def test_the_worker_stores_the_board_of_a_deploy_in_waves_and_the_api_shows_it_live(web) -> None:
    ctx, port = web
    hold = threading.Event()
    job_id, thread = run_job(ctx, [WaveEvent(1, 2, ONPREM, WaveState.DEPLOYING, "deploying"),
                                   WaveEvent(1, 2, ONPREM, WaveState.BAKING, "baking, 30s left", 30.0)], hold)
    try:
        from deployer.polling import poll_until

        assert poll_until(lambda: stored.load(ctx.store, job_id), 10, interval=0.02)
        assert poll_until(lambda: stored.load(ctx.store, job_id)[0]["waves"][0]["state"] == "baking" or None, 10,
                          interval=0.02)
        status, text = request(port, "GET", f"/api/jobs/{job_id}/waves")
        shown = json.loads(text)
        assert status == 200 and shown["of"] == 2 and shown["steerable"] is True
        assert [w["state"] for w in shown["waves"]] == ["baking", "pending"]
        assert 0 < shown["waves"][0]["remaining"] <= 30
        status, text = request(port, "GET", f"/jobs/{job_id}")
        assert 'id="waves"' in text and f'/jobs/{job_id}/waves/pause' in text and "/static/waves.js" in text
    finally:
        hold.set()
        thread.join(10)
    status, text = request(port, "GET", f"/api/jobs/{job_id}/waves")
    assert json.loads(text)["steerable"] is False  # the job ended: nothing to steer, whatever the board says


def test_a_deploy_in_one_wave_has_no_board(web) -> None:
    ctx, port = web
    job_id, thread = run_job(ctx, [WaveEvent(1, 1, ONPREM, WaveState.DEPLOYING, "deploying"),
                                   WaveEvent(1, 1, ONPREM, WaveState.PASSED, "deployed")])
    thread.join(10)
    assert stored.load(ctx.store, job_id) is None
    assert json.loads(request(port, "GET", f"/api/jobs/{job_id}/waves")[1]) == {
        "job": job_id, "of": 0, "waves": [], "steerable": False}


def test_steering_is_refused_before_any_cluster_is_asked(web) -> None:
    ctx, port = web
    job_id, thread = run_job(ctx, [WaveEvent(1, 2, ONPREM, WaveState.DEPLOYING, "deploying")])
    thread.join(10)
    same_site = {"Origin": f"http://127.0.0.1:{port}", "Host": f"127.0.0.1:{port}"}
    assert request(port, "POST", f"/jobs/{job_id}/waves/explode", same_site)[0] == 404
    status, text = request(port, "POST", f"/jobs/{job_id}/waves/pause", {"Origin": "https://evil.example"})
    assert status == 403 and "another site" in text
    status, text = request(port, "POST", f"/api/jobs/{job_id}/waves/abort", same_site)
    assert status == 409 and "no wave baking or paused" in json.loads(text)["error"]

    def refuse(request, action, service, environment):
        raise Refused(f"bob may not {action} {service} in {environment}")

    ctx.authorize = refuse
    status, text = request(port, "POST", f"/jobs/{job_id}/waves/pause", same_site)
    assert status == 403 and "bob may not deploy hello in staging" in text
    assert [e for e in ctx.store.audit() if e["event"].startswith("wave-")] == []
