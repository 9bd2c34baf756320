"""Running a button's action through the service's Jenkins job: the executor the page's workers
call for services with ``executor: jenkins`` (and ``deployer jenkins trigger``).

The caller holds a Jenkins API token and no cluster credential: Jenkins binds the clusters'
credentials to its own build (jenkins/vars/deployerCredentials.groovy). The run is: trigger
``buildWithParameters`` with the pipeline's parameters plus who asked (``ACTOR``, recorded with the
build URL in every lock and release record) and the page's job id (``REQUEST_ID``); follow the
queue item to its build; stream the build's console into ``progress`` line by line while it runs;
read the build's result and its archived deployer report into a ``JenkinsOutcome``. Setting
``stop`` takes a queued build out of the queue, or aborts a running one (Jenkins interrupts the
deploy, which settles every cluster on a known release before it exits: docs/reliability.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from deployer.config.models import JenkinsSettings, Service
from deployer.errors import CredentialsError, ExitCode, JenkinsError, UsageError
from deployer.jenkins.client import JenkinsClient
from deployer.jenkins.responses import Build, LineSplitter, PendingInput, QueueItem
from deployer.polling import Clock, Sleep, poll_until

ACTIONS = ("deploy", "rollback")
EXTRA_PARAMETERS = ("REVISION", "REQUEST_ID")
INPUT_REQUESTED = "Input requested"
"""The console line Jenkins' input step writes when the build starts waiting at it."""
APPROVAL_LINE = "jenkins: waiting for approval in Jenkins: "
"""How the executor reports a pending input: ``<approve URL> input <id>: <question>``."""
INPUT_ANSWERED = ("Approved by ", "Rejected by ")
"""Parameters a caller may add to the ones run_via_jenkins sets itself (deployerPipeline.groovy)."""


class StopSignal(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class ClusterRelease:
    """One cluster's part of the build's deployer report."""

    cluster: str
    outcome: str
    revision: int | None
    release: str
    """In words, as deployer's report says it (``on the new release r3``)."""
    image: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "outcome": self.outcome, "revision": self.revision,
                "release": self.release, "image": self.image}


@dataclass(frozen=True)
class JenkinsOutcome:
    result: str
    """The build's result (SUCCESS, UNSTABLE, FAILURE, ABORTED, NOT_BUILT), or CANCELLED when it was
    taken out of the queue before it started."""
    build_url: str | None
    queue_url: str
    report_name: str | None = None
    """The archived deployer report the clusters were read from (None: the build archived none,
    for example it failed before deploying)."""
    exit_code: int | None = None
    """deployer's exit code, from the report."""
    clusters: tuple[ClusterRelease, ...] = ()
    stop_requested: bool = False
    reports: dict[str, Any] = field(default_factory=dict)
    """Every archived deployer JSON report of the build, by file name."""

    @property
    def succeeded(self) -> bool:
        return self.result == "SUCCESS"

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result, "buildUrl": self.build_url, "queueUrl": self.queue_url,
                "report": self.report_name, "exitCode": self.exit_code, "stopRequested": self.stop_requested,
                "clusters": [c.to_dict() for c in self.clusters]}


# --- pure parts -----------------------------------------------------------------------------------

def build_parameters(service: Service, environment: str, action: str, parameters: Mapping[str, str],
                     actor: str) -> dict[str, str]:
    """The parameters of the build: the pipeline's own (SERVICE, ENVIRONMENT, ACTION, REVISION) and
    the page's (ACTOR, REQUEST_ID). Refuses what the pipeline would not know what to do with."""
    if action not in ACTIONS:
        raise UsageError(f"action {action!r} cannot run through Jenkins; the pipeline runs {', '.join(ACTIONS)}")
    if environment not in service.environments:
        known = ", ".join(sorted(service.environments))
        raise UsageError(f"service {service.name} has no environment {environment!r} (it has {known})")
    unknown = sorted(set(parameters) - set(EXTRA_PARAMETERS))
    if unknown:
        raise UsageError(f"unknown build parameter {', '.join(unknown)}; the pipeline also takes "
                         f"{', '.join(EXTRA_PARAMETERS)}")
    if not actor.strip():
        raise UsageError("the actor (who asked for the build) is empty; the release records must name someone")
    return {"SERVICE": service.name, "ENVIRONMENT": environment, "ACTION": action,
            "REVISION": parameters.get("REVISION", ""), "ACTOR": actor,
            "REQUEST_ID": parameters.get("REQUEST_ID", "")}


