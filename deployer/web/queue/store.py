"""The push queue in the database (table ``queue_entries``, revision 0003): every change reads the
queue's entries, applies deployer.web.queue.rules and writes the result in one write transaction,
so web processes sharing a database agree on the order.

A queue is named by its key (a service, or the group its services deploy with) and environment;
``members`` are the services whose jobs occupy it (a running job keeps the turn from starting).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deployer.web.jobs import ACTIVE
from deployer.web.queue import rules
from deployer.web.queue.rules import Advanced, Entry
from deployer.web.store.schema import jobs, queue_entries

TurnHook = Callable[["QueueKey", Entry], None]
"""Called once per turn given (after the change is committed): the queue-turn notification."""


@dataclass(frozen=True)
class QueueKey:
    queue: str
    environment: str
    members: tuple[str, ...]
    """The services whose jobs this queue orders."""

    @property
    def name(self) -> str:
        return f"{self.queue}/{self.environment}"


class QueueStore:
    def __init__(self, engine: Engine, *, turn_seconds: float = 300.0, clock: Callable[[], float] = time.time,
                 on_turn: TurnHook = lambda key, entry: None) -> None:
        self.engine = engine
        self.turn_seconds = turn_seconds
        self.clock = clock
        self.on_turn = on_turn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            connection = connection.execution_options(immediate=True)
            with connection.begin():
                yield connection

    # --- reads and the turn -------------------------------------------------------------------------

    def entries(self, key: QueueKey) -> tuple[Entry, ...]:
        """The queue in order, after passing the turn on where it is due. The common case (nothing
        due) stays a read: the page polls this every two seconds per viewer."""
        with self.engine.connect() as db, db.begin():
            found = self._load(db, key)
            due = self._advance(db, key, found)
        if due.entries == found:
            return found
        return self._change(key, lambda entries, db: entries)

    def queues(self) -> dict[tuple[str, str], int]:
        """Every non-empty queue's length (the page's gauge)."""
        with self.engine.connect() as db:
            rows = db.execute(sa.select(queue_entries.c.queue, queue_entries.c.environment, sa.func.count())
                              .group_by(queue_entries.c.queue, queue_entries.c.environment)).all()
        return {(q, e): n for q, e, n in rows}

    # --- changes ------------------------------------------------------------------------------------

    def join(self, key: QueueKey, actor: str) -> tuple[Entry, ...]:
        def add(entries: tuple[Entry, ...], db: Connection) -> tuple[Entry, ...]:
            if rules.place(entries, actor) is not None:
                return entries
            return (*entries, Entry(uuid.uuid4().hex[:12], actor, self.clock()))
        return self._change(key, add)

    def leave(self, key: QueueKey, actor: str) -> tuple[Entry, ...]:
        return self._change(key, lambda entries, db: tuple(e for e in entries if e.actor != actor))

    def remove(self, key: QueueKey, entry_id: str) -> tuple[Entry, ...]:
        return self._change(key, lambda entries, db: rules.remove(entries, entry_id))

    def move(self, key: QueueKey, entry_id: str, to: int) -> tuple[Entry, ...]:
        return self._change(key, lambda entries, db: rules.move(entries, entry_id, to))

    def press(self, key: QueueKey, actor: str) -> rules.Press:
        """Where ``actor``'s deploy goes; a ``join`` is done here (the caller starts a ``run``
        and records it with ``started``)."""
        decided: list[rules.Press] = []

        def decide(entries: tuple[Entry, ...], db: Connection) -> tuple[Entry, ...]:
            head_job = entries[0].job_id if entries else None
            decided.append(rules.press(entries, actor, busy=self._busy(db, key, head_job)))
            if decided[0] == "join":
                return (*entries, Entry(uuid.uuid4().hex[:12], actor, self.clock()))
            return entries
        self._change(key, decide)
        return decided[0]

    def started(self, key: QueueKey, actor: str, job_id: str) -> None:
        """The turn's holder started ``job_id``: the turn passes on when it ends."""
        with self._write() as db:
            db.execute(queue_entries.update().where(
                queue_entries.c.queue == key.queue, queue_entries.c.environment == key.environment,
                queue_entries.c.actor == actor, queue_entries.c.turn_since.is_not(None)).values(job_id=job_id))

    # --- inside a transaction -----------------------------------------------------------------------

    def _change(self, key: QueueKey, change: Callable[[tuple[Entry, ...], Connection], tuple[Entry, ...]]
                ) -> tuple[Entry, ...]:
        with self._write() as db:
            before = self._load(db, key)
            changed = change(before, db)
            advanced = self._advance(db, key, changed)
            if advanced.entries != before:
                self._store(db, key, advanced.entries)
        if advanced.turn is not None:
            self.on_turn(key, advanced.turn)
        return advanced.entries

    def _advance(self, db: Connection, key: QueueKey, entries: Sequence[Entry]) -> Advanced:
        head_job = entries[0].job_id if entries else None

        def active(job_id: str) -> bool:
            state = db.execute(sa.select(jobs.c.state).where(jobs.c.id == job_id)).scalar()
            return state in ACTIVE

        return rules.advance(entries, self.clock(), self.turn_seconds, busy=self._busy(db, key, head_job),
                             job_active=active)

    def _busy(self, db: Connection, key: QueueKey, except_job: str | None) -> bool:
        """A job of the queue's services runs (or waits for a worker) that is not the head's."""
        query = sa.select(jobs.c.id).where(jobs.c.service.in_(key.members), jobs.c.environment == key.environment,
                                           jobs.c.state.in_(ACTIVE))
        if except_job is not None:
            query = query.where(jobs.c.id != except_job)
        return db.execute(query.limit(1)).first() is not None

    def _load(self, db: Connection, key: QueueKey) -> tuple[Entry, ...]:
        rows = db.execute(sa.select(queue_entries).where(
            queue_entries.c.queue == key.queue, queue_entries.c.environment == key.environment)
            .order_by(queue_entries.c.seq)).all()
        return tuple(Entry(r.id, r.actor, r.joined, r.turn_since, r.job_id) for r in rows)

    def _store(self, db: Connection, key: QueueKey, entries: Sequence[Entry]) -> None:
        where = sa.and_(queue_entries.c.queue == key.queue, queue_entries.c.environment == key.environment)
        db.execute(queue_entries.delete().where(where))
        if entries:
            db.execute(queue_entries.insert(), [
                {"id": e.id, "queue": key.queue, "environment": key.environment, "actor": e.actor, "seq": i,
                 "joined": e.joined, "turn_since": e.turn_since, "job_id": e.job_id}
                for i, e in enumerate(entries)])
