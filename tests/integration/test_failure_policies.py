"""`rollout.onFailure` end to end on both local clusters: local-gke's new pods never become ready
(the platform's kwok stage for the never-ready label), local-onprem's do. ``rollback-failed`` is in
test_deploy.py; here ``rollback-all`` returns the healthy cluster too, and ``leave`` keeps the failed
cluster on its new release. Each test checks the live objects with the admin token, the report and
the release records."""

from __future__ import annotations

import pytest

from deployer.errors import ExitCode
from tests.integration import test_deploy
from tests.integration.test_deploy import (
    _service,
    deployer,
    deployment,
    unique,
    write_service,
)

pytestmark = pytest.mark.integration

# The fixtures of test_deploy.py: a config folder with the synced platform clusters and a fresh service.
synced = test_deploy.synced
deploy_dir = test_deploy.deploy_dir

CLUSTERS = ("local-onprem", "local-gke")
NEVER_READY = "deployer.test/never-ready"


def live(platform, name: str) -> dict[str, tuple[str, str, bool]]:
    """Per cluster: the Deployment's image, its GREETING and whether its pods carry the never-ready label."""
    found = {}
    for cluster in CLUSTERS:
        template = deployment(platform, cluster, name)["spec"]["template"]
        container = template["spec"]["containers"][0]
        greeting = next(e["value"] for e in container["env"] if e["name"] == "GREETING")
        found[cluster] = (container["image"], greeting, NEVER_READY in template["metadata"]["labels"])
    return found


def first_then_failing(folder, platform, name: str, policy: str):
    """Deploy r1 everywhere, then a new release (another commit and greeting) that local-gke never
    makes ready; return r1's live state and the second deploy's result."""
    spec = _service(name, on_failure=policy, timeout="15s")
    write_service(folder, spec)
    first = deployer(folder, "deploy", name, "--env", "staging", "--commit", unique("good"))
    assert first.exit_code == ExitCode.OK, first.stdout + first.stderr
    before = live(platform, name)

    spec["values"] |= {"neverReadyOn": ["local-gke"], "greeting": "new"}
    write_service(folder, spec)
    second = deployer(folder, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("bad"))
    return before, second


def history(folder, name: str) -> dict[str, list[tuple[int, str, int | None]]]:
    found = deployer(folder, "-o", "json", "history", name, "--env", "staging")
    assert found.exit_code == ExitCode.OK, found.stdout + found.stderr
    return {cluster: [(r["revision"], r["outcome"], r.get("rollback_of")) for r in records]
            for cluster, records in found.json().items()}


def test_rollback_all_returns_the_healthy_cluster_to_the_previous_release_too(deploy_dir, platform) -> None:
    name = unique("all")
    before, result = first_then_failing(deploy_dir, platform, name, "rollback-all")

    # Every cluster ends back on r1: the run failed everywhere as far as the environment goes.
    assert result.exit_code == ExitCode.FAILED, result.stdout + result.stderr
    clusters = {c["cluster"]: c for c in result.json()["clusters"]}
    for cluster in CLUSTERS:
        assert clusters[cluster]["outcome"] == "rolled-back", clusters[cluster]
        assert clusters[cluster]["end"]["kind"] == "previous", clusters[cluster]
        assert (clusters[cluster]["end"]["rollbackTarget"], clusters[cluster]["end"]["revision"]) == (1, 3)
        assert "back on r1's release as r3" in clusters[cluster]["release"]
    # local-onprem's new release was ready (its wait passed) before it was rolled back.
    assert next(s for s in clusters["local-onprem"]["steps"] if s["name"] == "deploy:wait")["status"] == "ok"
    assert next(s for s in clusters["local-gke"]["steps"] if s["name"] == "deploy:wait")["status"] == "failed"
    # Each report says why it is back: its own failure, or another cluster's.
    assert "(r2 failed)" in clusters["local-gke"]["release"]
    assert "r2 succeeded here and was rolled back because another cluster failed" in clusters["local-onprem"]["release"]

    assert live(platform, name) == before
    assert before["local-onprem"][1] == "hi"
    records = history(deploy_dir, name)
    assert records == {cluster: [(1, "succeeded", None), (2, "rolled-back", None), (3, "succeeded", 1)]
                       for cluster in CLUSTERS}


def test_leave_keeps_the_failed_cluster_on_the_new_release_and_says_so(deploy_dir, platform) -> None:
    name = unique("leave")
    before, result = first_then_failing(deploy_dir, platform, name, "leave")

    assert result.exit_code == ExitCode.PARTIAL, result.stdout + result.stderr
    clusters = {c["cluster"]: c for c in result.json()["clusters"]}
    assert clusters["local-onprem"]["outcome"] == "succeeded"
    assert clusters["local-onprem"]["end"] == {"kind": "new", "revision": 2, "rollbackTarget": None,
                                               "failedRevision": None, "reason": None}
    assert clusters["local-gke"]["outcome"] == "failed"
    assert clusters["local-gke"]["end"]["kind"] == "new-failed" and clusters["local-gke"]["end"]["revision"] == 2
    assert clusters["local-gke"]["release"] == ("on the new release r2, which failed; left on the new release "
                                                "(onFailure: leave)")
    assert not any(s["name"].startswith("rollback") for c in clusters.values() for s in c["steps"])

    now = live(platform, name)
    # Both clusters run the new release: local-gke's pods still carry the never-ready label.
    assert now["local-onprem"][1:] == ("new", False) and now["local-gke"][1:] == ("new", True)
    assert now["local-onprem"][0] != before["local-onprem"][0] and now["local-gke"][0] != before["local-gke"][0]
    assert now["local-gke"][0].split("@")[1] == now["local-onprem"][0].split("@")[1]
    assert history(deploy_dir, name) == {"local-onprem": [(1, "succeeded", None), (2, "succeeded", None)],
                                         "local-gke": [(1, "succeeded", None), (2, "failed", None)]}
