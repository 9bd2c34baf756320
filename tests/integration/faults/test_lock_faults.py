"""The deploy lock under faults: a run killed with SIGKILL, a Lease taken over under a running
deploy, and a host whose wall clock runs 31 s ahead. Expiry is judged by what a run observes with
its own monotonic clock (client-go's leader-election rule), never by renewTime against its wall
clock; a lost lock stops that cluster's writes and fails the run."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deployer.errors import ExitCode
from deployer.polling import poll_until
from tests.integration.faults.deploy_run import (
    Running,
    child_env,
    config_folder,
    deployer,
    deployment,
    lease,
    never_ready,
    outcomes,
    records,
    report,
    take_lease,
    unique,
    write_service,
)
from tests.integration.kit import CLUSTERS

pytestmark = pytest.mark.integration

# The thread-safe build of libfaketime: deployer runs threads (fan-out, the lease renewer).
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")


@pytest.fixture
def folder(tmp_path: Path, synced_config_dir: Path) -> Path:
    return config_folder(tmp_path / "config", synced_config_dir)


def hanging(folder: Path, platform, name: str, commit: str, *extra: str, never_ready_on=CLUSTERS) -> Running:
    """A deploy in a child process, waiting on a rollout that never completes on ``never_ready_on``."""
    write_service(folder, name, never_ready_on=never_ready_on)
    running = Running(folder, "-o", "json", "deploy", name, "--env", "staging", "--commit", commit, *extra,
                      env=child_env(platform))
    for cluster in never_ready_on:
        running.wait_for_line(rf"\[{cluster}\] Deployment apps/{name}: ", 120)
    assert running.proc.poll() is None, running.stderr
    return running


def wall_clock_expired(found: dict | None) -> bool:
    """Past its duration since its renewTime by this host's wall clock: what a wall-clock rule
    would take over at once."""
    if found is None:
        return False
    spec = found["spec"]
    renewed = dt.datetime.fromisoformat(spec["renewTime"].replace("Z", "+00:00"))
    return dt.datetime.now(dt.UTC) > renewed + dt.timedelta(seconds=spec["leaseDurationSeconds"])


def seconds_at(stderr: str, pattern: str) -> float:
    """The run's own elapsed-time stamp on the first progress line matching ``pattern``."""
    match = re.search(r"^\s*([0-9.]+)s " + pattern, stderr, re.MULTILINE)
    assert match, f"{pattern!r} not in:\n{stderr}"
    return float(match.group(1))


def test_a_killed_runs_lease_is_taken_only_after_a_lease_duration_of_watching(folder, platform) -> None:
    name, commit = unique("kill"), unique("c")
    killed = hanging(folder, platform, name, commit, "--lock-lease", "6s", "--actor", "killed-run")
    killed.proc.send_signal(signal.SIGKILL)
    killed.proc.wait()
    # Wait until a wall-clock rule would take both leases at once: only the observation rule waits.
    expired = poll_until(lambda: all(wall_clock_expired(lease(platform, c, name)) for c in CLUSTERS) or None, 30,
                         interval=0.2)
    assert expired, {c: lease(platform, c, name) for c in CLUSTERS}

    write_service(folder, name)  # the fixed release
    nxt = Running(folder, "-o", "json", "deploy", name, "--env", "staging", "--commit", commit,
                  "--wait-for-lock", "60s", env=child_env(platform))
    try:
        assert nxt.wait(180) == 0, nxt.stderr
    finally:
        nxt.kill()
    for cluster in CLUSTERS:
        waited = seconds_at(nxt.stderr, rf"\[{cluster}\] waiting for the deploy lock held by killed-run")
        took = seconds_at(nxt.stderr, rf"\[{cluster}\] took over the deploy lock from killed-run")
        print(f"{cluster}: took the killed run's 6s lease {took - waited:.1f}s after first seeing it")
        # Observed for its whole 6 s (less the few milliseconds between the read and its line).
        assert 5.5 <= took - waited <= 6 + 3, (waited, took)
        after = lease(platform, cluster, name)["spec"]
        assert after.get("holderIdentity") is None and after.get("leaseTransitions") == 1, after
        assert not never_ready(deployment(platform, cluster, name))
    # Every cluster on a known release; the killed run's record says what became of it.
    assert outcomes(folder, name) == {c: ["abandoned", "succeeded"] for c in CLUSTERS}
    assert all("marked abandoned by the next run" in found[0]["message"] for found in records(folder, name).values())


