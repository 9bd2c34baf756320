"""The rollback story: put a service back on an earlier release on every target cluster.

1. resolve the target clusters and connect to each with its own credential;
2. take the deploy lock on every cluster;
3. read each cluster's release records and inventory under the lock and choose the release to
   return to (``--to REVISION``, else the last good one before the release the live objects say
   runs, whatever the newest record says); a cluster without one stops the run unwritten;
4. re-apply the chosen release's recorded objects and image digest as a new revision, wait, and
   remove the objects that only the releases being left behind added.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deployer.app import App
from deployer.errors import UsageError
from deployer.pipeline.report import RunReport
from deployer.pipeline.steps import (
    Target,
    begin,
    default_actor,
    each_target,
    holding_locks,
    interrupted,
    read_release_state,
    release_running,
    roll_back_to,
    settle_run,
    stopped,
)
from deployer.rollout.release import ReleaseRecord, rollback_target
from deployer.stopping import Interrupted


@dataclass(frozen=True)
class RollbackRequest:
    service: str
    environment: str
    to_revision: int | None = None
    clusters: tuple[str, ...] = ()
    actor: str = field(default_factory=default_actor)
    wait_for_lock: float = 0.0
    lock_lease: int = 30
    prune: bool = True
    """Remove the objects the release returned to does not have (--no-prune keeps them, recorded)."""


def rollback(request: RollbackRequest, app: App) -> RunReport:
    service, targets, run = begin("rollback", app, request.service, request.environment, request.clusters)
    if run.stopped_by is not None:
        return run
    chosen: dict[str, ReleaseRecord] = {}

    def one(target: Target) -> None:
        roll_back_to(target, chosen[target.name], service, request.environment, request.actor, app,
                     failed_revision=None, prune=request.prune)

    try:
        with holding_locks(targets, service, request.actor, request.wait_for_lock, request.lock_lease,
                           app) as renewer:
            for target in targets:
                read_release_state(target)
                chosen[target.name] = _release_to_return_to(target, service.name, request.to_revision)
            for target, r in each_target(targets, one):
                if r.failed:
                    target.report.outcome = "failed"
                    target.report.step("rollback", "failed", r.seconds, r.error.message if r.error else "")
    except Interrupted:  # while waiting for the locks: none is held, nothing written
        stopped(run, targets, [], None, "interrupted while taking the deploy locks")
        interrupted(run, app)
        return run
    settle_run(run, targets, renewer, app)
    return run


def _release_to_return_to(target: Target, service: str, to_revision: int | None) -> ReleaseRecord:
    if to_revision is not None:
        match = [r for r in target.records if r.revision == to_revision]
        if not match:
            raise UsageError(f"cluster {target.name} has no release r{to_revision} of {service}",
                             hint=f"See `deployer history {service}`.")
        return match[0]
    previous = rollback_target(target.records, release_running(target))
    if previous is None:
        raise UsageError(f"cluster {target.name}: {service} has no earlier release to roll back to",
                         hint=f"See `deployer history {service}`.")
    return previous
