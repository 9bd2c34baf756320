"""Readiness, failure policy and lock decisions at their edges: defaults of absent fields, exact
boundaries, and what each decision reports (written against the survivors of `make mutation`)."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from deployer.rollout import lock, policy
from deployer.rollout.readiness import has_rule, readiness


def obj(kind: str, text: str, api_version: str = "apps/v1") -> dict:
    return yaml.safe_load(f"apiVersion: {api_version}\nkind: {kind}\n{text}")


# --- readiness ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "state", "message"), [
    # spec.replicas absent means 1 (the API server's default), absent status counts mean 0.
    ("metadata: {generation: 1}\nspec: {}\nstatus: {observedGeneration: 1}",
     "waiting", "0 of 1 new replicas have been updated"),
    ("metadata: {generation: 1}\nspec: {}\nstatus: {observedGeneration: 1, updatedReplicas: 1}",
     "waiting", "0 of 1 updated replicas are available"),
    ("metadata: {generation: 1}\nspec: {}\nstatus: {observedGeneration: 1, updatedReplicas: 1, availableReplicas: 1}",
     "done", "1 of 1 replicas available"),
    ("metadata: {generation: 1}\nspec: {replicas: 0}\nstatus: {observedGeneration: 1}",
     "done", "0 of 0 replicas available"),
    # No generation recorded yet: nothing to wait for on that account.
    ("spec: {replicas: 0}\nstatus: {}", "done", "0 of 0 replicas available"),
    ("metadata: {generation: 1}\nspec: {}\nstatus:\n  observedGeneration: 1\n  conditions:\n"
     "  - {type: Available, status: 'False', reason: ProgressDeadlineExceeded}\n"
     "  - {type: Progressing, status: 'False', reason: ProgressDeadlineExceeded}",
     "failed", "exceeded its progress deadline"),
    ("metadata: {generation: 1}\nspec: {}\nstatus:\n  observedGeneration: 1\n  updatedReplicas: 1\n"
     "  availableReplicas: 1\n  conditions:\n  - {type: Progressing, status: 'True', reason: NewReplicaSetAvailable}",
     "done", "1 of 1 replicas available"),
])
def test_deployment_defaults_and_conditions(text, state, message):
    result = readiness(obj("Deployment", text))
    assert (result.state, result.message) == (state, message)


def test_deployment_progress_deadline_carries_the_controllers_message():
    result = readiness(obj("Deployment", "metadata: {generation: 2}\nspec: {}\nstatus:\n  observedGeneration: 2\n"
                                         "  conditions:\n  - {type: Progressing, reason: ProgressDeadlineExceeded, "
                                         "message: 'ReplicaSet \"web-1\" has timed out progressing.'}"))
    assert (result.state, result.message) == (
        "failed", 'exceeded its progress deadline: ReplicaSet "web-1" has timed out progressing.')


@pytest.mark.parametrize(("text", "state", "message"), [
    ("metadata: {generation: 2}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, readyReplicas: 2}",
     "waiting", "waiting for the controller to observe generation 2 (observed 1)"),
    ("metadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, readyReplicas: 1}",
     "waiting", "1 of 2 pods are ready"),
    ("metadata: {generation: 1}\nspec: {}\nstatus: {observedGeneration: 1}", "waiting", "0 of 1 pods are ready"),
    ("metadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, readyReplicas: 2, "
     "updatedReplicas: 1, currentRevision: a, updateRevision: b}", "waiting", "1 of 2 pods are on the new revision"),
    ("metadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, readyReplicas: 2, "
     "currentRevision: a, updateRevision: b}", "waiting", "0 of 2 pods are on the new revision"),
    ("metadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, readyReplicas: 2, "
     "updatedReplicas: 2, currentRevision: b, updateRevision: b}", "done", "2 of 2 pods ready"),
    # OnDelete: pods change revision only when someone deletes them; kubectl refuses to call that a
    # rollout, and so does deployer (tests/unit/test_readiness_kinds.py has the full table).
    ("metadata: {generation: 1}\nspec: {replicas: 2, updateStrategy: {type: OnDelete}}\n"
     "status: {observedGeneration: 1, readyReplicas: 2, currentRevision: a, updateRevision: b}",
     "failed", "a StatefulSet with updateStrategy OnDelete has no rollout to wait for (its pods change only when "
               "deleted); use updateStrategy RollingUpdate, or delete its pods yourself"),
    ("metadata: {generation: 1}\nspec: {replicas: 0}\nstatus: {observedGeneration: 1}", "done", "0 of 0 pods ready"),
])
def test_statefulset_rules(text, state, message):
    result = readiness(obj("StatefulSet", text))
    assert (result.state, result.message) == (state, message)


@pytest.mark.parametrize(("text", "state", "message"), [
    ("metadata: {generation: 3}\nstatus: {observedGeneration: 2, desiredNumberScheduled: 1, "
     "updatedNumberScheduled: 1, numberAvailable: 1}",
     "waiting", "waiting for the controller to observe generation 3 (observed 2)"),
    ("metadata: {generation: 1}\nstatus: {observedGeneration: 1, desiredNumberScheduled: 3, "
     "updatedNumberScheduled: 2, numberAvailable: 3}", "waiting", "2 of 3 updated pods are scheduled"),
    ("metadata: {generation: 1}\nstatus: {observedGeneration: 1, desiredNumberScheduled: 3, "
     "updatedNumberScheduled: 3, numberAvailable: 2}", "waiting", "2 of 3 updated pods are available"),
    ("metadata: {generation: 1}\nstatus: {observedGeneration: 1, desiredNumberScheduled: 3, "
     "updatedNumberScheduled: 3, numberAvailable: 3}", "done", "3 of 3 pods available"),
    ("metadata: {generation: 1}\nstatus: {observedGeneration: 1, desiredNumberScheduled: 2}",
     "waiting", "0 of 2 updated pods are scheduled"),
    ("metadata: {generation: 1}\nstatus: {observedGeneration: 1, desiredNumberScheduled: 2, "
     "updatedNumberScheduled: 2}", "waiting", "0 of 2 updated pods are available"),
    # A DaemonSet whose node selector matches no node wants no pods: done.
    ("metadata: {generation: 1}\nstatus: {observedGeneration: 1}", "done", "0 of 0 pods available"),
])
def test_daemonset_rules(text, state, message):
    result = readiness(obj("DaemonSet", text))
    assert (result.state, result.message) == (state, message)


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
def test_every_workload_waits_for_the_generation_deployer_wrote(kind):
    done = ("metadata: {generation: 1}\nspec: {replicas: 1}\nstatus: {observedGeneration: 1, replicas: 1, "
            "updatedReplicas: 1, availableReplicas: 1, readyReplicas: 1, desiredNumberScheduled: 1, "
            "updatedNumberScheduled: 1, numberAvailable: 1}")
    assert readiness(obj(kind, done)).done
    stale = readiness(obj(kind, done), min_generation=2)
    assert (stale.state, stale.message) == (
        "waiting", "waiting for the controller to observe generation 2 (observed 1)")
    assert readiness(obj(kind, done), min_generation=1).done
    never_observed = obj(kind, done.replace("observedGeneration: 1, ", ""))
    assert readiness(never_observed).message == "waiting for the controller to observe generation 1 (observed 0)"


@pytest.mark.parametrize(("api_version", "kind", "ruled"), [
    ("apps/v1", "Deployment", True), ("apps/v1", "StatefulSet", True), ("apps/v1", "DaemonSet", True),
    ("extensions/v1beta1", "Deployment", False), ("v1", "Deployment", False), ("apps/v1", "ReplicaSet", False),
    ("v1", "Service", False),
])
def test_rules_are_chosen_by_group_and_kind(api_version, kind, ruled):
    waiting = obj(kind, "metadata: {generation: 2}\nspec: {replicas: 1}\nstatus: {observedGeneration: 1}",
                  api_version)
    assert has_rule(waiting) is ruled
    result = readiness(waiting)
    assert result.state == ("waiting" if ruled else "done")
    if not ruled:
        assert result.message == "applied"
    assert has_rule({"kind": kind}) is False and readiness({"kind": kind}).message == "applied"


# --- failure policy -------------------------------------------------------------------------------

BOTH_WROTE = {"a": True, "b": True}


def test_leave_reports_only_the_failed_clusters():
    decision = policy.decide("leave", {"a": "succeeded", "b": "failed"}, BOTH_WROTE, BOTH_WROTE)
    assert decision.roll_back == ()
    assert dict(decision.reasons) == {"b": "left on the new release (onFailure: leave)"}


def test_rollback_failed_reaches_a_failed_cluster_sorted_after_a_healthy_one():
    decision = policy.decide("rollback-failed", {"a": "succeeded", "b": "failed"}, BOTH_WROTE, BOTH_WROTE)
    assert decision.roll_back == ("b",)
    assert dict(decision.reasons) == {"b": "rolled back (rollback-failed)"}


def test_rollback_all_explains_every_cluster():
    outcomes = {"a": "failed", "b": "succeeded", "c": "unchanged", "d": "succeeded"}
    decision = policy.decide("rollback-all", outcomes, {"a": True, "b": True, "c": False, "d": True},
                             {"a": True, "b": True, "c": True, "d": False})
    assert decision.roll_back == ("a", "b")
    assert dict(decision.reasons) == {
        "a": "rolled back (rollback-all)", "b": "rolled back (rollback-all)",
        "c": "nothing was written, nothing to roll back",
        "d": "no earlier release to return to; left on the new release"}


def test_an_unknown_policy_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown onFailure policy 'rollback-some'"):
        policy.decide("rollback-some", {"a": "failed"}, {"a": True}, {"a": True})


# --- deploy lock ----------------------------------------------------------------------------------

NOW = dt.datetime(2026, 11, 22, 12, 0, 0, tzinfo=dt.UTC)


def stamp(seconds_ago: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")


def test_renewing_our_own_lease_names_us():
    decision = lock.decide({"spec": {"holderIdentity": "me", "renewTime": stamp(1)}}, "me", NOW)
    assert (decision.action, decision.holder) == ("renew", "me")


def test_a_lease_never_renewed_counts_from_its_acquire_time():
    held = lock.decide({"spec": {"holderIdentity": "other", "acquireTime": stamp(10),
                                 "leaseDurationSeconds": 60}}, "me", NOW)
    assert (held.action, held.holder, held.expires_in) == ("held", "other", 50.0)
    expired = lock.decide({"spec": {"holderIdentity": "other", "acquireTime": stamp(40),
                                    "leaseDurationSeconds": 30}}, "me", NOW)
    assert (expired.action, expired.holder) == ("take", "other")


def test_a_lease_without_a_duration_lasts_the_default():
    decision = lock.decide({"spec": {"holderIdentity": "other", "renewTime": stamp(20)}}, "me", NOW)
    assert (decision.action, decision.expires_in) == ("held", lock.LEASE_SECONDS - 20)


def test_a_lease_with_no_time_at_all_is_taken_naming_its_holder():
    decision = lock.decide({"spec": {"holderIdentity": "other"}}, "me", NOW)
    assert (decision.action, decision.holder) == ("take", "other")


@pytest.mark.parametrize(("seconds_ago", "action"), [(29.5, "held"), (30, "take"), (30.5, "take")])
def test_a_lease_expires_exactly_at_its_duration(seconds_ago, action):
    decision = lock.decide({"spec": {"holderIdentity": "other", "renewTime": stamp(seconds_ago),
                                     "leaseDurationSeconds": 30}}, "me", NOW)
    assert (decision.action, decision.holder) == (action, "other")
    if action == "held":
        assert decision.expires_in == pytest.approx(30 - seconds_ago)


def test_lease_times_are_read_with_their_zone():
    # A renewTime written by another zone's clock is the same instant.
    renewed = (NOW - dt.timedelta(seconds=5)).astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    decision = lock.decide({"spec": {"holderIdentity": "other", "renewTime": renewed,
                                     "leaseDurationSeconds": 30}}, "me", NOW)
    assert (decision.action, decision.expires_in) == ("held", 25.0)
    assert lock.parse_time("") is None and lock.parse_time(None) is None
