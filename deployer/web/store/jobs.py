"""Every read and write of jobs, their log lines and the audit trail.

Times come from the database server (``now``), so web and worker processes on machines whose clocks
disagree still agree on how old a heartbeat is. A claim is one transaction: on PostgreSQL the oldest
queued row ``FOR UPDATE SKIP LOCKED`` (concurrent workers skip each other's row instead of waiting
for it), on SQLite under ``BEGIN IMMEDIATE`` (one writer at a time).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from deployer.redact import scrub
from deployer.web.forms import JobForm
from deployer.web.jobs import ACTIVE, Busy, Ending, Job
from deployer.web.store.schema import audit, job_lines, jobs

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Beat:
    """What a worker learns from its heartbeat: whether the job is still its own, and whether
    someone asked to cancel it."""

    mine: bool
    cancel: str | None = None


class JobStore:
    def __init__(self, engine: Engine, *, sleep: Sleep = time.sleep, follow_interval: float = 0.2) -> None:
        self.engine = engine
        self.sleep = sleep
        self.follow_interval = follow_interval

    # --- time and transactions ----------------------------------------------------------------------

    def now(self) -> ColumnElement[float]:
        """The database server's clock, in epoch seconds."""
        if self.engine.dialect.name == "postgresql":
            return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
        return sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)", sa.Float)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE, so it never has to upgrade a read lock)."""
        with self.engine.connect() as connection:
            connection = connection.execution_options(immediate=True)
            with connection.begin():
                yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as connection, connection.begin():
            yield connection

    # --- the web's side -----------------------------------------------------------------------------

    def submit(self, form: JobForm, actor: str) -> Job:
        """Queue a job and write its audit line in one transaction; ``Busy`` when the service and
        environment already have a queued or running job (the partial unique index decides)."""
        job_id = uuid.uuid4().hex[:12]
        try:
            with self._write() as db:
                db.execute(jobs.insert().values(
                    id=job_id, action=form.action, service=form.service, environment=form.environment,
                    revision=form.revision, source=form.source or None, actor=actor, state="queued",
                    created=self.now()))
                job = self._get(db, job_id, lines=False)
                assert job is not None
                self._audit(db, job, "start")
        except IntegrityError:
            busy = self.active_for(form.service, form.environment)
            if busy is None:  # it ended in between: the press may go again
                return self.submit(form, actor)
            raise Busy(busy) from None
        return job

    def cancel(self, job_id: str, actor: str) -> Job | None:
        """A queued job is cancelled at once; a running one is asked to stop (its worker polls)."""
        with self._write() as db:
            job = self._get(db, job_id, lines=False)
            if job is None or not job.running:
                return job
            if job.state == "queued":
                db.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.state == "queued").values(
                    state="cancelled", finished=self.now(), error=f"cancelled by {actor} before a worker took it"))
                ended = self._get(db, job_id, lines=False)
                assert ended is not None
                self._audit(db, ended, "end")
            else:
                db.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.cancel.is_(None)).values(cancel=actor))
            return self._get(db, job_id, lines=False)

    # --- the worker's side --------------------------------------------------------------------------

    def claim(self, worker: str) -> Job | None:
        """The oldest queued job, now running on ``worker``; None when none is queued."""
        with self._read() as db:  # an idle worker's poll stays a read: no write lock twice a second
            if db.execute(sa.select(jobs.c.id).where(jobs.c.state == "queued").limit(1)).first() is None:
                return None
        with self._write() as db:
            pick = sa.select(jobs.c.id).where(jobs.c.state == "queued").order_by(jobs.c.created, jobs.c.id).limit(1)
            if self.engine.dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            job_id = db.execute(pick).scalar()
            if job_id is None:
                return None
            claimed = db.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.state == "queued").values(
                state="running", worker=worker, started=self.now(), heartbeat=self.now()))
            if claimed.rowcount != 1:  # only possible without row locks: never claim what another took
                return None
            return self._get(db, job_id, lines=False)

    def append(self, job_id: str, seq: int, text: str) -> None:
        self.append_many(job_id, [(seq, text)])

    def append_many(self, job_id: str, lines: list[tuple[int, str]]) -> None:
        """Log lines ``(seq, text)`` of a job, in one transaction."""
        if not lines:
            return
        with self._write() as db:
            db.execute(job_lines.insert(), [{"job_id": job_id, "seq": seq, "text": scrub(text)} for seq, text in lines])

    def beat(self, job_id: str, worker: str) -> Beat:
        with self._write() as db:
            done = db.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.worker == worker,
                                                  jobs.c.state == "running").values(heartbeat=self.now()))
            cancel = db.execute(sa.select(jobs.c.cancel).where(jobs.c.id == job_id)).scalar()
        return Beat(done.rowcount == 1, cancel)

    def settle(self, job_id: str, worker: str, ending: Ending) -> Job | None:
        """Record how the run ended. A job marked interrupted meanwhile (its heartbeat was late)
        gets its true ending: the worker that ran it knows best."""
        with self._write() as db:
            done = db.execute(jobs.update().where(
                jobs.c.id == job_id, jobs.c.worker == worker, jobs.c.state.in_(("running", "interrupted"))).values(
                state="finished", finished=self.now(), exit_code=ending.exit_code, report=ending.report,
                result=ending.result, error=ending.error, hint=ending.hint))
            job = self._get(db, job_id, lines=False)
            if done.rowcount == 1 and job is not None:
                self._audit(db, job, "end")
            return job

    def reap(self, stale_after: float) -> list[Job]:
        """Mark running jobs whose worker stopped heart-beating ``stale_after`` seconds ago as
        interrupted (the clusters' Leases expire by themselves). Any web or worker calls this."""
        stale = sa.and_(jobs.c.state == "running", jobs.c.heartbeat < self.now() - stale_after)
        with self._read() as db:
            if db.execute(sa.select(sa.func.count()).select_from(jobs).where(stale)).scalar() == 0:
                return []  # the common case stays a read: no write lock for a page view
        found = []
        with self._write() as db:
            for job_id, worker in db.execute(sa.select(jobs.c.id, jobs.c.worker).where(stale)).all():
                db.execute(jobs.update().where(jobs.c.id == job_id, stale).values(
                    state="interrupted", finished=self.now(),
                    error=f"its worker {worker} stopped (no heartbeat for {stale_after:g}s)",
                    hint="The worker process ended or lost the database; the clusters' deploy locks expire by "
                         "themselves. `deployer history` shows where each cluster ended; press again to retry."))
                job = self._get(db, job_id, lines=False)
                assert job is not None
                self._audit(db, job, "end")
                found.append(job)
        return found

    # --- reads --------------------------------------------------------------------------------------

    def get(self, job_id: str, *, lines: bool = True) -> Job | None:
        with self._read() as db:
            return self._get(db, job_id, lines=lines)

    def lines(self, job_id: str, start: int = 0) -> list[str]:
        with self._read() as db:
            return self._lines(db, job_id, start)

    def recent(self, count: int = 20) -> list[Job]:
        with self._read() as db:
            rows = db.execute(sa.select(jobs).order_by(jobs.c.created.desc(), jobs.c.id).limit(count)).all()
        return [_job(row) for row in rows]

    def active(self) -> list[Job]:
        """Queued and running jobs, oldest first."""
        with self._read() as db:
            rows = db.execute(sa.select(jobs).where(jobs.c.state.in_(ACTIVE)).order_by(jobs.c.created)).all()
        return [_job(row) for row in rows]

    def active_for(self, service: str, environment: str) -> Job | None:
        with self._read() as db:
            row = db.execute(sa.select(jobs).where(jobs.c.service == service, jobs.c.environment == environment,
                                                   jobs.c.state.in_(ACTIVE))).first()
        return None if row is None else _job(row)

    def running_on(self, workers: list[str]) -> list[Job]:
        with self._read() as db:
            rows = db.execute(sa.select(jobs).where(jobs.c.state == "running", jobs.c.worker.in_(workers))
                              .order_by(jobs.c.created)).all()
        return [_job(row) for row in rows]

    def follow(self, job_id: str, index: int, wait: float) -> tuple[list[str], dict[str, Any] | None]:
        """Lines from ``index`` on, polling up to ``wait`` seconds for one; and the final event once
        the job has ended and every line has been read. Works across processes and restarts."""
        deadline = time.monotonic() + wait
        while True:
            with self._read() as db:
                found = self._lines(db, job_id, index)
                job = self._get(db, job_id, lines=False) if not found else None
            if found:
                return found, None
            if job is None or not job.running:
                return [], None if job is None else job.final()
            if time.monotonic() >= deadline:
                return [], None
            self.sleep(min(self.follow_interval, max(0.0, deadline - time.monotonic())))

    def audit(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The audit trail, oldest first: who, what, where, when, outcome."""
        query = sa.select(audit).order_by(audit.c.id)
        with self._read() as db:
            rows = db.execute(query).all()
        entries = [{**row.detail, "event": row.event, "job": row.job_id} for row in rows]
        return entries if limit is None else entries[-limit:]

    def refused(self, detail: dict[str, Any]) -> None:
        """A request sign-in turned away (deployer.web.auth.wiring.refusal_entry): no job, in the
        same trail as the jobs, so "who tried what" sits beside "who did what"."""
        with self._write() as db:
            db.execute(audit.insert().values(
                time=time.time(), event="refused", job_id=None, actor=str(detail.get("actor", ""))[:80],
                action=str(detail.get("action", ""))[:16], service=str(detail.get("service", ""))[:63],
                environment=str(detail.get("environment", ""))[:63], outcome="refused", detail=_scrubbed(detail)))

    # --- inside a transaction -------------------------------------------------------------------------

    def _get(self, db: Connection, job_id: str, *, lines: bool) -> Job | None:
        row = db.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            return None
        job = _job(row)
        if lines:
            job.lines = self._lines(db, job_id, 0)
        return job

    def _lines(self, db: Connection, job_id: str, start: int) -> list[str]:
        return list(db.execute(sa.select(job_lines.c.text).where(job_lines.c.job_id == job_id,
                                                                 job_lines.c.seq >= start)
                               .order_by(job_lines.c.seq)).scalars())

    def approved(self, job: Job, actor: str, build_url: str) -> None:
        """The page's user approved the job's Jenkins build at its input (Jenkins records the page's
        Jenkins user): who approved sits in the same trail as who started it."""
        detail = {"actor": actor, "job": job.id, "buildUrl": build_url}
        with self._write() as db:
            db.execute(audit.insert().values(
                time=time.time(), event="approved", job_id=job.id, actor=actor[:80], action=job.form.action,
                service=job.form.service, environment=job.form.environment, outcome=None, detail=_scrubbed(detail)))

    def _audit(self, db: Connection, job: Job, event: str) -> None:
        from deployer.web.audit import entry

        detail = entry(job, event)
        db.execute(audit.insert().values(time=time.time(), event=event, job_id=job.id, actor=job.actor,
                                         action=job.form.action, service=job.form.service,
                                         environment=job.form.environment, outcome=job.outcome,
                                         detail=_scrubbed(detail)))


def _scrubbed(detail: dict[str, Any]) -> dict[str, Any]:
    return {key: scrub(value) if isinstance(value, str) else value for key, value in detail.items()}


def _job(row: Row[Any]) -> Job:
    form = JobForm(row.action, row.service, row.environment, row.revision, source=row.source or "")
    return Job(row.id, form, row.actor, row.created, finished=row.finished, exit_code=row.exit_code,
               report=row.report, result=row.result, error=row.error, hint=row.hint, state=row.state,
               worker=row.worker, cancel=row.cancel)
