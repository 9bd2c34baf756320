"""`deployer stats`: the four DORA figures of a service's environment, as text, JSON or SVG charts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from deployer.cli.output import app_of, config_of, emit, settings_of
from deployer.errors import ExitCode

if TYPE_CHECKING:
    from deployer.pipeline.stats import Stats

CHARTS = ("deploys-per-day", "lead-time", "change-failure-rate", "time-to-restore")


@click.command()
@click.argument("service")
@click.option("--env", "environment", default="production", show_default=True,
              help="The environment whose deploys are counted.")
@click.option("--days", type=click.IntRange(1, 366), default=30, show_default=True,
              help="How many UTC days back from today.")
@click.option("--charts", "charts_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write the four charts as SVG files into this folder.")
@click.pass_context
def stats(ctx: click.Context, service: str, environment: str, days: int, charts_dir: Path | None) -> int:
    """How SERVICE's deploys to an environment went: the four DORA figures.

    \b
    Deploys per day (succeeded and failed), lead time (commit to deploy, median), change failure
    rate (failed deploys / deploys) and time to restore (failed deploy to the next release that
    succeeded, median), from the release records on the service's clusters and the commit times
    git knows in the service's folder. docs/metrics.md defines each.

    \b
    Examples:
      deployer stats hello                          the last 30 days of production
      deployer stats hello --env staging --days 7
      deployer -o json stats hello                  for a dashboard
      deployer stats hello --charts build/charts    also deploys-per-day.svg, lead-time.svg, ...
    """
    from deployer.observe import charts
    from deployer.pipeline.stats import stats as read_stats

    settings = settings_of(ctx)
    with app_of(config_of(ctx)) as app:
        found = read_stats(app, service, environment, days)
    if charts_dir is not None:
        charts_dir.mkdir(parents=True, exist_ok=True)
        drawn = (charts.deploys_per_day, charts.lead_time, charts.change_failure_rate, charts.time_to_restore)
        for name, draw in zip(CHARTS, drawn, strict=True):
            (charts_dir / f"{name}.svg").write_text(draw(found.figures) + "\n")
    data = {"service": found.service, **found.figures.to_dict(), "unreadable": found.unreadable}
    emit(settings, data, lambda: _text(found))
    return int(ExitCode.PARTIAL if found.unreadable else ExitCode.OK)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _text(found: Stats) -> str:
    f = found.figures
    rate = f"{f.change_failure_rate * 100:.0f}%" if f.change_failure_rate is not None else "- (no deploys)"
    lines = [
        f"{found.service} {f.environment}, {f.since} to {f.until}",
        f"deploys              {f.deploys} ({f.failures} failed)",
        f"change failure rate  {rate}",
        f"lead time            median {_duration(f.lead_time_median)} over {len(f.lead_times)} deploys"
        + (f"; commit time unknown for {', '.join(f.unknown_commits)}" if f.unknown_commits else ""),
        f"time to restore      median {_duration(f.time_to_restore_median)} over {len(f.restores)} restores"
        + (f"; {f.unrestored} failure(s) not restored yet" if f.unrestored else ""),
        "per day              " + ", ".join(f"{d.date:%m-%d} {d.succeeded} ok {d.failed} failed"
                                            for d in f.days if d.succeeded or d.failed),
    ]
    lines += [f"note: cluster {c} could not be read: {why}" for c, why in found.unreadable.items()]
    return "\n".join(lines)
