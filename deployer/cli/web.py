"""`deployer web`: serve the deploy-button page (deployer.web) until interrupted."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

from deployer.cli.output import settings_of
from deployer.errors import UsageError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Keep it local and put an authenticating proxy in front "
                   "(it names the user in X-Forwarded-User).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the audit log, audit.jsonl (default: ~/.local/state/deployer/web).")
@click.option("--grace-period", default="4s", metavar="DURATION", show_default=True,
              help="On shutdown, how long running jobs' onFailure rollback may run before it is abandoned.")
@click.pass_context
def web(ctx: click.Context, host: str, port: int, state_dir: Path | None, grace_period: str) -> int:
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
    from deployer.config.models import parse_duration
    from deployer.web.asgi import create_app
    from deployer.web.audit import default_state_dir
    from deployer.web.context import WebContext
    from deployer.web.serve import bind, make_server

    try:
        grace = parse_duration(grace_period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--grace-period") from None
    settings = settings_of(ctx)
    load_config(settings.config_dir)  # an invalid folder stops the start, with every problem named
    web_ctx = WebContext(settings.config_dir, state_dir or default_state_dir())
    try:  # the audit file is created first, so a bad state folder stops the start rather than the first job
        web_ctx.audit.prepare()
    except OSError as exc:
        raise UsageError(f"cannot write the audit log {web_ctx.audit.path}: {exc.strerror}",
                         hint="Pass --state-dir with a folder this user can write.") from exc
    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    server = make_server(create_app(web_ctx))
    click.echo(f"deployer web: serving {settings.config_dir} on http://{bound_host}:{bound_port}/ "
               f"(audit log {web_ctx.audit.path}; Ctrl-C stops)", err=True)
    # uvicorn handles SIGINT and SIGTERM while it serves: it stops listening, lets open connections
    # close, then raises the signal again once its own handlers are gone. A service manager stops
    # with SIGTERM: treat it as Ctrl-C; then stop the jobs.
    signal.signal(signal.SIGTERM, _interrupt)
    first = ""
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt as stopped_by:
        first = str(stopped_by) or "SIGINT"
    finally:
        sock.close()
        web_ctx.reads.close()  # the pages' clients; each job has its own App
    app = web_ctx
    running = app.jobs.running()
    if running:
        first = first or "SIGTERM"
        # The running jobs stop as a signalled CLI run does (deployer.cli.signals): no new writes,
        # onFailure within the grace period, records settled, locks released after their workers
        # return. A second signal abandons the grace period (their locks are still released only
        # once their workers return); a third leaves at once, and the locks then expire by themselves.
        from deployer.stopping import SIGNAL_EXIT_CODES

        signals = [0]

        def again(signum: int, frame: object) -> None:
            signals[0] += 1
            if signals[0] >= 2:
                _abandon(signum, frame)
            name = signal.Signals(signum).name
            for stop in app.jobs.stops():
                stop.request(name, grace, SIGNAL_EXIT_CODES[name])
            os.write(2, b"deployer web: grace period abandoned; waiting for the jobs' workers to stop "
                        b"before their locks are released; once more leaves at once\n")

        signal.signal(signal.SIGINT, again)
        signal.signal(signal.SIGTERM, again)
        for job in running:
            job.stop.request(first, grace, SIGNAL_EXIT_CODES[first])
        click.echo(f"deployer web: {first}: stopping {len(running)} running job(s) "
                   f"({', '.join(j.id for j in running)}): no new writes, onFailure within the {grace:g}s "
                   f"grace period; {first} again abandons the grace period", err=True)
        app.jobs.join()
        click.echo("deployer web: every job stopped", err=True)
    return 0


def _abandon(signum: int, frame: object) -> None:
    # A third signal: the operator wants out now, even while a worker is stuck in a request. A
    # normal exit would join the workers (concurrent.futures does at interpreter exit); records
    # left "in progress" are marked abandoned by the next run, whose locks expire by themselves.
    sys.stderr.write("deployer web: abandoned the running job(s)\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)
