from __future__ import annotations

import datetime as dt

import pytest
import yaml

from deployer.rollout import lock, policy
from deployer.rollout.readiness import readiness


def dep(text: str) -> dict:
    return yaml.safe_load("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, generation: 3}\n" + text)


@pytest.mark.parametrize("text, state, words", [
    ("spec: {replicas: 2}\nstatus: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2}",
     "waiting", "observe generation 3"),
    ("spec: {replicas: 2}\nstatus: {observedGeneration: 3, replicas: 3, updatedReplicas: 1, availableReplicas: 2}",
     "waiting", "1 of 2 new replicas"),
    ("spec: {replicas: 2}\nstatus: {observedGeneration: 3, replicas: 3, updatedReplicas: 2, availableReplicas: 2}",
     "waiting", "1 old replicas are pending termination"),
    ("spec: {replicas: 2}\nstatus: {observedGeneration: 3, replicas: 2, updatedReplicas: 2, availableReplicas: 1}",
     "waiting", "1 of 2 updated replicas are available"),
    ("spec: {replicas: 2}\nstatus: {observedGeneration: 3, replicas: 2, updatedReplicas: 2, availableReplicas: 2}",
     "done", "2 of 2"),
    ("spec: {replicas: 2}\nstatus:\n  observedGeneration: 3\n  conditions:\n"
     "  - {type: Progressing, status: 'False', reason: ProgressDeadlineExceeded, message: rs web-1 timed out}",
     "failed", "progress deadline"),
    ("spec: {replicas: 1}\nstatus:\n  observedGeneration: 3\n  replicas: 0\n  conditions:\n"
     "  - {type: ReplicaFailure, status: 'True', reason: FailedCreate, message: 'pods \"web-1\" is forbidden: "
     "failed quota: q: must specify cpu'}",
     "waiting", "0 of 1 new replicas have been updated; pods cannot be created: pods \"web-1\" is forbidden: "
                "failed quota: q: must specify cpu"),
    ("spec: {replicas: 1}\nstatus:\n  observedGeneration: 3\n  replicas: 1\n  updatedReplicas: 1\n"
     "  availableReplicas: 1\n  conditions:\n  - {type: ReplicaFailure, status: 'False', reason: FailedCreate}",
     "done", "1 of 1"),
])
def test_deployment_rules(text: str, state: str, words: str) -> None:
    result = readiness(dep(text))
    assert result.state == state
    assert words in result.message


def test_stale_status_never_reports_success() -> None:
    # Status looks complete for generation 3, but our apply produced generation 4.
    obj = dep("spec: {replicas: 1}\nstatus: {observedGeneration: 3, replicas: 1, updatedReplicas: 1, "
              "availableReplicas: 1}")
    assert readiness(obj).done
    assert readiness(obj, min_generation=4).state == "waiting"


def test_plain_objects_are_done_once_applied() -> None:
    assert readiness({"apiVersion": "v1", "kind": "Service"}).done


def test_statefulset_waits_for_revision() -> None:
    obj = yaml.safe_load("""
apiVersion: apps/v1
kind: StatefulSet
metadata: {generation: 1}
spec: {replicas: 2}
status: {observedGeneration: 1, readyReplicas: 2, updatedReplicas: 1, currentRevision: a, updateRevision: b}
""")
    assert readiness(obj).state == "waiting"


@pytest.mark.parametrize("name, outcomes, wrote, previous, expected", [
    ("rollback-failed", {"a": "failed", "b": "succeeded"}, {"a": True, "b": True}, {"a": True, "b": True}, ("a",)),
    ("rollback-all", {"a": "failed", "b": "succeeded"}, {"a": True, "b": True}, {"a": True, "b": True}, ("a", "b")),
    ("rollback-all", {"a": "failed", "b": "succeeded"}, {"a": True, "b": False}, {"a": True, "b": True}, ("a",)),
    ("leave", {"a": "failed", "b": "succeeded"}, {"a": True, "b": True}, {"a": True, "b": True}, ()),
    ("rollback-failed", {"a": "failed"}, {"a": True}, {"a": False}, ()),
    ("rollback-all", {"a": "succeeded", "b": "succeeded"}, {"a": True, "b": True}, {"a": True, "b": True}, ()),
])
def test_failure_policy(name, outcomes, wrote, previous, expected) -> None:
    decision = policy.decide(name, outcomes, wrote, previous)
    assert decision.roll_back == expected
    for cluster in expected:
        assert "rolled back" in decision.reasons[cluster]


def test_first_release_has_nowhere_to_go_back_to() -> None:
    decision = policy.decide("rollback-failed", {"a": "failed"}, {"a": True}, {"a": False})
    assert "no earlier release" in decision.reasons["a"]


NOW = dt.datetime(2026, 11, 22, 12, 0, 0, tzinfo=dt.UTC)


def lease(holder: str | None, renewed_seconds_ago: float, duration: int = 30) -> dict:
    renew = (NOW - dt.timedelta(seconds=renewed_seconds_ago)).isoformat().replace("+00:00", "Z")
    return {"metadata": {"resourceVersion": "1"},
            "spec": {"holderIdentity": holder, "renewTime": renew, "leaseDurationSeconds": duration}}


def seen_for(found: dict, seconds: float, me: str = "me") -> lock.LockDecision:
    """The decision of a candidate that has watched ``found`` unchanged for ``seconds``."""
    observed = lock.observe(found, None, 0.0)
    return lock.decide(found, me, observed, seconds)


def test_lock_decisions() -> None:
    assert lock.decide(None, "me", None, 0.0).action == "create"
    assert seen_for(lease("me", 5), 0).action == "renew"
    held = seen_for(lease("https://jenkins/job/1", 5), 5)
    assert (held.action, held.holder, round(held.expires_in)) == ("held", "https://jenkins/job/1", 25)
    # renewed 31 s ago by the wall clock, but this candidate has only just seen it: still held
    assert seen_for(lease("killed-run", 31), 0).action == "held"
    assert seen_for(lease("killed-run", 31), 30).action == "take"
    assert seen_for(lease(None, 1), 0).action == "take"


def test_two_runs_of_one_actor_are_two_holders() -> None:
    first, second = lock.holder_of("ana@build-host", "1a2b3c4d"), lock.holder_of("ana@build-host", "9f8e7d6c")
    assert first != second and first.startswith("ana@build-host")
    held = seen_for(lease(first, 5), 5, second)
    assert (held.action, held.holder) == ("held", first)  # the second run is refused, naming the first
    assert seen_for(lease(first, 5), 5, first).action == "renew"
