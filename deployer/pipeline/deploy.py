"""The deploy story: build once, preflight everywhere, lock, apply, wait, roll back by policy, record.

Read top to bottom, ``deploy`` is what `deployer deploy SERVICE --env ENV` does:

1. resolve the target clusters of the environment and connect to each with its own credential;
2. build the image once and push it to every target cluster's registry; pin it by digest;
3. render the manifests per cluster;
4. preflight on every cluster before any write (access reviews, strict server-side dry run), so a
   missing permission or an immutable-field change stops the deploy with nothing written;
5. take the deploy lock on every cluster (a Lease naming the holder);
6. skip clusters already on this exact release; apply to the others in parallel; wait by
   kubectl's rollout rules within the service's timeout;
7. on failure apply the service's onFailure policy (roll back the failed cluster, all, or leave);
8. record a release per cluster, release the locks, and report per cluster and step.

``rollback`` reuses steps 1, 5, 6 and 8 with the objects of an earlier release record.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deployer.config.loader import Config
from deployer.config.models import Cluster, Service
from deployer.errors import DeployerError, ForbiddenError, LockedError, UsageError
from deployer.kube import access, objects, releases
from deployer.kube.client import KubeClient
from deployer.kube.resources import resource
from deployer.pipeline import locking
from deployer.pipeline.fanout import fan_out
from deployer.pipeline.report import ClusterReport, RunReport
from deployer.pipeline.waiting import wait_for
from deployer.plan.compare import changes_to_apply
from deployer.plan.keys import group_of, key_of
from deployer.polling import poll_until
from deployer.rollout import policy
from deployer.rollout.release import ReleaseRecord, current, manifest_hash, next_revision, previous_good

Progress = Callable[[str, str], None]  # (cluster or "", message)


def default_actor() -> str:
    """Who deploys: the Jenkins build URL when there is one, else user@host."""
    if os.environ.get("BUILD_URL"):
        return os.environ["BUILD_URL"]
    return f"{getpass.getuser()}@{socket.gethostname()}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class DeployRequest:
    service: str
    environment: str
    clusters: tuple[str, ...] = ()
    """Restrict to these target clusters (default: all of the environment)."""
    dry_run: bool = False
    actor: str = field(default_factory=default_actor)
    wait_for_lock: float = 0.0
    commit: str | None = None
    builder: str = "buildah"
    lock_lease: int = 30
    """Seconds the deploy lock outlives its last renewal: how long a killed deploy blocks others."""
    delete_unmanaged: bool = False
    """Delete the service from clusters that are no longer targets of the environment."""


@dataclass(frozen=True)
class RollbackRequest:
    service: str
    environment: str
    to_revision: int | None = None
    clusters: tuple[str, ...] = ()
    actor: str = field(default_factory=default_actor)
    wait_for_lock: float = 0.0
    lock_lease: int = 30


@dataclass
class Deps:
    """What the story needs from the world; the CLI and the web page build it the same way."""

    config: Config
    connect: Callable[[Cluster], KubeClient]
    publish: Callable[..., dict[str, Any]] | None = None
    connect_admin: Callable[[Cluster], KubeClient] | None = None
    """Admin clients, only for deleting what the deployer role may not (--delete-unmanaged)."""
    progress: Progress = lambda cluster, message: None
    now: Callable[[], dt.datetime] = utcnow
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    poll_interval: float = 1.0


@dataclass
class Target:
    cluster: Cluster
    client: KubeClient
    report: ClusterReport
    desired: list[dict[str, Any]] = field(default_factory=list)
    records: list[ReleaseRecord] = field(default_factory=list)
    lock: locking.HeldLock | None = None
    image: str = ""
    digest: str = ""
    wrote: bool = False
    record: ReleaseRecord | None = None


# --- helpers shared by deploy and rollback ------------------------------------------------------

def resolve_targets(config: Config, service: Service, environment: str, only: tuple[str, ...]) -> list[Cluster]:
    if environment not in service.environments:
        known = ", ".join(sorted(service.environments))
        raise UsageError(f"service {service.name} has no environment {environment!r}",
                         hint=f"Its environments: {known}.")
    names = list(service.environments[environment].clusters)
    if only:
        unknown = [c for c in only if c not in names]
        if unknown:
            raise UsageError(f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a target of "
                             f"{service.name} in {environment}", hint=f"Its targets there: {', '.join(names)}.")
        names = [n for n in names if n in only]
    return [config.cluster(n) for n in names]


def _timed(report: ClusterReport, step: str, work: Callable[[], str], clock: Callable[[], float]) -> str:
    start = clock()
    try:
        message = work()
    except DeployerError as exc:
        report.step(step, "failed", clock() - start, exc.message)
        raise
    report.step(step, "ok", clock() - start, message)
    return message


def _connect_all(deps: Deps, clusters: list[Cluster]) -> tuple[list[Target], list[ClusterReport]]:
    targets, failed = [], []
    for cluster in clusters:
        report = ClusterReport(cluster.name)
        start = deps.clock()
        try:
            client = deps.connect(cluster)
            # Authenticate now, before any work: a revoked key or a missing token is reported as
            # a credential problem, not as a failed rollout later.
            username, _groups = access.whoami(client)
        except DeployerError as exc:
            report.step("connect", "failed", deps.clock() - start, exc.message)
            report.outcome = "failed"
            report.release = "not contacted"
            report.error = exc
            failed.append(report)
            continue
        report.step("connect", "ok", deps.clock() - start, f"authenticated as {username}")
        targets.append(Target(cluster, client, report))
    return targets, failed


def _lock_all(targets: list[Target], service: Service, actor: str, wait_seconds: float, deps: Deps,
              lease_seconds: int) -> None:
    """Take the lock on every target, or none: a held lock fails the whole run, naming its holder."""
    announced: set[str] = set()
    held_by: list[tuple[Target, locking.rules.LockDecision]] = []

    def all_held() -> bool | None:
        held_by.clear()
        for target in targets:
            if target.lock is not None:
                continue
            got = locking.try_acquire(target.client, service.namespace, service.name, actor, deps.now(),
                                      lease_seconds)
            if isinstance(got, locking.HeldLock):
                target.lock = got
            else:
                held_by.append((target, got))
        if not held_by:
            return True
        for target, decision in held_by:
            if wait_seconds > 0 and target.cluster.name not in announced:
                announced.add(target.cluster.name)
                deps.progress(target.cluster.name, f"waiting for the deploy lock held by {decision.holder}")
        return None

    if poll_until(all_held, wait_seconds, interval=deps.poll_interval, clock=deps.clock, sleep=deps.sleep):
        for target in targets:
            target.report.step("lock", "ok", 0.0, f"lease {locking.lease_name(service.name)} held by {actor}")
        return
    _release_all(targets)
    target, decision = held_by[0]
    raise LockedError(
        f"cluster {target.cluster.name}: {service.name} is being deployed by {decision.holder} "
        f"(its lease expires in {decision.expires_in:.0f}s unless renewed)",
        hint="Wait for that run to finish, or pass --wait-for-lock DURATION to wait for it.")


def _release_all(targets: list[Target]) -> None:
    for target in targets:
        if target.lock is not None:
            try:
                target.lock.release()
            except DeployerError:
                pass  # it expires by itself within the lease duration
            target.lock = None


def _apply_and_wait(target: Target, objs: list[dict[str, Any]], timeout: float, deps: Deps, step: str) -> str:
    """Apply ``objs`` in order and wait for them; raises RolloutFailure when the wait fails."""
    name = target.cluster.name
    applied: list[tuple[dict[str, Any], int | None]] = []
    start = deps.clock()
    try:
        for obj in objs:
            live = objects.apply(target.client, obj)
            target.wrote = True
            applied.append((obj, (live.get("metadata") or {}).get("generation")))
    except DeployerError as exc:
        target.report.step(f"{step}:apply", "failed", deps.clock() - start, exc.message)
        raise RolloutFailure(exc.message) from exc
    target.report.step(f"{step}:apply", "ok", deps.clock() - start, f"{len(objs)} objects applied")
    start = deps.clock()
    try:
        result = wait_for(target.client, applied, timeout, progress=lambda m: deps.progress(name, m),
                          clock=deps.clock, sleep=deps.sleep, interval=deps.poll_interval)
    except DeployerError as exc:
        target.report.step(f"{step}:wait", "failed", deps.clock() - start, exc.message)
        raise RolloutFailure(exc.message) from exc
    target.report.step(f"{step}:wait", "ok" if result.done else "failed", deps.clock() - start, result.message)
    if not result.done:
        raise RolloutFailure(result.message)
    return result.message


def _stopped(run: RunReport, failed: list[Target], error: DeployerError | None, why: str) -> RunReport:
    """End a run before any write: every cluster stays on the release it had, and the exit code is
    the cause's own (credentials, API rejection, ...)."""
    for target in failed:
        target.report.outcome = "failed"
    for report in run.clusters:
        if not report.release:
            report.release = f"unchanged, on {_release_label(current(_records_of(report, failed)))}"
    run.notes.append(f"{why}; the deploy stopped before writing to any cluster")
    run.stopped_by = error.exit_code if error is not None else None
    return run


