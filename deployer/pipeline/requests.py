"""Many independent read-only requests to one cluster, sent concurrently.

A deploy's preflight reviews a dozen verbs and dry-runs every object, and a redeploy reads every
live object back: one at a time, 100 objects cost 200 round trips end to end (the no-change
deploy's largest cost in docs/benchmarks.md). None of these requests depends on another or
changes anything, so they are sent ``REQUESTS_IN_FLIGHT`` at a time on the cluster's one client
(thread-safe, with a connection pool of that size), as cluster sync sends its applies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

REQUESTS_IN_FLIGHT = 8


def each_concurrently(items: Sequence[Item], work: Callable[[Item], Result],
                      in_flight: int = REQUESTS_IN_FLIGHT) -> list[Result]:
    """``[work(item) for item in items]``, up to ``in_flight`` at a time. Every call completes;
    then the first item's error, in the items' order, is raised: the same error a loop would
    have raised first, so what a user is told does not depend on timing."""
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(in_flight, len(items)), thread_name_prefix="request") as pool:
        futures = [pool.submit(work, item) for item in items]
        return [future.result() for future in futures]
