"""The drift comparison (deployer.rollout.drift), from inline objects: what `deployer status` and
the page say when the live objects differ from the newest release record."""

from __future__ import annotations

import copy
from typing import Any

from deployer.plan.keys import key_of
from deployer.rollout.drift import compare
from deployer.rollout.release import ReleaseRecord

STAGING, PRODUCTION, HAND = ("sha256:" + c * 64 for c in "abc")


def workload(digest: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "hello", "namespace": "apps",
                         "labels": {"app.kubernetes.io/managed-by": "deployer", "deployer.io/service": "hello",
                                    "team": "x", **labels}},
            "spec": {"template": {"spec": {"containers": [{"name": "web", "image": f"reg/hello@{digest}"},
                                                          {"name": "proxy", "image": "envoy:1.30"}]}}}}


def release(env: str, revision: int, digest: str, cluster: str = "local-gke", outcome: str = "succeeded"
            ) -> ReleaseRecord:
    return ReleaseRecord("hello", cluster, env, revision, f"reg/hello@{digest}", digest, "sha256:m", "ci",
                         "2025-01-01T00:00:00+00:00", outcome, objects=[workload(digest)])  # type: ignore[arg-type]


def live(obj: dict[str, Any], generation: int = 2, observed: int = 2) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"]["generation"] = generation
    out["status"] = {"observedGeneration": observed}
    return out


def run(record: ReleaseRecord, now: dict[str, Any] | None, known: list[ReleaseRecord] = ()) -> list[str]:
    found = compare("hello", "local-gke", record, {key_of(workload(record.digest)): now}, [record, *known])
    return [f.message for f in found]


def test_objects_as_recorded_are_no_drift() -> None:
    mine = release("staging", 1, STAGING)
    assert run(mine, live(workload(STAGING))) == []


def test_a_digest_of_another_release_is_named_by_that_release() -> None:
    mine, theirs = release("staging", 1, STAGING), release("production", 2, PRODUCTION)
    assert run(mine, live(workload(PRODUCTION)), [theirs]) == [
        "local-gke runs sha256:cccccccccccc... in Deployment apps/hello, which is production r2 of hello, "
        "not staging r1".replace("cccccccccccc", PRODUCTION[7:19])]


def test_a_foreign_digest_is_named_by_the_release_that_runs_it_now() -> None:
    # staging r1 and production r1 both ran PRODUCTION's digest; staging has moved on to r2.
    old_staging, production = release("staging", 1, PRODUCTION), release("production", 1, PRODUCTION)
    mine = release("staging", 2, STAGING)
    [finding] = compare("hello", "local-gke", mine, {key_of(workload(STAGING)): live(workload(PRODUCTION))},
                        [old_staging, production, mine])
    assert "which is production r1 of hello, not staging r2" in finding.message


def test_an_image_set_by_hand_is_drift_naming_the_recorded_digest() -> None:
    mine = release("staging", 1, STAGING)
    changed = live(workload(STAGING))
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:latest"
    [finding] = compare("hello", "local-gke", mine, {key_of(changed): changed}, [mine])
    assert finding.kind == "image" and finding.drift
    assert finding.message == ("drift: Deployment apps/hello runs image nginx:latest in container web, set outside "
                               f"deployer, not the recorded sha256:{STAGING[7:19]}... of staging r1")


def test_a_removed_container_and_a_missing_object_are_drift() -> None:
    mine = release("staging", 1, STAGING)
    changed = live(workload(STAGING))
    changed["spec"]["template"]["spec"]["containers"].pop(1)
    assert run(mine, changed) == ["drift: Deployment apps/hello has no container proxy, which staging r1 runs"]
    assert run(mine, None) == ["drift: Deployment apps/hello of staging r1 is not in the cluster"]


def test_owner_labels_changed_or_removed_are_drift_other_labels_are_not() -> None:
    mine = release("staging", 1, STAGING)
    relabelled = live(workload(STAGING, **{"deployer.io/service": "other", "team": "y"}))
    del relabelled["metadata"]["labels"]["app.kubernetes.io/managed-by"]
    assert run(mine, relabelled) == [
        "drift: Deployment apps/hello has no app.kubernetes.io/managed-by label, not "
        "app.kubernetes.io/managed-by=deployer as staging r1 applied it: another owner may have taken it",
        "drift: Deployment apps/hello has deployer.io/service=other, not deployer.io/service=hello as staging r1 "
        "applied it: another owner may have taken it"]


def test_a_generation_not_yet_observed_is_reported_but_is_not_drift() -> None:
    mine = release("staging", 1, STAGING)
    [finding] = compare("hello", "local-gke", mine, {key_of(workload(STAGING)): live(workload(STAGING), 3, 2)}, [])
    assert finding.kind == "unobserved" and not finding.drift
    assert "generation 3 is not yet observed by its controller (observed 2)" in finding.message


def test_a_removed_release_expects_nothing() -> None:
    assert run(release("staging", 2, STAGING, outcome="removed"), None) == []
