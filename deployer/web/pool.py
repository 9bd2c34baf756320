"""The worker processes `deployer web --workers N` starts beside the page, on the same database.

Each is `deployer worker` in its own session (a Ctrl-C in the terminal reaches the page only; the
page forwards each signal once, so a worker counts signals as a CLI run does). The database URL
goes through the environment, never the command line (``ps`` would show its password). A worker
whose page has gone finishes its job and then stops (``--parent-pid``), so killing the page never
kills a deploy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from deployer.web.worker import default_name

DATABASE_VARIABLE = "DEPLOYER_DATABASE"


class WorkerPool:
    def __init__(self, count: int, config_dir: Path, database_url: str, *, grace: str, stale_after: float) -> None:
        self.count, self.config_dir, self.database_url = count, config_dir, database_url
        self.grace, self.stale_after = grace, stale_after
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        env = {**os.environ, DATABASE_VARIABLE: self.database_url}
        for _ in range(self.count):
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "deployer", "--config-dir", str(self.config_dir), "worker",
                 "--grace-period", self.grace, "--stale-after", f"{self.stale_after:g}",
                 "--parent-pid", str(os.getpid())],
                env=env, stdin=subprocess.DEVNULL, start_new_session=True))

    @property
    def names(self) -> list[str]:
        """The workers' names as they claim jobs (host:pid)."""
        host = default_name().rsplit(":", 1)[0]
        return [f"{host}:{proc.pid}" for proc in self.procs]

    def signal(self, signum: int) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    def wait(self) -> None:
        for proc in self.procs:
            proc.wait()

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
