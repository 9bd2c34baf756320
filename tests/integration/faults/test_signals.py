"""SIGTERM (a Jenkins abort) and SIGINT (Ctrl-C) reaching a real `deployer deploy` mid-rollout, and
`deployer web` stopped while a job runs: no new writes, onFailure within the grace period, records
settled, --report and --junit written, locks released only after every worker has stopped, exit
130/143. Checked from outside with the admin's own client."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from deployer.errors import ExitCode
from tests.integration.faults.deploy_run import (
    Running,
    child_env,
    config_folder,
    configmaps_of,
    deployer,
    deployment,
    lease,
    never_ready,
    outcomes,
    records,
    report,
    unique,
    write_service,
)
from tests.integration.kit import CLUSTERS

pytestmark = pytest.mark.integration

GRACE = 20.0
SLACK = 10.0  # the cancelled wait's last poll, settling records, releasing two leases, writing files


@pytest.fixture
def folder(tmp_path: Path, synced_config_dir: Path) -> Path:
    return config_folder(tmp_path / "config", synced_config_dir)


def image(platform, cluster: str, name: str) -> str:
    return deployment(platform, cluster, name)["spec"]["template"]["spec"]["containers"][0]["image"]


def deployed_then_hanging(folder: Path, platform, tmp_path: Path, *extra: str
                          ) -> tuple[str, dict[str, str], Running]:
    """A good r1 on both clusters, then a deploy of r2 whose pods never become ready (10 minutes'
    timeout), in a child process, waiting for its rollout."""
    name, commit = unique("sig"), unique("c")
    write_service(folder, name)
    first = deployer(folder, "deploy", name, "--env", "staging", "--commit", commit)
    assert first.exit_code == 0, first.stdout + first.stderr
    good_images = {cluster: image(platform, cluster, name) for cluster in CLUSTERS}
    write_service(folder, name, never_ready_on=CLUSTERS)
    running = Running(folder, "-o", "json", "deploy", name, "--env", "staging", "--commit", commit,
                      "--grace-period", f"{GRACE:g}s", "--report", str(tmp_path / "report.json"),
                      "--junit", str(tmp_path / "junit.xml"), *extra, env=child_env(platform))
    for cluster in CLUSTERS:
        running.wait_for_line(rf"\[{cluster}\] Deployment apps/{name}: ", 120)
    assert running.proc.poll() is None
    return name, good_images, running


@pytest.mark.parametrize(("stop_signal", "code"), [(signal.SIGTERM, ExitCode.TERMINATED),
                                                   (signal.SIGINT, ExitCode.INTERRUPTED)], ids=["sigterm", "sigint"])
def test_a_signal_mid_wait_rolls_back_within_the_grace_period_and_exits_130_or_143(
        folder, platform, tmp_path, stop_signal, code) -> None:
    name, good_images, running = deployed_then_hanging(folder, platform, tmp_path)
    try:
        sent = time.monotonic()
        running.proc.send_signal(stop_signal)
        assert running.wait(GRACE + SLACK) == code, running.stderr
        took = time.monotonic() - sent
    finally:
        running.kill()
    print(f"{stop_signal.name}: exit {code} {took:.1f}s after the signal")

    # Every cluster is back on r1's release (rollback-failed: both failed), by the admin's own client.
    for cluster in CLUSTERS:
        live = deployment(platform, cluster, name)
        assert live["spec"]["template"]["spec"]["containers"][0]["image"] == good_images[cluster]
        assert not never_ready(live), cluster
        assert lease(platform, cluster, name)["spec"].get("holderIdentity") is None, cluster
    # Records settled: r2 rolled back (saying why), r3 the rollback; nothing left in progress.
    assert outcomes(folder, name) == {c: ["succeeded", "rolled-back", "succeeded"] for c in CLUSTERS}
    assert all(f"interrupted by {stop_signal.name}" in found[1]["message"] for found in records(folder, name).values())

    written = report(tmp_path / "report.json")
    assert (written["interrupted"], written["exitCode"]) == (stop_signal.name, code)
    assert [c["outcome"] for c in written["clusters"]] == ["rolled-back", "rolled-back"]
    assert all(c["end"]["kind"] == "previous" for c in written["clusters"])
    junit = (tmp_path / "junit.xml").read_text()
    assert "run / interrupted" in junit and f"interrupted by {stop_signal.name}" in junit


def test_a_second_signal_abandons_the_grace_period_but_releases_no_lock_before_the_workers_stop(
        folder, platform, tmp_path) -> None:
    name, _good, running = deployed_then_hanging(folder, platform, tmp_path)
    try:
        running.proc.send_signal(signal.SIGTERM)
        running.wait_for_line(r"SIGTERM: stopping", 10)
        running.proc.send_signal(signal.SIGTERM)
        assert running.wait(SLACK) == ExitCode.TERMINATED, running.stderr
    finally:
        running.kill()
    assert "abandoning the grace period" in running.stderr

    for cluster in CLUSTERS:
        released = lease(platform, cluster, name)
        assert released["spec"].get("holderIdentity") is None
        # One etcd orders every write of both clusters: each record and inventory write of the run
        # came before the write that released the lock (a worker left writing would come after).
        written = configmaps_of(platform, cluster, name)
        assert written and max(written.values()) < int(released["metadata"]["resourceVersion"]), (written, released)
    # Nothing is left "in progress": r2 is settled failed whether or not its rollback had begun.
    assert all("in-progress" not in found for found in outcomes(folder, name).values()), outcomes(folder, name)
    assert report(tmp_path / "report.json")["interrupted"] == "SIGTERM"


def test_web_shutdown_stops_a_running_job_with_the_same_grace(folder, platform, tmp_path) -> None:
    from tests.integration.test_web_shutdown import Server

    name, commit = unique("sig"), unique("c")
    write_service(folder, name)
    assert deployer(folder, "deploy", name, "--env", "staging", "--commit", commit).exit_code == 0
    write_service(folder, name, never_ready_on=CLUSTERS)
    env = {**child_env(platform), "DEPLOYER_COMMIT": commit, "DEPLOYER_WEB_GRACE_PERIOD": f"{GRACE:g}s"}
    server = Server(folder, tmp_path / "web-state", env)
    try:
        job_id = server.press(action="deploy", service=name, environment="staging")
        server.wait_until_mid_rollout(job_id)
        sent = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for_line(rf"SIGTERM: stopping 1 running job\(s\) \({job_id}\)", 10)
        assert server.proc.wait(timeout=GRACE + SLACK) == 0
        took = time.monotonic() - sent
    finally:
        server.stop()
    print(f"web: stopped {took:.1f}s after SIGTERM")
    assert outcomes(folder, name) == {c: ["succeeded", "rolled-back", "succeeded"] for c in CLUSTERS}
    for cluster in CLUSTERS:
        assert not never_ready(deployment(platform, cluster, name))
        assert lease(platform, cluster, name)["spec"].get("holderIdentity") is None


def test_a_signal_while_waiting_for_a_lock_ends_the_wait_at_once_with_nothing_written(
        folder, platform, tmp_path) -> None:
    from deployer.app import App, utcnow
    from deployer.config.loader import load_config
    from deployer.pipeline import locking

    name = unique("sig")
    write_service(folder, name)
    config = load_config(folder)
    with App(config) as other:
        held = locking.try_acquire(other.client(config.cluster("local-gke")), "apps", name, "https://ci/job/first",
                                   utcnow(), 3600)
        assert isinstance(held, locking.HeldLock)
        running = Running(folder, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"),
                          "--wait-for-lock", "10m", "--report", str(tmp_path / "report.json"), env=child_env(platform))
        try:
            running.wait_for_line("waiting for the deploy lock held by https://ci/job/first", 120)
            running.proc.send_signal(signal.SIGTERM)
            assert running.wait(SLACK) == ExitCode.TERMINATED, running.stderr
        finally:
            running.kill()
            held.release()
    written = report(tmp_path / "report.json")
    assert written["interrupted"] == "SIGTERM"
    assert "interrupted while taking the deploy locks" in " ".join(written["notes"])
    # Nothing written: no record, and the lock it got on the free cluster was given back.
    assert outcomes(folder, name) == {c: [] for c in CLUSTERS}
    assert lease(platform, "local-onprem", name)["spec"].get("holderIdentity") is None


HANGING_MIGRATION = """\
# A pre-deploy Job whose pods are refused (no such ServiceAccount): without a deadline it never ends.
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ service.name ~ '-migrate' }}
  namespace: {{ service.namespace }}
  annotations:
    deployer.io/phase: pre-deploy
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      serviceAccountName: no-such-account
      containers:
        - name: migrate
          image: {{ image }}