def _records_of(report: ClusterReport, targets: list[Target]) -> list[ReleaseRecord]:
    return next((t.records for t in targets if t.report is report), [])


def _settle(target: Target, namespace: str, record: ReleaseRecord, outcome: str, message: str) -> None:
    """Write the final outcome of ``record`` to the cluster and remember it for this run."""
    final = record.with_outcome(outcome, message)  # type: ignore[arg-type]
    releases.write_record(target.client, namespace, final)
    target.records = [r for r in target.records if r.revision != record.revision] + [final]


class RolloutFailure(Exception):
    pass


def _release_label(record: ReleaseRecord | None) -> str:
    return f"r{record.revision}" if record else "no release"


# --- deploy -------------------------------------------------------------------------------------

def render_for(config: Config, service: Service, environment: str, cluster: Cluster, image: str
               ) -> list[dict[str, Any]]:
    from deployer.render.templates import render_templates

    env = service.environments[environment]
    context = {
        "service": {"name": service.name, "namespace": service.namespace},
        "values": {**service.values, **env.values},
        "image": image,
        "environment": environment,
        "cluster": {"name": cluster.name, "provider": cluster.provider, "environment": cluster.environment,
                    "labels": dict(cluster.labels)},
    }
    folder = config.service_files[service.name].parent / service.manifests
    rendered = render_templates(folder, context)
    for obj in rendered:
        meta = obj.setdefault("metadata", {})
        if meta.get("namespace", service.namespace) != service.namespace:
            raise UsageError(f"service {service.name}: {key_of(obj)} is outside the service's namespace "
                             f"{service.namespace}", hint="A service's manifests live in its own namespace.")
        if key_of(obj).namespace == "" and obj["kind"] != "Namespace":
            meta["namespace"] = service.namespace
        meta.setdefault("labels", {}).update({"app.kubernetes.io/managed-by": "deployer",
                                              "deployer.io/service": service.name})
    return rendered


