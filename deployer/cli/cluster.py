"""`deployer cluster ...`: render, diff, sync and verify each cluster's common objects.

Each command parses its flags, calls one pipeline function and renders the report; rules live in
deployer.pipeline and deployer.plan. The Kubernetes client is imported inside commands only, so
`deployer --help` stays fast. To add a command (provision), decorate it with ``@cluster.command``
and use ``targets`` and ``pick_clusters`` for the NAME|--all selection.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from deployer.cli.output import app_of, config_of, emit, settings_of, table
from deployer.errors import DeployerError, UsageError

F = TypeVar("F", bound=Callable[..., Any])
FIELD_WIDTH = 160


@click.group()
def cluster() -> None:
    """A cluster's common objects (charts/cluster-base): namespaces, roles, bindings, robot accounts.

    \b
      deployer cluster render onprem-dc1     what the chart renders for a cluster
      deployer cluster diff --all            what a sync would change, per cluster
      deployer cluster sync --all            apply only what differs, prune what was removed
      deployer cluster verify --all          check every identity has exactly the chart's access
    """


def targets(command: F) -> F:
    """The NAME|--all selection shared by every command that works on clusters."""
    command = click.option("--all", "all_clusters", is_flag=True, help="Every cluster in clusters/.")(command)
    return click.argument("name", required=False)(command)


def pick_clusters(config: Any, name: str | None, all_clusters: bool) -> list[str]:
    if bool(name) == all_clusters:
        raise UsageError("name one cluster or pass --all (not both)",
                         hint="For example: deployer cluster sync onprem-dc1, or deployer cluster sync --all.")
    if all_clusters:
        if not config.clusters:
            raise UsageError(f"no cluster files in {config.root / 'clusters'}")
        return sorted(config.clusters)
    assert name is not None  # bool(name) != all_clusters above
    config.cluster(name)  # an unknown name is a usage error listing the known ones
    return [name]




# --- render --------------------------------------------------------------------------------------

@cluster.command("render")
@click.argument("name")
@click.pass_context
def render_command(ctx: click.Context, name: str) -> int:
    """Print the objects the chart renders for cluster NAME (YAML, or JSON with -o json)."""
    import yaml

    from deployer.pipeline.cluster_sync import render

    objects = render(config_of(ctx), name)
    emit(settings_of(ctx), objects, lambda: yaml.safe_dump_all(objects, sort_keys=False).rstrip())
    return 0


# --- diff and sync -------------------------------------------------------------------------------

@cluster.command("diff")
@targets
@click.option("--prune-namespaces", is_flag=True, help="Plan deleting namespaces no longer declared.")
@click.pass_context
def diff_command(ctx: click.Context, name: str | None, all_clusters: bool, prune_namespaces: bool) -> int:
    """Show what `cluster sync` would change on each cluster, field by field. Only reads.

    With --detailed-exitcode: exit 10 when a cluster would change, 0 when none would.
    """
    from deployer.pipeline.cluster_sync import SyncOptions, diff

    config = config_of(ctx)
    names = pick_clusters(config, name, all_clusters)
    with app_of(config) as app:
        report = diff(app, names, SyncOptions(prune_namespaces=prune_namespaces))
    return _print_sync(ctx, report)


@cluster.command("sync")
@targets
@click.option("--dry-run", is_flag=True,
              help="Send every change with dryRun=All: the API server checks it and keeps nothing.")
@click.option("--force-conflicts", is_flag=True,
              help="Take fields another field manager changed, instead of stopping with a conflict.")
@click.option("--prune-namespaces", is_flag=True,
              help="Delete namespaces no longer declared (and everything in them). Off by default.")
@click.pass_context
def sync_command(ctx: click.Context, name: str | None, all_clusters: bool, dry_run: bool, force_conflicts: bool,
                 prune_namespaces: bool) -> int:
    """Make each cluster's common objects match its file and the chart, in parallel.

    Applies (server-side, field manager `deployer`) only objects that differ, in dependency order;
    prunes objects deployer applied before that are no longer rendered; a cluster with nothing to
    change gets no write at all. Exit 7 when every cluster failed, 8 when some did.
    """
    from deployer.pipeline.cluster_sync import SyncOptions, sync

    config = config_of(ctx)
    names = pick_clusters(config, name, all_clusters)
    with _progress(settings_of(ctx), names) as progress, app_of(config) as app:
        options = SyncOptions(dry_run=dry_run, force_conflicts=force_conflicts, prune_namespaces=prune_namespaces,
                              progress=progress)
        report = sync(app, names, options)
    return _print_sync(ctx, report)


@contextmanager
def _progress(settings: Any, clusters: list[str]) -> Iterator[Any]:
    """A live per-cluster progress display on a terminal's stderr; nothing in logs or with JSON."""
    if settings.json or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        tasks = {name: bar.add_task(f"{name}: waiting", total=None) for name in clusters}

        def report(cluster: str, step: str, done: int, total: int) -> None:
            bar.update(tasks[cluster], description=f"{cluster}: {step}", completed=done, total=total or None)

        yield report