def test_a_lease_taken_over_mid_deploy_stops_writes_there_and_fails_the_run(folder, platform, tmp_path) -> None:
    name, commit = unique("steal"), unique("c")
    write_service(folder, name)
    assert deployer(folder, "deploy", name, "--env", "staging", "--commit", commit).exit_code == 0
    # r2 never becomes ready on local-onprem: that cluster is waiting when its lease is taken.
    running = hanging(folder, platform, name, commit, "--lock-lease", "6s", "--report", str(tmp_path / "r.json"),
                      never_ready_on=("local-onprem",))
    try:
        take_lease(platform, "local-onprem", name, "intruder (run 00000000)")
        taken = time.monotonic()
        # The next renewal (every 2 s) finds the intruder; the wait ends at its next poll.
        assert running.wait(20) == ExitCode.PARTIAL, running.stderr
        print(f"lease taken over: the deploy stopped {time.monotonic() - taken:.1f}s later")
    finally:
        running.kill()

    onprem, gke = report(tmp_path / "r.json")["clusters"]
    assert (onprem["cluster"], onprem["outcome"], gke["outcome"]) == ("local-onprem", "failed", "unchanged")
    lock_step = [s for s in onprem["steps"] if s["name"] == "lock" and s["status"] == "failed"]
    assert lock_step and "taken over by 'intruder (run 00000000)'" in lock_step[0]["message"], onprem["steps"]
    assert "not rolled back" in onprem["release"]
    # Nothing more was written there: no rollback over the new holder, whose lease stands.
    assert lease(platform, "local-onprem", name)["spec"]["holderIdentity"] == "intruder (run 00000000)"
    assert outcomes(folder, name)["local-onprem"] == ["succeeded", "failed"]
    assert "lock lost" in records(folder, name)["local-onprem"][1]["message"]
    assert never_ready(deployment(platform, "local-onprem", name))
    assert lease(platform, "local-gke", name)["spec"].get("holderIdentity") is None


def test_a_host_whose_clock_runs_31s_ahead_cannot_take_a_live_lease(folder, platform) -> None:
    if not LIBFAKETIME.exists():
        pytest.skip(f"{LIBFAKETIME} is missing: apt-get install faketime (scripts/test-prerequisites.sh does)")
    # The skewed run's wall clock only (time.time, datetime.now): its monotonic clock is real.
    skewed = {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": "+31s", "DONT_FAKE_MONOTONIC": "1"}
    probe = subprocess.run([sys.executable, "-c", "import time; print(time.time())"], env={**os.environ, **skewed},
                           capture_output=True, text=True, check=True)
    assert 29 < float(probe.stdout) - time.time() < 33  # the fake clock is in effect

    name, commit = unique("skew"), unique("c")
    holder = hanging(folder, platform, name, commit, "--actor", "https://ci/job/live")  # 30 s lease, renewed
    try:
        held = {c: lease(platform, c, name)["spec"]["holderIdentity"] for c in CLUSTERS}
        # By the skewed clock every renewTime is over 30 s old: a wall-clock rule would take it. The
        # skewed run is a rollback: it takes the same locks the same way, and runs no child process
        # (buildah, skopeo) that the preloaded fake clock could upset.
        second = Running(folder, "--debug", "rollback", name, "--env", "staging", "--actor", "skewed",
                         env={**child_env(platform), **skewed})
        try:
            assert second.wait(120) == ExitCode.LOCKED, second.stderr
        finally:
            second.kill()
        assert "https://ci/job/live" in second.stderr
        assert holder.proc.poll() is None
        assert {c: lease(platform, c, name)["spec"]["holderIdentity"] for c in CLUSTERS} == held
    finally:
        holder.kill()


def test_a_lease_that_cannot_be_renewed_for_its_duration_counts_as_lost(folder, platform, tmp_path,
                                                                       synced_config_dir) -> None:
    from kubernetes import client

    from tests.integration.kit import admin_api

    name, commit = unique("norenew"), unique("c")
    write_service(folder, name)
    assert deployer(folder, "deploy", name, "--env", "staging", "--commit", commit).exit_code == 0
    running = hanging(folder, platform, name, commit, "--lock-lease", "6s", "--report", str(tmp_path / "r.json"),
                      never_ready_on=("local-onprem",))
    try:
        # From now on local-onprem refuses the deployer's lease updates (403): renewals keep failing.
        with admin_api(platform.cluster("local-onprem")) as api:
            rbac = client.RbacAuthorizationV1Api(api)
            role = rbac.read_cluster_role("deployer:deployer")
            for rule in role.rules:
                if "leases" in (rule.resources or []):
                    rule.verbs = ["get", "list", "watch", "create"]
            rbac.replace_cluster_role("deployer:deployer", role)
        refused = time.monotonic()
        assert running.wait(30) == ExitCode.PARTIAL, running.stderr
        print(f"renewals refused: the deploy stopped {time.monotonic() - refused:.1f}s later (6s lease)")
    finally:
        running.kill()
        # The chart's role back (taking .rules back from the admin's client, which wrote them last).
        assert deployer(synced_config_dir, "cluster", "sync", "--all", "--force-conflicts").exit_code == 0

    onprem = report(tmp_path / "r.json")["clusters"][0]
    assert (onprem["cluster"], onprem["outcome"]) == ("local-onprem", "failed")
    lock_step = [s for s in onprem["steps"] if s["name"] == "lock" and s["status"] == "failed"]
    assert lock_step and "could not be renewed for its whole 6s duration" in lock_step[0]["message"], onprem["steps"]
    assert outcomes(folder, name)["local-onprem"] == ["succeeded", "failed"]  # no rollback written after the loss
