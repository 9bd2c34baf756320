"""`deployer deploy`, `rollback`, `history` and `status`: parse, call the story, render the report."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from deployer.cli.output import app_of, config_of, emit, settings_of, table
from deployer.config.models import parse_duration

if TYPE_CHECKING:
    from deployer.pipeline.report import RunReport

F = TypeVar("F", bound=Callable[..., Any])


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float:
    if value in (None, "", "0"):
        return 0.0
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _progress(json_mode: bool) -> Callable[[str, str], None]:
    start = time.monotonic()

    def show(cluster: str, message: str) -> None:
        # Progress goes to stderr so stdout stays the result (text or one JSON document).
        where = f"[{cluster}] " if cluster else ""
        click.echo(f"{time.monotonic() - start:6.1f}s {where}{message}", err=True)

    return show


def _write_reports(run: RunReport, report: Path | None, junit: Path | None) -> None:
    import json

    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(run.to_dict(), indent=2) + "\n")
    if junit:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(run.to_junit() + "\n")


common = [
    click.option("--env", "environment", required=True, help="The service's environment (services/<name>.yaml)."),
    click.option("--cluster", "clusters", multiple=True, help="Only this target cluster (repeatable)."),
    click.option("--wait-for-lock", default="0", callback=_duration, metavar="DURATION",
                 help="Wait this long (e.g. 5m) for another deploy's lock instead of failing at once."),
    click.option("--lock-lease", default="30s", callback=_duration, metavar="DURATION", show_default=True,
                 help="How long the deploy lock outlives its last renewal (how long a killed run blocks others)."),
    click.option("--actor", default=None, help="Who deploys, recorded in the lock and the release record "
                                               "(default: $BUILD_URL, else user@host)."),
    click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
                 help="Also write the JSON report to this file."),
    click.option("--junit", type=click.Path(dir_okay=False, path_type=Path),
                 help="Also write JUnit XML (a test case per cluster and step) to this file."),
]


no_prune = click.option("--no-prune", is_flag=True, help="Keep the objects the release no longer declares "
                                                         "(still recorded: a later release prunes them).")


def with_common(func: F) -> F:
    for option in reversed(common):
        func = option(func)
    return func


@click.command()
@click.argument("service")
@with_common
@click.option("--dry-run", is_flag=True, help="Build nothing and write nothing: render and preflight only.")
@click.option("--commit", default=None, help="Commit for the image tag (default: $DEPLOYER_COMMIT, else git).")
@click.option("--builder", type=click.Choice(["buildah", "docker"]), default="buildah", show_default=True)
@click.option("--delete-unmanaged", is_flag=True, help="Delete the service from clusters that are no longer "
                                                       "targets of the environment (they are only named otherwise).")
@no_prune
@click.pass_context
def deploy(ctx: click.Context, service: str, environment: str, clusters: tuple[str, ...], wait_for_lock: float,
           lock_lease: float, actor: str | None, report_file: Path | None, junit: Path | None, dry_run: bool,
           commit: str | None, builder: str, delete_unmanaged: bool, no_prune: bool) -> int:
    """Deploy SERVICE to every target cluster of an environment, in parallel.

    \b
    Builds the image once (tagged <commit>-<env>; skipped when the registry has it), pushes it
    to each cluster's registry, renders the manifests with the image pinned by digest,
    preflights every cluster (access reviews and a strict server-side dry run) before writing
    anything, takes a deploy lock per cluster, applies, waits by kubectl's rollout rules, and on
    failure follows the service's rollout.onFailure policy. Each cluster ends on the new release
    or back on the old one, and the report says which. Objects the new release no longer declares
    are deleted (with the cluster's admin credential) when their labels and uid prove they are
    this environment's; --no-prune keeps them.

    \b
    Examples:
      deployer deploy hello --env staging
      deployer -o json deploy hello --env production --junit reports/deploy.xml --wait-for-lock 10m
    """
    from deployer.pipeline.deploy import DeployRequest
    from deployer.pipeline.deploy import deploy as run_deploy
    from deployer.pipeline.steps import default_actor

    settings = settings_of(ctx)
    request = DeployRequest(service, environment, clusters, dry_run, actor or default_actor(), wait_for_lock,
                            commit, builder, max(1, int(lock_lease)), delete_unmanaged, not no_prune)
    with app_of(config_of(ctx), _progress(settings.json)) as app:
        run = run_deploy(request, app)
    _write_reports(run, report_file, junit)
    emit(settings, run.to_dict(), run.to_text)
    return int(run.exit_code(settings.detailed_exitcode))


@click.command()
@click.argument("service")
@with_common
@click.option("--to", "to_revision", type=int, default=None, help="The revision to return to (default: the one "
                                                                   "before the one the cluster runs).")
@no_prune
@click.pass_context
def rollback(ctx: click.Context, service: str, environment: str, clusters: tuple[str, ...], wait_for_lock: float,
             lock_lease: float, actor: str | None, report_file: Path | None, junit: Path | None,
             to_revision: int | None, no_prune: bool) -> int:
    """Put SERVICE back on an earlier release on every target cluster of an environment.

    Re-applies the objects and image digest recorded for that release, under the same lock,
    apply and wait as a deploy, records it as a new revision, and removes the objects only the
    releases left behind added (--no-prune keeps them).
    """
    from deployer.pipeline.rollback import RollbackRequest
    from deployer.pipeline.rollback import rollback as run_rollback
    from deployer.pipeline.steps import default_actor

    settings = settings_of(ctx)
    request = RollbackRequest(service, environment, to_revision, clusters, actor or default_actor(), wait_for_lock,
                              max(1, int(lock_lease)), not no_prune)
    with app_of(config_of(ctx), _progress(settings.json)) as app:
        run = run_rollback(request, app)
    _write_reports(run, report_file, junit)
    emit(settings, run.to_dict(), run.to_text)
    return int(run.exit_code(settings.detailed_exitcode))


@click.command()
@click.argument("service")
@click.option("--env", "environment", default=None, help="Only this environment.")
@click.pass_context
def history(ctx: click.Context, service: str, environment: str | None) -> int:
    """Show SERVICE's release records, read from each target cluster."""
    settings = settings_of(ctx)
    found = _records(ctx, service, environment)
    data = {h.cluster: (h.error.message if h.error else [r.summary() for r in h.records]) for h in found}
    rows = []
    for h in found:
        if h.error is not None:
            rows.append([h.cluster, "-", "-", "-", "unreadable", "-", h.error.message])
            continue
        for r in sorted(h.records, key=lambda r: (r.environment, r.revision)):
            note = f"rollback to r{r.rollback_of}" if r.rollback_of else r.message
            rows.append([h.cluster, r.environment, f"r{r.revision}", r.time[:19], r.outcome, r.digest[:19],
                         f"{r.actor} {note}".strip()])
    emit(settings, data, lambda: table(rows, ["cluster", "environment", "revision", "time", "outcome", "digest",
                                              "actor / note"])
         if rows else f"no releases of {service} yet")
    return _read_exit_code(found)


@click.command()
@click.argument("service")
@click.option("--env", "environment", default=None, help="Only this environment.")
@click.pass_context
def status(ctx: click.Context, service: str, environment: str | None) -> int:
    """Show which release of SERVICE each cluster runs now."""
    settings = settings_of(ctx)
    found = _records(ctx, service, environment)
    data: dict[str, Any] = {}
    rows = []
    for h in found:
        if h.error is not None:
            data[h.cluster] = {"error": h.error.message}
            rows.append([h.cluster, "-", "unreadable", "-", h.error.message])
            continue
        # A release is one environment on the cluster: each has its own revisions and namespace.
        for env in sorted({r.environment for r in h.records}) or [environment or "-"]:
            mine = h.of_environment(env)
            now, latest = mine.current, mine.latest
            data.setdefault(h.cluster, {})[env] = {"current": now.summary() if now else None,
                                                   "latest": latest.summary() if latest else None}
            rows.append([h.cluster, env, f"r{now.revision}" if now else "none", now.image if now else "-",
                         f"latest r{latest.revision} {latest.outcome}" if latest else "never deployed"])
    emit(settings, data, lambda: table(rows, ["cluster", "environment", "current", "image", "latest"]))
    return _read_exit_code(found)


def _records(ctx: click.Context, service: str, environment: str | None) -> list[Any]:
    """Per target cluster: its release records of ``service`` (or why they could not be read)."""
    from deployer.pipeline.history import history as read_history

    with app_of(config_of(ctx)) as app:
        return read_history(app, service, environment)


def _read_exit_code(found: list[Any]) -> int:
    from deployer.errors import ExitCode

    unreadable = [h for h in found if h.error is not None]
    if unreadable and len(unreadable) == len(found):
        return int(ExitCode.FAILED)
    return int(ExitCode.PARTIAL if unreadable else ExitCode.OK)