def _print_sync(ctx: click.Context, report: Any) -> int:
    settings = settings_of(ctx)
    code = int(report.exit_code(settings.detailed_exitcode))
    emit(settings, report.to_dict(settings.detailed_exitcode), lambda: _sync_text(report))
    _print_cluster_errors(settings, report.runs)
    return code


def _sync_text(report: Any) -> str:
    rows = []
    for run in report.runs:
        counts = run.result.plan.counts if run.result else {}
        status = "failed" if run.failed else ("changed" if run.result.changed else "no change")
        if report.action != "sync" and not run.failed and run.result.changed:
            status = "would change"
        rows.append([run.cluster, status] + [str(counts.get(a, "-")) for a in
                                             ("create", "update", "adopt", "prune", "unchanged")]
                    + [f"{run.seconds:.2f}"])
    lines = [table(rows, ["cluster", "result", "create", "update", "adopt", "prune", "unchanged", "seconds"])]
    for run in report.runs:
        if run.result is None:
            continue
        plan = run.result.plan
        shown = [c for c in plan.changes if c.action.value != "unchanged"]
        lines.append("")
        if not shown and not plan.inventory_changed:
            lines.append(f"{run.cluster}: no changes")
            continue
        lines.append(f"{run.cluster}:")
        for change in shown:
            lines.append(f"  {change.line()}")
            lines += [f"      {_clip(str(f))}" for f in change.fields]
        if plan.inventory_changed and not shown:
            lines.append("  ~ update the inventory of what deployer applied")
        execution = run.result.execution
        if execution is not None:
            lines += [f"  note: {a.change.key}: {a.skipped}" for a in execution.applied if a.skipped]
            lines += [f"  note: {a.change.key}: the API server made no change" for a in execution.applied if a.noop]
    lines += ["", _summary(report)]
    return "\n".join(lines)


def _summary(report: Any) -> str:
    by_status: dict[str, list[str]] = {}
    for run in report.runs:
        status = "failed" if run.failed else ("changed" if run.result.changed else "unchanged")
        by_status.setdefault(status, []).append(run.cluster)
    verb = {"sync": "changed", "diff": "would change", "sync --dry-run": "would change"}[report.action]
    parts = []
    if "changed" in by_status:
        parts.append(f"{verb}: {', '.join(by_status['changed'])}")
    if "unchanged" in by_status:
        parts.append(f"no changes: {', '.join(by_status['unchanged'])}")
    if "failed" in by_status:
        parts.append(f"failed: {', '.join(by_status['failed'])}")
    return f"{report.action}: " + "; ".join(parts) + f" ({report.outcome.value})"


def _clip(text: str) -> str:
    return text if len(text) <= FIELD_WIDTH else text[:FIELD_WIDTH - 3] + "..."


def _print_cluster_errors(settings: Any, runs: list[Any]) -> None:
    """Each failed cluster's error, once, in the CLI's error format (stderr), also with -o json
    (where the JSON document on stdout carries it too)."""
    from deployer.redact import scrub

    for run in runs:
        error: DeployerError | None = run.error
        if error is None:
            continue
        if settings.debug and error.__cause__ is not None:
            import traceback

            traceback.print_exception(error.__cause__, file=sys.stderr)
        click.echo(scrub(f"deployer: error: {error.message}"), err=True)
        if error.hint:
            click.echo(scrub(f"hint: {error.hint}"), err=True)


# --- verify --------------------------------------------------------------------------------------

@cluster.command("verify")
@targets
@click.pass_context
def verify_command(ctx: click.Context, name: str | None, all_clusters: bool) -> int:
    """Check that each identity the chart grants access to has exactly that access.

    The cluster's deploy credential is checked with its own token; every other subject the chart
    binds is checked by impersonation through the admin credential. Exit 11 names each excess or
    missing permission.
    """
    from deployer.pipeline.verify import verify

    settings = settings_of(ctx)
    config = config_of(ctx)
    names = pick_clusters(config, name, all_clusters)
    with app_of(config) as app:
        report = verify(app, names)
    emit(settings, report.to_dict(), lambda: _verify_text(report))
    _print_cluster_errors(settings, report.runs)
    return int(report.exit_code(settings.detailed_exitcode))


