"""The deploy story: build once, preflight everywhere, lock, apply, wait, roll back by policy, record.

Read top to bottom, ``deploy`` is what `deployer deploy SERVICE --env ENV` does:

1. resolve the target clusters of the environment and connect to each with its own credential;
2. render every cluster's manifests from the environment's source (``deployer.sources``) with a
   placeholder per image name and check them (objects, namespaces, ownership), so a broken
   template, chart or kustomization stops the deploy before anything is built or pushed;
3. build the service's images once per commit and push them to every target cluster's registry;
   resolve prebuilt ones to a digest once and copy them by digest; pin all by digest (an environment
   with ``promoteFrom`` takes the digests its source ran instead: ``promote_from``); render the
   manifests per cluster again with them, pin literal references to declared images (every
   source), hash the configuration each pod template uses into it, name pre-deploy Jobs by content;
4. preflight on every cluster before any write (access reviews, strict server-side dry run), so a
   missing permission or an immutable-field change stops the deploy with nothing written;
5. take the deploy lock on every cluster (a Lease naming the holder), then read the environment's
   release records and inventory there (never before: a run that waited for the lock numbers
   its release after the one that held it); a redeploy of what every cluster already runs, read
   without the lock right after rendering, stops before the preflight with nothing written (not
   even the Lease);
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
from typing import Any

from deployer import sources
from deployer.app import App
from deployer.config.loader import Config
from deployer.config.models import BuiltImage, Cluster, PrebuiltImage, Service
from deployer.errors import ConfigError, DeployerError, ForbiddenError
from deployer.kube import access, objects, releases
from deployer.kube.client import KubeClient
from deployer.kube.inventory import InventoryRef, StoredInventory, read_inventory, write_inventory
from deployer.kube.resources import resource, served
from deployer.pipeline.news import RunNews
from deployer.pipeline.promote_from import build_for
from deployer.pipeline.report import End, EndState, RunReport
from deployer.pipeline.requests import each_concurrently
from deployer.pipeline.steps import (
    RolloutFailure,
    Target,
    apply_release,
    begin,
    begin_record,
    by_admin,
    default_actor,
    each_target,
    holding_locks,
    interrupted,
    read_release_state,
    reader_for,
    roll_back_to,
    settle,
    settle_run,
    stopped,
    timed,
)
from deployer.pipeline.waves import OnWave, Waves
from deployer.plan.access import Rule
from deployer.plan.compare import changes_to_apply, normalise
from deployer.plan.deploy_role import deployer_role_rules, kinds_outside_role
from deployer.plan.inventory import Inventory
from deployer.plan.keys import group_of, key_of
from deployer.plan.ownership import Owner, removals, stamped
from deployer.plan.phases import content_named_jobs, defined_kinds
from deployer.render.config_hash import with_config_hashes
from deployer.render.pin import pin_images
from deployer.rollout import policy
from deployer.rollout.promotion import Promotion
from deployer.rollout.release import ReleaseRecord, current, manifest_hash, next_revision, previous_good
from deployer.sources import Placement, scope_problems
from deployer.stopping import Interrupted


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
    on_wave: OnWave | None = None
    """Called with each wave's progress (the plan, deploying, baking, paused, passed, failed): for a
    watcher such as the page; the CLI prints the same as progress lines."""


def deploy(request: DeployRequest, app: App) -> RunReport:
    news = RunNews(app, "promote" if request.promotion else "deploy", request.service, request.environment,
                   request.actor, dry_run=request.dry_run)
    try:
        run = _deploy(request, app, news)
    except BaseException as exc:
        news.broke_off(exc)
        raise
    news.finished(run)
    return run


def _deploy(request: DeployRequest, app: App, news: RunNews) -> RunReport:
    service, targets, run = begin("deploy", app, request.service, request.environment, request.clusters,
                                  dry_run=request.dry_run)
    if run.stopped_by is not None:
        return run
    news.started([t.name for t in targets], request.commit or (request.promotion.commit if request.promotion else None))

    if app.stop.stopping():
        return _stopped_unwritten(run, targets, app, "interrupted before rendering")
    # 2. cheap checks first: render and check everywhere before any image is built or pushed
    if not _sources_render(targets, service, request.environment, app, run):
        return run

    if app.stop.stopping():
        return _stopped_unwritten(run, targets, app, "interrupted before the image step")
    # 3. image: built once per commit (or, promoteFrom / promote, the source's digest copied), pushed
    #    to every target registry, pinned by digest
    commit, promotion = build_for(app, service, request.environment, request.commit, request.promotion)
    request = replace(request, commit=commit, promotion=promotion)
    news.commit = commit or news.commit
    published = app.publish(service, [t.cluster for t in targets], commit=commit, promotion=promotion,
                            builder=request.builder, dry_run=request.dry_run)
    if app.stop.stopping():
        return _stopped_unwritten(run, targets, app, "interrupted after the image step")
    primary = _primary_image_name(service)
    for name, per_cluster in published.items():
        for target in targets:
            item = per_cluster[target.name]
            target.images[name] = item.pinned
            if name == primary:
                target.image, target.digest = item.pinned, item.digest
                target.report.image = item.pinned
            label = f"image {name}" if name else "image"
            target.report.step(label, "ok", 0.0, f"{item.tagged} {item.how} ({item.digest})")
    if not published:
        for target in targets:
            target.report.step("image", "ok", 0.0, "the service builds no image of its own")

    # 4. render with the pinned images, then preflight everywhere before any write
    def pin(target: Target) -> None:
        rendered = render_for(app.config, service, request.environment, target.cluster, target.image, target.images)
        target.desired = content_named_jobs(with_config_hashes(_pinned(target, service, rendered, target.images)))

    def prepare(target: Target) -> str:
        def check() -> str:
            if request.dry_run:  # for its report; a real run reads the records under the lock
                target.records = releases.read_records(target.client, target.namespace, service.name,
                                                       request.environment)
            return _preflight(target, Placement.of(service, request.environment), app)

        return timed(target.report, "preflight", check, app.clock)

    for step in (pin, prepare):
        failed = [(target, r) for target, r in each_target(targets, step) if r.failed]
        for target, r in failed:
            if not any(s.status == "failed" for s in target.report.steps) and r.error is not None:
                target.report.step("preflight", "failed", r.seconds, r.error.message)
        if failed:
            for target in targets:
                target.report.outcome = "skipped"
            return stopped(run, targets, [target for target, _ in failed], failed[0][1].error, "preflight failed")
        if app.stop.stopping():
            return _stopped_unwritten(run, targets, app, "interrupted before any write")
        # 5. a redeploy of what every cluster already runs writes nothing, not even the lock; with
        #    nothing to write there is nothing to preflight either (its reviews and dry runs are
        #    most of a no-change deploy's requests)
        if step is pin and not request.dry_run and _every_target_current(targets, app):
            for target in targets:
                _report_current(target)
            return run
    if request.dry_run:
        for target in targets:
            now = current(target.records)
            target.report.outcome = "unchanged"
            target.report.end = EndState(End.DRY_RUN, now.revision if now else None)
        return run

    # 5-8. lock every cluster, then apply, wait, roll back by policy and record under the locks
    try:
        with holding_locks(targets, service, request.actor, request.wait_for_lock, request.lock_lease,
                           app) as renewer:
            waves = _rollout(targets, service, request, app)
    except Interrupted:  # while waiting for the locks: none is held, nothing written
        return _stopped_unwritten(run, targets, app, "interrupted while taking the deploy locks")
    if waves.staged:
        run.waves = waves.reports
    settle_run(run, targets, renewer, app)
    run.notes += _unmanaged_notes(app, service, request.environment, [t.name for t in targets],
                                  request.delete_unmanaged)
    return run


def _stopped_unwritten(run: RunReport, targets: list[Target], app: App, why: str) -> RunReport:
    for target in targets:
        target.report.outcome = "skipped"
    stopped(run, targets, [], None, why)
    interrupted(run, app)
    return run


def render_for(config: Config, service: Service, environment: str, cluster: Cluster, image: str,
               images: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The environment's objects for ``cluster`` from its manifest source (``deployer.sources``;
    ``images`` by name for ``{{ images.NAME }}``): placed and checked in its namespace, labelled
    with their owner, and normalised as cluster sync normalises (what an apply actually sets), so
    that an ``annotations: {}`` in a template is no change."""
    base = config.service_files[service.name].parent
    owner = Owner(service.name, environment, service.namespace_of(environment))
    named = {name: ref for name, ref in (images or {}).items() if name}
    rendered = [normalise(obj) for obj in sources.render(service, environment, cluster, image, base, named).objects]
    for obj in rendered:
        meta = obj.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **owner.labels}
    return rendered


