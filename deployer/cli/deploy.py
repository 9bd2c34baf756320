"""`deployer deploy`, `promote`, `rollback` and `history`: parse, call the story, render the report."""

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


def _finish(ctx: click.Context, story: Callable[[Any], RunReport], report: Path | None, junit: Path | None,
            grace: float) -> int:
    """Run ``story`` with the command's App, stopping it on SIGINT/SIGTERM (``deployer.cli.signals``);
    write --report and --junit; print; the exit code (130/143 when a signal stopped it)."""
    import json

    from deployer.cli.signals import stopping_on_signals
    from deployer.errors import DeployerError
    from deployer.stopping import Interrupted

    settings = settings_of(ctx)
    with app_of(config_of(ctx), _progress(settings.json)) as app, \
            stopping_on_signals(lambda: [app.stop], grace):
        try:
            run = story(app)
        except DeployerError as exc:
            reason = app.stop.reason
            if reason is None or isinstance(exc, Interrupted):
                raise
            # A child (buildah, terraform) got the same signal and failed: the signal is the cause.
            raise Interrupted(f"{exc.message} ({app.stop.describe()})", exit_code=reason.exit_code) from exc
        # Still under the handlers: a signal now (Jenkins' abort as the run ends) must not cut the
        # report short; the run has already settled everything.
        if report:
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(json.dumps(run.to_dict(), indent=2) + "\n")
        if junit:
            junit.parent.mkdir(parents=True, exist_ok=True)
            junit.write_text(run.to_junit() + "\n")
        emit(settings, run.to_dict(), run.to_text)
    return int(run.exit_code(settings.detailed_exitcode))


env_option = click.option("--env", "environment", required=True,
                          help="The service's environment (services/<name>.yaml).")