def report_name(service: Service, environment: str, action: str) -> str:
    """The report of the stage that ends the build (deployerPipeline.reportName): production is
    reached by promoting staging's build, unless the action is a rollback."""
    promoted = action == "deploy" and service.environments[environment].promote_from is not None
    return f"deployer-{'promote' if promoted else action}-{environment}.json"


def clusters_of(report: Mapping[str, Any]) -> tuple[ClusterRelease, ...]:
    """Each cluster's release from a deployer JSON report (pipeline/report.py ``to_dict``)."""
    found = []
    for entry in report.get("clusters") or []:
        found.append(ClusterRelease(str(entry.get("cluster")), str(entry.get("outcome")), entry.get("revision"),
                                    str(entry.get("release") or ""), entry.get("image")))
    return tuple(found)


def approval_line(pending: PendingInput) -> str:
    """The progress line for a pending input (pure; ``waiting_approval`` reads it back)."""
    return f"{APPROVAL_LINE}{pending.approve_url} input {pending.id}: {pending.message}"


def waiting_approval(lines: list[str]) -> tuple[str, str] | None:
    """(approve URL, input id) of the input a build's log says it waits at now, else None (pure):
    the last approval line, unless an answer or the build's end came after it."""
    waiting: tuple[str, str] | None = None
    for line in lines:
        where = line.find(APPROVAL_LINE)
        if where >= 0:
            url, _, rest = line[where + len(APPROVAL_LINE):].partition(" input ")
            input_id = rest.partition(":")[0]
            waiting = (url, input_id) if url and input_id else None
        elif waiting is not None and (any(a in line for a in INPUT_ANSWERED) or "jenkins: build finished" in line):
            waiting = None
    return waiting


# --- the run --------------------------------------------------------------------------------------

def client_for(settings: JenkinsSettings) -> JenkinsClient:
    """A client with the API token read from ``settings.token_file`` now (never kept elsewhere)."""
    try:
        token = Path(settings.token_file).read_text().strip()
    except OSError as exc:
        raise CredentialsError(f"cannot read the Jenkins API token file {settings.token_file}: {exc.strerror}",
                               hint="Point jenkins.yaml's tokenFile at a file holding the API token of "
                                    f"{settings.user} (docs/jenkins.md).") from None
    if not token:
        raise CredentialsError(f"the Jenkins API token file {settings.token_file} is empty")
    return JenkinsClient(settings.url, settings.user, token, ca_file=settings.ca_file)


def run_via_jenkins(settings: JenkinsSettings, service: Service, environment: str, action: str,
                    parameters: Mapping[str, str], actor: str, progress: Callable[[str], None],
                    stop: StopSignal, *, client: JenkinsClient | None = None, clock: Clock = time.monotonic,
                    sleep: Sleep = time.sleep) -> JenkinsOutcome:
    """Run ``action`` of ``service`` in ``environment`` as a build of the service's Jenkins job and
    follow it to its end (see the module's docstring). Raises ``JenkinsError`` when Jenkins cannot
    be reached or answers outside its documented API; a build that fails is an outcome, not an
    error."""
    params = build_parameters(service, environment, action, parameters, actor)
    job = service.job_in_jenkins
    own_client = client is None
    jenkins = client or client_for(settings)
    try:
        queue_url = jenkins.trigger(job, params)
        progress(f"jenkins: queued a build of {job} ({queue_url})")
        started = _wait_for_build(jenkins, job, queue_url, settings, progress, stop, clock, sleep)
        if started.build_url is None:
            return JenkinsOutcome("CANCELLED", None, queue_url, stop_requested=stop.is_set())
        progress(f"jenkins: build {started.build_url}")
        stop_requested = _follow_console(jenkins, started.build_url, settings, progress, stop, sleep)
        build = _finished_build(jenkins, started.build_url, settings, clock, sleep)
        reports = _reports(jenkins, build)
        # The report of the stage that ends the build; a production deploy that failed in staging
        # ends with staging's.
        wanted = report_name(service, environment, action)
        if wanted not in reports and reports:
            wanted = list(reports)[-1]
        report = reports.get(wanted)
        progress(f"jenkins: build finished: {build.result}")
        return JenkinsOutcome(
            build.result or "", build.url, queue_url, wanted if report is not None else None,
            report.get("exitCode") if report is not None else None,
            clusters_of(report) if report is not None else (), stop_requested or stop.is_set(), reports)
    finally:
        if own_client:
            jenkins.close()


