"""Process-level faults of the platform itself: a real kube-apiserver process stopped in the middle
of a deploy and started again (same flags, port and etcd data), not a proxy imitating one."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from deployer.errors import ExitCode
from deployer_localplatform.platform import Platform
from tests.conftest import REPO
from tests.integration.faults.conftest import _make_bystanders, end_state
from tests.integration.faults.deploy_run import Running, child_env, deployer, unique
from tests.integration.test_deploy import _service, write_service

pytestmark = pytest.mark.integration

ONPREM, GKE = "local-onprem", "local-gke"


@pytest.fixture
def folder(tmp_path: Path, synced_config_dir: Path) -> Path:
    (tmp_path / "charts").symlink_to(REPO / "charts")
    (tmp_path / "clusters").symlink_to(synced_config_dir / "clusters")
    (tmp_path / "services").mkdir()
    return tmp_path


def test_an_api_server_process_stopped_mid_wait_and_restarted_leaves_every_cluster_on_a_known_release(
        folder, platform) -> None:
    name, commit = unique("restart"), unique("c")
    spec = _service(name, timeout="40s", values={"greeting": "one"})
    write_service(folder, spec)
    first = deployer(folder, "deploy", name, "--env", "staging", "--commit", commit)
    assert first.exit_code == 0, first.stdout + first.stderr
    _make_bystanders(platform, name)

    # r2 never becomes ready on local-gke, so the deploy is waiting there when its API server goes.
    spec["values"].update(greeting="two", neverReadyOn=[GKE])
    write_service(folder, spec)
    running = Running(folder, "-o", "json", "deploy", name, "--env", "staging", "--commit", commit,
                      env=child_env(platform))
    local = Platform(platform.state_dir)
    try:
        running.wait_for_line(rf"\[{GKE}\] Deployment apps/{name}: ", 120)
        stopped_at = time.monotonic()
        local.stop_apiserver(GKE)
        down = time.monotonic() - stopped_at
        ready_after = local.start_apiserver(GKE)
        code = running.wait(180)
    finally:
        running.kill()
    print(f"local-gke's API server: {down:.1f}s to stop, {ready_after:.1f}s to answer /readyz again")

    report = json.loads(running.stdout)
    ends = end_state(platform, name)
    by_cluster = {c["cluster"]: c for c in report["clusters"]}
    assert code == ExitCode.PARTIAL, running.stderr
    # local-onprem was never touched by the fault: on r2, which succeeded there.
    assert by_cluster[ONPREM]["outcome"] == "succeeded" and ends[ONPREM].known and ends[ONPREM].current == 2
    gke_end = by_cluster[GKE]["end"]
    if gke_end["kind"] in ("lost", "unknown"):
        # The outage outlasted a request's retries: the report says the cluster is not known, and
        # the next deploy (which waits for the run's lease) settles it on a known release.
        settled = deployer(folder, "deploy", name, "--env", "staging", "--commit", commit, "--wait-for-lock", "2m")
        assert settled.exit_code in (ExitCode.OK, ExitCode.PARTIAL, ExitCode.FAILED), settled.stderr
        ends = end_state(platform, name)
        assert ends[GKE].known, ends[GKE]
    else:
        # The retries rode the restart out: the rollout timed out as it would have anyway and the
        # cluster was rolled back to r1's objects, which is what its report and records say.
        assert ends[GKE].known and ends[GKE].greeting == "one", ends[GKE]
        # r2's record says it did not succeed there (failed, or rolled back once the rollback ran).
        assert [outcome for rev, outcome in ends[GKE].records if rev == 2] in (["failed"], ["rolled-back"]), ends[GKE]
        assert ends[GKE].lock_holder is None
    assert ends[ONPREM].greeting == "two"
    assert all(end.bystander_present for end in ends.values())