common = [
    click.option("--cluster", "clusters", multiple=True, help="Only this target cluster (repeatable)."),
    click.option("--wait-for-lock", default="0", callback=_duration, metavar="DURATION",
                 help="Wait this long (e.g. 5m) for another deploy's lock instead of failing at once."),
    click.option("--lock-lease", default="30s", callback=_duration, metavar="DURATION", show_default=True,
                 help="How long the deploy lock outlives its last renewal (how long a killed run blocks others)."),
    click.option("--actor", default=None, help="Who deploys, recorded in the lock and the release record "
                                               "(default: $BUILD_URL, else user@host)."),
    click.option("--grace-period", default="4s", callback=_duration, metavar="DURATION", show_default=True,
                 help="After SIGINT/SIGTERM, how long onFailure's rollback may run before it is abandoned "
                      "(keep it under the time Jenkins allows between SIGTERM and SIGKILL)."),
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
@env_option
@with_common
@click.option("--dry-run", is_flag=True, help="Build nothing and write nothing: render and preflight only.")
@click.option("--commit", default=None, help="Commit for the image tag (default: $DEPLOYER_COMMIT, else git).")
@click.option("--builder", type=click.Choice(["buildah", "docker"]), default="buildah", show_default=True)
@click.option("--delete-unmanaged", is_flag=True, help="Delete the service from clusters that are no longer "
                                                       "targets of the environment (they are only named otherwise).")
@no_prune
@click.pass_context
def deploy(ctx: click.Context, service: str, environment: str, clusters: tuple[str, ...], wait_for_lock: float,
           lock_lease: float, actor: str | None, grace_period: float, report_file: Path | None, junit: Path | None,
           dry_run: bool, commit: str | None, builder: str, delete_unmanaged: bool, no_prune: bool) -> int:
    """Deploy SERVICE to every target cluster of an environment, in parallel.

    \b
    Builds the image once per commit (tagged with the commit; skipped when the registry has it),
    pushes it to each cluster's registry, renders the manifests with the image pinned by digest,
    preflights every cluster (access reviews and a strict server-side dry run) before writing
    anything, takes a deploy lock per cluster, applies, waits by kubectl's rollout rules, and on
    failure follows the service's rollout.onFailure policy. Each cluster ends on the new release
    or back on the old one, and the report says which. An environment with promoteFrom takes
    only a commit that succeeded in that environment, with the digest it ran there. Objects the
    new release no longer declares are deleted (with the cluster's admin credential) when their
    labels and uid prove they are this environment's; --no-prune keeps them. An environment with
    waves (or canary) deploys wave by wave, each after the previous one's gate (bake time, health,
    metric checks); `deployer wave pause|resume|abort` steers it (docs/waves.md).

    \b
    Examples:
      deployer deploy hello --env staging
      deployer -o json deploy hello --env production --junit reports/deploy.xml --wait-for-lock 10m
    """
    from deployer.pipeline.deploy import DeployRequest
    from deployer.pipeline.deploy import deploy as run_deploy
    from deployer.pipeline.steps import default_actor

    request = DeployRequest(service, environment, clusters, dry_run, actor or default_actor(), wait_for_lock,
                            commit, builder, max(1, int(lock_lease)), delete_unmanaged, not no_prune)
    return _finish(ctx, lambda app: run_deploy(request, app), report_file, junit, grace_period)


@click.command()
@click.argument("service")
@click.option("--from", "source", required=True, help="The environment whose running release is promoted.")
@click.option("--to", "environment", required=True, help="The environment to deploy it to.")
@with_common
@click.option("--dry-run", is_flag=True, help="Copy nothing and write nothing: choose, render and preflight only.")
@click.option("--commit", default=None, help="Refuse unless the --from environment runs this commit (a pipeline "
                                             "passes the commit it tested).")
@click.pass_context
def promote(ctx: click.Context, service: str, source: str, environment: str, clusters: tuple[str, ...],
            wait_for_lock: float, lock_lease: float, actor: str | None, grace_period: float,
            report_file: Path | None, junit: Path | None, dry_run: bool, commit: str | None) -> int:
    """Deploy to one environment exactly the build another one runs: no rebuild.

    \b
    Chooses the release the --from environment runs successfully on every one of its clusters
    (refused when they run different digests or the newest release there did not succeed),
    copies that image by digest into each --to cluster's registry, and deploys it as `deploy`
    does (preflight, lock, apply, wait, failure policy). Each release record names the
    environment and revisions it was promoted from.

    \b
    Examples:
      deployer promote hello --from staging --to production
      deployer -o json promote hello --from staging --to production --junit reports/promote.xml
    """
    from deployer.pipeline.promote import PromoteRequest
    from deployer.pipeline.promote import promote as run_promote
    from deployer.pipeline.steps import default_actor

    request = PromoteRequest(service, source, environment, clusters, dry_run, actor or default_actor(),
                             wait_for_lock, max(1, int(lock_lease)), commit)
    return _finish(ctx, lambda app: run_promote(request, app), report_file, junit, grace_period)


@click.command()
@click.argument("service")
@env_option
@with_common
@click.option("--to", "to_revision", type=int, default=None, help="The revision to return to (default: the one "
                                                                   "before the one the cluster runs).")
@no_prune
@click.pass_context
def rollback(ctx: click.Context, service: str, environment: str, clusters: tuple[str, ...], wait_for_lock: float,
             lock_lease: float, actor: str | None, grace_period: float, report_file: Path | None,
             junit: Path | None, to_revision: int | None, no_prune: bool) -> int:
    """Put SERVICE back on an earlier release on every target cluster of an environment.

    Re-applies the objects and image digest recorded for that release, under the same lock,
    apply and wait as a deploy, records it as a new revision, and removes the objects only the
    releases left behind added (--no-prune keeps them).
    """
    from deployer.pipeline.rollback import RollbackRequest
    from deployer.pipeline.rollback import rollback as run_rollback
    from deployer.pipeline.steps import default_actor

    request = RollbackRequest(service, environment, to_revision, clusters, actor or default_actor(), wait_for_lock,
                              max(1, int(lock_lease)), not no_prune)
    return _finish(ctx, lambda app: run_rollback(request, app), report_file, junit, grace_period)


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
            if r.promoted_from:
                from deployer.rollout.promotion import source_text

                note = f"promoted from {source_text(r.promoted_from)}; {note}"
            rows.append([h.cluster, r.environment, f"r{r.revision}", r.time[:19], r.outcome, r.digest[:19],
                         f"{r.actor} {note}".strip()])
    emit(settings, data, lambda: table(rows, ["cluster", "environment", "revision", "time", "outcome", "digest",
                                              "actor / note"])
         if rows else f"no releases of {service} yet")
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