def _wait_for_build(jenkins: JenkinsClient, job: str, queue_url: str, settings: JenkinsSettings,
                    progress: Callable[[str], None], stop: StopSignal, clock: Clock, sleep: Sleep) -> QueueItem:
    said: list[str | None] = [None]

    def started() -> QueueItem | None:
        item = jenkins.queue_item(queue_url)
        if item.status in ("started", "cancelled"):
            return item
        if item.status != said[0]:   # once per state: Jenkins' why counts the quiet period down
            said[0] = item.status
            progress(f"jenkins: {item.status}: {item.why or 'in the queue'}")
        return None

    found = poll_until(started, float(settings.queue_timeout),
                       interval=float(settings.poll_interval), clock=clock, sleep=sleep, cancelled=stop.is_set)
    if found is not None:
        if found.status == "cancelled":
            progress("jenkins: the build was cancelled in the queue")
        return found
    if stop.is_set():
        jenkins.cancel_queue_item(queue_url)
        # It may have started between the last look and the cancel: then it is aborted as a build is.
        item = jenkins.queue_item(queue_url)
        if item.status == "started":
            return item
        progress("jenkins: stopped: the build was taken out of the queue before it started")
        return QueueItem("cancelled", item.why)
    raise JenkinsError(f"the build of {job} waited {float(settings.queue_timeout):.0f} s in Jenkins' "
                       f"queue without starting (last seen {said[0] or 'queued'})",
                       hint="Check that an agent with the pipeline's label is online; the queued item is still "
                            "there: cancel it in Jenkins if it should not run.")


def _follow_console(jenkins: JenkinsClient, build_url: str, settings: JenkinsSettings,
                    progress: Callable[[str], None], stop: StopSignal, sleep: Sleep) -> bool:
    """Stream the console until Jenkins says it is complete; abort the build once ``stop`` is set.
    Returns whether an abort was sent."""
    lines, start, stopped = LineSplitter(), 0, False
    while True:
        if stop.is_set() and not stopped:
            jenkins.stop(build_url)
            stopped = True
            progress("jenkins: abort sent; the build settles every cluster before it ends")
        chunk = jenkins.console(build_url, start)
        for line in lines.feed(chunk.data):
            progress(line)
            if line.strip() == INPUT_REQUESTED:
                # Where to approve it: Jenkins' own page for the build's pending inputs.
                for pending in jenkins.pending_inputs(build_url):
                    progress(approval_line(pending))
        start = chunk.next_start
        if not chunk.more:
            for line in lines.flush():
                progress(line)
            return stopped
        if not chunk.data:
            sleep(float(settings.poll_interval))


def _finished_build(jenkins: JenkinsClient, build_url: str, settings: JenkinsSettings, clock: Clock,
                    sleep: Sleep) -> Build:
    # The console is complete a moment before Jenkins writes the build's result: look until it is.
    def finished() -> Build | None:
        build = jenkins.build(build_url)
        return build if build.finished else None

    build = poll_until(finished, 60.0, interval=min(float(settings.poll_interval), 1.0), clock=clock, sleep=sleep)
    if build is None:
        raise JenkinsError(f"build {build_url}: its console ended but Jenkins reports no result a minute later")
    return build


def _reports(jenkins: JenkinsClient, build: Build) -> dict[str, Any]:
    """The deployer JSON reports the build archived (deployerPipeline.publishReport)."""
    found: dict[str, Any] = {}
    for artifact in build.artifacts:
        if artifact.file_name.startswith("deployer-") and artifact.file_name.endswith(".json"):
            data = jenkins.artifact(build.url, artifact.relative_path)
            try:
                found[artifact.file_name] = json.loads(data)
            except json.JSONDecodeError as exc:
                raise JenkinsError(f"build {build.url}: archived {artifact.relative_path} is not JSON "
                                   f"({exc})") from None
    return found


def exit_code(outcome: JenkinsOutcome) -> ExitCode:
    """What ``deployer jenkins trigger`` exits with: deployer's own exit code when the build archived
    its report (the same table as a local run), else what the build's result says."""
    if outcome.exit_code is not None and (outcome.exit_code != 0 or outcome.succeeded):
        return ExitCode(outcome.exit_code)
    if outcome.succeeded:
        return ExitCode.OK
    if outcome.result in ("ABORTED", "CANCELLED"):
        return ExitCode.TERMINATED
    return ExitCode.FAILED
