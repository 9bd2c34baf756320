"""The push queue's rules, pure: who has the turn, when it passes on, where a press goes, how an
administrator reorders. Times are epoch seconds handed in (``now``), so tests inject the clock.

A queue is its entries in order. The head gets the turn when nothing of the queue's runs; it has
``turn_seconds`` to press Deploy (the entry then carries the job's id); the turn passes on when the
job ends or the time runs out unused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal


@dataclass(frozen=True)
class Entry:
    id: str
    actor: str
    joined: float
    turn_since: float | None = None
    """When this entry got the turn (None: it is waiting)."""
    job_id: str | None = None
    """The job its owner started with the turn."""


@dataclass(frozen=True)
class Passed:
    entry: Entry
    reason: Literal["done", "expired"]
    """done: its job ended; expired: its turn ran out unused."""


@dataclass(frozen=True)
class Advanced:
    entries: tuple[Entry, ...]
    passed: tuple[Passed, ...] = ()
    turn: Entry | None = None
    """The entry that got the turn just now (the queue-turn notification's subject)."""


def advance(entries: Sequence[Entry], now: float, turn_seconds: float, *, busy: bool,
            job_active: Callable[[str], bool]) -> Advanced:
    """The queue after its head's job ended or its turn ran out. ``busy``: a job of the queue's
    services runs that is not the head's (the head waits for it before its turn starts)."""
    queue = list(entries)
    passed: list[Passed] = []
    while queue:
        head = queue[0]
        if head.job_id is not None:
            if job_active(head.job_id):
                break
            passed.append(Passed(queue.pop(0), "done"))
            continue
        if head.turn_since is None:
            if busy:
                break
            queue[0] = replace(head, turn_since=now)
            return Advanced(tuple(queue), tuple(passed), queue[0])
        if now - head.turn_since >= turn_seconds:
            passed.append(Passed(queue.pop(0), "expired"))
            continue
        break
    return Advanced(tuple(queue), tuple(passed))


Press = Literal["run", "join", "wait"]


def press(entries: Sequence[Entry], actor: str, *, busy: bool) -> Press:
    """Where a deploy pressed by ``actor`` goes: ``run`` now (nobody queued and nothing running,
    or the actor holds the turn), ``join`` the queue's end, or ``wait`` (already in it, not yet at
    the head with the turn: a press never jumps the line)."""
    if not entries:
        return "join" if busy else "run"
    head = entries[0]
    if head.actor == actor and head.turn_since is not None and head.job_id is None and not busy:
        return "run"
    return "wait" if any(e.actor == actor for e in entries) else "join"


def place(entries: Sequence[Entry], actor: str) -> int | None:
    """``actor``'s place, 1 being the head; None when not in the queue."""
    return next((i for i, e in enumerate(entries, 1) if e.actor == actor), None)


def move(entries: Sequence[Entry], entry_id: str, to: int) -> tuple[Entry, ...]:
    """An administrator puts an entry at place ``to`` (1-based, clamped). An entry whose job runs
    stays first (a deploy in progress cannot be overtaken); an entry moved away from the head
    loses its turn (the new head's starts on the next ``advance``)."""
    queue = list(entries)
    index = next((i for i, e in enumerate(queue) if e.id == entry_id), None)
    if index is None:
        raise KeyError(entry_id)
    pinned = 1 if queue and queue[0].job_id is not None else 0
    if index < pinned:
        return tuple(queue)
    entry = queue.pop(index)
    queue.insert(max(pinned, min(len(queue), to - 1)), entry)
    return tuple(e if i == 0 else replace(e, turn_since=None) for i, e in enumerate(queue))


def remove(entries: Sequence[Entry], entry_id: str) -> tuple[Entry, ...]:
    """Without ``entry_id`` (leave, or an administrator's removal); its job, if any, runs on."""
    return tuple(e for e in entries if e.id != entry_id)
