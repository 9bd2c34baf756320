"""The stop token's rules: what may still be written and waited for after SIGINT/SIGTERM or a lost
lock, and when the grace period ends (clock injected: no waiting)."""

from __future__ import annotations

import pytest

from deployer.errors import ExitCode
from deployer.polling import poll_until
from deployer.stopping import Interrupted, Stop, may_write, phase_of


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("phase", "new", "rollback"), [
    ("running", True, True), ("stopping", False, True), ("abandoned", False, False)])
def test_what_may_be_written_in_each_phase(phase, new, rollback):
    assert (may_write(phase, "new"), may_write(phase, "rollback")) == (new, rollback)


@pytest.mark.parametrize(("has_reason", "abandoned", "deadline", "now", "phase"), [
    (False, False, None, 0.0, "running"),
    (True, False, 10.0, 9.9, "stopping"),
    (True, False, 10.0, 10.0, "abandoned"),
    (True, True, 10.0, 0.0, "abandoned"),
    (True, False, None, 1e9, "stopping"),
])
def test_phase_table(has_reason, abandoned, deadline, now, phase):
    from deployer.stopping import Reason

    reason = Reason("SIGTERM", ExitCode.TERMINATED) if has_reason else None
    assert phase_of(reason, abandoned, deadline, now) == phase


def test_first_signal_stops_new_writes_second_abandons_the_grace_period():
    clock = Clock()
    stop = Stop(clock=clock)
    stop.check("new", "x")  # running: nothing raised
    assert stop.request("SIGTERM", 4.0) == "stopping"
    with pytest.raises(Interrupted, match="x: not written, interrupted by SIGTERM") as refused:
        stop.check("new", "x")
    assert refused.value.exit_code == ExitCode.TERMINATED
    stop.check("rollback", "rolling back")  # allowed during grace
    assert stop.request("SIGTERM", 4.0) == "abandoned"
    with pytest.raises(Interrupted):
        stop.check("rollback", "rolling back")


def test_the_grace_period_ends_by_the_clock():
    clock = Clock()
    stop = Stop(clock=clock)
    stop.request("SIGINT", 4.0, ExitCode.INTERRUPTED)
    clock.now = 3.9
    assert stop.phase == "stopping" and not stop.cancelled("rollback") and stop.cancelled("new")
    clock.now = 4.0
    assert stop.phase == "abandoned" and stop.cancelled("rollback")
    assert stop.describe() == "interrupted by SIGINT (grace period over)"


def test_a_clusters_stop_follows_the_run_and_can_be_abandoned_alone():
    run = Stop()
    one, other = Stop(parent=run), Stop(parent=run)
    one.abandon("lock lost (taken over by someone)")
    assert (one.phase, other.phase, run.phase) == ("abandoned", "running", "running")
    with pytest.raises(Interrupted, match="lock lost"):
        one.check("rollback", "cluster a: rollback")
    run.request("SIGTERM", 10.0)
    assert other.phase == "stopping" and other.reason is not None and other.reason.cause == "SIGTERM"
    assert one.phase == "abandoned"


def test_a_stopped_wait_returns_at_once():
    looks: list[int] = []
    stop = Stop()

    def condition() -> None:
        looks.append(1)
        if len(looks) == 2:
            stop.request("SIGTERM", 5.0)

    assert poll_until(condition, 1000, interval=0, sleep=lambda s: None,
                      cancelled=lambda: stop.cancelled("new")) is None
    assert len(looks) == 2


def test_an_interrupted_run_exits_130_or_143_and_says_so_in_json_and_junit():
    from deployer.pipeline.report import ClusterReport, RunReport

    run = RunReport("deploy", "hello", "staging", [ClusterReport("a", outcome="rolled-back")],
                    notes=["interrupted by SIGTERM: no new-release write after it"])
    assert run.exit_code() == ExitCode.FAILED
    run.interrupted, run.interrupt_code = "SIGTERM", ExitCode.TERMINATED
    assert run.exit_code() == 143 and run.to_dict()["interrupted"] == "SIGTERM"
    assert 'name="run / interrupted"' in run.to_junit() and "interrupted by SIGTERM" in run.to_junit()
    run.interrupted, run.interrupt_code = "SIGINT", ExitCode.INTERRUPTED
    assert run.exit_code(detailed=True) == 130
