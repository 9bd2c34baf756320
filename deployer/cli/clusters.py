"""`deployer clusters list`."""

from __future__ import annotations

import click

from deployer.cli.output import emit, settings_of, table


@click.group()
def clusters() -> None:
    """The declared clusters (clusters/*.yaml)."""


@clusters.command("list")
@click.option("--environment", "-e", help="Only clusters of this environment.")
@click.option("--provider", type=click.Choice(["gke", "onprem"]), help="Only clusters of this provider.")
@click.pass_context
def list_clusters(ctx: click.Context, environment: str | None, provider: str | None) -> int:
    """List declared clusters with provider, environment, endpoint and registry."""
    from deployer.config.loader import load_config

    settings = settings_of(ctx)
    config = load_config(settings.config_dir)
    rows = []
    for name, c in sorted(config.clusters.items()):
        if (environment and c.environment != environment) or (provider and c.provider != provider):
            continue
        where = c.server or (f"{c.gke.project}/{c.gke.location}/{c.gke.cluster}" if c.gke else "")
        rows.append({"name": name, "provider": c.provider, "environment": c.environment,
                     "endpoint": where, "registry": c.registry, "labels": dict(c.labels),
                     "namespaces": c.namespace_names})
    emit(settings, rows, lambda: table(
        [[str(r[column]) for column in ("name", "provider", "environment", "endpoint", "registry")] for r in rows],
        ["name", "provider", "environment", "endpoint", "registry"]) if rows else "no clusters match")
    return 0
