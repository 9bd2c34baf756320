"""What the page reads and runs, through the same functions and dependencies as the CLI.

``job_work`` is what `deployer deploy --dry-run`, `deployer deploy`, `deployer rollback` and
`deployer promote` run. No deploy rule lives here; what the pages read is in deployer.web.views.
"""

from __future__ import annotations

from deployer.config.loader import Config
from deployer.errors import UsageError
from deployer.pipeline.report import RunReport
from deployer.stopping import Stop
from deployer.web.forms import JobForm, check_confirmation, needs_confirmation
from deployer.web.jobs import Progress, Work


def admit(config: Config, form: JobForm) -> None:
    """Refuse a press the pipeline would refuse anyway (unknown service or environment), and one
    that changes production without the typed confirmation, before a job exists."""
    from deployer.pipeline.steps import resolve_targets

    service = config.service(form.service)
    if form.source and form.source not in service.environments:
        raise UsageError(f"service {service.name} has no environment {form.source!r}",
                         hint=f"Its environments: {', '.join(sorted(service.environments))}.")
    if service.executor == "jenkins":  # a press the service's Jenkins pipeline has no build for
        from deployer.web.jenkins_work import jenkins_parameters

        jenkins_parameters(form, "")
    clusters = resolve_targets(config, service, form.environment, ())
    check_confirmation(form, needs_confirmation(form.action, form.environment, [c.environment for c in clusters]))


def job_work(config: Config, form: JobForm, actor: str, stop: Stop | None = None, *, job_id: str = "") -> Work:
    """The job's body: "check" is a dry-run deploy (render and preflight; nothing built or written).
    ``stop`` is the job's: the server's shutdown stops the run through it, as a signal stops the CLI's.
    A service with ``executor: jenkins`` runs as a build of its Jenkins job instead (deployer.web.jenkins_work)."""
    if config.service(form.service).executor == "jenkins":
        from deployer.web.jenkins_work import jenkins_work

        return jenkins_work(config, form, actor, job_id, stop)

    def work(progress: Progress) -> RunReport:
        from deployer.app import App
        from deployer.pipeline.deploy import DeployRequest, deploy
        from deployer.pipeline.promote import PromoteRequest, promote
        from deployer.pipeline.rollback import RollbackRequest, rollback
        from deployer.web.waves import current_sink

        with App(config, progress=progress, stop=stop) as app:
            if form.action == "promote":
                return promote(PromoteRequest(form.service, form.source, form.environment, actor=actor,
                                              on_wave=current_sink()), app)
            if form.action == "rollback":
                return rollback(RollbackRequest(form.service, form.environment, form.revision, actor=actor), app)
            return deploy(DeployRequest(form.service, form.environment, dry_run=form.action == "check",
                                        actor=actor, on_wave=current_sink()), app)

    return work
