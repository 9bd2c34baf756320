"""`deployer validate` and `deployer schema`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from deployer.cli.output import emit, settings_of


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...]) -> int:
    """Check cluster and service files.

    With no PATH, checks every file under the configuration folder's clusters/ and services/,
    plus the cross-file rules (unique names, known target clusters and namespaces, roles the
    chart defines). All problems are reported together, each with file:line:column and field.
    Nothing is contacted: this is safe to run anywhere.
    """
    from deployer.config.loader import load_config

    settings = settings_of(ctx)
    config = load_config(settings.config_dir, only=list(paths) if paths else None)
    checked = {"clusters": sorted(config.clusters), "services": sorted(config.services)}
    emit(settings, {"valid": True, **checked},
         lambda: f"ok: {len(config.clusters)} cluster(s), {len(config.services)} service(s) are valid"
                 f" ({config.root})")
    return 0


@click.command()
@click.option("--kind", type=click.Choice(["all", "cluster", "service", "settings"]), default="all",
              show_default=True, help="settings: deployer.yaml, the settings of every service.")
def schema(kind: str) -> int:
    """Print the JSON Schema of cluster and service files.

    \b
    Point your editor's YAML language server at it, for example:
      deployer schema --kind cluster > .schemas/cluster.json
      # yaml-language-server: $schema=../.schemas/cluster.json
    """
    from deployer.config.schema import json_schemas

    schemas = json_schemas()
    out = schemas if kind == "all" else schemas[kind]
    click.echo(json.dumps(out, indent=2))
    return 0
