"""Requests to one cluster that do not depend on each other, sent at once.

A no-change sync is mostly waiting: for the inventory, for discovery, for a list of each kind.
Sent one after the other, a cluster a round trip away pays every round trip in turn; sent
together, about the longest one (issue 13). The client is thread-safe and pools connections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# At most this many requests in flight per cluster and call; the client keeps 16 connections.
MAX_IN_FLIGHT = 8


def at_once(work: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """``work(item)`` for every item, concurrently; results in the order of ``items``. The first
    failure (in that order) is raised once every request has ended, as a serial loop would raise it."""
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(len(items), MAX_IN_FLIGHT), thread_name_prefix="request") as pool:
        futures = [pool.submit(work, item) for item in items]
    return [future.result() for future in futures]


def alongside(main: Callable[[], Result], side: Callable[[], object]) -> Result:
    """``main()`` while ``side()`` runs on another thread; ``main``'s result once both have ended.
    ``main``'s failure is raised first, then ``side``'s."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="request") as pool:
        beside = pool.submit(side)
        result = main()  # leaving the block (even by an exception) waits for ``side``
    beside.result()
    return result
