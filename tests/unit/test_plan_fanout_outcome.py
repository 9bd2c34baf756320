"""The per-cluster fan-out and the overall outcome / exit code it yields."""

from __future__ import annotations

import threading

from deployer.errors import ApiError, ExitCode
from deployer.pipeline.fanout import ClusterRun, Outcome, exit_code, fan_out, outcome_of


def test_clusters_run_at_the_same_time_and_results_keep_their_order():
    barrier = threading.Barrier(3, timeout=5)  # only passes if all three run concurrently

    def work(name):
        barrier.wait()
        return name.upper()

    runs = fan_out(["a", "b", "c"], work)
    assert [(r.cluster, r.result, r.error) for r in runs] == [("a", "A", None), ("b", "B", None), ("c", "C", None)]


def test_one_failing_cluster_does_not_stop_the_others():
    def work(name):
        if name == "bad":
            raise ApiError("cluster bad: refused")
        if name == "bug":
            raise KeyError("oops")
        return name

    runs = {r.cluster: r for r in fan_out(["good", "bad", "bug"], work)}
    assert runs["good"].result == "good" and not runs["good"].failed
    assert runs["bad"].error.message == "cluster bad: refused"
    assert runs["bug"].error.message == "cluster bug: internal error: KeyError: 'oops'"
    assert isinstance(runs["bug"].error.__cause__, KeyError)


def test_a_result_can_carry_its_failure():
    error = ApiError("half done")
    (run,) = fan_out(["x"], lambda name: {"done": 3, "error": error}, failure=lambda r: r["error"])
    assert run.result["done"] == 3 and run.error is error


def test_seconds_come_from_the_injected_clock():
    ticks = iter([10.0, 12.5])
    (run,) = fan_out(["x"], lambda name: None, clock=lambda: next(ticks))
    assert run.seconds == 2.5


def runs(*states):
    out = []
    for i, state in enumerate(states):
        if state == "failed":
            out.append(ClusterRun(f"c{i}", error=ApiError("x")))
        else:
            out.append(ClusterRun(f"c{i}", result=state == "changed"))
    return out


def test_outcomes_and_exit_codes():
    changed = bool
    assert outcome_of(runs("same", "same"), changed) is Outcome.NO_CHANGE
    assert outcome_of(runs("same", "changed"), changed) is Outcome.CHANGED
    assert outcome_of(runs("failed", "changed"), changed) is Outcome.PARTIAL
    assert outcome_of(runs("failed", "failed"), changed) is Outcome.FAILED
    assert outcome_of([], changed) is Outcome.NO_CHANGE
    assert exit_code(Outcome.CHANGED) is ExitCode.OK
    assert exit_code(Outcome.CHANGED, detailed=True) is ExitCode.CHANGED
    assert exit_code(Outcome.NO_CHANGE, detailed=True) is ExitCode.OK
    assert exit_code(Outcome.PARTIAL) is ExitCode.PARTIAL
    assert exit_code(Outcome.FAILED, detailed=True) is ExitCode.FAILED


def test_any_item_can_be_fanned_out_when_it_says_which_cluster_it_is():
    class Item:
        def __init__(self, cluster: str) -> None:
            self.cluster = cluster

    def work(item: Item) -> str:
        if item.cluster == "b":
            raise KeyError("boom")
        return item.cluster.upper()

    runs = fan_out([Item("a"), Item("b")], work, name=lambda item: item.cluster)
    assert [(r.cluster, r.result) for r in runs] == [("a", "A"), ("b", None)]
    assert runs[1].error is not None and runs[1].error.message.startswith("cluster b: internal error: KeyError")
