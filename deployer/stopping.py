"""Stopping a run part-way: the cancellation token every write and every wait checks.

A run is stopped by a signal (SIGINT, SIGTERM: the CLI's handlers, the page's shutdown) or, for one
cluster, by losing its deploy lock. What may still happen depends on how far the stop has gone:

- running: everything;
- stopping (the first signal, for ``grace`` seconds): no new-release write and no wait for one
  (the wait returns at once); the onFailure policy's rollback writes and waits go on, so each
  cluster can end on a known release;
- abandoned (a second signal, the grace period over, or a lost lock): no write at all beyond
  settling this run's own release records; waits return at once.

Each check raises ``Interrupted`` (a ``DeployerError``), so a refused write ends that cluster's
step as any failed request does and the story's failure handling runs. The token never releases a
lock itself: the story releases locks only once every worker thread has returned.

Time is injected (``clock``) so the grace period is tested without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from deployer.errors import ExitCode, Interrupted

Phase = Literal["running", "stopping", "abandoned"]
WriteKind = Literal["new", "rollback"]
"""A write of the new release (refused once stopping) or one returning to a known release
(refused only once abandoned)."""

SIGNAL_EXIT_CODES = {"SIGINT": ExitCode.INTERRUPTED, "SIGTERM": ExitCode.TERMINATED}

__all__ = ["Interrupted", "Phase", "Reason", "SIGNAL_EXIT_CODES", "Stop", "WriteKind", "may_write", "phase_of"]


@dataclass(frozen=True)
class Reason:
    cause: str
    """What stopped it, in words: "SIGTERM", "the deploy lock was taken over by ..."."""
    exit_code: ExitCode


def phase_of(reason: Reason | None, abandoned: bool, deadline: float | None, now: float) -> Phase:
    """The pure rule: no reason, running; a reason, stopping until abandoned or past the deadline."""
    if reason is None:
        return "running"
    if abandoned or (deadline is not None and now >= deadline):
        return "abandoned"
    return "stopping"


def may_write(phase: Phase, kind: WriteKind) -> bool:
    """New-release writes only while running; rollback writes until abandoned."""
    return phase == "running" or (phase == "stopping" and kind == "rollback")


class Stop:
    """A run's (or, with ``parent``, one cluster's) cancellation token. Thread-safe."""

    def __init__(self, *, parent: Stop | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._parent = parent
        self._clock = clock
        self._lock = threading.Lock()
        self._reason: Reason | None = None
        self._abandoned = False
        self._deadline: float | None = None
        self.since: float | None = None
        """``clock()`` when the first stop was asked for."""

    def request(self, cause: str, grace: float, exit_code: ExitCode = ExitCode.TERMINATED) -> Phase:
        """The first request starts the grace period; a second abandons it. Returns the new phase."""
        with self._lock:
            if self._reason is None:
                self._reason = Reason(cause, exit_code)
                self.since = self._clock()
                self._deadline = self.since + grace
            else:
                self._abandoned = True
        return self.phase

    def abandon(self, cause: str, exit_code: ExitCode = ExitCode.FAILED) -> None:
        """Stop every write and wait at once (a lost lock: someone else may be writing now)."""
        with self._lock:
            if self._reason is None:
                self._reason = Reason(cause, exit_code)
                self.since = self._clock()
            self._abandoned = True

    @property
    def reason(self) -> Reason | None:
        with self._lock:
            own = self._reason
        return own or (self._parent.reason if self._parent else None)

    @property
    def phase(self) -> Phase:
        with self._lock:
            own = phase_of(self._reason, self._abandoned, self._deadline, self._clock())
        parent = self._parent.phase if self._parent else "running"
        order: dict[Phase, int] = {"running": 0, "stopping": 1, "abandoned": 2}
        return own if order[own] >= order[parent] else parent

    def stopping(self) -> bool:
        return self.phase != "running"

    def cancelled(self, kind: WriteKind) -> bool:
        """Whether a wait for a ``kind`` rollout should end now."""
        return not may_write(self.phase, kind)

    def check(self, kind: WriteKind, what: str) -> None:
        """Raise ``Interrupted`` unless a ``kind`` write (``what``) may still happen."""
        phase = self.phase
        if may_write(phase, kind):
            return
        reason = self.reason
        assert reason is not None
        raise Interrupted(f"{what}: not written, {self.describe()}", exit_code=reason.exit_code)

    def describe(self) -> str:
        """"interrupted by SIGTERM", or the lost lock's words, and whether the grace period ended."""
        with self._lock:
            reason = self._reason
            timed_out = not self._abandoned and self._deadline is not None and self._clock() >= self._deadline
        if reason is None:  # a cluster's token stopped by its run's
            return self._parent.describe() if self._parent else "not stopped"
        words = f"interrupted by {reason.cause}" if reason.cause.startswith("SIG") else reason.cause
        return words + (" (grace period over)" if timed_out else "")
