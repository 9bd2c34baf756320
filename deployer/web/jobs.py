"""Jobs: one button press, run in a background thread, its log kept for live viewers.

The registry holds this process's jobs in memory (the audit log is the durable record). A service
and environment runs at most one job at a time here, so a second press is told who is running it;
the Lease lock in each cluster still guards against the CLI and Jenkins deploying at the same time.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from deployer.errors import EXIT_CODE_MEANING, DeployerError, ExitCode
from deployer.pipeline.report import RunReport
from deployer.redact import scrub
from deployer.stopping import Stop
from deployer.web.forms import JobForm

Progress = Callable[[str, str], None]
Work = Callable[[Progress], RunReport]
Outcome = Literal["succeeded", "partial", "failed"]


def outcome_of(exit_code: int) -> Outcome:
    if exit_code == ExitCode.OK:
        return "succeeded"
    return "partial" if exit_code == ExitCode.PARTIAL else "failed"


def meaning(exit_code: int | None) -> str:
    """The exit-code table's words for ``exit_code`` (the same table `deployer --help` prints)."""
    if exit_code == ExitCode.OK:
        return "done"  # the table's words for 0 also explain --detailed-exitcode, which the page has no use for
    try:
        return EXIT_CODE_MEANING[ExitCode(exit_code)]  # type: ignore[arg-type]  # None raises ValueError too
    except (TypeError, ValueError):
        return ""


@dataclass
class Job:
    id: str
    form: JobForm
    actor: str
    started: float
    lines: list[str] = field(default_factory=list)
    finished: float | None = None
    exit_code: int | None = None
    report: str = ""
    """RunReport.to_text(): what happened to which cluster, and which release each ends on."""
    result: dict[str, Any] | None = None
    """RunReport.to_dict(), for the JSON API."""
    error: str = ""
    hint: str = ""
    stop: Stop = field(default_factory=Stop, repr=False)
    """The job's run stops through it when the server shuts down."""

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def outcome(self) -> Outcome | None:
        return None if self.exit_code is None else outcome_of(self.exit_code)

    def final(self) -> dict[str, Any]:
        """The last event of the live log: how the job ended."""
        return {"outcome": self.outcome, "exitCode": self.exit_code, "meaning": meaning(self.exit_code),
                "headline": headline(self), "report": self.report, "error": self.error, "hint": self.hint}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.form.action, "service": self.form.service,
                "environment": self.form.environment, "revision": self.form.revision, "actor": self.actor,
                "started": self.started, "finished": self.finished, "state": "running" if self.running else "finished",
                "outcome": self.outcome, "exitCode": self.exit_code, "headline": headline(self),
                "report": self.report, "error": self.error, "hint": self.hint, "result": self.result,
                "log": list(self.lines)}


VERBS = {"check": ("checking", "check"), "deploy": ("deploying", "deploy"), "rollback": ("rolling back", "rollback")}


def headline(job: Job) -> str:
    """One sentence for people: what this job is doing or how it ended."""
    form = job.form
    doing, noun = VERBS[form.action]
    what = f"{form.service} in {form.environment}"
    if job.running:
        return f"{doing} {what}"
    if job.error:
        return f"{noun} of {what} failed: {job.error.splitlines()[0]}"
    if job.outcome == "succeeded":
        done = {"check": "passed (nothing was built or written)", "deploy": "succeeded on every cluster",
                "rollback": "succeeded on every cluster"}[form.action]
        return f"{noun} of {what} {done}"
    if job.outcome == "partial":
        return f"{noun} of {what} succeeded on some clusters and failed on others"
    return f"{noun} of {what} failed"


class Busy(DeployerError):
    """A second press for a service and environment that already has a job running here."""

    exit_code = ExitCode.LOCKED

    def __init__(self, job: Job) -> None:
        doing, _ = VERBS[job.form.action]
        super().__init__(f"{job.actor} is already {doing} {job.form.service} in {job.form.environment} "
                         f"(job {job.id})", hint="Watch that job's log; press again when it has finished.")
        self.job = job


