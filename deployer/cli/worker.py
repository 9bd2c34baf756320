"""`deployer worker`: run the page's queued jobs from a database until stopped."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType

import click

from deployer.cli.output import settings_of


@click.command()
@click.option("--database", envvar="DEPLOYER_DATABASE", metavar="URL", default=None,
              help="The page's database: postgresql://USER@HOST:PORT/NAME for a team, or sqlite:///PATH "
                   "(default: web.db in --state-dir). Also read from $DEPLOYER_DATABASE, which keeps a "
                   "password out of the process list.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the default SQLite database (default: ~/.local/state/deployer/web).")
@click.option("--grace-period", default="4s", metavar="DURATION", show_default=True,
              help="When stopped or cancelled, how long a running job's onFailure rollback may run.")
@click.option("--stale-after", default="10s", metavar="DURATION", show_default=True,
              help="A running job whose worker has not written a heartbeat for this long is marked interrupted.")
@click.option("--name", default=None, help="This worker's name in the jobs it claims (default: HOST:PID).")
@click.option("--parent-pid", type=int, default=None, hidden=True,
              help="Stop taking jobs once this process has gone (set by `deployer web --workers`).")
@click.pass_context
def worker(ctx: click.Context, database: str | None, state_dir: Path | None, grace_period: str, stale_after: str,
           name: str | None, parent_pid: int | None) -> int:
    """Run the deploy page's queued jobs: claim one, run it, settle it, repeat.

    \b
    `deployer web` starts two workers by itself; run more on other machines against the same
    PostgreSQL database (each claims with SELECT ... FOR UPDATE SKIP LOCKED, so no job runs twice).
    A job runs the same functions as `deployer deploy`, `promote` and `rollback`, with the
    clusters' deploy locks. The schema is brought up to date on start (a newer one is refused).
    SIGTERM or Ctrl-C stops the running job as it stops the CLI (onFailure within the grace
    period, records settled, locks released); a second abandons the grace period.

    \b
    Examples:
      DEPLOYER_DATABASE=postgresql://deployer@db.internal/deployer deployer --config-dir /srv/deploy worker
      deployer worker --state-dir /var/lib/deployer-web
    """
    from deployer.cli.entry import keep_default_collection

    keep_default_collection()  # runs for days: the interpreter's own collector thresholds
    from deployer.config.models import parse_duration
    from deployer.stopping import SIGNAL_EXIT_CODES
    from deployer.web.audit import default_state_dir
    from deployer.web.store.database import default_url, open_database, shown
    from deployer.web.store.jobs import JobStore
    from deployer.web.worker import Worker

    try:
        grace = parse_duration(grace_period)
        stale = parse_duration(stale_after)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    settings = settings_of(ctx)
    url = database or default_url(state_dir or default_state_dir())
    store = JobStore(open_database(url))

    def say(line: str) -> None:
        click.echo(f"deployer worker {runner.name}: {line}", err=True)

    def wanted() -> bool:
        return parent_pid is None or os.getppid() == parent_pid

    runner = Worker(store, settings.config_dir, name=name, grace=grace, stale_after=stale, still_wanted=wanted,
                    say=say)
    signals = [0]

    def handle(signum: int, frame: FrameType | None) -> None:
        signals[0] += 1
        if signals[0] >= 3:
            os.write(2, b"deployer worker: leaving at once; the job's locks expire by themselves\n")
            os._exit(130)
        sig = signal.Signals(signum).name
        runner.stop_claiming()
        job = runner.stop_current(sig, SIGNAL_EXIT_CODES[sig])
        what = f"stopping job {job.id}" if job else "no job running"
        step = ("abandoning the grace period; locks are released once the job's workers stop" if signals[0] == 2
                else f"no new writes, onFailure within the {grace:g}s grace period; {sig} again abandons it")
        os.write(2, f"deployer worker {runner.name}: {sig}: {what}: {step}\n".encode())

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    say(f"taking jobs from {shown(url)}")
    runner.run()
    say("stopped")
    sys.stderr.flush()
    store.engine.dispose()
    return 0
