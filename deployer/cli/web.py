"""`deployer web`: serve the deploy-button page (deployer.web) until interrupted."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

from deployer.cli.output import settings_of


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Keep it local and put an authenticating proxy in front "
                   "(it names the user in X-Forwarded-User).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the audit log, audit.jsonl (default: ~/.local/state/deployer/web).")
@click.pass_context
def web(ctx: click.Context, host: str, port: int, state_dir: Path | None) -> int:
    """Serve the deploy-button page: Check, Deploy and Roll back per service and environment.

    \b
    Each press runs the same functions as `deployer deploy --dry-run`, `deployer deploy` and
    `deployer rollback` in this process, with a live log; one job per service and environment
    at a time here, and the clusters' deploy locks still apply against the CLI and Jenkins.
    Production deploys ask for the service's name as confirmation. Every job's start and end
    is appended to the audit log.

    \b
    Examples:
      deployer web
      deployer --config-dir /srv/deploy web --port 9000 --state-dir /var/lib/deployer-web
    """
    from deployer.config.loader import load_config
    from deployer.web.audit import default_state_dir
    from deployer.web.server import WebApp, make_server

    settings = settings_of(ctx)
    load_config(settings.config_dir)  # an invalid folder stops the start, with every problem named
    app = WebApp(settings.config_dir, state_dir or default_state_dir())
    server = make_server(app, host, port)
    bound_host, bound_port = str(server.server_address[0]), server.server_address[1]
    click.echo(f"deployer web: serving {settings.config_dir} on http://{bound_host}:{bound_port}/ "
               f"(audit log {app.audit.path}; Ctrl-C stops)", err=True)
    # A service manager stops with SIGTERM: treat it as Ctrl-C, so running jobs finish first.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    running = app.jobs.running()
    if running:
        # From here on a second Ctrl-C or SIGTERM abandons the jobs, wherever the main thread is:
        # a handler rather than a KeyboardInterrupt, which could land outside the wait (while the
        # message below is written) and end in a normal exit that joins the jobs' worker threads.
        signal.signal(signal.SIGINT, _abandon)
        signal.signal(signal.SIGTERM, _abandon)
        click.echo(f"deployer web: waiting for {len(running)} running job(s) to finish "
                   f"({', '.join(j.id for j in running)}); Ctrl-C again abandons them, and their "
                   "deploy locks then expire by themselves", err=True)
        app.jobs.join()
    return 0


def _abandon(signum: int, frame: object) -> None:
    # A normal exit would join the jobs' worker threads (concurrent.futures does at interpreter
    # exit) and so wait for the very rollouts we were asked to leave. Their records stay "in
    # progress" and their deploy locks expire by themselves.
    sys.stderr.write("deployer web: abandoned the running job(s)\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
