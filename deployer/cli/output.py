"""What every command shares: its settings, its run's dependencies, and rendering its result (JSON
for machines, plain text for people)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from deployer.cli.main import Settings


def emit(settings: Settings, data: Any, text: Callable[[], str] | str) -> None:
    """Print ``data`` as one JSON document with --output json, else the text rendering."""
    if settings.json:
        click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
    else:
        click.echo(text() if callable(text) else text)


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain aligned table (no colour, so it reads the same in Jenkins logs)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(str(cell))) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def settings_of(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    assert settings is not None, "the root group always stores Settings"  # main() builds it first
    return settings


def config_of(ctx: click.Context) -> Any:
    """The cluster and service files of --config-dir, validated."""
    from deployer.config.loader import load_config

    return load_config(settings_of(ctx).config_dir)


def app_of(config: Any, progress: Callable[[str, str], None] | None = None) -> Any:
    """The composition root of one command's run (``deployer.app.App``: a client per cluster and
    credential, the image publisher, Terraform); a ``with`` block closes its clients."""
    import gc

    from deployer.app import App, Publishers

    # Everything imported and loaded so far lives as long as the command: out of the collector's
    # sight, so the full collections a run's allocations trigger (a list of 500 objects is tens
    # of thousands of dicts) stop walking it again and again. A command runs once; the page,
    # which runs for days, never comes here.
    gc.freeze()
    ctx = click.get_current_context(silent=True)
    settings = ctx.find_object(Settings) if ctx is not None else None
    return App(config, progress=progress,
               publishers=Publishers(config, warn, pushgateway=settings.pushgateway if settings else None))


def warn(message: str) -> None:
    """A problem that does not change the run's result (a webhook or the Pushgateway down)."""
    from deployer.redact import scrub

    click.echo(scrub(f"deployer: warning: {message}"), err=True)
