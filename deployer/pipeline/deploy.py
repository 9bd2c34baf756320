"""The deploy story: build once, preflight everywhere, lock, apply, wait, roll back by policy, record.

Read top to bottom, ``deploy`` is what `deployer deploy SERVICE --env ENV` does:

1. resolve the target clusters of the environment and connect to each with its own credential;
2. build the service's images once per commit and push them to every target cluster's registry;
   resolve prebuilt ones to a digest once and copy them by digest; pin all by digest (an environment
   with ``promoteFrom`` takes the digests its source ran instead: ``promote_from``);
3. render the manifests per cluster; pin literal references to prebuilt images, hash the
   configuration each pod template uses into it, name pre-deploy Jobs by their content;
4. preflight on every cluster before any write (access reviews, strict server-side dry run), so a
   missing permission or an immutable-field change stops the deploy with nothing written;
5. take the deploy lock on every cluster (a Lease naming the holder), then read the environment's
   release records and inventory there (never before: a run that waited for the lock numbers
   its release after the one that held it);
6. skip clusters already on this exact release; create the new release record on the others,
   apply in parallel, phase by phase (``deployer.plan.phases``: CRDs, pre-deploy Jobs, the rest;
   each object labelled with its owner and stamped with its revision), wait
   by kubectl's rollout rules within the service's timeout, and prune what the release dropped;
7. on failure apply the service's onFailure policy (roll back the failed cluster, all, or leave);
8. settle each release record, release the locks, and report per cluster and step.

The steps it shares with ``deployer.pipeline.rollback`` are in ``deployer.pipeline.steps``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from deployer.app import App
from deployer.config.loader import Config
from deployer.config.models import BuiltImage, Cluster, PrebuiltImage, Service
from deployer.errors import DeployerError, ForbiddenError, UsageError
from deployer.kube import access, objects, releases
from deployer.kube.client import KubeClient
from deployer.kube.inventory import InventoryRef, StoredInventory, read_inventory, write_inventory
from deployer.kube.resources import resource, served
from deployer.pipeline.promote_from import build_for
from deployer.pipeline.report import End, EndState, RunReport
from deployer.pipeline.steps import (
    RolloutFailure,
    Target,
    apply_release,
    begin,
    begin_record,
    default_actor,
    each_target,
    holding_locks,
    read_release_state,
    reader_for,
    renewal_notes,
    roll_back_to,
    settle,
    stopped,
    timed,
)
from deployer.plan.access import Rule
from deployer.plan.compare import changes_to_apply, normalise
from deployer.plan.deploy_role import deployer_role_rules, kinds_outside_role
from deployer.plan.inventory import Inventory
from deployer.plan.keys import group_of, key_of
from deployer.plan.ownership import Owner, removals, stamped
from deployer.plan.phases import DEFINITION, content_named_jobs, defined_kinds, defines_kinds
from deployer.render.config_hash import with_config_hashes
from deployer.render.pin import pin_images
from deployer.rollout import policy
from deployer.rollout.promotion import Promotion
from deployer.rollout.release import ReleaseRecord, current, manifest_hash, next_revision, previous_good


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
    prune: bool = True
    """Delete the objects a release no longer declares (--no-prune keeps them, still recorded)."""
    promotion: Promotion | None = None
    """Deploy this build another environment ran (``deployer promote``) instead of the commit's."""


