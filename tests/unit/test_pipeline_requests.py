"""Concurrent read-only requests: results in the items' order, and the error a loop would have
raised first, whatever finishes first."""

from __future__ import annotations

import threading

import pytest

from deployer.pipeline.requests import each_concurrently


def test_results_keep_the_items_order_and_requests_overlap() -> None:
    started = threading.Barrier(4, timeout=5)  # four calls in flight at once, or the barrier breaks

    def work(item: int) -> int:
        started.wait()
        return item * 10

    assert each_concurrently([1, 2, 3, 4], work, in_flight=4) == [10, 20, 30, 40]


def test_the_first_items_error_is_raised_even_when_a_later_one_fails_first() -> None:
    first_may_fail = threading.Event()

    def work(item: int) -> int:
        if item == 3:
            first_may_fail.set()
            raise ValueError("third")
        if item == 1:
            assert first_may_fail.wait(5)
            raise KeyError("first")
        return item

    with pytest.raises(KeyError):
        each_concurrently([1, 2, 3], work, in_flight=3)


def test_one_item_runs_in_the_callers_thread() -> None:
    assert each_concurrently([7], lambda item: threading.current_thread() is threading.main_thread()) == [True]
