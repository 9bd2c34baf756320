"""Progressive delivery: a deploy in waves, the gate between them, and pausing, resuming or
aborting a run from another process (docs/waves.md).

``deployer.pipeline.deploy`` deploys each wave as it always deployed every cluster (in parallel,
waited by kubectl's rules); this module decides the waves, runs the gate after every wave but the
last, and says which wave stopped the run and why. A gate watches the wave's clusters for its bake
time: workloads stay available, container restarts stay within ``gate.maxRestarts``, no new
Warning events for the release's objects, and every metric check's query stays at or under its
threshold. It fails closed: a Prometheus that does not answer fails it.

Pause, resume and abort are requests written to a control ConfigMap in each target namespace
(``deployer.kube.control``) addressed to the run holding the deploy lock; the gate reads them on
every poll (``App.poll_interval``, a second by default). A pause holds the run at the end of the
bake (the watching goes on meanwhile); an abort fails the gate at once and the onFailure policy
decides what the deployed waves end on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from deployer.app import App
from deployer.config.models import Environment, Service
from deployer.errors import DeployerError, LockedError
from deployer.gates.prometheus import Prometheus, PrometheusError
from deployer.kube import health, objects
from deployer.kube.control import read_control, write_control
from deployer.kube.leases import read_lease
from deployer.pipeline.locking import lease_name
from deployer.pipeline.report import End, EndState
from deployer.pipeline.requests import each_concurrently
from deployer.pipeline.steps import Target, default_actor, each_target, reader_for, resolve_targets, settle
from deployer.plan.keys import key_of
from deployer.rollout import policy
from deployer.rollout.lock import holder_of
from deployer.rollout.readiness import readiness
from deployer.rollout.release import current
from deployer.rollout.waves import (
    Action,
    Baseline,
    ControlRequest,
    EventSeen,
    PodSeen,
    WaveEvent,
    WaveReport,
    WaveState,
    about_release,
    control_for,
    health_problems,
    metric_problem,
    restrict,
    window_query,
)

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet"}
ANNOUNCE_EVERY = 10.0
"""Seconds between the bake's progress lines (each poll still goes to a watcher's events)."""

OnWave = Callable[[WaveEvent], None]


def wave_plan(service: Service, environment: str, only: Sequence[str] = ()) -> list[list[str]]:
    """The clusters a deploy of ``environment`` (restricted to ``only``, when given) reaches, wave
    by wave: what the page shows before a deploy starts."""
    env = service.environments[environment]
    return restrict(env.wave_plan(), only or env.clusters)


class Waves:
    """One deploy's waves: the plan, each wave's report, and the events a watcher gets."""

    def __init__(self, service: Service, environment: str, targets: list[Target], actor: str, app: App,
                 on_event: OnWave | None = None) -> None:
        self.service, self.environment, self.app = service, environment, app
        self.env: Environment = service.environments[environment]
        self.holder = holder_of(actor, app.run_id)
        self.on_event = on_event
        self.by_name = {t.name: t for t in targets}
        self.reports = [WaveReport(i + 1, wave) for i, wave in
                        enumerate(wave_plan(service, environment, [t.name for t in targets]))]

    @property
    def staged(self) -> bool:
        """More than one wave: only then is anything about waves reported (one wave is today's deploy)."""
        return len(self.reports) > 1

    def members(self, wave: WaveReport) -> list[Target]:
        return [self.by_name[name] for name in wave.clusters]

    def emit(self, wave: WaveReport, message: str, remaining: float | None = None, *, say: bool = True) -> None:
        if self.on_event is not None:
            self.on_event(WaveEvent(wave.index, len(self.reports), tuple(wave.clusters), wave.state, message,
                                    remaining))
        if say and self.staged:
            self.app.progress("", f"wave {wave.index}/{len(self.reports)} ({', '.join(wave.clusters)}): {message}")

    def run(self, deploy_wave: Callable[[list[Target]], dict[str, policy.Outcome]]) -> dict[str, policy.Outcome]:
        """Deploy wave after wave with ``deploy_wave``; between waves, the gate. Returns every
        started cluster's outcome; a gate failure turns its wave's clusters to failed."""
        outcomes: dict[str, policy.Outcome] = {}
        for wave in self.reports:
            wave.state = WaveState.DEPLOYING
            self.emit(wave, "deploying")
            outcomes |= deploy_wave(self.members(wave))
            failed = [c for c in wave.clusters if outcomes.get(c) == "failed"]
            if failed:
                wave.state, wave.reason = WaveState.FAILED, f"rollout failed on {', '.join(failed)}"
                self.emit(wave, wave.reason)
                break
            if wave is self.reports[-1]:
                wave.state = WaveState.PASSED
                self.emit(wave, "deployed")
                break
            try:
                reason = self._gate(wave)
            except DeployerError as exc:  # a gate that cannot watch fails closed
                reason = f"the gate could not watch the wave: {exc.message}"
            if reason is not None:
                wave.state, wave.reason = WaveState.FAILED, reason
                self.emit(wave, f"gate failed: {reason}")
                self._fail_gate(wave, reason, outcomes)
                break
            wave.state = WaveState.PASSED
            self.emit(wave, wave.reason)
        self._not_started()
        return outcomes

    def _fail_gate(self, wave: WaveReport, reason: str, outcomes: dict[str, policy.Outcome]) -> None:
        why = f"wave {wave.index} failed its gate: {reason}"
        for target in self.members(wave):
            outcomes[target.name] = "failed"
            target.report.outcome = "failed"
            target.report.step("gate", "failed", wave.gate_seconds, why)
            record = target.record
            if record is not None and target.report.end is not None and target.report.end.kind is End.NEW:
                target.report.end = EndState(End.NEW_FAILED, record.revision, reason=why)
                try:
                    settle(target, next(r for r in target.records if r.revision == record.revision), "failed", why)
                except DeployerError as exc:  # the policy must still run; the record says succeeded meanwhile
                    target.report.step("record", "failed", 0.0, f"could not mark r{record.revision} failed: "
                                                                f"{exc.message}")

    def _not_started(self) -> None:
        stopped_at = next((w for w in self.reports if w.state is WaveState.FAILED), None)
        for wave in self.reports:
            if wave.state is not WaveState.PENDING:
                continue
            assert stopped_at is not None
            wave.state = WaveState.NOT_STARTED
            wave.reason = f"wave {stopped_at.index} stopped the deploy: {stopped_at.reason}"
            for target in self.members(wave):
                now = current(target.records)
                target.report.outcome = "skipped"
                target.report.step("deploy", "skipped", 0.0, f"not started: {wave.reason}")
                target.report.end = EndState(End.UNCHANGED, now.revision if now else None,
                                             reason=f"wave {wave.index} was not started")
            self.emit(wave, "not started", say=False)

    # --- the gate ------------------------------------------------------------------------------------

    def _gate(self, wave: WaveReport) -> str | None:
        """Watch ``wave`` for its bake time; the reason it failed, or None once it passed."""
        app, gate = self.app, self.env.gate
        members = self.members(wave)
        bake = max([float(gate.bake), *(float(m.window) for m in gate.metrics)])
        checks = self._metric_checks(members)
        start = app.clock()
        baselines = {t.name: Baseline.of(*_observed(t, app)[1:]) for t in members}
        wave.state = WaveState.BAKING
        self.emit(wave, f"baking for {bake:g}s" + (f" with {len(checks)} metric check(s)" if checks else ""), bake)
        announced = start
        while True:
            problems = self._problems(members, baselines, checks)
            elapsed = app.clock() - start
            wave.gate_seconds = elapsed
            if problems:
                return "; ".join(problems)
            request = control_for(self.holder, each_concurrently(
                members, lambda t: read_control(t.client, t.namespace, self.service.name)))
            if request is not None and request.action == "abort":
                return f"aborted by {request.by} at {request.at}"
            if app.stop.stopping():
                return f"interrupted during the bake ({app.stop.describe()})"
            paused = request is not None and request.action == "pause"
            if elapsed >= bake and not paused:
                wave.reason = (f"healthy for {elapsed:.0f}s (bake {bake:g}s)" +
                               (f", {len(checks)} metric check(s) within their thresholds" if checks else ""))
                for target in members:
                    target.report.step("gate", "ok", elapsed, f"wave {wave.index}: {wave.reason}")
                return None
            state = WaveState.PAUSED if paused else WaveState.BAKING
            remaining = max(bake - elapsed, 0.0)
            message = (f"paused by {request.by}; `deployer wave resume` continues, `abort` stops"
                       if paused and request is not None else f"baking, {remaining:.0f}s left")
            changed = state is not wave.state
            wave.state = state
            due = changed or app.clock() - announced >= ANNOUNCE_EVERY
            if due:
                announced = app.clock()
            self.emit(wave, message, remaining, say=due)
            app.sleep(app.poll_interval)

    def _metric_checks(self, members: list[Target]) -> list[tuple[str, Prometheus, str, float]]:
        """(check name, server, query, max) per distinct server and query: a cluster's own
        Prometheus of that name first, else the service's."""
        found: dict[tuple[str, str], tuple[str, Prometheus, str, float]] = {}
        for check in self.env.gate.metrics:
            for target in members:
                name = check.prometheus
                server = target.cluster.prometheus.get(name) or self.service.prometheus.get(name)
                if server is None:  # the loader refuses this; a config built by hand may not have been loaded
                    raise DeployerError(f"metric check {check.name}: no Prometheus named {check.prometheus} for "
                                        f"cluster {target.name}")
                query = window_query(check.query, float(check.window))
                found.setdefault((server.url, query), (check.name, Prometheus(check.prometheus, server), query,
                                                       check.max))
        return list(found.values())

    def _problems(self, members: list[Target], baselines: dict[str, Baseline],
                  checks: list[tuple[str, Prometheus, str, float]]) -> list[str]:
        max_restarts = self.env.gate.max_restarts

        def cluster_health(target: Target) -> list[str]:
            unavailable, pods, warnings = _observed(target, self.app)
            return health_problems(target.name, baselines[target.name], unavailable, pods, warnings, max_restarts)

        def metric(check: tuple[str, Prometheus, str, float]) -> list[str]:
            name, server, query, maximum = check
            try:
                problem = metric_problem(name, server.describe(), query, server.query(query), maximum)
            except PrometheusError as exc:
                return [f"metric {name}: {exc.message} (the gate fails closed)"]
            return [problem] if problem else []

        problems: list[str] = []
        for target, r in each_target(members, cluster_health):
            problems += r.result if r.result is not None else \
                [f"cluster {target.name}: could not read its health: {r.error.message if r.error else ''}"]
        for found in each_concurrently(checks, metric):
            problems += found
        return problems


def _observed(target: Target, app: App) -> tuple[list[str], list[PodSeen], list[EventSeen]]:
    """The release's workloads that are not done, its pods, and the Warning events about them."""
    unavailable: list[str] = []
    pods: list[PodSeen] = []
    names: set[tuple[str, str]] = set()
    deployments: set[str] = set()
    namespaces: set[str] = set()
    for obj in target.desired:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or target.namespace
        names.add((obj.get("kind", ""), meta.get("name", "")))
        if obj.get("kind") not in WORKLOADS:
            continue
        namespaces.add(namespace)
        live = objects.get(reader_for(target, obj, app), key_of(obj), obj["apiVersion"])
        if live is None:
            unavailable.append(f"{obj['kind']} {namespace}/{meta.get('name')} is gone")
            continue
        ready = readiness(live)
        if not ready.done:
            unavailable.append(f"{obj['kind']} {namespace}/{meta.get('name')} is no longer available: {ready.message}")
        if obj["kind"] == "Deployment":
            deployments.add(meta.get("name", ""))
        labels = ((live.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if labels:
            pods += health.pods_matching(target.client, namespace, labels)
    names |= {("Pod", p.name) for p in pods}
    warnings = about_release([e for ns in sorted(namespaces) for e in health.warnings_in(target.client, ns)],
                             names, deployments)
    return unavailable, pods, warnings


# --- pause, resume, abort from another process ----------------------------------------------------------

@dataclass(frozen=True)
class ControlResult:
    """What ``control`` asked, of which run, on which clusters."""

    service: str
    environment: str
    action: Action
    holder: str
    clusters: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "environment": self.environment, "action": self.action,
                "run": self.holder, "clusters": self.clusters}

    def to_text(self) -> str:
        return f"{self.action} sent to {self.holder}'s deploy of {self.service} ({self.environment}) on " \
               f"{', '.join(self.clusters)}"


def control(app: App, service_name: str, environment: str, action: Action, actor: str | None = None
            ) -> ControlResult:
    """Ask the deploy of ``service_name`` to ``environment`` that holds the lock now to pause,
    resume or abort (seen within a poll interval while a wave bakes). What the CLI's
    ``deployer wave`` and the page call. Raises ``LockedError`` when no deploy holds the lock."""
    service = app.config.service(service_name)
    clusters = resolve_targets(app.config, service, environment, ())  # a UsageError for an unknown environment
    namespace = service.namespace_of(environment)
    by = actor or default_actor()

    def holder_on(cluster: Any) -> str | None:
        lease = read_lease(app.client(cluster), namespace, lease_name(service.name))
        return ((lease or {}).get("spec") or {}).get("holderIdentity") or None

    holders = {c.name: h for c, h in zip(clusters, each_concurrently(clusters, holder_on), strict=True)}
    running = sorted({h for h in holders.values() if h})
    if not running:
        raise LockedError(f"no deploy of {service_name} to {environment} is running: no cluster's deploy lock "
                          f"({namespace}/{lease_name(service.name)}) is held",
                          hint="`deployer wave` acts on a deploy while it runs (most usefully while a wave bakes).")
    if len(running) > 1:
        raise LockedError(f"the deploy locks of {service_name} {environment} name different runs: "
                          f"{', '.join(running)}; nothing was sent",
                          hint="Wait for the older run to finish or its lease to lapse, then try again.")
    holder = running[0]
    request = ControlRequest(action, holder, by, app.now().isoformat())
    held = [c for c in clusters if holders[c.name] == holder]
    each_concurrently(held, lambda c: write_control(app.client(c), namespace, service.name, request))
    return ControlResult(service.name, environment, action, holder, [c.name for c in held])