def deploy(request: DeployRequest, app: App) -> RunReport:
    service, targets, run = begin("deploy", app, request.service, request.environment, request.clusters,
                                  dry_run=request.dry_run)
    if run.stopped_by is not None:
        return run

    # 2. image: built once per commit (or, promoteFrom / promote, the source's digest copied), pushed
    #    to every target registry, pinned by digest
    commit, promotion = build_for(app, service, request.environment, request.commit, request.promotion)
    request = replace(request, commit=commit, promotion=promotion)
    published = app.publish(service, [t.cluster for t in targets], commit=commit, promotion=promotion,
                            builder=request.builder, dry_run=request.dry_run)
    primary = _primary_image_name(service)
    images: dict[str, dict[str, str]] = {t.name: {} for t in targets}
    """Per cluster, each image's pinned reference by name, for templates (``{{ images.NAME }}``)."""
    for name, per_cluster in published.items():
        for target in targets:
            item = per_cluster[target.name]
            images[target.name][name] = item.pinned
            if name == primary:
                target.image, target.digest = item.pinned, item.digest
                target.report.image = item.pinned
            label = f"image {name}" if name else "image"
            target.report.step(label, "ok", 0.0, f"{item.tagged} {item.how} ({item.digest})")
    if not published:
        for target in targets:
            target.report.step("image", "ok", 0.0, "the service builds no image of its own")

    # 3-4. render and preflight everywhere before any write
    def prepare(target: Target) -> str:
        def check() -> str:
            rendered = render_for(app.config, service, request.environment, target.cluster, target.image,
                                  images[target.name])
            target.desired = content_named_jobs(with_config_hashes(_pinned(target, service, rendered,
                                                                          images[target.name])))
            if request.dry_run:  # for its report; a real run reads the records under the lock
                target.records = releases.read_records(target.client, target.namespace, service.name,
                                                       request.environment)
            return _preflight(target, _deployer_role(app.config, target.cluster), app.config.cluster_files.get(
                target.name), admin=app.admin_client(target.cluster) if defines_kinds(target.desired) else None)

        return timed(target.report, "preflight", check, app.clock)

    failed = [(target, r) for target, r in each_target(targets, prepare) if r.failed]
    for target, r in failed:
        if not any(s.status == "failed" for s in target.report.steps) and r.error is not None:
            target.report.step("preflight", "failed", r.seconds, r.error.message)
    if failed:
        for target in targets:
            target.report.outcome = "skipped"
        return stopped(run, targets, [target for target, _ in failed], failed[0][1].error, "preflight failed")
    if request.dry_run:
        for target in targets:
            now = current(target.records)
            target.report.outcome = "unchanged"
            target.report.end = EndState(End.DRY_RUN, now.revision if now else None)
        return run

    # 5. lock every cluster, then apply, wait and record under the locks
    with holding_locks(targets, service, request.actor, request.wait_for_lock, request.lock_lease, app) as renewer:
        _rollout(targets, service, request, app)
    run.notes += renewal_notes(renewer)
    run.notes += _unmanaged_notes(app, service, request.environment, [t.name for t in targets],
                                  request.delete_unmanaged)
    return run


