"""A worker: claims queued jobs from the database and runs them through deployer.web.actions (the
same functions as the CLI), one at a time, writing each log line to the database, heart-beating
while it runs, and settling the outcome.

While a job runs, a heartbeat thread writes the time every ``heartbeat`` seconds and reads whether
someone asked to cancel the job (that request stops the run through its ``Stop``, as a signal
stops the CLI). ``stop_claiming`` ends the loop after the current job; a signalled process
(deployer.cli.worker) also stops the current job through ``stop_current``. Any worker marks the
jobs of workers that stopped heart-beating as interrupted.
"""

from __future__ import annotations

import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from deployer.errors import ExitCode
from deployer.redact import scrub
from deployer.stopping import Stop
from deployer.web.forms import JobForm
from deployer.web.jobs import Ending, Job, Progress, Report, Work, run_work
from deployer.web.store.jobs import JobStore
from deployer.web.store.waves import WaveRecorder
from deployer.web.waves import recording

WorkFor = Callable[[Path, JobForm, str, Stop, str], Work]
"""``work_for(config_dir, form, actor, stop, job_id)``: the job's body (default: the pipeline's, through
actions, locally or through the service's Jenkins job as its ``executor`` says)."""


def pipeline_work(config_dir: Path, form: JobForm, actor: str, stop: Stop, job_id: str = "") -> Work:
    """The configuration is read when the job starts (as the page read it when it was pressed)."""
    from deployer.config.loader import load_config
    from deployer.web.actions import job_work

    def work(progress: Progress) -> Report:
        return job_work(load_config(config_dir), form, actor, stop, job_id=job_id)(progress)

    return work


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(self, store: JobStore, config_dir: Path, *, name: str | None = None, poll: float = 0.5,
                 heartbeat: float = 1.0, stale_after: float = 10.0, grace: float = 4.0,
                 work_for: WorkFor = pipeline_work, still_wanted: Callable[[], bool] = lambda: True,
                 say: Callable[[str], None] = lambda line: None) -> None:
        self.store, self.config_dir = store, config_dir
        self.name = name or default_name()
        self.poll, self.heartbeat, self.stale_after, self.grace = poll, heartbeat, stale_after, grace
        self.work_for = work_for
        self.still_wanted = still_wanted
        """False once the worker should take no more jobs (its parent page has gone)."""
        self.say = say
        """Where the worker's own lines go (the command prints them on stderr)."""
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._current: tuple[Job, Stop] | None = None

    # --- control, from signal handlers and other threads ---------------------------------------------

    def stop_claiming(self) -> None:
        self._stopped.set()

    def stop_current(self, cause: str, exit_code: ExitCode) -> Job | None:
        """Stop the running job as a signal stops the CLI (a second call abandons the grace period)."""
        with self._lock:
            current = self._current
        if current is None:
            return None
        current[1].request(cause, self.grace, exit_code)
        return current[0]

    @property
    def current(self) -> Job | None:
        with self._lock:
            return None if self._current is None else self._current[0]

    # --- the loop -----------------------------------------------------------------------------------

    def run(self) -> None:
        """Claim and run jobs until ``stop_claiming`` (or until no longer wanted)."""
        while not self._stopped.is_set() and self.still_wanted():
            if not self.run_one():
                self._stopped.wait(self.poll)

    def run_one(self) -> bool:
        """Reap stale jobs, then claim and run one job; False when none was queued."""
        for lost in self.store.reap(self.stale_after):
            self.say(f"job {lost.id} marked interrupted: {lost.error}")
        job = self.store.claim(self.name)
        if job is None:
            return False
        self.run_job(job)
        return True

    def run_job(self, job: Job) -> Ending:
        stop = Stop()
        with self._lock:
            self._current = (job, stop)
        beating = threading.Event()
        beats = threading.Thread(target=self._beat, args=(job, stop, beating), name=f"heartbeat-{job.id}",
                                 daemon=True)
        beats.start()
        started = time.monotonic()
        log = LineWriter(self.store, job.id, self.say)

        def progress(cluster: str, message: str) -> None:
            where = f"[{cluster}] " if cluster else ""
            log.write(f"{time.monotonic() - started:6.1f}s {where}{message}")

        self.say(f"running job {job.id}: {job.form.action} {job.form.service} in {job.form.environment} "
                 f"for {job.actor}")
        try:
            try:
                with recording(WaveRecorder(self.store, job.id, self.say)):
                    ending = run_work(job.id, self.work_for(self.config_dir, job.form, job.actor, stop, job.id),
                                      progress)
            finally:
                log.close()  # every line is in the database before the job is settled
            self.store.settle(job.id, self.name, ending)
            self.say(f"job {job.id} ended with exit code {ending.exit_code}")
        finally:
            beating.set()
            beats.join()
            with self._lock:
                self._current = None
        return ending

    def _beat(self, job: Job, stop: Stop, done: threading.Event) -> None:
        while not done.wait(self.heartbeat):
            try:
                beat = self.store.beat(job.id, self.name)
            except Exception as exc:  # noqa: BLE001 - a lost database must not kill the run; say so and keep trying
                print(scrub(f"deployer worker {self.name}: heartbeat of job {job.id} failed: {exc}"), file=sys.stderr,
                      flush=True)
                continue
            if beat.cancel and stop.reason is None:
                stop.request(f"cancelled by {beat.cancel}", self.grace, ExitCode.INTERRUPTED)


class LineWriter:
    """A job's log lines written to the database by a thread of their own, in batches, so the run
    never waits for the database (a slow disk or a busy SQLite file must not delay a lock's renewal
    or the grace period's rollback). ``close`` writes what is left and waits for it."""

    def __init__(self, store: JobStore, job_id: str, say: Callable[[str], None]) -> None:
        self.store, self.job_id, self.say = store, job_id, say
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._seq = 0
        self._thread = threading.Thread(target=self._drain, name=f"log-{job_id}", daemon=True)
        self._thread.start()

    def write(self, line: str) -> None:
        self._lines.put(line)

    def close(self) -> None:
        self._lines.put(None)
        self._thread.join()

    def _drain(self) -> None:
        done = False
        while not done:
            batch = [self._lines.get()]
            while not self._lines.empty():
                batch.append(self._lines.get())
            done = None in batch
            lines = [line for line in batch if line is not None]
            numbered = list(enumerate(lines, start=self._seq))
            self._seq += len(lines)
            try:
                self.store.append_many(self.job_id, numbered)
            except Exception as exc:  # noqa: BLE001 - the run goes on; the lost lines are named on stderr
                self.say(f"could not write {len(lines)} log line(s) of job {self.job_id}: {exc}")
