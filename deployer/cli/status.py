"""`deployer status`: what each cluster runs, read from the cluster and checked against the records."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from deployer.cli.output import app_of, config_of, emit, settings_of, table

if TYPE_CHECKING:
    from deployer.pipeline.status import ReleaseStatus


@click.command()
@click.argument("service")
@click.option("--env", "environment", default=None, help="Only this environment.")
@click.pass_context
def status(ctx: click.Context, service: str, environment: str | None) -> int:
    """Show which release of SERVICE each cluster runs now, read from the cluster.

    \b
    Per cluster and environment: the release the records say it is on, and the live objects of
    the newest release compared with that record (images by digest, owner labels, presence,
    generation observed). A difference is drift, printed under the table.

    \b
    Exit codes: 0 every cluster runs what its newest record says; 12 drift somewhere; 7 no
    cluster could be read; 8 some could not.
    """
    from deployer.pipeline.status import exit_code
    from deployer.pipeline.status import status as read_status

    settings = settings_of(ctx)
    with app_of(config_of(ctx)) as app:
        found = read_status(app, service, environment)
    data: dict[str, dict[str, object]] = {}
    for item in found:
        data.setdefault(item.cluster, {})[item.environment] = item.to_dict()
    emit(settings, data, lambda: _text(service, found))
    return int(exit_code(found))


def _text(service: str, found: list[ReleaseStatus]) -> str:
    rows, notes = [], []
    for s in found:
        if s.error is not None:
            rows.append([s.cluster, s.environment, "unreadable", "-", "-", s.error.message])
            continue
        now, latest = s.current, s.latest
        rows.append([s.cluster, s.environment, f"r{now.revision}" if now else "none", now.image if now else "-",
                     f"r{latest.revision} {latest.outcome}" if latest else "never deployed",
                     "DRIFT" if s.drift else ("as recorded" if latest else "-")])
        notes += [f"{s.cluster} {s.environment}: {f.message}" for f in s.findings]
    if not rows:
        return f"no environment of {service} matches"
    return "\n".join([table(rows, ["cluster", "environment", "current", "image", "latest", "live"]), *notes])
