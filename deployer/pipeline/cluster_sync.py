"""The cluster sync story: make each cluster's common objects match its file and the chart.

    render every selected cluster (a bad template or file stops here: nothing was touched)
    -> per cluster, in parallel, with that cluster's own admin credential (from the App):
         read the inventory and the live objects -> plan (pure) -> apply the plan
    -> one report: per-cluster plans and results, and the overall outcome

``diff`` is the same story without the apply; ``--dry-run`` sends every change with
``dryRun=All`` so the API server checks it (admission, conflicts, permissions) without keeping it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from deployer.app import App
from deployer.config.loader import CHART_NAME, Config
from deployer.errors import ConfigError, DeployerError, ExitCode
from deployer.kube.apply import ApplyOptions, Execution, apply_plan
from deployer.kube.client import KubeClient
from deployer.kube.inventory import InventoryRef, StoredInventory, read_inventory
from deployer.kube.objects import read_live
from deployer.kube.parallel import alongside
from deployer.kube.resources import discover, served
from deployer.pipeline.fanout import ClusterRun, Outcome, exit_code, fan_out, outcome_of
from deployer.plan import ObjectKey, Plan, PlanOptions, key_of, plan_changes
from deployer.render import load_chart, render_chart

INVENTORY = InventoryRef(CHART_NAME)
Progress = Callable[[str, str, int, int], None]


@dataclass(frozen=True)
class SyncOptions:
    dry_run: bool = False
    force_conflicts: bool = False
    prune_namespaces: bool = False
    workers: int = 8
    """Objects applied at once per cluster."""
    progress: Progress | None = None
    """Told (cluster, step, done, total) as each cluster goes: for a progress display."""


@dataclass(frozen=True)
class ClusterSync:
    cluster: str
    plan: Plan
    execution: Execution | None = None
    """None for a diff."""
    dry_run: bool = False

    @property
    def error(self) -> DeployerError | None:
        return self.execution.error if self.execution else None

    @property
    def changed(self) -> bool:
        """For a diff or dry run: would it change anything. For a sync: did it write anything."""
        if self.execution is None or self.dry_run:
            return self.plan.changed
        return self.execution.writes > 0


@dataclass(frozen=True)
class SyncReport:
    action: str
    """"sync", "sync --dry-run" or "diff"."""
    runs: list[ClusterRun[ClusterSync]]

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.runs, lambda r: r.changed)

    def exit_code(self, detailed: bool = False) -> ExitCode:
        return exit_code(self.outcome, detailed)

    def to_dict(self, detailed: bool = False) -> dict[str, Any]:
        clusters = []
        for run in self.runs:
            item: dict[str, Any] = {"cluster": run.cluster, "status": _status(run), "seconds": round(run.seconds, 3)}
            if run.result is not None:
                item["plan"] = run.result.plan.to_dict()
                execution = run.result.execution
                if execution is not None:
                    item["writes"] = execution.writes
                    item["applied"] = [{"action": a.change.action.value, "object": str(a.change.key),
                                        "resourceVersion": a.resource_version, "noop": a.noop,
                                        "skipped": a.skipped or None} for a in execution.applied]
            if run.error is not None:
                item["error"] = run.error.to_dict()
            clusters.append(item)
        return {"action": self.action, "outcome": self.outcome.value,
                "exitCode": int(self.exit_code(detailed)), "clusters": clusters}


def _status(run: ClusterRun[ClusterSync]) -> str:
    if run.failed:
        return "failed"
    assert run.result is not None
    return "changed" if run.result.changed else "no-change"


def render_desired(config: Config, names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The chart rendered for each cluster; every problem of every cluster in one ConfigError."""
    chart = load_chart(config.chart_dir)
    desired, problems = {}, []
    for name in names:
        try:
            desired[name] = render_chart(config.cluster(name), chart)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems, hint="Nothing was sent to any cluster. `deployer cluster render NAME` "
                                         "shows what a cluster's files render to.")
    return desired


def plan_cluster(client: KubeClient, desired: list[dict[str, Any]], options: SyncOptions,
                 ref: InventoryRef = INVENTORY) -> tuple[Plan, StoredInventory]:
    """Read what the plan needs (the inventory, then every desired or recorded object) and plan."""
    wanted = {key_of(obj): obj["apiVersion"] for obj in desired}
    # The inventory and discovery of the desired kinds at once: neither needs the other.
    stored = alongside(lambda: read_inventory(client, ref), lambda: discover(client, set(wanted.values())))
    unreadable: dict[ObjectKey, str] = {}
    for key, api_version in stored.inventory.entries if stored.inventory else ():
        if key in wanted:
            continue
        # A kind recorded at a version the cluster stopped serving (an upgrade removed it) must
        # not stop every later sync: that entry is skipped, with a note, and kept.
        if served(client, api_version, key.kind):
            wanted[key] = api_version
        else:
            unreadable[key] = f"the API server no longer serves {key.kind} in {api_version}"
    live = read_live(client, wanted)
    plan = plan_changes(desired, live, stored.inventory,
                        PlanOptions(prune_namespaces=options.prune_namespaces, cluster=client.cluster),
                        inventory_name=ref.name, unreadable=unreadable)
    return plan, stored


def sync_cluster(client: KubeClient, desired: list[dict[str, Any]], options: SyncOptions,
                 ref: InventoryRef = INVENTORY) -> ClusterSync:
    def tell(step: str, done: int = 0, total: int = 0) -> None:
        if options.progress:
            options.progress(client.cluster, step, done, total)

    tell("reading")
    plan, stored = plan_cluster(client, desired, options, ref)
    tell("applying", 0, len(plan.writes))
    execution = apply_plan(client, plan, ref,
                           ApplyOptions(force_conflicts=options.force_conflicts, dry_run=options.dry_run,
                                        workers=options.workers,
                                        progress=lambda done, total: tell("applying", done, total)),
                           inventory_version=stored.resource_version)
    tell("done", len(plan.writes), len(plan.writes))
    return ClusterSync(client.cluster, plan, execution, dry_run=options.dry_run)


def _each_cluster(app: App, names: Sequence[str], step: Callable[[KubeClient, list[dict[str, Any]]], ClusterSync]
                  ) -> list[ClusterRun[ClusterSync]]:
    """``step`` on every cluster at once, each with its admin credential: creating roles and
    bindings needs more than deploys do."""
    desired = render_desired(app.config, names)
    return fan_out(names, lambda name: step(app.admin_client(app.config.cluster(name)), desired[name]),
                   failure=lambda result: result.error)


def sync(app: App, names: Sequence[str], options: SyncOptions = SyncOptions()) -> SyncReport:
    """Sync ``names`` in parallel; each with its own credential; one failing never stops others."""
    runs = _each_cluster(app, names, lambda client, desired: sync_cluster(client, desired, options))
    return SyncReport("sync --dry-run" if options.dry_run else "sync", runs)


def diff(app: App, names: Sequence[str], options: SyncOptions = SyncOptions()) -> SyncReport:
    """What ``sync`` would do, from reads only: no request that writes, not even a dry run."""
    runs = _each_cluster(app, names,
                         lambda client, desired: ClusterSync(client.cluster, plan_cluster(client, desired, options)[0]))
    return SyncReport("diff", runs)


def render(config: Config, name: str) -> list[dict[str, Any]]:
    return render_desired(config, [name])[name]
