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


# --- deploy lock: expiry judged by what this candidate observed, by its own monotonic clock -------

NOW = dt.datetime(2026, 11, 22, 12, 0, 0, tzinfo=dt.UTC)


def stamp(seconds_ago: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")


def held_by(holder: str | None, *, renewed: str | None = None, duration: int | None = 30, version: str = "7") -> dict:
    spec = {"holderIdentity": holder, "renewTime": renewed or stamp(0), "leaseDurationSeconds": duration}
    return {"metadata": {"resourceVersion": version}, "spec": spec}


def watch(reads: list[tuple[float, dict | None]], me: str = "me") -> lock.LockDecision:
    """Read the lease at each monotonic time in turn, as a waiting candidate does; the last decision."""
    observed = None
    decision = lock.LockDecision("create")
    for at, lease in reads:
        observed = lock.observe(lease, observed, at)
        decision = lock.decide(lease, me, observed, at)
    return decision


def test_renewing_our_own_lease_names_us():
    decision = watch([(0.0, held_by("me"))])
    assert (decision.action, decision.holder) == ("renew", "me")


@pytest.mark.parametrize(("reads", "action", "left"), [
    # first sight of a live lease: the whole duration still to watch, whatever renewTime says
    ([(100.0, held_by("other", renewed=stamp(3600)))], "held", 30.0),
    # unchanged for 29.5 s, 30 s, 30.5 s of this candidate's own clock
    ([(100.0, held_by("other")), (129.5, held_by("other"))], "held", 0.5),
    ([(100.0, held_by("other")), (130.0, held_by("other"))], "take", 0.0),
    ([(100.0, held_by("other")), (130.5, held_by("other"))], "take", 0.0),
    # renewed in between (new renewTime and resourceVersion): the watch starts again
    ([(100.0, held_by("other")), (125.0, held_by("other", renewed=stamp(-25), version="8")),
      (140.0, held_by("other", renewed=stamp(-25), version="8"))], "held", 15.0),
    # only the resourceVersion changed (a label edit, a renewal within the same microsecond): still a change
    ([(100.0, held_by("other")), (125.0, held_by("other", version="9")), (131.0, held_by("other", version="9"))],
     "held", 24.0),
    # taken over by a third run: its record is watched from scratch
    ([(100.0, held_by("other")), (129.0, held_by("third", version="8")), (131.0, held_by("third", version="8"))],
     "held", 28.0),
    # a lease with no duration lasts the default
    ([(100.0, held_by("other", duration=None)), (100.0 + lock.LEASE_SECONDS - 1, held_by("other", duration=None))],
     "held", 1.0),
    ([(0.0, held_by("other", duration=60)), (59.0, held_by("other", duration=60))], "held", 1.0),
    # released, or never there
    ([(0.0, held_by(None))], "take", 0.0),
    ([(0.0, held_by(""))], "take", 0.0),
    ([(0.0, None)], "create", 0.0),
])
def test_a_lease_is_taken_only_after_this_candidate_watched_it_unchanged_for_its_duration(reads, action, left):
    decision = watch(reads)
    assert decision.action == action
    assert decision.expires_in == pytest.approx(left)
    if action in ("held", "take") and reads[-1][1] and reads[-1][1]["spec"]["holderIdentity"]:
        assert decision.holder == reads[-1][1]["spec"]["holderIdentity"]


def test_a_skewed_wall_clock_changes_nothing():
    # renewTime 31 s "in the past" by a clock running ahead, or 31 s "in the future" by one behind:
    # only how long the record stayed the same, by our own monotonic clock, counts.
    for renewed in (stamp(31), stamp(-31), stamp(10**6)):
        assert watch([(5.0, held_by("other", renewed=renewed)), (20.0, held_by("other", renewed=renewed))]
                     ).action == "held"
        assert watch([(5.0, held_by("other", renewed=renewed)), (35.0, held_by("other", renewed=renewed))]
                     ).action == "take"


def test_a_decision_without_an_observation_of_that_record_never_takes():
    stale = lock.observe(held_by("other", version="1"), None, 0.0)
    assert lock.decide(held_by("other", version="2"), "me", stale, 1000.0).action == "held"
    assert lock.decide(held_by("other"), "me", None, 1000.0).expires_in == 30.0


def test_observation_keeps_its_start_while_the_record_is_unchanged():
    first = lock.observe(held_by("other"), None, 10.0)
    assert lock.observe(held_by("other"), first, 50.0) is first
    assert lock.observe(held_by("other", version="8"), first, 50.0) == lock.Observation(
        lock.record_of(held_by("other", version="8")), 50.0)
    assert lock.observe(None, first, 50.0) is None


@pytest.mark.parametrize(("renewed_at", "now", "lost"), [
    (None, 1000.0, False), (100.0, 129.9, False), (100.0, 130.0, True), (100.0, 200.0, True)])
def test_a_holder_counts_its_lease_lost_once_unrenewed_for_its_duration(renewed_at, now, lost):
    assert lock.lost(renewed_at, now, 30) is lost


def test_lease_times_are_read_with_their_zone():
    assert lock.parse_time("2026-11-22T12:00:00Z") == NOW
    assert lock.parse_time("2026-11-22T14:00:00+02:00") == NOW
    assert lock.parse_time("") is None and lock.parse_time(None) is None
