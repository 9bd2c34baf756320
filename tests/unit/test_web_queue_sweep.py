"""Turns pass on with nobody watching: `deployer web` sweeps its queues, so the next person gets the
turn (and the queue-turn notification) when the turn times out, not when someone next looks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from deployer.polling import poll_until
from deployer.web.context import WebContext
from deployer.web.store.schema import queue_entries

REPO = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[WebContext]:
    context = WebContext(REPO, tmp_path / "state")
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def expired(ctx: WebContext) -> list[str]:
    """ann and bob queued for hello in staging, ann's turn run out unused; the turns given so far."""
    clock, turns = Clock(), []
    store = ctx.queues.store
    store.clock = clock
    store.on_turn = lambda key, entry: turns.append(entry.actor)
    key = ctx.queues.key("hello", "staging")
    store.join(key, "web:ann")
    store.join(key, "web:bob")
    clock.now += store.turn_seconds
    return turns


def holder(ctx: WebContext) -> str | None:
    """Who holds the turn, read straight from the table (a read through the store would pass it on)."""
    with ctx.store.engine.connect() as db:
        return db.execute(sa.select(queue_entries.c.actor).where(queue_entries.c.turn_since.is_not(None))).scalar()


def test_a_sweep_passes_an_expired_turn_on_that_nobody_read(ctx: WebContext, expired) -> None:
    turns = expired
    assert turns == ["web:ann"] and holder(ctx) == "web:ann"  # nobody has read the queue since
    assert ctx.queues.sweep() == 1
    assert turns == ["web:ann", "web:bob"] and holder(ctx) == "web:bob"
    assert ctx.queues.sweep() == 1 and turns == ["web:ann", "web:bob"]  # nothing due: no second turn


def test_the_web_processs_sweeper_gives_the_turn_without_a_reader(ctx: WebContext, expired) -> None:
    turns = expired
    sweeper = ctx.queues.start_sweeping(interval=0.05)
    try:
        poll_until(lambda: holder(ctx) == "web:bob" or None, 10, interval=0.05)
    finally:
        sweeper.stop()
    assert holder(ctx) == "web:bob" and turns == ["web:ann", "web:bob"]
