"""A job's body for a service with ``executor: jenkins``: the press runs as a build of the
service's Jenkins job (deployer.jenkins.executor.run_via_jenkins), so the page and its workers hold
a Jenkins API token and no cluster credential.

The page's user is the build's ``ACTOR`` and the page's job id its ``REQUEST_ID``; the build's
console becomes the job's live log line by line; the build's result and archived deployer report
become the job's outcome (``JenkinsReport``), with the build URL kept in the job's result. Cancel
on the page stops the job's ``Stop``, which takes the build out of Jenkins' queue or aborts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deployer.config.loader import JENKINS_SETTINGS_FILE, Config, load_jenkins_settings
from deployer.errors import ConfigError, ConfigProblem, UsageError
from deployer.jenkins.executor import JenkinsOutcome, client_for, exit_code, run_via_jenkins, waiting_approval
from deployer.stopping import Stop
from deployer.web.forms import JobForm
from deployer.web.jobs import Progress, Work

BUILD_LINE = "jenkins: build "
"""How the executor names the build once it started (the job page reads the URL from that line)."""


@dataclass(frozen=True)
class JenkinsReport:
    """A finished build, as a job's outcome: the same three readings as a local RunReport."""

    outcome: JenkinsOutcome

    def exit_code(self) -> int:
        return int(exit_code(self.outcome))

    def to_text(self) -> str:
        lines = [f"jenkins build {self.outcome.result}: {self.outcome.build_url or self.outcome.queue_url}"]
        lines += [f"{c.cluster}: {c.outcome}, {c.release}" for c in self.outcome.clusters]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"executor": "jenkins", **self.outcome.to_dict()}


class _StopSignal:
    """The job's Stop as the executor reads it: set once a cancel or a signal asked the run to stop."""

    def __init__(self, stop: Stop | None) -> None:
        self.stop = stop

    def is_set(self) -> bool:
        return self.stop is not None and self.stop.stopping()


def jenkins_parameters(form: JobForm, job_id: str) -> tuple[str, dict[str, str]]:
    """The executor's action and extra parameters for a press (pure). Check and promote have no
    Jenkins build: the pipeline's production deploy promotes staging's build after its approval."""
    if form.action not in ("deploy", "rollback"):
        raise UsageError(f"service {form.service} runs through Jenkins, whose pipeline has no {form.action!r}",
                         hint="Press Deploy (a production deploy goes through staging and Jenkins' approval) "
                              "or Roll back.")
    parameters = {"REQUEST_ID": job_id}
    if form.action == "rollback" and form.revision is not None:
        parameters["REVISION"] = str(form.revision)
    return form.action, parameters


def build_url_of(lines: list[str]) -> str | None:
    """The build's URL from a Jenkins job's log (pure), for the job page while the build runs."""
    for line in lines:
        where = line.find(BUILD_LINE)
        if where >= 0:
            return line[where + len(BUILD_LINE):].strip() or None
    return None


def jenkins_work(config: Config, form: JobForm, actor: str, job_id: str, stop: Stop | None = None) -> Work:
    settings = load_jenkins_settings(config.root)
    if settings is None:
        raise ConfigError([ConfigProblem(str(config.root / JENKINS_SETTINGS_FILE), None, None, "",
                                         f"no such file: service {form.service} has executor: jenkins")],
                          hint="Create it as docs/jenkins.md shows (url, user, tokenFile).")
    service = config.service(form.service)
    action, parameters = jenkins_parameters(form, job_id)

    def work(progress: Progress) -> JenkinsReport:
        outcome = run_via_jenkins(settings, service, form.environment, action, parameters, actor,
                                  lambda line: progress("", line), _StopSignal(stop))
        return JenkinsReport(outcome)

    return work


def approval_of(lines: list[str]) -> tuple[str, str] | None:
    """(approve URL in Jenkins, input id) while the job's build waits for approval (pure)."""
    return waiting_approval(lines)


def approve_in_jenkins(config: Config, lines: list[str]) -> str:
    """Proceed the input the job's build waits at, with the page's Jenkins user and API token (the
    only credential the page holds). Returns the build's URL; UsageError when nothing waits."""
    waiting = waiting_approval(lines)
    settings = load_jenkins_settings(config.root)
    if waiting is None or settings is None:
        raise UsageError("this job's build does not wait for an approval now",
                         hint="Reload the page: it may have been approved or aborted already.")
    approve_url, input_id = waiting
    build_url = approve_url.removesuffix("input/")
    with client_for(settings) as jenkins:
        jenkins.answer_input(build_url, input_id, proceed=True)
    return build_url
