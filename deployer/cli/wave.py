"""`deployer wave pause|resume|abort`: steer a deploy in waves from another process."""

from __future__ import annotations

import click

from deployer.cli.output import app_of, config_of, emit, settings_of


def _send(ctx: click.Context, action: str, service: str, environment: str, actor: str | None) -> int:
    from deployer.pipeline.waves import control

    settings = settings_of(ctx)
    with app_of(config_of(ctx)) as app:
        result = control(app, service, environment, action, actor)  # type: ignore[arg-type]
    emit(settings, result.to_dict(), result.to_text)
    return 0


@click.group()
def wave() -> None:
    """Pause, resume or abort a deploy in waves while it runs.

    \b
    A deploy whose environment sets `waves:` (or `canary:`) bakes each wave but the last before
    starting the next (docs/waves.md). These commands write a request, addressed to the run that
    holds the deploy lock, to a ConfigMap in each target namespace with the deploy credential (what
    Jenkins holds); the deploy reads it every second while a wave bakes. Exit 9 when no deploy of
    the service to that environment is running.

    \b
    Examples:
      deployer wave pause hello --env production     # hold before the next wave; the bake keeps watching
      deployer wave resume hello --env production    # carry on (the bake's remaining time first)
      deployer wave abort hello --env production     # fail the gate now: onFailure decides each cluster's release
      deployer -o json wave abort hello --env production --actor "$BUILD_URL"
    """


def _command(action: str, summary: str) -> click.Command:
    @click.command(name=action, help=summary)
    @click.argument("service")
    @click.option("--env", "environment", required=True, help="The environment being deployed.")
    @click.option("--actor", default=None, help="Who asks, as the deploy will report it (default: $BUILD_URL, "
                                                "else user@host).")
    @click.pass_context
    def command(ctx: click.Context, service: str, environment: str, actor: str | None) -> int:
        return _send(ctx, action, service, environment, actor)

    return command


wave.add_command(_command("pause", "Hold the running deploy of SERVICE at the end of its current bake.\n\n"
                                   "Example: deployer wave pause hello --env production"))
wave.add_command(_command("resume", "Let a paused deploy of SERVICE carry on to its next wave.\n\n"
                                    "Example: deployer wave resume hello --env production"))
wave.add_command(_command("abort", "Stop the running deploy of SERVICE during its bake: the gate fails, the "
                                   "environment's onFailure policy applies to the waves deployed, later waves "
                                   "are never written.\n\nExample: deployer wave abort hello --env production"))
