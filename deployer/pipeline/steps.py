"""The steps deploy and rollback share, each on the ``Target``s of one run:

- ``begin``: resolve the environment's target clusters and connect to each, authenticated (the
  run stops, with nothing written, if one cannot be reached);
- ``holding_locks``: the deploy lock on every target or none, renewed while the work runs;
- ``read_release_state``: the environment's records and inventory, read under the locks;
- ``begin_record``: create a release record (never overwriting another run's);
- ``apply_release``: record intent in the inventory, apply objects in order stamped with their
  revision, wait by kubectl's rollout rules, then prune what the release no longer declares;
- ``settle``: write a release record's final outcome;
- ``roll_back_to``: re-apply an earlier release as a new revision (removing what it lacks);
- ``stopped``: how a run that ends before any write is reported.

Each step records what happened on the target's ``ClusterReport`` (steps and ``EndState``);
``deployer.pipeline.report`` turns that into words.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from deployer.app import App, utcnow
from deployer.config.loader import Config
from deployer.config.models import Cluster, Service
from deployer.errors import DeployerError, LockedError, UsageError
from deployer.kube import access, objects, releases
from deployer.kube.client import KubeClient
from deployer.kube.inventory import InventoryRef, StoredInventory, read_inventory, write_inventory
from deployer.kube.resources import forget_discovery, resource
from deployer.pipeline import locking, news
from deployer.pipeline.fanout import ClusterRun, fan_out
from deployer.pipeline.report import ClusterReport, End, EndState, RunReport
from deployer.pipeline.waiting import wait_for
from deployer.plan.inventory import Inventory
from deployer.plan.keys import ObjectKey, group_of, key_of
from deployer.plan.ownership import Owner, removals, running_revision, stamped
from deployer.plan.phases import DEFINITION, DEFINITIONS, PRE_DEPLOY, RELEASE, phases
from deployer.polling import poll_until
from deployer.rollout.lock import LockDecision, holder_of
from deployer.rollout.release import Outcome, ReleaseRecord, current, next_revision
from deployer.stopping import Stop, WriteKind

T = TypeVar("T")


def default_actor() -> str:
    """Who deploys: the Jenkins build URL when there is one, else user@host."""
    if os.environ.get("BUILD_URL"):
        return os.environ["BUILD_URL"]
    return f"{getpass.getuser()}@{socket.gethostname()}"


@dataclass
class Target:
    """One target cluster of a run: its client, its report, and what the run learnt about it."""

    cluster: Cluster
    client: KubeClient
    report: ClusterReport
    owner: Owner
    """The release identity: service and environment in the environment's namespace."""
    desired: list[dict[str, Any]] = field(default_factory=list)
    records: list[ReleaseRecord] = field(default_factory=list)
    inventory: StoredInventory = field(default_factory=lambda: StoredInventory(None))
    """The environment's inventory on this cluster, as last read or written by this run."""
    uids: dict[ObjectKey, str] = field(default_factory=dict)
    """The uid of every object this run applied."""
    lock: locking.HeldLock | None = None
    image: str = ""
    digest: str = ""
    images: dict[str, str] = field(default_factory=dict)
    """Every image of the release by name, pinned for this cluster (``ReleaseRecord.images``)."""
    wrote: bool = False
    """Whether an object of the release reached the cluster (its pre-deploy objects do not count:
    a failed pre-deploy phase leaves the cluster on the release before)."""
    pre_deployed: bool = False
    """Whether a pre-deploy object (a migration Job) of the release was applied."""
    record: ReleaseRecord | None = None
    """The release record this run wrote for the new release."""
    stop: Stop = field(default_factory=Stop)
    """This cluster's part of the run's ``App.stop``: also abandoned on its own when its lock is lost."""
    admin_kinds: dict[tuple[str, str], bool] = field(default_factory=dict)
    """(apiVersion, kind) of cluster-scoped kinds -> whether the admin credential writes them."""
    now: Callable[[], dt.datetime] = utcnow
    """The run's clock (``App.now``): when a record's outcome is settled."""

    @property
    def name(self) -> str:
        return self.cluster.name

    @property
    def namespace(self) -> str:
        return self.owner.namespace

    @property
    def inventory_ref(self) -> InventoryRef:
        return InventoryRef(self.owner.inventory_name, self.owner.namespace)


def each_target(targets: list[Target], work: Callable[[Target], T]) -> list[tuple[Target, ClusterRun[T]]]:
    """``work`` on every target at once (``fan_out``), each result with its target."""
    return list(zip(targets, fan_out(targets, work, name=lambda target: target.name), strict=True))