"""


def test_a_signal_while_a_pre_deploy_job_runs_ends_its_wait_at_once_and_nothing_else_is_written(
        folder, platform, tmp_path) -> None:
    name, commit = unique("sigjob"), unique("c")
    write_service(folder, name)
    first = deployer(folder, "deploy", name, "--env", "staging", "--commit", commit)
    assert first.exit_code == 0, first.stdout + first.stderr
    before = {cluster: deployment(platform, cluster, name)["metadata"]["resourceVersion"] for cluster in CLUSTERS}
    (folder / "services" / "manifests" / "migrate.yaml.j2").write_text(HANGING_MIGRATION)
    running = Running(folder, "-o", "json", "deploy", name, "--env", "staging", "--commit", commit,
                      "--grace-period", f"{GRACE:g}s", "--report", str(tmp_path / "report.json"),
                      env=child_env(platform))
    try:
        for cluster in CLUSTERS:
            running.wait_for_line(rf"\[{cluster}\] Job apps/{name}-migrate-[0-9a-f]+: ", 120)
        assert running.proc.poll() is None, running.stderr
        sent = time.monotonic()
        running.proc.send_signal(signal.SIGTERM)
        # The pre-deploy wait is cancelled by the stop token at once, not at the 10-minute timeout,
        # and there is nothing to roll back, so the grace period is not used.
        assert running.wait(SLACK) == ExitCode.TERMINATED, running.stderr
        took = time.monotonic() - sent
    finally:
        running.kill()
    print(f"SIGTERM during a pre-deploy Job: exit 143 {took:.1f}s after the signal")

    for cluster in CLUSTERS:  # the release's workloads were never written; the lock is released
        assert deployment(platform, cluster, name)["metadata"]["resourceVersion"] == before[cluster], cluster
        assert lease(platform, cluster, name)["spec"].get("holderIdentity") is None, cluster
    history = records(folder, name)
    for cluster in CLUSTERS:
        assert [r["outcome"] for r in history[cluster]] == ["succeeded", "failed"], history[cluster]
        assert "interrupted by SIGTERM" in history[cluster][1]["message"], history[cluster][1]
    written = report(tmp_path / "report.json")
    assert written["interrupted"] == "SIGTERM"
    assert all(c["end"]["kind"] == "unchanged" for c in written["clusters"]), written["clusters"]
