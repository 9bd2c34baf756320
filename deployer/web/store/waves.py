"""The waves board of a job (``deployer.web.waves``) and the audit entries of pause, resume and
abort pressed on the page: stored beside the jobs, read by any page process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from deployer.redact import scrub
from deployer.rollout.waves import WaveEvent
from deployer.web.jobs import Job
from deployer.web.store.jobs import JobStore
from deployer.web.store.schema import audit, job_waves
from deployer.web.waves import Board, fold


def save(store: JobStore, job_id: str, board: Board) -> None:
    """Replace the job's board (one row per job; a delete and an insert work alike on both databases)."""
    with store.engine.connect() as connection:
        db = connection.execution_options(immediate=True)  # SQLite: BEGIN IMMEDIATE, as the store writes
        with db.begin():
            db.execute(job_waves.delete().where(job_waves.c.job_id == job_id))
            db.execute(job_waves.insert().values(job_id=job_id, updated=time.time(), board=board))


def load(store: JobStore, job_id: str) -> tuple[Board, float] | None:
    """The job's board and when it was written (epoch seconds), or None for a job without waves."""
    with store.engine.connect() as db:
        row = db.execute(sa.select(job_waves.c.board, job_waves.c.updated)
                         .where(job_waves.c.job_id == job_id)).first()
    return None if row is None else (dict(row.board), float(row.updated))


def audit_steer(store: JobStore, job: Job, actor: str, action: str, detail: dict[str, Any]) -> None:
    """One audit entry per pause, resume or abort (event ``wave-pause`` ...), in the jobs' trail."""
    entry = {"actor": actor, "action": job.form.action, "service": job.form.service,
             "environment": job.form.environment, "wave": action, **detail}
    with store.engine.connect() as connection:
        db = connection.execution_options(immediate=True)
        with db.begin():
            db.execute(audit.insert().values(
                time=time.time(), event=f"wave-{action}", job_id=job.id, actor=actor[:80], action=job.form.action,
                service=job.form.service, environment=job.form.environment, outcome=None,
                detail={k: scrub(v) if isinstance(v, str) else v for k, v in entry.items()}))


class WaveRecorder:
    """The worker's ``on_wave``: folds each event into the job's board and stores it. Only a deploy
    in more than one wave has a board (one wave is the deploy as it always was). A board that
    cannot be written is named on the worker's stderr and the run goes on: the page's view of the
    waves is not worth a deploy."""

    def __init__(self, store: JobStore, job_id: str, say: Callable[[str], None]) -> None:
        self.store, self.job_id, self.say = store, job_id, say
        self._board: Board | None = None
        self._lock = threading.Lock()

    def __call__(self, event: WaveEvent) -> None:
        if event.of < 2:
            return
        with self._lock:
            self._board = board = fold(self._board, event)
            try:
                save(self.store, self.job_id, board)
            except Exception as exc:  # noqa: BLE001 - the deploy goes on without its live view
                self.say(scrub(f"could not write the waves of job {self.job_id}: {exc}"))