class RolloutFailure(Exception):
    """Applying or waiting failed on one cluster: the failure policy decides what happens next."""


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


def timed(report: ClusterReport, step: str, work: Callable[[], str], clock: Callable[[], float]) -> str:
    """Run ``work`` as ``step`` of ``report``: its time, and its message or error."""
    start = clock()
    try:
        message = work()
    except DeployerError as exc:
        report.step(step, "failed", clock() - start, exc.message)
        raise
    except Exception as exc:
        # A bug (fan_out reports it as an internal error): the step still says where it happened
        # and what it was, or the report would show a failed cluster with no failed step.
        report.step(step, "failed", clock() - start, f"internal error: {type(exc).__name__}: {exc}")
        raise
    report.step(step, "ok", clock() - start, message)
    return message


def begin(action: str, app: App, service_name: str, environment: str, only: tuple[str, ...], *,
          dry_run: bool = False) -> tuple[Service, list[Target], RunReport]:
    """Resolve the targets and connect to each, authenticated; the run stops here (nothing
    written) if any cluster cannot be reached."""
    service = app.config.service(service_name)
    clusters = resolve_targets(app.config, service, environment, only)
    targets, unreachable = _connect_all(app, clusters, Owner(service.name, environment,
                                                             service.namespace_of(environment),
                                                             service.allowed_namespaces(environment),
                                                             service.allowed_cluster_scoped(environment)))
    run = RunReport(action, service.name, environment, [t.report for t in targets] + unreachable, dry_run=dry_run)
    if unreachable:
        stopped(run, targets, targets, unreachable[0].error, "a cluster could not be contacted")
    return service, targets, run


def _connect_all(app: App, clusters: list[Cluster], owner: Owner) -> tuple[list[Target], list[ClusterReport]]:
    targets, failed = [], []
    for cluster in clusters:
        report = ClusterReport(cluster.name)
        start = app.clock()
        try:
            client = app.client(cluster)
            # Authenticate now, before any work: a revoked key or a missing token is reported as
            # a credential problem, not as a failed rollout later.
            username, _groups = access.whoami(client)
        except DeployerError as exc:
            report.step("connect", "failed", app.clock() - start, exc.message)
            report.outcome = "failed"
            report.end = EndState(End.NOT_CONTACTED)
            report.error = exc
            failed.append(report)
            continue
        report.step("connect", "ok", app.clock() - start, f"authenticated as {username}")
        targets.append(Target(cluster, client, report, owner, stop=Stop(parent=app.stop, clock=app.clock),
                              now=app.now))
    return targets, failed


def stopped(run: RunReport, targets: list[Target], failed: list[Target], error: DeployerError | None,
            why: str) -> RunReport:
    """End a run before any write: every cluster stays on the release it had, and the exit code is
    the cause's own (credentials, API rejection, ...)."""
    for target in failed:
        target.report.outcome = "failed"
    for target in targets:
        if target.report.end is None:
            now = current(target.records)
            target.report.end = EndState(End.UNCHANGED, now.revision if now else None)
    run.notes.append(f"{why}; the deploy stopped before writing to any cluster")
    run.stopped_by = error.exit_code if error is not None else None
    return run


# --- the deploy lock ----------------------------------------------------------------------------

@contextmanager
def holding_locks(targets: list[Target], service: Service, actor: str, wait_seconds: float, lease_seconds: int,
                  app: App) -> Iterator[locking.Renewer]:
    """The deploy lock on every target while the block runs, renewed in the background; released
    afterwards whatever happens (a killed run's lease expires by itself)."""
    _lock_all(targets, service, actor, wait_seconds, lease_seconds, app)
    try:
        with locking.Renewer([(t.lock, t.stop) for t in targets if t.lock], app.now, lease_seconds / 3,
                             app.clock) as renewer:
            yield renewer
    finally:
        # Reached only once the block has returned, and with it every worker thread it started
        # (fan_out joins them): a lock is never released while one of this run's workers can write.
        _release_all(targets)