def _primary_image_name(service: Service) -> str | None:
    """The key ``App.publish`` gives the image release records name ("" for ``image``)."""
    if service.image is not None:
        return ""
    return next((name for name, s in service.images.items() if isinstance(s, BuiltImage)), None)


def placeholders(service: Service, cluster: Cluster) -> tuple[str, dict[str, str]]:
    """The service's image and each named image as a placeholder reference, for rendering before
    anything is built: a built image in the cluster's registry, a prebuilt one as declared."""
    def built(name: str) -> str:
        return f"{cluster.registry}/{name}:deployer-render-check"

    images = {name: built(s.build.name) if isinstance(s, BuiltImage) else s.prebuilt
              for name, s in service.images.items()}
    primary = service.primary_build
    return (built(primary.name) if primary is not None else ""), images


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


def _sources_render(targets: list[Target], service: Service, environment: str, app: App, run: RunReport) -> bool:
    """Render each cluster's manifests with a placeholder per image and check them; on a problem
    stop the run (exit 3, every problem named) before anything is built. The notes (what a source
    left out on purpose) go to the run's report once."""
    base = app.config.service_files[service.name].parent
    notes: dict[str, list[str]] = {}  # per cluster: the clusters render in parallel

    def check(target: Target) -> str:
        image, images = placeholders(service, target.cluster)
        rendered = sources.render(service, environment, target.cluster, image, base, images)
        notes[target.name] = rendered.notes
        return f"{len(rendered.objects)} objects from its {service.source_of(environment).kind} source pass the checks"

    failed = [(target, r) for target, r in
              each_target(targets, lambda t: timed(t.report, "render", lambda: check(t), app.clock)) if r.failed]
    for target in targets:
        run.notes += [note for note in notes.get(target.name, []) if note not in run.notes]
    if not failed:
        return True
    for target in targets:
        target.report.outcome = "skipped"
    stopped(run, targets, [target for target, _ in failed], failed[0][1].error,
            "the manifests did not render; nothing was built or pushed")
    return False


