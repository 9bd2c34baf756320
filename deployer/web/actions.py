"""What the page reads and runs, through the same functions and dependencies as the CLI.

``job_work`` is what `deployer deploy --dry-run`, `deployer deploy`, `deployer rollback` and
`deployer promote` run;
``overview`` is what `deployer status` reads and checks (drift included). No deploy rule lives here.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deployer.config.loader import Config
from deployer.errors import DeployerError, UsageError
from deployer.pipeline.report import RunReport
from deployer.rollout.drift import Finding
from deployer.rollout.release import ReleaseRecord
from deployer.stopping import Stop
from deployer.web.forms import JobForm, check_confirmation, needs_confirmation
from deployer.web.jobs import Progress, Work

if TYPE_CHECKING:
    from deployer.app import App


def admit(config: Config, form: JobForm) -> None:
    """Refuse a press the pipeline would refuse anyway (unknown service or environment), and one
    that changes production without the typed confirmation, before a job exists."""
    from deployer.pipeline.steps import resolve_targets

    service = config.service(form.service)
    if form.source and form.source not in service.environments:
        raise UsageError(f"service {service.name} has no environment {form.source!r}",
                         hint=f"Its environments: {', '.join(sorted(service.environments))}.")
    clusters = resolve_targets(config, service, form.environment, ())
    check_confirmation(form, needs_confirmation(form.action, form.environment, [c.environment for c in clusters]))


def job_work(config: Config, form: JobForm, actor: str, stop: Stop | None = None) -> Work:
    """The job's body: "check" is a dry-run deploy (render and preflight; nothing built or written).
    ``stop`` is the job's: the server's shutdown stops the run through it, as a signal stops the CLI's."""

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


@dataclass(frozen=True)
class ClusterState:
    cluster: str
    current: ReleaseRecord | None = None
    """The release the cluster runs for this environment (release.current)."""
    latest: ReleaseRecord | None = None
    error: str = ""
    """Why the cluster's records could not be read."""
    findings: list[Finding] = field(default_factory=list)
    """How the live objects differ from the newest record (``deployer status``)."""

    @property
    def drift(self) -> bool:
        return any(f.drift for f in self.findings)


@dataclass(frozen=True)
class EnvironmentState:
    name: str
    production: bool
    clusters: list[ClusterState] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceState:
    name: str
    environments: list[EnvironmentState] = field(default_factory=list)
    error: str = ""


def overview(app: App) -> list[ServiceState]:
    """Every service, and per environment the release each target cluster is on, read from the
    clusters and checked against their release records as `deployer status` does (services in
    parallel, each service's clusters in parallel)."""
    from deployer.pipeline.status import status

    config = app.config

    def read(name: str) -> ServiceState:
        service = config.service(name)
        try:
            found = {(s.cluster, s.environment): s for s in status(app, name)}
        except DeployerError as exc:
            return ServiceState(name, error=exc.message)
        environments = []
        for env_name, env in service.environments.items():
            clusters = []
            for cluster in env.clusters:
                mine = found.get((cluster, env_name))
                if mine is None:
                    clusters.append(ClusterState(cluster))
                elif mine.error is not None:
                    clusters.append(ClusterState(cluster, error=mine.error.message))
                else:
                    clusters.append(ClusterState(cluster, mine.current, mine.latest, findings=mine.findings))
            production = needs_confirmation("deploy", env_name, [config.clusters[c].environment for c in env.clusters
                                                                 if c in config.clusters])
            environments.append(EnvironmentState(env_name, production, clusters))
        return ServiceState(name, environments)

    names = sorted(config.services)
    if not names:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        return list(pool.map(read, names))