def _lock_all(targets: list[Target], service: Service, actor: str, wait_seconds: float, lease_seconds: int,
              app: App) -> None:
    """Take the lock on every target, or none: a held lock fails the whole run, naming its holder."""
    announced: set[str] = set()
    held_by: list[tuple[Target, LockDecision]] = []
    holder = holder_of(actor, app.run_id)
    candidates = {t.name: locking.Candidate(t.client, t.namespace, service.name, holder, lease_seconds, app.clock)
                  for t in targets}

    def all_held() -> bool | None:
        held_by.clear()
        for target in targets:
            if target.lock is not None:
                # Held while another cluster's lock is waited for: renewed as the Renewer would,
                # or it would lapse (and count as lost) before the run even starts.
                if target.lock.renewed_at is None or app.clock() - target.lock.renewed_at >= lease_seconds / 3:
                    target.lock.renew(app.now(), app.clock())
                continue
            got = candidates[target.name].try_acquire(app.now())
            if isinstance(got, locking.HeldLock):
                target.lock = got
                if got.taken_from:
                    app.progress(target.name, f"took over the deploy lock from {got.taken_from}: this run "
                                              "watched it go unrenewed for its whole lease duration")
            else:
                held_by.append((target, got))
        if not held_by:
            return True
        for target, decision in held_by:
            if wait_seconds > 0 and target.name not in announced:
                announced.add(target.name)
                app.progress(target.name, f"waiting for the deploy lock held by {decision.holder}")
        return None

    waited_from = app.clock()  # the lock step's seconds: how long this run waited (a metric)
    try:
        got_all = poll_until(all_held, wait_seconds, interval=app.poll_interval, clock=app.clock, sleep=app.sleep,
                             cancelled=lambda: app.stop.stopping())
        if not got_all:
            app.stop.check("new", f"{service.name}: taking the deploy locks")
    except BaseException:
        _release_all(targets)  # a cluster failing part-way must not keep the others' locks taken so far
        raise
    if got_all:
        for target in targets:
            target.report.step("lock", "ok", app.clock() - waited_from,
                               f"lease {locking.lease_name(service.name)} held by {holder}")
        return
    _release_all(targets)
    target, decision = held_by[0]
    raise LockedError(
        f"cluster {target.name}: {service.name} is being deployed by {decision.holder} "
        f"(taken over only after it stays unrenewed for {decision.expires_in:.0f}s more)",
        hint="Wait for that run to finish, or pass --wait-for-lock DURATION to wait for it.")


def _release_all(targets: list[Target]) -> None:
    for target in targets:
        if target.lock is not None:
            try:
                target.lock.release()
            except DeployerError:
                pass  # it expires by itself within the lease duration
            target.lock = None


def renewal_notes(renewer: locking.Renewer) -> list[str]:
    if not renewer.errors:
        return []
    return [f"lease renewal failed {len(renewer.errors)} time(s): {renewer.errors[0]}"]


def settle_run(run: RunReport, targets: list[Target], renewer: locking.Renewer, app: App) -> None:
    """After the locks are released: a cluster whose lock was lost is failed, whatever it reached
    (someone else may have written there since); a stopped run says by what, for its exit code."""
    run.notes += renewal_notes(renewer)
    for target in targets:
        why = renewer.lost.get(target.name)
        if why is None:
            continue
        target.report.outcome = "failed"
        target.report.step("lock", "failed", 0.0, f"{why}; writes there stopped")
        if target.report.end is not None and target.report.end.kind in (End.NEW, End.CURRENT):
            target.report.end = EndState(End.UNKNOWN, reason=f"{why}; another run may have written since")
    interrupted(run, app)


def interrupted(run: RunReport, app: App) -> None:
    """Mark ``run`` stopped by a signal, when it was: its exit code becomes 130 or 143."""
    reason = app.stop.reason
    if reason is not None and run.interrupted is None:
        run.interrupted = reason.cause
        run.interrupt_code = reason.exit_code
        run.notes.append(f"{app.stop.describe()}: no new-release write after it; onFailure applied within the "
                         "grace period; records settled; locks released after every worker stopped")


# --- applying, waiting, recording ---------------------------------------------------------------

def read_release_state(target: Target) -> None:
    """The environment's records and inventory on the target: read with the lock held, so what
    the run numbers and prunes from is what no other deploy can change meanwhile."""
    target.records = releases.read_records(target.client, target.namespace, target.owner.service,
                                           target.owner.environment)
    target.inventory = read_inventory(target.client, target.inventory_ref)
    _mark_abandoned(target)


