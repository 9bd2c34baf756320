"""The push queue's pure rules: the turn, its timeout (an injected clock), presses, admin moves."""

from __future__ import annotations

import pytest

from deployer.web.queue.rules import Entry, advance, move, place, press, remove

TURN = 300.0


def queue(*actors: str) -> tuple[Entry, ...]:
    return tuple(Entry(f"e-{a}", a, float(i)) for i, a in enumerate(actors))


def never(job_id: str) -> bool:
    return False


def test_the_head_gets_the_turn_when_nothing_runs_and_not_while_something_does() -> None:
    waiting = queue("ann", "bob")
    assert advance(waiting, 100.0, TURN, busy=True, job_active=never).turn is None
    moved = advance(waiting, 100.0, TURN, busy=False, job_active=never)
    assert moved.turn == Entry("e-ann", "ann", 0.0, turn_since=100.0)
    assert [e.turn_since for e in moved.entries] == [100.0, None]


def test_an_unused_turn_passes_on_after_the_turn_time_and_not_before() -> None:
    held = (Entry("e-ann", "ann", 0.0, turn_since=100.0), *queue("bob")[0:])
    held = (held[0], Entry("e-bob", "bob", 1.0))
    early = advance(held, 100.0 + TURN - 0.001, TURN, busy=False, job_active=never)
    assert early.turn is None and early.entries == held
    late = advance(held, 100.0 + TURN, TURN, busy=False, job_active=never)
    assert [(p.entry.actor, p.reason) for p in late.passed] == [("ann", "expired")]
    assert late.turn == Entry("e-bob", "bob", 1.0, turn_since=100.0 + TURN)


def test_the_turn_passes_when_the_heads_job_ends_not_while_it_runs() -> None:
    deploying = (Entry("e-ann", "ann", 0.0, turn_since=5.0, job_id="j1"), Entry("e-bob", "bob", 1.0))
    running = advance(deploying, 10_000.0, TURN, busy=False, job_active=lambda j: j == "j1")
    assert running.turn is None and running.entries == deploying  # a long deploy is not timed out
    ended = advance(deploying, 10_000.0, TURN, busy=False, job_active=never)
    assert [(p.entry.actor, p.reason) for p in ended.passed] == [("ann", "done")]
    assert ended.turn is not None and ended.turn.actor == "bob"


def test_a_press_runs_only_for_an_empty_idle_queue_or_the_turn_holder() -> None:
    assert press((), "ann", busy=False) == "run"
    assert press((), "ann", busy=True) == "join"  # someone's deploy runs: line up behind it
    held = (Entry("e-ann", "ann", 0.0, turn_since=1.0), Entry("e-bob", "bob", 1.0))
    assert press(held, "ann", busy=False) == "run"
    assert press(held, "bob", busy=False) == "wait"
    assert press(held, "cat", busy=False) == "join"
    assert press((Entry("e-ann", "ann", 0.0),), "ann", busy=True) == "wait"  # at the head, turn not yet given
    assert press((Entry("e-ann", "ann", 0.0, turn_since=1.0, job_id="j"),), "ann", busy=False) == "wait"


def test_places_count_from_the_head() -> None:
    q = queue("ann", "bob", "cat")
    assert [place(q, a) for a in ("ann", "bob", "cat", "dan")] == [1, 2, 3, None]


def test_an_admin_moves_an_entry_and_the_moved_away_head_loses_its_turn() -> None:
    q = (Entry("e-ann", "ann", 0.0, turn_since=9.0), *queue("bob", "cat")[0:2])
    q = (q[0], Entry("e-bob", "bob", 1.0), Entry("e-cat", "cat", 2.0))
    moved = move(q, "e-cat", 1)
    assert [e.actor for e in moved] == ["cat", "ann", "bob"]
    assert [e.turn_since for e in moved] == [None, None, None]
    assert [e.actor for e in move(q, "e-ann", 99)] == ["bob", "cat", "ann"]
    after = advance(moved, 50.0, TURN, busy=False, job_active=never)
    assert after.turn is not None and after.turn.actor == "cat"


def test_a_deploy_in_progress_cannot_be_overtaken_or_moved() -> None:
    q = (Entry("e-ann", "ann", 0.0, turn_since=1.0, job_id="j"), Entry("e-bob", "bob", 1.0),
         Entry("e-cat", "cat", 2.0))
    assert [e.actor for e in move(q, "e-cat", 1)] == ["ann", "cat", "bob"]
    assert move(q, "e-ann", 3) == q
    with pytest.raises(KeyError):
        move(q, "e-nobody", 1)


def test_removing_an_entry_keeps_the_others_in_order() -> None:
    assert [e.actor for e in remove(queue("ann", "bob", "cat"), "e-bob")] == ["ann", "cat"]
