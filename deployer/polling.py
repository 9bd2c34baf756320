"""Polling a condition until a deadline: the one wait loop every story and the local platform share.

Time is injected (``clock``, ``sleep``) so the deadline logic is tested in milliseconds. The loop
never sleeps past the deadline and checks once more when it is reached, so a condition that comes
true during the last interval is seen rather than reported as a time-out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], None]


def poll_until(condition: Callable[[], T | None], timeout: float, *, interval: float = 1.0,
               clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
               cancelled: Callable[[], bool] = lambda: False) -> T | None:
    """Call ``condition`` until it returns something other than ``None`` and return that; return
    ``None`` once ``timeout`` seconds have passed without it, or as soon as ``cancelled()`` (a run
    being stopped: checked before every look). Exceptions from ``condition`` propagate: a failed
    check is the caller's to judge, not a reason to keep waiting."""
    deadline = clock() + timeout
    while True:
        if cancelled():
            return None
        result = condition()
        if result is not None:
            return result
        remaining = deadline - clock()
        if remaining <= 0:
            return None
        sleep(min(interval, remaining))
