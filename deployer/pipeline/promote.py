"""The promote story: ship to one environment exactly the build another one runs, never a rebuild.

Read top to bottom, ``promote`` is what `deployer promote SERVICE --from staging --to production` does:

1. read the source environment's release records from every one of its clusters (each with its own
   credential) and choose the release it runs: its newest release succeeded on every cluster, with
   one digest everywhere (``deployer.rollout.promotion.promotable``), or the promotion is refused
   with nothing written;
2. deploy that digest and commit to the target environment with the deploy story itself
   (``deployer.pipeline.deploy``): the image copied by digest into each target cluster's registry,
   then preflight, lock, apply, wait, the failure policy and the records, each of which notes the
   source environment and revisions it was promoted from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deployer.app import App
from deployer.config.models import Service
from deployer.errors import UsageError
from deployer.pipeline.deploy import DeployRequest, deploy
from deployer.pipeline.promote_from import source_records
from deployer.pipeline.report import RunReport
from deployer.pipeline.steps import default_actor
from deployer.pipeline.waves import OnWave
from deployer.rollout.promotion import Promotion, promotable


@dataclass(frozen=True)
class PromoteRequest:
    service: str
    source: str
    """The environment whose running release is promoted (--from)."""
    environment: str
    """The environment it is deployed to (--to)."""
    clusters: tuple[str, ...] = ()
    """Restrict to these target clusters (default: all of the target environment)."""
    dry_run: bool = False
    actor: str = field(default_factory=default_actor)
    wait_for_lock: float = 0.0
    lock_lease: int = 30
    commit: str | None = None
    """The commit the source must be running (Jenkins passes its own): refused if it runs another."""
    on_wave: OnWave | None = None
    """Called with each wave's progress, as ``DeployRequest.on_wave`` (the page's live waves)."""


def promote(request: PromoteRequest, app: App) -> RunReport:
    service = app.config.service(request.service)
    check_environments(service, request.source, request.environment)
    chosen = chosen_release(app, service, request.source, request.environment)
    if request.commit and chosen.commit != request.commit:
        raise UsageError(f"{request.source} runs {service.name} at commit {chosen.commit or 'unknown'}, not "
                         f"{request.commit}: another deploy reached {request.source} since; nothing was promoted",
                         hint=f"Promote what {request.source} runs now (without --commit), or deploy {request.commit} "
                              f"to {request.source} again first.")
    app.progress("", f"promoting {chosen.describe()} to {request.environment}")
    run = deploy(DeployRequest(service.name, request.environment, request.clusters, request.dry_run, request.actor,
                               request.wait_for_lock, lock_lease=request.lock_lease, promotion=chosen,
                               on_wave=request.on_wave), app)
    run.action = "promote"
    run.notes.insert(0, f"promoted {chosen.describe()}")
    return run


def check_environments(service: Service, source: str, target: str) -> None:
    """Refuse a promotion between environments the service does not have, to itself, or from another
    environment than the target's ``promoteFrom``."""
    for environment in (source, target):
        if environment not in service.environments:
            raise UsageError(f"service {service.name} has no environment {environment!r}",
                             hint=f"Its environments: {', '.join(sorted(service.environments))}.")
    if source == target:
        raise UsageError(f"cannot promote {service.name} from {source} to itself",
                         hint="Name two different environments: --from staging --to production.")
    wanted = service.environments[target].promote_from
    if wanted not in (None, source):
        raise UsageError(f"{target} of {service.name} is promoted from {wanted}, not {source}",
                         hint=f"`deployer promote {service.name} --from {wanted} --to {target}`.")


def chosen_release(app: App, service: Service, source: str, target: str) -> Promotion:
    """What `deployer promote --from SOURCE --to TARGET` ships now (the page's promote preview shows
    the same): ``promotable`` over the source environment's records, read from its clusters."""
    return promotable(service.name, source, target, source_records(app, service, source))