def _grouped(findings: Any) -> list[str]:
    """One line per identity, namespace and rule, listing its permissions (a widened rule can
    add one verb on many resources; one line per permission would bury the rule)."""
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for f in findings:
        groups.setdefault((f.identity, f.namespace, f.problem, f.rule), []).append(f.permission)
    lines = []
    for (identity, namespace, problem, rule), permissions in groups.items():
        what = ", ".join(permissions)
        if problem == "excess":
            lines.append(f"excess: {identity} may {what} in namespace {namespace}, which the chart does not "
                         f"grant (live rule: {rule})")
        else:
            lines.append(f"missing: {identity} cannot {what} in namespace {namespace}, which the chart grants "
                         f"({rule})")
    return lines


def _verify_text(report: Any) -> str:
    rows = []
    for run in report.runs:
        if run.result is None:
            rows.append([run.cluster, "-", "-", "error"])
            continue
        for check in run.result.checks:
            result = "ok" if not check.findings else f"{len(check.findings)} finding(s)"
            rows.append([run.cluster, check.identity, check.how, result])
    lines = [table(rows, ["cluster", "identity", "checked as", "result"])]
    for run in report.runs:
        if run.result is None:
            continue
        for check in run.result.checks:
            if check.note:
                lines.append(f"{run.cluster}: {check.identity}: {check.note}")
            lines += [f"{run.cluster}: {line}" for line in _grouped(check.findings)]
        lines += [f"{run.cluster}: note: {n}" for n in run.result.notes]
    findings = len(report.findings)
    lines.append("")
    lines.append("verify: every identity has exactly the access the chart grants" if not findings
                 else f"verify: {findings} permission(s) differ from the chart")
    return "\n".join(lines)


# --- provision -----------------------------------------------------------------------------------

@cluster.command("provision")
@click.argument("name", required=False)
@click.option("--all-gke", "all_gke", is_flag=True, help="Every GKE cluster in clusters/.")
@click.option("--dry-run", is_flag=True, help="Stop after terraform plan: show what would change, change nothing.")
@click.pass_context
def provision_command(ctx: click.Context, name: str | None, all_gke: bool, dry_run: bool) -> int:
    """Create a GKE cluster's deployer service account, bind it, and verify it.

    \b
    Runs Terraform (terraform/, through python-terraform) per cluster: init, plan, and apply
    only when the plan has changes. The account gets only roles/container.clusterViewer in
    Google IAM; its real permissions come from Kubernetes RBAC: provision then syncs the
    cluster (binding the account's email, kind User, to the chart's deployer role) and verifies
    as that identity that it can create and update but never delete. Idempotent.

    \b
      deployer cluster provision gke-staging --dry-run
      deployer cluster provision --all-gke
    """
    from deployer.pipeline.provision import provision_clusters

    settings = settings_of(ctx)
    config = config_of(ctx)
    if bool(name) == all_gke:
        raise UsageError("name one GKE cluster or pass --all-gke (not both)")
    names: list[str] = sorted(n for n, c in config.clusters.items() if c.provider == "gke") if all_gke \
        else [name or ""]
    for n in names:
        if config.cluster(n).provider != "gke":
            raise UsageError(f"cluster {n} is not a GKE cluster; provision is for provider: gke",
                             hint="On-prem clusters need no Google account: `deployer cluster sync` is enough.")
    if not names:
        raise UsageError(f"no GKE cluster files in {config.root / 'clusters'}")
    with app_of(config, progress=lambda _cluster, message: click.echo(message, err=True)) as app:
        report = provision_clusters(app, names, dry_run=dry_run)
    emit(settings, report.to_dict(), lambda: _provision_text(report))
    _print_cluster_errors(settings, report.runs)
    for sub in (report.sync, report.verify):
        if sub is not None:
            _print_cluster_errors(settings, sub.runs)
    return int(report.exit_code(settings.detailed_exitcode))


def _provision_text(report: Any) -> str:
    rows = []
    for run in report.runs:
        if run.error is not None:
            rows.append([run.cluster, "-", "failed", _clip(run.error.message.splitlines()[0])])
            continue
        result = run.result
        what = "dry run: " + result.plan.describe() if result.dry_run else (
            "applied: " + result.plan.describe() if result.applied else "no changes")
        if result.adopted:
            what += " (adopted the existing account)"
        rows.append([run.cluster, result.email, "ok", what])
    lines = [table(rows, ["cluster", "deployer account", "terraform", "plan"])]
    for run in report.runs:
        for warning in (run.result.warnings if run.result else ()):
            lines.append(f"warning: {run.cluster}: {warning}")
    if report.sync is not None:
        lines.append("\n" + _summary(report.sync))
    if report.verify is not None:
        lines.append(_verify_text(report.verify))
    return "\n".join(lines)