def render_for(config: Config, service: Service, environment: str, cluster: Cluster, image: str,
               images: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The environment's objects for ``cluster``: checked to be in its namespace, labelled with
    their owner, and normalised as cluster sync normalises (what an apply actually sets), so that
    an ``annotations: {}`` in a template is no change."""
    from deployer.render.templates import render_templates

    env = service.environments[environment]
    namespace = service.namespace_of(environment)
    context = {
        "service": {"name": service.name, "namespace": namespace},
        "values": {**service.values, **env.values},
        "image": image,
        "images": {name: ref for name, ref in (images or {}).items() if name},
        "environment": environment,
        "cluster": {"name": cluster.name, "provider": cluster.provider, "environment": cluster.environment,
                    "labels": dict(cluster.labels)},
    }
    folder = config.service_files[service.name].parent / service.manifests
    rendered = [normalise(obj) for obj in render_templates(folder, context)]
    owner = Owner(service.name, environment, namespace)
    for obj in rendered:
        meta = obj.setdefault("metadata", {})
        if meta.get("namespace", namespace) != namespace:
            raise UsageError(f"service {service.name}: {key_of(obj)} is outside the {environment} namespace "
                             f"{namespace}", hint="A service's manifests live in its environment's namespace: "
                                                  "use {{ service.namespace }} in templates.")
        if key_of(obj).namespace == "" and obj["kind"] not in ("Namespace", DEFINITION):
            meta["namespace"] = namespace
        meta["labels"] = {**(meta.get("labels") or {}), **owner.labels}
    return rendered


def _primary_image_name(service: Service) -> str | None:
    """The key ``App.publish`` gives the image release records name ("" for ``image``)."""
    if service.image is not None:
        return ""
    return next((name for name, s in service.images.items() if isinstance(s, BuiltImage)), None)


def _pinned(target: Target, service: Service, rendered: list[dict[str, Any]], images: Mapping[str, str]
            ) -> list[dict[str, Any]]:
    """``rendered`` with every literal reference to a prebuilt image's repository pinned to its
    digest in the cluster's registry; the report's pin step names each rewrite."""
    pins = {source.prebuilt: images[name] for name, source in service.images.items()
            if isinstance(source, PrebuiltImage) and name in images}
    if not pins:
        return rendered
    pinned, rewrites = pin_images(rendered, pins)
    target.report.step("pin", "ok", 0.0, "; ".join(str(r) for r in rewrites) if rewrites
                       else "no manifest names a prebuilt image literally")
    return pinned


def _deployer_role(config: Config, cluster: Cluster) -> list[Rule]:
    from deployer.render.chart import load_chart, render_chart

    return deployer_role_rules(render_chart(cluster, load_chart(config.chart_dir)))


def _preflight(target: Target, role: list[Rule], cluster_file: Path | None = None, admin: KubeClient | None = None
               ) -> str:
    """Every planned verb is allowed, and every object passes a strict server-side dry run.

    CustomResourceDefinitions are cluster-wide, outside every namespace's deployer role: the admin
    credential dry-runs (and later applies) them. A custom object whose definition is in the same
    release is not served yet: its verbs are reviewed from the definition's names, and the API
    server checks it when it is applied, once its definition is Established."""
    client, ns = target.client, target.namespace
    needed: set[tuple[str, str, str]] = {("", "configmaps", v) for v in ("get", "list", "create", "patch")}
    needed |= {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")}
    kinds: list[tuple[str, str, str]] = []
    defined = defined_kinds(target.desired)
    pending: list[dict[str, Any]] = []
    for obj in target.desired:
        if obj["kind"] == DEFINITION:
            continue
        group = group_of(obj["apiVersion"])
        if (group, obj["kind"]) in defined and not served(client, obj["apiVersion"], obj["kind"]):
            plural = defined[(group, obj["kind"])]
            pending.append(obj)
        else:
            res = resource(client, obj["apiVersion"], obj["kind"])
            group, plural = group_of(res.api_version), res.plural
        kinds.append((obj["kind"], group, plural))
        for verb in ("get", "create", "patch"):
            needed.add((group, plural, verb))
    missing = [f"{verb} {plural}{'.' + group if group else ''}" for group, plural, verb in sorted(needed)
               if not access.can(client, ns, group, plural, verb)]
    if missing:
        where = cluster_file.name if cluster_file else f"{target.name}.yaml"
        denied = {(group, plural) for group, plural, verb in needed
                  if f"{verb} {plural}{'.' + group if group else ''}" in missing}
        outside = kinds_outside_role([k for k in kinds if (k[1], k[2]) in denied], role)
        because = "".join(f"; {kind} is outside the chart's deployer role in namespace {ns}: set {kind.value} "
                          f"in clusters/{where}" for kind in outside)
        raise ForbiddenError(f"cluster {target.name}: {client.identity} may not "
                             f"{', '.join(missing)} in namespace {ns}{because}",
                             hint=(f"Add the value named above to clusters/{where}, then `deployer cluster sync "
                                   f"{target.name}`; the deployer role never deletes." if outside else
                                   f"Grant the chart's deployer role in {ns} (cluster file access), then "
                                   "`deployer cluster sync`; `deployer cluster verify` shows what it can do."))
    for obj in target.desired:
        if obj["kind"] == DEFINITION:
            assert admin is not None
            objects.apply(admin, obj, force=True, dry_run=True, strict=True, manager=target.owner.manager)
        elif not any(obj is p for p in pending):
            objects.apply(client, obj, force=True, dry_run=True, strict=True, manager=target.owner.manager)
    checked = len(target.desired) - len(pending)
    later = f" ({len(pending)} custom objects are checked once their definitions are established)" if pending else ""
    return f"{checked} objects pass a strict server-side dry run{later}; all {len(needed)} verbs allowed"


def _is_current(target: Target, mhash: str, app: App) -> bool:
    """The cluster already runs exactly this release: same manifests, same digest, nothing left to
    prune, and live objects match (compared as cluster sync compares: normalised, by the owner's
    field manager) with every workload ready. Only then is it skipped with no writes."""
    from deployer.rollout.readiness import readiness

    now = current(target.records)
    inventory = target.inventory.inventory
    if now is None or now.manifest_hash != mhash or inventory is None:
        return False
    if inventory.keys() != {key_of(obj) for obj in target.desired}:
        return False
    for obj in target.desired:
        live = objects.get(reader_for(target, obj, app), key_of(obj), obj["apiVersion"])
        if live is None or changes_to_apply(stamped(obj, now.revision), live, target.owner.manager) \
                or not readiness(live).done:
            return False
    return True


def _rollout(targets: list[Target], service: Service, request: DeployRequest, app: App) -> None:
    timeout = float(service.rollout.timeout)

    def one(target: Target) -> policy.Outcome:
        read_release_state(target)
        mhash = manifest_hash(target.desired)
        now = current(target.records)
        if now is not None and _is_current(target, mhash, app):
            target.report.outcome = "unchanged"
            target.report.revision = now.revision
            target.report.end = EndState(End.CURRENT, now.revision)
            target.report.step("apply", "unchanged", 0.0, "cluster already runs this release")
            return "unchanged"
        record = begin_record(target, ReleaseRecord(
            service.name, target.name, request.environment, next_revision(target.records), target.image,
            target.digest, mhash, request.actor, app.now().isoformat(), "in-progress", objects=target.desired,
            commit=request.commit or "", promoted_from=request.promotion.note() if request.promotion else None))
        target.record = record
        target.report.revision = record.revision
        try:
            message = apply_release(target, target.desired, record.revision, timeout, app, "deploy",
                                    prune=request.prune)
        except RolloutFailure as exc:
            settle(target, record, "failed", str(exc))
            target.report.outcome = "failed"
            target.report.end = EndState(End.NEW_FAILED, record.revision)
            return "failed"
        settle(target, record, "succeeded", message)
        target.report.outcome = "succeeded"
        target.report.end = EndState(End.NEW, record.revision)
        return "succeeded"

    outcomes: dict[str, policy.Outcome] = {}
    for target, r in each_target(targets, one):
        if r.failed:  # a bug or an error outside apply/wait: report it on the cluster
            target.report.outcome = "failed"
            target.report.step("deploy", "failed", r.seconds, r.error.message if r.error else "")
            outcomes[target.name] = "failed"
        elif r.result is not None:
            outcomes[target.name] = r.result

    decision = policy.decide(service.rollout.on_failure, outcomes, {t.name: t.wrote for t in targets},
                             {t.name: _has_release_to_return_to(t) for t in targets})
    if not decision.roll_back:
        for target in targets:
            end = target.report.end
            if end is not None and end.kind is End.NEW_FAILED and target.name in decision.reasons:
                target.report.end = replace(end, reason=decision.reasons[target.name])
        return

    def back(target: Target) -> None:
        failed_revision = target.record.revision if target.record else None
        previous = previous_good(target.records, failed_revision if failed_revision is not None else 10**9)
        assert previous is not None
        roll_back_to(target, previous, service, request.environment, request.actor, app,
                     failed_revision=failed_revision, prune=request.prune)
        end = target.report.end
        if outcomes.get(target.name) != "failed" and end is not None and end.kind is End.PREVIOUS:
            # Its own rollout went well: it was rolled back for another cluster's failure.
            target.report.end = replace(end, reason=f"r{failed_revision} succeeded here and was rolled back "
                                                    f"because another cluster failed "
                                                    f"(onFailure: {service.rollout.on_failure})")

    chosen = [t for t in targets if t.name in decision.roll_back]
    for target, rolled in each_target(chosen, back):
        if rolled.failed:
            target.report.outcome = "failed"
            target.report.end = EndState(End.UNKNOWN, reason=rolled.error.message if rolled.error else "")


def _has_release_to_return_to(target: Target) -> bool:
    """Whether a good release older than this run's new one (any, when none was written) exists."""
    return previous_good(target.records, target.record.revision if target.record else 10**9) is not None


def _unmanaged_notes(app: App, service: Service, environment: str, targets: list[str], delete: bool) -> list[str]:
    """Clusters that still run this service for this environment but are no longer its targets.

    They are left running and named, unless ``delete`` (--delete-unmanaged) asks for their
    objects to be deleted. Only what can be proven to be this environment's is deleted: listed in
    its inventory there, in its namespace, labelled with its service and environment, and the
    incarnation the inventory recorded; everything else is named and left (the cluster may now
    run another environment under the same names). Deletes use the cluster's admin credential,
    since the deployer role never deletes.
    """
    notes = []
    namespace = service.namespace_of(environment)
    owner = Owner(service.name, environment, namespace)
    for name, cluster in sorted(app.config.clusters.items()):
        if name in targets or namespace not in cluster.namespace_names:
            continue
        try:
            client = app.client(cluster)
            now = current(releases.read_records(client, namespace, service.name, environment))
            stored = read_inventory(client, InventoryRef(owner.inventory_name, namespace)) if now else None
        except DeployerError:
            continue  # a cluster we cannot read is not evidence of anything
        if now is None or stored is None:
            continue
        if not delete:
            notes.append(f"cluster {name} still runs {service.name} ({environment} r{now.revision}) but is no "
                         f"longer a target of {environment}: that copy is now unmanaged and left running; "
                         "deploy with --delete-unmanaged to delete it")
            continue
        notes.append(_delete_unmanaged(app, cluster, client, now, stored, owner))
    return notes


def _delete_unmanaged(app: App, cluster: Cluster, client: KubeClient, now: ReleaseRecord, stored: StoredInventory,
                      owner: Owner) -> str:
    inventory = stored.inventory
    if inventory is None:
        return (f"cluster {cluster.name}: {owner.service} ({owner.environment} r{now.revision}) has no inventory "
                "there, so nothing can be proven to be this environment's: nothing was deleted")
    admin = app.admin_client(cluster)
    live = objects.read_live(admin, dict(inventory.entries))
    deleted, left = [], []
    for removal in removals(inventory, (), live, owner):
        if removal.delete and objects.delete(admin, removal.key, removal.api_version, uid=removal.uid):
            deleted.append(str(removal.key))
        elif not removal.delete and removal.left != "already gone":
            left.append(f"{removal.key} ({removal.left})")
    write_inventory(client, InventoryRef(owner.inventory_name, owner.namespace), Inventory(inventory.name),
                    stored.resource_version)
    releases.write_record(client, owner.namespace, now.with_outcome(
        "removed", f"deleted by {app.now().isoformat()} deploy: no longer a target of {owner.environment}"))
    note = (f"cluster {cluster.name}: deleted the unmanaged copy of {owner.service} (r{now.revision}): "
            f"{', '.join(deleted) or 'nothing was left'}")
    return note + (f"; left in place, not provably {owner.environment}'s: {', '.join(left)}" if left else "")