def _preflight(target: Target, service: Service) -> str:
    """Every planned verb is allowed, and every object passes a strict server-side dry run."""
    client, ns = target.client, service.namespace
    needed: set[tuple[str, str, str]] = {("", "configmaps", v) for v in ("get", "list", "create", "patch")}
    needed |= {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")}
    for obj in target.desired:
        res = resource(client, obj["apiVersion"], obj["kind"])
        for verb in ("get", "create", "patch"):
            needed.add((group_of(res.api_version), res.plural, verb))
    missing = [f"{verb} {plural}{'.' + group if group else ''}" for group, plural, verb in sorted(needed)
               if not access.can(client, ns, group, plural, verb)]
    if missing:
        raise ForbiddenError(f"cluster {target.cluster.name}: {client.identity} may not "
                             f"{', '.join(missing)} in namespace {ns}",
                             hint=f"Grant the chart's deployer role in {ns} (cluster file access), then "
                                  "`deployer cluster sync`; `deployer cluster verify` shows what it can do.")
    for obj in target.desired:
        objects.apply(client, obj, force=True, dry_run=True, strict=True)
    return f"{len(target.desired)} objects pass a strict server-side dry run; all {len(needed)} verbs allowed"


def _is_current(target: Target, mhash: str) -> bool:
    """The cluster already runs exactly this release: same manifests, same digest, and live objects
    match with every workload ready. Only then is it skipped with no writes."""
    from deployer.rollout.readiness import readiness

    now = current(target.records)
    if now is None or now.manifest_hash != mhash:
        return False
    for obj in target.desired:
        live = objects.get(target.client, key_of(obj), obj["apiVersion"])
        if live is None or changes_to_apply(obj, live) or not readiness(live).done:
            return False
    return True


def _begin(action: str, request: DeployRequest | RollbackRequest, deps: Deps
           ) -> tuple[Service, list[Target], RunReport]:
    """Resolve the targets and connect to each, authenticated; the run stops here (nothing
    written) if any cluster cannot be reached."""
    service = deps.config.service(request.service)
    clusters = resolve_targets(deps.config, service, request.environment, request.clusters)
    targets, unreachable = _connect_all(deps, clusters)
    run = RunReport(action, service.name, request.environment, [t.report for t in targets] + unreachable,
                    dry_run=getattr(request, "dry_run", False))
    if unreachable:
        _stopped(run, targets, unreachable[0].error, "a cluster could not be contacted")
    return service, targets, run


def deploy(request: DeployRequest, deps: Deps) -> RunReport:
    config = deps.config
    service, targets, run = _begin("deploy", request, deps)
    if run.stopped_by is not None:
        return run

    # 2. image: built once, pushed to every target registry, pinned by digest
    if deps.publish is None:
        raise UsageError("no image publisher configured")
    published = deps.publish(service, [t.cluster for t in targets], request)
    for target in targets:
        item = published[target.cluster.name]
        target.image, target.digest = item.pinned, item.digest
        target.report.image = item.pinned
        target.report.step("image", "ok", 0.0, f"{item.tagged} {item.how} ({item.digest})")

    # 3-4. render and preflight everywhere before any write
    def prepare(name: str) -> str:
        target = next(t for t in targets if t.cluster.name == name)

        def check() -> str:
            target.desired = render_for(config, service, request.environment, target.cluster, target.image)
            target.records = releases.read_records(target.client, service.namespace, service.name)
            return _preflight(target, service)

        return _timed(target.report, "preflight", check, deps.clock)

    preflight = fan_out([t.cluster.name for t in targets], prepare)
    failed = [r for r in preflight if r.failed]
    for r in failed:
        report = next(t.report for t in targets if t.cluster.name == r.cluster)
        if not any(s.status == "failed" for s in report.steps) and r.error is not None:
            report.step("preflight", "failed", r.seconds, r.error.message)
    if failed:
        failed_names = {r.cluster for r in failed}
        for target in targets:
            if target.cluster.name not in failed_names:
                target.report.outcome = "skipped"
        return _stopped(run, [t for t in targets if t.cluster.name in failed_names], failed[0].error,
                        "preflight failed")
    if request.dry_run:
        for target in targets:
            target.report.outcome = "unchanged"
            target.report.release = f"on {_release_label(current(target.records))}; dry run, nothing written"
        return run

    # 5. lock every cluster, then apply, wait and record under the locks
    _lock_all(targets, service, request.actor, request.wait_for_lock, deps, request.lock_lease)
    try:
        with locking.Renewer([t.lock for t in targets if t.lock], deps.now, request.lock_lease / 3) as renewer:
            _rollout(targets, service, request, deps)
        if renewer.errors:
            run.notes.append(f"lease renewal failed {len(renewer.errors)} time(s): {renewer.errors[0]}")
    finally:
        _release_all(targets)
    run.notes += _unmanaged_notes(config, service, request.environment, [t.cluster.name for t in targets], deps,
                                  request.delete_unmanaged)
    return run


def _rollout(targets: list[Target], service: Service, request: DeployRequest, deps: Deps) -> None:
    timeout = float(service.rollout.timeout)

    def one(name: str) -> str:
        target = next(t for t in targets if t.cluster.name == name)
        mhash = manifest_hash(target.desired)
        if _is_current(target, mhash):
            target.report.outcome = "unchanged"
            target.report.revision = current(target.records).revision  # type: ignore[union-attr]
            target.report.release = f"already on {_release_label(current(target.records))}; nothing to change"
            target.report.step("apply", "unchanged", 0.0, "cluster already runs this release")
            return "unchanged"
        record = ReleaseRecord(service.name, name, request.environment, next_revision(target.records), target.image,
                               target.digest, mhash, request.actor, deps.now().isoformat(), "in-progress",
                               objects=target.desired)
        releases.write_record(target.client, service.namespace, record)
        target.record = record
        target.report.revision = record.revision
        try:
            message = _apply_and_wait(target, target.desired, timeout, deps, "deploy")
        except RolloutFailure as exc:
            _settle(target, service.namespace, record, "failed", str(exc))
            target.report.outcome = "failed"
            target.report.release = f"on the new release r{record.revision}, which failed"
            return "failed"
        _settle(target, service.namespace, record, "succeeded", message)
        target.report.outcome = "succeeded"
        target.report.release = f"on the new release r{record.revision}"
        return "succeeded"

    runs = fan_out([t.cluster.name for t in targets], one)
    outcomes: dict[str, policy.Outcome] = {}
    for r, target in zip(runs, targets, strict=True):
        if r.failed:  # a bug or an error outside apply/wait: report it on the cluster
            target.report.outcome = "failed"
            target.report.step("deploy", "failed", r.seconds, r.error.message if r.error else "")
            outcomes[r.cluster] = "failed"
        else:
            outcomes[r.cluster] = r.result  # type: ignore[assignment]

    decision = policy.decide(service.rollout.on_failure, outcomes, {t.cluster.name: t.wrote for t in targets},
                             {t.cluster.name: previous_good(t.records, t.record.revision if t.record else 10**9)
                              is not None for t in targets})
    if not decision.roll_back:
        for name, reason in decision.reasons.items():
            if outcomes.get(name) == "failed":
                target = next(t for t in targets if t.cluster.name == name)
                target.report.release += f"; {reason}"
        return

    def back(name: str) -> str:
        target = next(t for t in targets if t.cluster.name == name)
        failed_revision = target.record.revision if target.record else 10**9
        previous = previous_good(target.records, failed_revision)
        assert previous is not None
        _roll_back_to(target, previous, service, request.environment, request.actor, deps, step="rollback",
                      rolled_back=failed_revision)
        return "rolled-back"

    for r in fan_out(list(decision.roll_back), back):
        if r.failed:
            target = next(t for t in targets if t.cluster.name == r.cluster)
            target.report.outcome = "failed"
            target.report.release = f"rollback failed: {r.error.message if r.error else ''}; cluster state unknown"


def _roll_back_to(target: Target, previous: ReleaseRecord, service: Service, environment: str, actor: str,
                  deps: Deps, *, step: str, rolled_back: int | None) -> None:
    """Re-apply ``previous``'s objects as a new revision; mark the rolled-back revision."""
    name = target.cluster.name
    deps.progress(name, f"rolling back to r{previous.revision} ({previous.digest})")
    record = ReleaseRecord(service.name, name, environment, next_revision(target.records), previous.image,
                           previous.digest, previous.manifest_hash, actor, deps.now().isoformat(), "in-progress",
                           rollback_of=previous.revision, objects=previous.objects)
    releases.write_record(target.client, service.namespace, record)
    try:
        message = _apply_and_wait(target, previous.objects, float(service.rollout.timeout), deps, step)
    except RolloutFailure as exc:
        _settle(target, service.namespace, record, "failed", str(exc))
        target.report.outcome = "failed"
        target.report.release = f"rollback to r{previous.revision} failed: {exc}"
        return
    _settle(target, service.namespace, record, "succeeded", message)
    if rolled_back is not None:
        failed = next(r for r in target.records if r.revision == rolled_back)
        _settle(target, service.namespace, failed, "rolled-back", failed.message or "rolled back")
        target.report.outcome = "rolled-back"
        target.report.release = f"back on r{previous.revision}'s release as r{record.revision} " \
                                f"(r{rolled_back} failed)"
    else:
        target.report.outcome = "succeeded"
        target.report.release = f"back on r{previous.revision}'s release as r{record.revision}"
    target.report.revision = record.revision
    target.report.image = previous.image


def _unmanaged_notes(config: Config, service: Service, environment: str, targets: list[str], deps: Deps,
                     delete: bool) -> list[str]:
    """Clusters that still run this service for this environment but are no longer its targets.

    They are left running and named, unless ``delete`` (--delete-unmanaged) asks for their
    objects to be deleted; that uses the cluster's admin credential, since the deployer role
    never deletes.
    """
    notes = []
    for name, cluster in sorted(config.clusters.items()):
        if name in targets or service.namespace not in cluster.namespace_names:
            continue
        try:
            client = deps.connect(cluster)
            found = [r for r in releases.read_records(client, service.namespace, service.name)
                     if r.environment == environment]
        except DeployerError:
            continue  # a cluster we cannot read is not evidence of anything
        now = current(found)
        if now is None:
            continue
        if not delete:
            notes.append(f"cluster {name} still runs {service.name} ({environment} r{now.revision}) but is no "
                         f"longer a target of {environment}: that copy is now unmanaged and left running; "
                         "deploy with --delete-unmanaged to delete it")
            continue
        admin = (deps.connect_admin or deps.connect)(cluster)
        deleted = [str(key_of(obj)) for obj in reversed(now.objects)
                   if objects.delete(admin, key_of(obj), obj["apiVersion"])]
        releases.write_record(client, service.namespace, now.with_outcome(
            "removed", f"deleted by {deps.now().isoformat()} deploy: no longer a target of {environment}"))
        notes.append(f"cluster {name}: deleted the unmanaged copy of {service.name} (r{now.revision}): "
                     f"{', '.join(deleted) or 'nothing was left'}")
    return notes


# --- rollback -----------------------------------------------------------------------------------

def rollback(request: RollbackRequest, deps: Deps) -> RunReport:
    service, targets, run = _begin("rollback", request, deps)
    if run.stopped_by is not None:
        return run
    for target in targets:
        target.records = [r for r in releases.read_records(target.client, service.namespace, service.name)
                          if r.environment == request.environment]
    chosen: dict[str, ReleaseRecord] = {}
    for target in targets:
        now = current(target.records)
        if request.to_revision is not None:
            match = [r for r in target.records if r.revision == request.to_revision]
            if not match:
                raise UsageError(f"cluster {target.cluster.name} has no release r{request.to_revision} of "
                                 f"{service.name}", hint=f"See `deployer history {service.name}`.")
            chosen[target.cluster.name] = match[0]
        else:
            previous = previous_good(target.records, now.revision) if now else None
            if previous is None:
                raise UsageError(f"cluster {target.cluster.name}: {service.name} has no earlier release to roll "
                                 "back to", hint=f"See `deployer history {service.name}`.")
            chosen[target.cluster.name] = previous
    _lock_all(targets, service, request.actor, request.wait_for_lock, deps, request.lock_lease)
    try:
        with locking.Renewer([t.lock for t in targets if t.lock], deps.now, request.lock_lease / 3):
            def one(name: str) -> str:
                target = next(t for t in targets if t.cluster.name == name)
                _roll_back_to(target, chosen[name], service, request.environment, request.actor, deps,
                              step="rollback", rolled_back=None)
                return target.report.outcome

            for r, target in zip(fan_out([t.cluster.name for t in targets], one), targets, strict=True):
                if r.failed:
                    target.report.outcome = "failed"
                    target.report.step("rollback", "failed", r.seconds, r.error.message if r.error else "")
    finally:
        _release_all(targets)
    return run


# --- history and status -------------------------------------------------------------------------

def history(config: Config, service_name: str, environment: str | None, connect: Callable[[Cluster], KubeClient]
            ) -> dict[str, list[ReleaseRecord] | str]:
    service = config.service(service_name)
    names = sorted({c for env, e in service.environments.items() if environment in (None, env) for c in e.clusters})
    out: dict[str, list[ReleaseRecord] | str] = {}

    def read(name: str) -> list[ReleaseRecord]:
        found = releases.read_records(connect(config.cluster(name)), service.namespace, service.name)
        return [r for r in found if environment in (None, r.environment)]

    for r in fan_out(names, read):
        out[r.cluster] = r.error.message if r.error else r.result  # type: ignore[assignment]
    return out