def _preflight(target: Target, placement: Placement, app: App) -> str:
    """Every kind is scoped as the manifests assumed, every planned verb is allowed, and every
    object passes a strict server-side dry run.

    CustomResourceDefinitions are cluster-wide, outside every namespace's deployer role: the admin
    credential dry-runs (and later applies) them, as it does any other allowed cluster-scoped kind
    the deploy identity may not write cluster-wide (``steps.by_admin``). A custom object whose
    definition is in the same release is not served yet: its verbs are reviewed from the
    definition's names, and the API server checks it when it is applied, once its definition is
    Established."""
    client, ns = target.client, target.namespace
    defined = defined_kinds(target.desired)

    def namespaced(api_version: str, kind: str) -> bool | None:
        if served(client, api_version, kind):
            return resource(client, api_version, kind).namespaced
        return None

    misplaced = scope_problems(target.desired, placement, target.name, namespaced)
    if misplaced:
        raise ConfigError(misplaced, hint="Fix the service file's allowClusterScoped; nothing was written.")
    # (namespace, group, plural, verb): an object in an allowed other namespace is reviewed there, a
    # cluster-scoped one cluster-wide (a RoleBinding in ns could never grant it).
    needed: set[tuple[str, str, str, str]] = {(ns, "", "configmaps", v) for v in ("get", "list", "create", "patch")}
    needed |= {(ns, "coordination.k8s.io", "leases", v) for v in ("get", "create", "update")}
    kinds: dict[tuple[str, str, str], set[str]] = {}
    """(kind, group, plural) -> the namespaces the release writes it in (for a refusal's words)."""
    pending: list[dict[str, Any]] = []
    admin_objects: list[dict[str, Any]] = []
    for obj in target.desired:
        group, where = group_of(obj["apiVersion"]), obj["metadata"].get("namespace") or ""
        if (group, obj["kind"]) in defined and not served(client, obj["apiVersion"], obj["kind"]):
            plural = defined[(group, obj["kind"])]
            pending.append(obj)
        elif by_admin(target, obj):
            admin_objects.append(obj)
            continue
        else:
            res = resource(client, obj["apiVersion"], obj["kind"])
            group, plural = group_of(res.api_version), res.plural
            where = (where or ns) if res.namespaced else ""
        if where:
            kinds.setdefault((obj["kind"], group, plural), set()).add(where)
        for verb in ("get", "create", "patch"):
            needed.add((where, group, plural, verb))
    missing: dict[str, list[str]] = {}
    denied: set[tuple[str, str]] = set()
    reviews = sorted(needed, key=lambda n: (n[0] != ns, n))
    allowed = each_concurrently(reviews, lambda n: access.can(client, *n))
    for (where, group, plural, verb), ok in zip(reviews, allowed, strict=True):
        if not ok:
            missing.setdefault(where, []).append(f"{verb} {plural}{'.' + group if group else ''}")
            denied.add((group, plural))
    if missing:
        places = "; ".join(f"{', '.join(verbs)} {f'in namespace {where}' if where else 'cluster-wide'}"
                           for where, verbs in missing.items())
        cluster_file = app.config.cluster_files.get(target.name)
        file = cluster_file.name if cluster_file else f"{target.name}.yaml"
        outside = kinds_outside_role([k for k in kinds if (k[1], k[2]) in denied],
                                     _deployer_role(app.config, target.cluster))
        because = "".join(f"; {kind} is outside the chart's deployer role in namespace "
                          f"{', '.join(sorted(kinds[(kind.kind, kind.group, kind.plural)]))}: set {kind.value} in "
                          f"clusters/{file}" for kind in outside)
        raise ForbiddenError(f"cluster {target.name}: {client.identity} may not {places}{because}",
                             hint=(f"Add the value named above to clusters/{file}, then `deployer cluster sync "
                                   f"{target.name}`; the deployer role never deletes." if outside else
                                   f"Grant the chart's deployer role in {ns} (cluster file access), then "
                                   "`deployer cluster sync`; `deployer cluster verify` shows what it can do."))
    admin = app.admin_client(target.cluster) if admin_objects else None

    def dry_run(obj: dict[str, Any]) -> None:
        by = admin if any(obj is a for a in admin_objects) else client
        assert by is not None
        objects.apply(by, obj, force=True, dry_run=True, strict=True, manager=target.owner.manager)

    each_concurrently([obj for obj in target.desired if not any(obj is p for p in pending)], dry_run)
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
    lives = each_concurrently(target.desired,
                              lambda obj: objects.get(reader_for(target, obj, app), key_of(obj), obj["apiVersion"]))
    for obj, live in zip(target.desired, lives, strict=True):
        if live is None or changes_to_apply(stamped(obj, now.revision), live, target.owner.manager) \
                or not readiness(live).done:
            return False
    return True


