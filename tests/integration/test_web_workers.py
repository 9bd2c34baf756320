"""`deployer web` and its worker processes on one database, as separate processes against the
local platform: a job survives the page being killed (its worker finishes it, the restarted page
shows it and its whole log), and a killed worker's job is shown interrupted."""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path

import pytest
import yaml

from deployer.polling import poll_until
from deployer.web.store.database import default_url, open_database
from deployer.web.store.jobs import JobStore
from tests.conftest import REPO
from tests.integration import test_web_shutdown
from tests.integration.kit import CLUSTERS
from tests.integration.test_web_shutdown import Server

pytestmark = pytest.mark.integration

config = test_web_shutdown.config  # the same configuration folder fixture: the repository's chart, the synced clusters


@pytest.fixture
def servers(platform) -> list[Server]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGTERM)
            server.proc.wait(60)
    for pid in _worker_pids(started):  # a worker left behind by a failed test: no strays
        _kill(pid)


def _worker_pids(servers: list[Server]) -> set[int]:
    import re

    return {int(m.group(1)) for s in servers for line in s.lines
            for m in [re.search(r"deployer worker [^:]+:(\d+): taking jobs", line)] if m}


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a child of this process that exited but was not reaped is a zombie: not alive either
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def start(config: Path, tmp_path: Path, platform, servers: list[Server], name: str, *,
          never_ready_on: list[str], timeout: str, options: tuple[str, ...] = ()) -> Server:
    (config / "services" / f"{name}.yaml").write_text(yaml.safe_dump({
        "name": name, "namespace": "apps", "manifests": "manifests",
        "image": {"name": "web", "context": str(REPO / "apps" / "hello")},
        "values": {"neverReadyOn": never_ready_on},
        "environments": {"staging": {"clusters": list(CLUSTERS)}},
        "rollout": {"timeout": timeout, "onFailure": "leave"},
    }))
    env = {**os.environ, "DEPLOYER_BUILDAH_ROOT": str(platform.state_dir / "buildah")}
    servers.append(Server(config, tmp_path / "web-state", env, *options))
    return servers[-1]


def store_of(tmp_path: Path) -> JobStore:
    return JobStore(open_database(default_url(tmp_path / "web-state")))


def test_a_deploy_survives_the_page_being_killed_and_the_restarted_page_shows_its_whole_log(
        config, tmp_path, platform, servers) -> None:
    name = f"restart-{uuid.uuid4().hex[:6]}"
    # local-gke never becomes ready: the job lasts until its 8 s rollout timeout, then ends partial.
    first = start(config, tmp_path, platform, servers, name, never_ready_on=["local-gke"], timeout="8s")
    job_id = first.press(action="deploy", service=name, environment="staging")
    first.wait_until_mid_rollout(job_id)

    first.proc.kill()  # no shutdown at all: the page is gone, its workers are not
    first.proc.wait()
    store = store_of(tmp_path)
    assert store.get(job_id).state == "running"
    finished = poll_until(lambda: (lambda j: j if not j.running else None)(store.get(job_id)), 120, interval=0.2)
    assert finished is not None, "the job never finished after its page was killed"
    assert (finished.state, finished.exit_code) == ("finished", 8), finished.report + finished.error
    assert "local-gke" in finished.report and "local-onprem  succeeded" in finished.report
    # Its worker finished the job, then left (its page had gone); the idle one left too.
    pids = _worker_pids([first])
    assert len(pids) == 2 and poll_until(lambda: True if not any(map(_alive, pids)) else None, 30, interval=0.1)

    second = start(config, tmp_path, platform, servers, name, never_ready_on=["local-gke"], timeout="8s")
    status, page = second.get(f"/jobs/{job_id}")
    assert status == 200 and 'class="status partial"' in page
    data = json.loads(second.get(f"/api/jobs/{job_id}")[1])
    assert (data["state"], data["exitCode"]) == ("finished", 8)
    assert data["log"] == finished.lines and len(finished.lines) > 3
    log = page.split('id="log"', 1)[1].split(">", 1)[1].split("</pre>", 1)[0]
    assert log.count("\n") + 1 == len(finished.lines)  # the whole log, not just what the first page saw
    events = second.get(f"/jobs/{job_id}/events")[1]
    assert events.count("\ndata: ") >= len(finished.lines) and "event: done" in events
    assert [e["event"] for e in store.audit() if e["job"] == job_id] == ["start", "end"]


def test_a_killed_workers_job_is_shown_interrupted(config, tmp_path, platform, servers) -> None:
    name = f"lost-{uuid.uuid4().hex[:6]}"
    server = start(config, tmp_path, platform, servers, name, never_ready_on=list(CLUSTERS), timeout="10m",
                   options=("--stale-after", "3s", "--workers", "1"))
    job_id = server.press(action="deploy", service=name, environment="staging")
    server.wait_until_mid_rollout(job_id)
    store = store_of(tmp_path)
    worker = store.get(job_id).worker
    assert worker is not None
    os.kill(int(worker.rsplit(":", 1)[1]), signal.SIGKILL)

    def interrupted() -> dict | None:
        data = json.loads(server.get(f"/api/jobs/{job_id}")[1])  # the page notices the stale heartbeat
        return data if data["state"] == "interrupted" else None

    data = poll_until(interrupted, 60, interval=0.5)
    assert data is not None, "the killed worker's job was never marked interrupted"
    assert data["outcome"] == "interrupted" and f"its worker {worker} stopped" in data["error"]
    status, page = server.get(f"/jobs/{job_id}")
    assert status == 200 and f"deploy of {name} in staging was interrupted" in page
    assert store.audit()[-1]["outcome"] == "interrupted"
    # The environment is free again: a new press queues a job (the cluster's lease expires by itself).
    assert store.active_for(name, "staging") is None