def _mark_abandoned(target: Target) -> None:
    """A record still in progress under our lock was left by a run that no longer holds it (killed,
    or its lock lost): nothing else will ever settle it, so history says "abandoned" instead of
    "in progress" forever."""
    for record in [r for r in target.records if r.outcome == "in-progress"]:
        if target.stop.stopping():
            return
        settle(target, record, "abandoned", (record.message + "; " if record.message else "") +
               "left in progress by a run that stopped without settling it; marked abandoned by the next run "
               "to hold the deploy lock")


def apply_release(target: Target, objs: list[dict[str, Any]], revision: int, timeout: float, app: App, step: str,
                  *, prune: bool) -> str:
    """Make the target run ``objs`` as ``revision``: the inventory first gains every object about
    to be created (so a killed run never leaves one unrecorded), then apply and wait; once the
    release is up, the objects the inventory holds beyond ``objs`` are pruned (unless ``prune`` is
    off: then they stay recorded, for a later release to prune). Raises RolloutFailure."""
    before = target.inventory.inventory or Inventory(target.owner.inventory_name)
    wanted = [(key_of(obj), str(obj["apiVersion"])) for obj in objs]
    during = Inventory.of(before.name, list(before.entries) + wanted, dict(before.uids))
    kind = write_kind(step)
    try:
        if during != before or target.inventory.inventory is None:
            _store_inventory(target, during, kind)
    except DeployerError as exc:
        target.report.step(f"{step}:apply", "failed", 0.0, exc.message)
        raise RolloutFailure(exc.message) from exc
    message = apply_and_wait(target, [stamped(obj, revision) for obj in objs], timeout, app, step)
    keep = {key for key, _ in wanted}
    left = _prune(target, keep, app, step) if prune and not target.stop.cancelled(kind) else list(during.entries)
    entries = wanted + [(key, api_version) for key, api_version in left if key not in keep]
    after = Inventory.of(before.name, entries, {**dict(before.uids), **target.uids})
    if after != during and not target.stop.cancelled(kind):
        _store_inventory(target, after, kind)
    return message


def write_kind(step: str) -> WriteKind:
    """A rollback's writes return a cluster to a known release: allowed during a grace period."""
    return "rollback" if step == "rollback" else "new"


def _store_inventory(target: Target, inventory: Inventory, kind: WriteKind) -> None:
    target.stop.check(kind, f"cluster {target.name}: inventory {target.inventory_ref.name}")
    version = write_inventory(target.client, target.inventory_ref, inventory, target.inventory.resource_version)
    target.inventory = StoredInventory(inventory, version)


def _prune(target: Target, keep: set[ObjectKey], app: App, step: str) -> list[tuple[ObjectKey, str]]:
    """Delete what the inventory holds beyond ``keep`` and can prove is the owner's; return the
    entries that must stay recorded (a delete the API refused). The deployer role never deletes,
    so deletes (and the reads that prove ownership) use the cluster's admin credential."""
    inventory = target.inventory.inventory
    if inventory is None or inventory.keys() <= keep:
        return []
    start = app.clock()
    admin = app.admin_client(target.cluster)
    leaving = {key: inventory.api_version(key) for key in inventory.keys() - keep}
    stay: list[tuple[ObjectKey, str]] = []
    deleted, named = [], []
    try:
        live = objects.read_live(admin, leaving)
        for removal in removals(inventory, keep, live, target.owner):
            if not removal.delete:
                if removal.left != "already gone":
                    named.append(f"{removal.key} left in place: {removal.left}")
                continue
            try:
                target.stop.check(write_kind(step), f"cluster {target.name}: deleting {removal.key}")
                objects.delete(admin, removal.key, removal.api_version, uid=removal.uid)
                deleted.append(str(removal.key))
            except DeployerError as exc:
                stay.append((removal.key, removal.api_version))
                named.append(exc.message)
    except DeployerError as exc:
        target.report.step(f"{step}:prune", "failed", app.clock() - start, exc.message)
        return list(leaving.items())
    message = "; ".join([f"deleted {', '.join(deleted)}" if deleted else "nothing to delete", *named])
    target.report.step(f"{step}:prune", "failed" if stay else "ok", app.clock() - start, message)
    return stay


def release_running(target: Target) -> int | None:
    """The revision the target's live objects say runs (see ``ownership.running_revision``)."""
    inventory = target.inventory.inventory
    wanted = dict(inventory.entries) if inventory else {}
    newest = max(target.records, key=lambda r: r.revision, default=None)
    for obj in newest.objects if newest else ():
        wanted.setdefault(key_of(obj), obj["apiVersion"])
    # Cluster-scoped objects (CustomResourceDefinitions above all) the deploy identity may not read;
    # the release's namespaced objects say which release runs.
    wanted = {key: version for key, version in wanted.items() if key.namespace}
    return running_revision(objects.read_live(target.client, wanted).values(), target.owner)