def _every_target_current(targets: list[Target], app: App) -> bool:
    """Read without the lock: every cluster's newest record is a succeeded one of exactly this
    release and its live objects match. A run in progress anywhere (a newer record not yet settled)
    sends the deploy the locked way, which waits for it or reports it; reading without the lock
    can only see a state that was true when read, and nothing is written on it."""
    def check(target: Target) -> bool:
        read_release_state(target)
        newest = max(target.records, key=lambda r: r.revision, default=None)
        return newest is not None and newest is current(target.records) and \
            _is_current(target, manifest_hash(target.desired), app)

    return all(r.result is True for _, r in each_target(targets, check))


def _report_current(target: Target) -> None:
    now = current(target.records)
    assert now is not None
    target.report.outcome = "unchanged"
    target.report.revision = now.revision
    target.report.end = EndState(End.CURRENT, now.revision)
    target.report.step("apply", "unchanged", 0.0, "cluster already runs this release")


def _rollout(targets: list[Target], service: Service, request: DeployRequest, app: App) -> Waves:
    timeout = float(service.rollout.timeout)

    def one(target: Target) -> policy.Outcome:
        read_release_state(target)
        mhash = manifest_hash(target.desired)
        now = current(target.records)
        if now is not None and _is_current(target, mhash, app):
            _report_current(target)
            return "unchanged"
        try:
            record = begin_record(target, ReleaseRecord(
                service.name, target.name, request.environment, next_revision(target.records), target.image,
                target.digest, mhash, request.actor, app.now().isoformat(), "in-progress", objects=target.desired,
                commit=request.commit or "", promoted_from=request.promotion.note() if request.promotion else None,
                images=dict(target.images)))
        except Interrupted as exc:  # stopped before this cluster's first write: it stays where it was
            target.report.outcome = "failed"
            target.report.step("deploy", "failed", 0.0, exc.message)
            target.report.end = EndState(End.UNCHANGED, now.revision if now else None)
            return "failed"
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

    def deploy_wave(members: list[Target]) -> dict[str, policy.Outcome]:
        outcomes: dict[str, policy.Outcome] = {}
        for target, r in each_target(members, one):
            if r.failed:  # a bug or an error outside apply/wait: report it on the cluster
                target.report.outcome = "failed"
                target.report.step("deploy", "failed", r.seconds, r.error.message if r.error else "")
                outcomes[target.name] = "failed"
                if target.record is not None and target.report.end is None:
                    # Broke off after its record was written (the API server stopped answering past
                    # every retry): say what it runs as far as can be known, never nothing.
                    last = previous_good(target.records, target.record.revision)
                    target.report.end = EndState(End.LOST, last.revision if last else None,
                                                 failed_revision=target.record.revision,
                                                 reason=r.error.message if r.error else "")
            elif r.result is not None:
                outcomes[target.name] = r.result
        return outcomes

    # One wave (the default) deploys every cluster at once; more wait for each one's gate.
    waves = Waves(service, request.environment, targets, request.actor, app, request.on_wave)
    outcomes = waves.run(deploy_wave)
    decision = policy.decide(service.rollout.on_failure, outcomes, {t.name: t.wrote for t in targets},
                             {t.name: _has_release_to_return_to(t) for t in targets})
    for target in targets:
        _still_on_the_last_release(target)
    if not decision.roll_back:
        for target in targets:
            end = target.report.end
            if end is not None and end.kind is End.NEW_FAILED and target.name in decision.reasons:
                # A wave's gate said why it failed (``pipeline.waves``): keep that before the policy's word.
                why = "; ".join(filter(None, (end.reason, decision.reasons[target.name])))
                target.report.end = replace(end, reason=why)
        return waves

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
    for target in [t for t in chosen if t.stop.phase == "abandoned"]:
        # Its lock is lost (another run may be writing there) or the grace period is over: no rollback.
        end = target.report.end
        target.report.end = replace(end or EndState(End.UNKNOWN), reason=f"not rolled back: {target.stop.describe()}")
    chosen = [t for t in chosen if t.stop.phase != "abandoned"]
    for target, rolled in each_target(chosen, back):
        if rolled.failed:
            target.report.outcome = "failed"
            target.report.end = EndState(End.UNKNOWN, reason=rolled.error.message if rolled.error else "")
    return waves


def _still_on_the_last_release(target: Target) -> None:
    """A failed cluster whose new release never reached its objects (its first apply failed, as
    when its API server kept answering 503, or its pre-deploy Job failed) is still on the release
    before it: say so, never "on the new release"."""
    end = target.report.end
    if end is None or end.kind is not End.NEW_FAILED or target.wrote or end.revision is None:
        return
    last = previous_good(target.records, end.revision)
    why = (f"r{end.revision} failed in its pre-deploy phase; nothing else of it was written" if target.pre_deployed
           else f"r{end.revision} failed before any object was written")
    target.report.end = EndState(End.UNCHANGED, last.revision if last else None, failed_revision=end.revision,
                                 reason=why)


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
