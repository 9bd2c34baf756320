"""Independent requests of one cluster sent at once (deployer/kube/parallel.py)."""

from __future__ import annotations

import threading

import pytest

from deployer.kube.parallel import alongside, at_once


def test_at_once_overlaps_the_work_and_keeps_the_order() -> None:
    arrived = threading.Barrier(3, timeout=5)  # passes only if all three are in flight together

    def work(item: int) -> int:
        arrived.wait()
        return item * 10

    assert at_once(work, [3, 1, 2]) == [30, 10, 20]


def test_at_once_raises_the_first_failure_after_every_request_ended() -> None:
    ended: list[int] = []

    def work(item: int) -> int:
        if item in (1, 2):
            raise ValueError(f"item {item}")
        ended.append(item)
        return item

    with pytest.raises(ValueError, match="item 1"):
        at_once(work, [0, 1, 2, 3])
    assert sorted(ended) == [0, 3]


def test_alongside_runs_both_together_and_waits_for_the_side() -> None:
    together = threading.Barrier(2, timeout=5)
    side_done = threading.Event()

    def side() -> None:
        together.wait()
        side_done.set()

    def main() -> str:
        together.wait()
        return "main"

    assert alongside(main, side) == "main" and side_done.is_set()


def test_alongside_raises_the_sides_failure_too() -> None:
    def side() -> None:
        raise RuntimeError("side failed")

    with pytest.raises(RuntimeError, match="side failed"):
        alongside(lambda: 1, side)
