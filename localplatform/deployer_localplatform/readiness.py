"""Waiting for a component to become ready: poll a probe until a deadline, never a fixed sleep.

While waiting, the component's process is watched too: if it exits, waiting stops at once and
the error names the component and shows the end of its log, which nearly always says why
(port taken, bad flag, missing file).
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable

from deployer.errors import ToolError
from deployer.polling import poll_until
from deployer_localplatform.processes import RunningProcess, log_tail

POLL_INTERVAL = 0.1


def wait_ready(what: str, probe: Callable[[], bool], *, process: RunningProcess | None,
               timeout: float, clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> float:
    """Poll ``probe`` until it returns True; return the seconds waited.

    ``probe`` returns False (or raises OSError or an HTTP protocol error, as a server does while
    it is still opening its socket or TLS) while the component is not ready yet.
    """
    started = clock()
    last_error = ""

    def ready() -> bool | None:
        nonlocal last_error
        if process is not None and not process.alive():
            raise ToolError(f"platform component {what} exited during start-up; last lines of "
                            f"{process.log}:\n{log_tail(process.log)}",
                            hint="Fix the cause shown in the log, then run `deployer platform up` again.")
        try:
            if probe():
                return True
        except (OSError, http.client.HTTPException) as exc:
            last_error = str(exc) or type(exc).__name__
        return None

    if poll_until(ready, timeout, interval=POLL_INTERVAL, clock=clock, sleep=sleep):
        return clock() - started
    tail = f"; last lines of {process.log}:\n{log_tail(process.log)}" if process else ""
    detail = f" (last probe error: {last_error})" if last_error else ""
    raise ToolError(f"platform component {what} was not ready within {timeout:g}s{detail}{tail}",
                    hint="A slow machine may need more time: set DEPLOYER_PLATFORM_TIMEOUT "
                         "(seconds); otherwise the log above shows what it waits for.")
