"""`deployer web` stopped by Ctrl-C (SIGINT) or a service manager (SIGTERM) while a deploy runs:
it stops listening and stops the job as a signalled CLI run stops (no new writes, onFailure within
the grace period, records settled, locks released after its workers); a second Ctrl-C abandons
the grace period. The command runs as
its real entry point in a child process, jobs against the local platform."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

from deployer.errors import ExitCode
from tests.conftest import REPO, run_cli
from tests.integration.kit import CLUSTERS, WEB_DEPLOYMENT

pytestmark = pytest.mark.integration

class Server:
    """`deployer web` in a child process; its stderr is collected by a thread so the test can wait
    for a line with a deadline."""

    def __init__(self, folder: Path, state: Path, env: dict[str, str], *options: str) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        # Ctrl-C in a terminal reaches a process whose SIGINT is at its default; a child of a
        # non-interactive shell may have inherited "ignore", so put it back as a terminal would.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deployer", "--config-dir", str(folder), "web", "--port", "0",
             "--state-dir", str(state), "--trusted-proxy", "127.0.0.1", *options], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        threading.Thread(target=self._read, daemon=True).start()
        serving = self.wait_for_line(r"on http://127\.0\.0\.1:(\d+)/", 60)
        self.port = int(serving.group(1))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for_line(self, pattern: str, seconds: float) -> re.Match[str]:
        found: list[re.Match[str]] = []

        def seen() -> bool:
            found[:] = [m for m in (re.search(pattern, line) for line in self.lines) if m]
            return bool(found) or self.proc.poll() is not None

        with self._changed:
            self._changed.wait_for(seen, seconds)
        assert found, f"{pattern!r} never appeared on the server's stderr:\n{''.join(self.lines)}"
        return found[0]

    def press(self, **fields: str) -> str:
        # as an authenticating proxy on 127.0.0.1 (--trusted-proxy) would: the user in a header,
        # the session cookie and its CSRF token from /auth/session
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/auth/session", headers={"X-Forwarded-User": "alice"})
        session = conn.getresponse()
        token = json.loads(session.read())["csrfToken"]
        cookie = session.getheader("Set-Cookie").split(";", 1)[0]
        conn.request("POST", "/jobs", body=urlencode({**fields, "csrf_token": token}), headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-User": "alice", "Cookie": cookie,
            "Origin": f"http://127.0.0.1:{self.port}", "Host": f"127.0.0.1:{self.port}"})
        response = conn.getresponse()
        body = response.read().decode()
        conn.close()
        assert response.status == 303, body
        return response.getheader("Location").rsplit("/", 1)[1]

    def wait_until_mid_rollout(self, job_id: str) -> None:
        """Follow the job's live log until it waits for a Deployment's rollout (never completes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=180)
        conn.request("GET", f"/jobs/{job_id}/events")
        stream = conn.getresponse()
        seen = []
        try:
            for raw in stream:
                line = raw.decode()
                seen.append(line)
                if line.startswith("data:") and "] Deployment apps/" in line:
                    return
                if line.startswith("event: done"):
                    break
        finally:
            conn.close()
        raise AssertionError(f"job {job_id} ended or its stream closed before its rollout wait:\n{''.join(seen)}")

    def get(self, path: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read().decode()
        conn.close()
        return response.status, body

    def listening(self) -> bool:
        try:
            http.client.HTTPConnection("127.0.0.1", self.port, timeout=5).connect()
        except ConnectionRefusedError:
            return False
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def config(tmp_path: Path, synced_config_dir: Path) -> Path:
    folder = tmp_path / "config"
    (folder / "services" / "manifests").mkdir(parents=True)
    (folder / "charts").symlink_to(REPO / "charts")
    (folder / "clusters").symlink_to(synced_config_dir / "clusters")
    (folder / "services" / "manifests" / "deployment.yaml.j2").write_text(WEB_DEPLOYMENT)
    return folder


@pytest.fixture
def start(config: Path, tmp_path: Path, platform) -> Iterator:
    env = {**os.environ, "DEPLOYER_BUILDAH_ROOT": str(platform.state_dir / "buildah")}
    started: list[Server] = []

    def make(name: str, timeout: str) -> Server:
        # Every pod of this service stays unready: its rollout waits until `timeout`, then fails.
        (config / "services" / f"{name}.yaml").write_text(yaml.safe_dump({
            "name": name, "namespace": "apps", "manifests": "manifests",
            "image": {"name": "web", "context": str(REPO / "apps" / "hello")},
            "values": {"neverReadyOn": list(CLUSTERS)},
            "environments": {"staging": {"clusters": list(CLUSTERS)}},
            "rollout": {"timeout": timeout, "onFailure": "leave"},
        }))
        started.append(Server(config, tmp_path / "web-state", env))
        return started[-1]

    yield make
    for server in started:
        server.stop()


def audit(tmp_path: Path) -> list[dict]:
    """The audit trail in the page's database (SQLite in its state folder)."""
    from deployer.web.store.database import default_url, open_database
    from deployer.web.store.jobs import JobStore

    store = JobStore(open_database(default_url(tmp_path / "web-state")))
    try:
        return store.audit()
    finally:
        store.engine.dispose()


def outcomes(config: Path, name: str) -> dict[str, list[str]]:
    history = run_cli("--config-dir", str(config), "-o", "json", "history", name, "--env", "staging")
    assert history.exit_code == 0, history.stdout + history.stderr
    return {cluster: [r["outcome"] for r in records] for cluster, records in history.json().items()}


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_stops_listening_and_lets_the_running_job_finish(start, config, tmp_path, stop_signal) -> None:
    name = f"stop-{uuid.uuid4().hex[:6]}"
    server = start(name, timeout="10m")
    job_id = server.press(action="deploy", service=name, environment="staging")
    server.wait_until_mid_rollout(job_id)

    server.proc.send_signal(stop_signal)
    server.wait_for_line(rf"stopping 1 running job\(s\) \({job_id}\)", 30)
    assert not server.listening()
    # Long before the rollout's 10 minutes: its wait was cancelled, not waited out.
    assert server.proc.wait(timeout=30) == 0

    # The job ran to its end after the signal: onFailure (leave) applied, the end is in the audit
    # log and in each cluster's release record (an abandoned job would leave them in progress).
    [end] = [e for e in audit(tmp_path) if e["event"] == "end" and e["job"] == job_id]
    stopped_by = ExitCode.INTERRUPTED if stop_signal == signal.SIGINT else ExitCode.TERMINATED
    assert (end["outcome"], end["exitCode"], end["actor"]) == ("failed", stopped_by, "web:alice")
    assert outcomes(config, name) == {cluster: ["failed"] for cluster in CLUSTERS}, "".join(server.lines)


def test_a_second_ctrl_c_abandons_the_running_job(start, config, tmp_path) -> None:
    name = f"stop-{uuid.uuid4().hex[:6]}"
    server = start(name, timeout="10m")
    job_id = server.press(action="deploy", service=name, environment="staging")
    server.wait_until_mid_rollout(job_id)

    server.proc.send_signal(signal.SIGINT)
    server.wait_for_line(r"SIGINT again abandons the grace period", 30)
    server.proc.send_signal(signal.SIGINT)
    # Long before the rollout's 10 minutes; and still after the job's workers stopped and settled
    # its records (the job's locks are released only then).
    assert server.proc.wait(timeout=30) == 0

    assert [e["event"] for e in audit(tmp_path) if e["job"] == job_id] == ["start", "end"]
    assert outcomes(config, name) == {cluster: ["failed"] for cluster in CLUSTERS}, "".join(server.lines)
