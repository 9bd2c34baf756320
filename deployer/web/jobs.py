"""Jobs: one button press, queued in the database, run by a worker, its log kept for live viewers.

The job's model, its outcome and the words the page says about it (pure). The store
(deployer.web.store.jobs) keeps jobs and their lines; workers (deployer.web.worker) run them. A
service and environment has at most one queued or running job, so a second press is told who is
running it; the Lease lock in each cluster still guards against the CLI and Jenkins deploying at the
same time.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from deployer.errors import EXIT_CODE_MEANING, DeployerError, ExitCode
from deployer.redact import scrub
from deployer.stopping import Stop
from deployer.web.forms import JobForm

Progress = Callable[[str, str], None]


class Report(Protocol):
    """How a job's run ended, as its outcome reads it: a local RunReport, or a Jenkins build's
    (deployer.web.jenkins_work.JenkinsReport)."""

    def exit_code(self) -> int: ...

    def to_text(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


Work = Callable[[Progress], Report]
Outcome = Literal["succeeded", "partial", "failed", "interrupted", "cancelled"]
State = Literal["queued", "running", "finished", "interrupted", "cancelled"]
ACTIVE: tuple[State, ...] = ("queued", "running")


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
    """The job's run stops through it when its worker is signalled or the job is cancelled."""
    state: State = "running"
    worker: str | None = None
    """The worker that claimed it (host:pid)."""
    cancel: str | None = None
    """Who asked to cancel it, while it still runs."""

    @property
    def running(self) -> bool:
        return self.state in ACTIVE

    @property
    def outcome(self) -> Outcome | None:
        if self.state in ("interrupted", "cancelled"):
            return self.state
        return None if self.exit_code is None else outcome_of(self.exit_code)

    def final(self) -> dict[str, Any]:
        """The last event of the live log: how the job ended."""
        return {"outcome": self.outcome, "exitCode": self.exit_code, "meaning": meaning(self.exit_code),
                "headline": headline(self), "report": self.report, "error": self.error, "hint": self.hint}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.form.action, "service": self.form.service,
                "environment": self.form.environment, "revision": self.form.revision, "actor": self.actor,
                "source": self.form.source or None, "started": self.started, "finished": self.finished,
                "state": self.state, "worker": self.worker, "cancel": self.cancel,
                "outcome": self.outcome, "exitCode": self.exit_code, "headline": headline(self),
                "report": self.report, "error": self.error, "hint": self.hint, "result": self.result,
                "log": list(self.lines)}


VERBS = {"check": ("checking", "check"), "deploy": ("deploying", "deploy"), "rollback": ("rolling back", "rollback"),
         "promote": ("promoting", "promote")}


def headline(job: Job) -> str:
    """One sentence for people: what this job is doing or how it ended."""
    form = job.form
    doing, noun = VERBS[form.action]
    what = f"{form.service} in {form.environment}"
    if form.action == "promote":
        what = f"{form.service} from {form.source} to {form.environment}"
    if job.state == "queued":
        return f"waiting for a worker: {doing} {what}"
    if job.running:
        return f"{doing} {what}"
    if job.state == "interrupted":
        return f"{noun} of {what} was interrupted: {(job.error or 'its worker stopped').splitlines()[0]}"
    if job.state == "cancelled":
        return f"{noun} of {what} was cancelled before it started"
    if job.error:
        return f"{noun} of {what} failed: {job.error.splitlines()[0]}"
    if job.outcome == "succeeded":
        done = {"check": "passed (nothing was built or written)", "deploy": "succeeded on every cluster",
                "rollback": "succeeded on every cluster", "promote": "succeeded on every cluster"}[form.action]
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


@dataclass(frozen=True)
class Ending:
    """How a job's run ended, as the store settles it: a report, or an error once with its hint."""

    exit_code: int
    report: str = ""
    result: dict[str, Any] | None = None
    error: str = ""
    hint: str = ""


def run_work(job_id: str, work: Work, progress: Progress) -> Ending:
    """Run ``work`` to its end; a refusal is the job's failure with its exit code and hint, a bug
    is reported as internal (the traceback goes to stderr); everything shown is scrubbed."""
    try:
        report = work(progress)
    except DeployerError as exc:
        return Ending(int(exc.exit_code), error=scrub(exc.message), hint=scrub(exc.hint or ""))
    except Exception as exc:  # noqa: BLE001 - a bug: the job says so; the worker's log keeps the traceback
        print(scrub(f"deployer worker: job {job_id} failed with a bug:\n{traceback.format_exc()}"),
              file=sys.stderr, flush=True)
        bug = f"internal error: {type(exc).__name__}: {exc}"
        return Ending(int(ExitCode.INTERNAL), error=scrub(bug),
                      hint="This is a bug in deployer; the worker's log has the traceback.")
    return Ending(int(report.exit_code()), scrub(report.to_text()), report.to_dict())