class JobRegistry:
    """Every job of this process; at most one running per service and environment.

    ``on_start`` and ``on_end`` are called with the job (the audit log); the log of each job is
    appended under one condition so readers can wait for new lines.
    """

    def __init__(self, *, on_start: Callable[[Job], None] = lambda job: None,
                 on_end: Callable[[Job], None] = lambda job: None, keep: int = 200,
                 clock: Callable[[], float] = time.time) -> None:
        self._jobs: dict[str, Job] = {}
        self._running: dict[tuple[str, str], Job] = {}
        self._changed = threading.Condition()
        self._threads: list[threading.Thread] = []
        self.on_start, self.on_end, self.keep, self.clock = on_start, on_end, keep, clock

    def start(self, form: JobForm, actor: str, work: Work, stop: Stop | None = None) -> Job:
        """Run ``work(progress)`` in a background thread; raises Busy when one is already running.
        ``stop`` is the token ``work``'s run checks (``stop_all`` sets it)."""
        with self._changed:
            busy = self._running.get((form.service, form.environment))
            if busy is not None:
                raise Busy(busy)
            job = Job(uuid.uuid4().hex[:12], form, actor, self.clock(), stop=stop or Stop())
            self._jobs[job.id] = job
            self._running[(form.service, form.environment)] = job
            self._forget_old()
        try:
            self.on_start(job)  # no job runs without its audit line
        except BaseException:
            with self._changed:
                del self._jobs[job.id], self._running[(form.service, form.environment)]
            raise
        thread = threading.Thread(target=self._run, args=(job, work), name=f"job-{job.id}", daemon=True)
        with self._changed:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return job

    def _run(self, job: Job, work: Work) -> None:
        def progress(cluster: str, message: str) -> None:
            where = f"[{cluster}] " if cluster else ""
            self.append(job, f"{self.clock() - job.started:6.1f}s {where}{message}")

        report: RunReport | None = None
        error: DeployerError | None = None
        try:
            report = work(progress)
        except DeployerError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - a bug: the job says so; the server's log keeps the traceback
            print(scrub(f"deployer web: job {job.id} failed with a bug:\n{traceback.format_exc()}"),
                  file=sys.stderr, flush=True)
            error = DeployerError(f"internal error: {type(exc).__name__}: {exc}",
                                  hint="This is a bug in deployer; the server's log has the traceback.")
        with self._changed:
            if report is not None:
                job.exit_code = int(report.exit_code())
                job.report, job.result = scrub(report.to_text()), report.to_dict()
            else:
                assert error is not None
                job.exit_code = int(error.exit_code)
                job.error, job.hint = scrub(error.message), scrub(error.hint or "")
            job.finished = self.clock()
            del self._running[(job.form.service, job.form.environment)]
            self._changed.notify_all()
        try:
            self.on_end(job)
        except DeployerError as exc:  # the job is over either way; the operator must hear of it
            print(scrub(f"deployer web: job {job.id}: {exc.message}"), file=sys.stderr, flush=True)

    def append(self, job: Job, line: str) -> None:
        with self._changed:
            job.lines.append(scrub(line))
            self._changed.notify_all()

    def get(self, job_id: str) -> Job | None:
        with self._changed:
            return self._jobs.get(job_id)

    def running_for(self, service: str, environment: str) -> Job | None:
        with self._changed:
            return self._running.get((service, environment))

    def recent(self, count: int = 20) -> list[Job]:
        with self._changed:
            return sorted(self._jobs.values(), key=lambda j: j.started, reverse=True)[:count]

    def running(self) -> list[Job]:
        with self._changed:
            return list(self._running.values())

    def stops(self) -> list[Stop]:
        """The stop tokens of the running jobs (what the server's shutdown sets)."""
        return [job.stop for job in self.running()]

    def follow(self, job: Job, index: int, timeout: float) -> tuple[list[str], dict[str, Any] | None]:
        """Lines from ``index`` on, waiting up to ``timeout`` for one; and the final event once the
        job has finished and every line has been read."""
        with self._changed:
            self._changed.wait_for(lambda: len(job.lines) > index or not job.running, timeout)
            lines = job.lines[index:]
            done = not job.running and not lines
            return lines, job.final() if done else None

    def join(self, timeout: float | None = None) -> bool:
        """Wait for running jobs to end; True when none is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            threads = list(self._threads)
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.running()

    def _forget_old(self) -> None:
        finished = sorted((j for j in self._jobs.values() if not j.running), key=lambda j: j.started)
        for job in finished[:max(0, len(self._jobs) - self.keep)]:
            del self._jobs[job.id]
