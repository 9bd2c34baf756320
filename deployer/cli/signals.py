"""SIGINT and SIGTERM during deploy, promote and rollback (and the page's shutdown): stop, don't die.

The first signal sets the run's ``Stop``: no new-release write from then on, waits end at once,
the onFailure policy's rollback gets ``--grace-period`` seconds, records are settled, the report
is written, and the locks are released once every worker thread has returned; the exit code is
130 (SIGINT) or 143 (SIGTERM). A second signal abandons the grace period (no more writes beyond
settling records) but the locks are still released only after the workers return.

Handlers only set flags and write one line with ``os.write`` (safe inside a signal handler); the
main thread is never interrupted by an exception, so no ``finally`` can release a lock early.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from deployer.stopping import SIGNAL_EXIT_CODES, Stop

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _say(line: str) -> None:
    os.write(2, (line + "\n").encode())


@contextmanager
def stopping_on_signals(stops: Callable[[], list[Stop]], grace: float, who: str = "deployer") -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM stop every ``Stop`` that ``stops()`` returns."""

    def handle(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        phases = [stop.request(name, grace, SIGNAL_EXIT_CODES[name]) for stop in stops()]
        if phases and all(p == "abandoned" for p in phases):
            _say(f"{who}: {name} again: abandoning the grace period; no more writes; the deploy locks are "
                 "released once every worker has stopped")
        else:
            _say(f"{who}: {name}: stopping: no new writes; onFailure applies within the {grace:g}s grace period, "
                 f"then records, report and locks are settled; {name} again abandons the grace period")

    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