def _clear_failed_jobs(target: Target, group: list[dict[str, Any]], app: App, kind: WriteKind) -> None:
    """A pre-deploy Job that failed before, under the same content name, is deleted (by the admin
    credential: the deployer role never deletes) so that deploying again runs it again, instead of
    reading the old failure; its spec cannot be changed in place."""
    from deployer.rollout.readiness import readiness

    for obj in group:
        if obj["kind"] != "Job":
            continue
        key = key_of(obj)
        live = objects.get(target.client, key, obj["apiVersion"])
        if live is None or readiness(live).state != "failed":
            continue
        app.progress(target.name, f"{key} failed in an earlier run: deleting it to run it again")
        _delete_and_wait(target, key, obj["apiVersion"], (live.get("metadata") or {}).get("uid"), app, kind)


def _delete_and_wait(target: Target, key: ObjectKey, api_version: str, uid: str | None, app: App,
                     kind: WriteKind) -> None:
    admin = app.admin_client(target.cluster)
    target.stop.check(kind, f"cluster {target.name}: deleting the failed {key}")
    objects.delete(admin, key, api_version, uid=uid)

    def deleted() -> bool | None:
        return True if objects.get(admin, key, api_version) is None else None

    if not poll_until(deleted, 30.0, interval=app.poll_interval, clock=app.clock, sleep=app.sleep,
                      cancelled=lambda: target.stop.cancelled(kind)):
        target.stop.check(kind, f"cluster {target.name}: waiting for the failed {key} to go")
        raise RolloutFailure(f"{key} failed in an earlier run and was still there 30s after its delete")


def reader_for(target: Target, obj: dict[str, Any], app: App) -> KubeClient:
    """Who reads and writes ``obj``: the deploy identity, except for a CustomResourceDefinition,
    which is cluster-wide, outside every namespace's deployer role, and so the admin credential's
    (as prune's deletes are); so is any other cluster-scoped kind the service file allows that the
    deploy identity may not write cluster-wide (a namespace's RoleBinding can never grant one)."""
    return app.admin_client(target.cluster) if by_admin(target, obj) else target.client


def by_admin(target: Target, obj: dict[str, Any]) -> bool:
    """Whether the admin credential, not the deploy identity, writes ``obj`` (see ``reader_for``);
    asked of the API server once per kind and run."""
    if obj.get("kind") == DEFINITION:
        return True
    if key_of(obj).namespace:
        return False
    kind = (str(obj["apiVersion"]), str(obj["kind"]))
    if kind not in target.admin_kinds:
        res = resource(target.client, *kind)
        target.admin_kinds[kind] = not all(access.can(target.client, "", group_of(res.api_version), res.plural, verb)
                                           for verb in ("get", "create", "patch"))
    return target.admin_kinds[kind]


def apply_and_wait(target: Target, objs: list[dict[str, Any]], timeout: float, app: App, step: str) -> str:
    """Apply ``objs`` phase by phase (``deployer.plan.phases``: CustomResourceDefinitions until
    Established, pre-deploy objects until their Jobs complete, then the release in dependency
    order), as the owner's field manager, and wait for each phase; raises RolloutFailure when a
    wait fails. A failed pre-deploy phase leaves the release's other objects unwritten, so the
    run counts as having written nothing to roll back (its Job stays, recorded, for its logs)."""
    start = app.clock()
    deadline = start + timeout
    kind = write_kind(step)
    messages = []
    for phase, group in phases(objs):
        label = step if phase == RELEASE else f"{step}:{phase}"
        applied: list[tuple[dict[str, Any], int | None]] = []
        began = app.clock()
        try:
            if phase == PRE_DEPLOY:
                _clear_failed_jobs(target, group, app, kind)
            for obj in group:
                target.stop.check(kind, f"cluster {target.name}: {key_of(obj)}")
                live = objects.apply(reader_for(target, obj, app), obj, force=True, manager=target.owner.manager)
                target.wrote = target.wrote or phase != PRE_DEPLOY
                target.pre_deployed = target.pre_deployed or phase == PRE_DEPLOY
                meta = live.get("metadata") or {}
                target.uids[key_of(obj)] = meta.get("uid") or ""
                applied.append((obj, meta.get("generation")))
        except DeployerError as exc:
            target.report.step(f"{label}:apply", "failed", app.clock() - began, exc.message)
            raise RolloutFailure(exc.message) from exc
        target.report.step(f"{label}:apply", "ok", app.clock() - began, f"{len(group)} objects applied")
        began = app.clock()
        try:
            # Read by the admin credential when it wrote any of them: the deploy identity may not read those.
            reader = app.admin_client(target.cluster) if any(by_admin(target, o) for o in group) else target.client
            result = wait_for(reader, applied,
                              max(deadline - app.clock(), 0.0), progress=lambda m: app.progress(target.name, m),
                              clock=app.clock, sleep=app.sleep, interval=app.poll_interval, stop=target.stop,
                              kind=kind)
        except DeployerError as exc:
            target.report.step(f"{label}:wait", "failed", app.clock() - began, exc.message)
            raise RolloutFailure(exc.message) from exc
        if not result.done and phase == PRE_DEPLOY:
            result = replace(result, message=f"pre-deploy {result.message}; nothing else of the release was applied")
        target.report.step(f"{label}:wait", "ok" if result.done else "failed", app.clock() - began, result.message)
        if not result.done:
            raise RolloutFailure(result.message)
        if phase == DEFINITIONS:  # the custom kinds they define are served now: ask discovery again
            forget_discovery(target.client)
        messages.append(result.message if phase == RELEASE else f"{phase}: {result.message}")
    return "; ".join(messages)


