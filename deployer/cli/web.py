"""`deployer web`: serve the deploy-button page (deployer.web), with its workers, until interrupted."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from deployer.cli.output import settings_of
from deployer.cli.web_auth import auth_options, pop_auth_options


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Keep it local, and turn on sign-in (--oidc-client-id) or put an "
                   "authenticating proxy in front (--trusted-proxy).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the default SQLite database, web.db (default: ~/.local/state/deployer/web).")
@click.option("--database", envvar="DEPLOYER_DATABASE", metavar="URL", default=None,
              help="Where jobs, their logs and the audit trail live: postgresql://USER@HOST:PORT/NAME for a "
                   "team (workers on other machines use the same URL), else SQLite in --state-dir. Also read "
                   "from $DEPLOYER_DATABASE.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(0, 64),
              help="Worker processes to start beside the page (0: a page-only instance; jobs then wait for "
                   "`deployer worker` elsewhere).")
@click.option("--grace-period", default="4s", metavar="DURATION", show_default=True,
              help="On shutdown, how long running jobs' onFailure rollback may run before it is abandoned.")
@click.option("--stale-after", default="10s", metavar="DURATION", show_default=True,
              help="A running job whose worker has not written a heartbeat for this long is shown interrupted.")
@auth_options
@click.pass_context
def web(ctx: click.Context, /, host: str, port: int, state_dir: Path | None, database: str | None, workers: int,
        grace_period: str, stale_after: str, **auth_flags: Any) -> int:
    """Serve the deploy-button page: Check, Deploy, Roll back and Promote per service and environment.

    \b
    A press (or a POST to /jobs, which also takes action=promote) queues a job in the
    database; worker processes (--workers, and `deployer worker` on other machines) run it
    with the same functions as `deployer deploy --dry-run`, `deploy`, `rollback` and
    `promote`, and the page follows its live log from the database, across restarts. One job
    per service and environment at a time; the clusters' deploy locks still apply against
    the CLI and Jenkins. Production asks for the service's name as confirmation. Every job's
    start and end is in the audit trail. Ctrl-C or SIGTERM stops listening, then stops the
    running jobs as it stops the CLI.

    \b
    Examples:
      deployer web
      deployer --config-dir /srv/deploy web --port 9000 --state-dir /var/lib/deployer-web
      DEPLOYER_DATABASE=postgresql://deployer@db.internal/deployer deployer web --workers 4
      # Google sign-in, groups from a file, behind TLS at deploy.example.com:
      DEPLOYER_OIDC_CLIENT_SECRET=... deployer web --oidc-client-id ID.apps.googleusercontent.com
          --groups-file groups.yaml --public-url https://deploy.example.com   (one line)
      # behind an authenticating proxy at 10.0.0.7 that sets X-Forwarded-User/-Groups:
      deployer web --trusted-proxy 10.0.0.7 --allowed-host deploy.example.com
    """
    from deployer.cli.entry import keep_default_collection

    keep_default_collection()  # runs for days: the interpreter's own collector thresholds
    from deployer.config.loader import load_config
    from deployer.config.models import parse_duration
    from deployer.web.asgi import create_app
    from deployer.web.audit import default_state_dir
    from deployer.web.context import WebContext, WebSettings
    from deployer.web.pool import WorkerPool
    from deployer.web.serve import bind, make_server
    from deployer.web.store.database import shown

    try:
        parse_duration(grace_period)
        stale = parse_duration(stale_after)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    settings = settings_of(ctx)
    load_config(settings.config_dir)  # an invalid folder stops the start, with every problem named
    # The database opens (and its schema is brought up to date) before anything listens or runs.
    web_ctx = WebContext(settings.config_dir, state_dir or default_state_dir(), WebSettings(stale_after=stale),
                         database=database)
    from deployer.web.auth.settings import describe, resolve
    from deployer.web.auth.wiring import install

    auth = resolve(pop_auth_options(auth_flags, host, web_ctx.state_dir))
    middleware, auth_routes = install(web_ctx, auth)
    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    server = make_server(create_app(web_ctx, middleware=middleware, extra_routes=auth_routes))
    pool = WorkerPool(workers, settings.config_dir, web_ctx.database_url, grace=grace_period, stale_after=stale)
    pool.start()
    # Turns pass on (and their queue-turn notifications go out) when due, not when someone next looks.
    sweeper = web_ctx.queues.start_sweeping()
    click.echo(f"deployer web: serving {settings.config_dir} on http://{bound_host}:{bound_port}/ "
               f"(database {shown(web_ctx.database_url)}; {workers} worker(s); Ctrl-C stops)", err=True)
    click.echo(f"deployer web: {describe(auth)}", err=True)
    # uvicorn handles SIGINT and SIGTERM while it serves: it stops listening, lets open connections
    # close, then raises the signal again once its own handlers are gone. A service manager stops
    # with SIGTERM: treat it as Ctrl-C; then stop the workers and their jobs.
    signal.signal(signal.SIGTERM, _interrupt)
    first = "SIGTERM"
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt as stopped_by:
        first = str(stopped_by) or "SIGINT"
    finally:
        sock.close()
    running = web_ctx.store.running_on(pool.names)
    # The running jobs stop as a signalled CLI run does (deployer.cli.signals): no new writes,
    # onFailure within the grace period, records settled, locks released after their threads
    # return. Each signal the page gets is forwarded once to its workers: a second abandons the
    # grace period; a third leaves at once (the locks then expire by themselves).
    signals = [0]

    def again(signum: int, frame: object) -> None:
        signals[0] += 1
        if signals[0] >= 2:
            pool.signal(signum)
            _abandon(signum, frame)
        pool.signal(signum)
        os.write(2, b"deployer web: grace period abandoned; waiting for the jobs' workers to stop "
                    b"before their locks are released; once more leaves at once\n")

    signal.signal(signal.SIGINT, again)
    signal.signal(signal.SIGTERM, again)
    pool.signal(signal.Signals[first])
    if running:
        click.echo(f"deployer web: {first}: stopping {len(running)} running job(s) "
                   f"({', '.join(j.id for j in running)}): no new writes, onFailure within the "
                   f"{parse_duration(grace_period):g}s grace period; {first} again abandons the grace period",
                   err=True)
    pool.wait()
    if running:
        click.echo("deployer web: every job stopped", err=True)
    sweeper.stop()
    web_ctx.close()
    return 0


def _abandon(signum: int, frame: object) -> None:
    # A third signal: the operator wants out now. Records left "in progress" are marked abandoned
    # by the next run, whose locks expire by themselves.
    sys.stderr.write("deployer web: abandoned the running job(s)\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)
