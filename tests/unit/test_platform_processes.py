"""The local platform's process bookkeeping, with real processes: a pid file is trusted only while
its pid still has the start time it recorded, and a start deadline names the component and its log."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from deployer.errors import ToolError
from deployer.polling import poll_until
from deployer_localplatform import processes
from deployer_localplatform.readiness import wait_ready


@pytest.fixture
def sleeper(tmp_path: Path):
    spec = processes.ProcessSpec("sleeper", [sys.executable, "-c", "import time; print('started', flush=True); "
                                             "time.sleep(60)"], tmp_path / "sleeper.log", tmp_path / "sleeper.pid")
    running = processes.start(spec)
    yield spec, running
    processes.stop([running], grace=2)


def test_a_pid_file_names_a_live_process_only_while_its_start_time_matches(sleeper):
    spec, running = sleeper
    recorded = processes.read_pidfile(spec.pidfile)
    assert recorded is not None and recorded.pid == running.pid and recorded.alive()

    # The same pid with another start time is what a reused pid looks like: never ours.
    data = json.loads(spec.pidfile.read_text())
    spec.pidfile.write_text(json.dumps({**data, "startTicks": data["startTicks"] + 1}))
    reused = processes.read_pidfile(spec.pidfile)
    assert reused is not None and reused.pid == running.pid
    assert not reused.alive()
    assert running.alive()  # the process itself is untouched


def test_a_stopped_process_is_no_longer_alive(sleeper):
    _spec, running = sleeper
    assert processes.stop([running], grace=2) == []  # SIGTERM was enough
    assert not running.alive()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_start_deadline_names_the_component_and_shows_its_log(sleeper):
    _spec, running = sleeper
    clock = Clock()
    probes = []
    with pytest.raises(ToolError) as late:
        wait_ready("sleeper", lambda: probes.append(clock.now) and False, process=running, timeout=2.0,
                   clock=clock, sleep=clock.sleep)
    assert "platform component sleeper was not ready within 2s" in late.value.message
    assert f"last lines of {running.log}" in late.value.message
    assert probes[-1] == pytest.approx(2.0)  # probed up to the deadline, not beyond
    assert "DEPLOYER_PLATFORM_TIMEOUT" in (late.value.hint or "")


def test_a_component_that_exits_during_start_up_fails_at_once_with_its_log(tmp_path: Path):
    spec = processes.ProcessSpec("crasher", [sys.executable, "-c", "print('port 1234 already in use'); "
                                             "raise SystemExit(3)"], tmp_path / "crasher.log", tmp_path / "c.pid")
    running = processes.start(spec)
    assert poll_until(lambda: None if running.alive() else True, 30, interval=0.05)  # it has exited
    clock = Clock()
    with pytest.raises(ToolError) as died:
        wait_ready("crasher", lambda: False, process=running, timeout=60, clock=clock, sleep=clock.sleep)
    assert "platform component crasher exited during start-up" in died.value.message
    assert "port 1234 already in use" in died.value.message
    assert clock.now == 0  # at once: not a single wait