def begin_record(target: Target, record: ReleaseRecord, kind: WriteKind = "new") -> ReleaseRecord:
    """Create ``record`` (in progress) before touching the release's objects, so a killed run leaves
    a record that says so. Created, never overwritten: when its revision exists (a run that did not
    hold the lock wrote it), the records are read again and the next free revision is taken."""
    for _attempt in range(5):
        target.stop.check(kind, f"cluster {target.name}: release record r{record.revision}")
        if releases.create_record(target.client, target.namespace, record):
            target.records = [*target.records, record]
            return record
        target.records = releases.read_records(target.client, target.namespace, record.service, record.environment)
        record = replace(record, revision=next_revision(target.records))
    raise LockedError(f"cluster {target.name}: release records of {record.service} {record.environment} keep "
                      "changing under the deploy lock: another run is writing them",
                      hint="Find the run that deploys without the lock (see `deployer history`), then deploy again.")


def settle(target: Target, record: ReleaseRecord, outcome: Outcome, message: str) -> None:
    """Write the final outcome of ``record`` to the cluster and remember it for this run."""
    final = record.with_outcome(outcome, message, finished=target.now().isoformat())
    releases.write_record(target.client, target.namespace, final)
    target.records = [r for r in target.records if r.revision != record.revision] + [final]


def roll_back_to(target: Target, previous: ReleaseRecord, service: Service, environment: str, actor: str,
                 app: App, *, failed_revision: int | None, prune: bool = True) -> None:
    """Re-apply ``previous``'s objects as a new revision, removing the objects only the releases
    after it added; mark ``failed_revision`` rolled back."""
    app.progress(target.name, f"rolling back to r{previous.revision} ({previous.digest})")
    record = begin_record(target, ReleaseRecord(
        service.name, target.name, environment, next_revision(target.records), previous.image, previous.digest,
        previous.manifest_hash, actor, app.now().isoformat(), "in-progress", rollback_of=previous.revision,
        images=dict(previous.images), objects=previous.objects), kind="rollback")
    try:
        message = apply_release(target, previous.objects, record.revision, float(service.rollout.timeout), app,
                                "rollback", prune=prune)
    except RolloutFailure as exc:
        settle(target, record, "failed", str(exc))
        target.report.outcome = "failed"
        target.report.end = EndState(End.ROLLBACK_FAILED, rollback_target=previous.revision, reason=str(exc))
        news.rolled_back(app, record, previous, failed_revision, actor, "failed", str(exc))
        return
    settle(target, record, "succeeded", message)
    news.rolled_back(app, record, previous, failed_revision, actor, "succeeded")
    if failed_revision is not None:
        failed = next(r for r in target.records if r.revision == failed_revision)
        settle(target, failed, "rolled-back", failed.message or "rolled back")
        target.report.outcome = "rolled-back"
    else:
        target.report.outcome = "succeeded"
    target.report.end = EndState(End.PREVIOUS, record.revision, rollback_target=previous.revision,
                                 failed_revision=failed_revision)
    target.report.revision = record.revision
    target.report.image = previous.image
