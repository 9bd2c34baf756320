"""The worker processes `deployer web --workers N` starts beside the page, on the same database.

Each is `deployer worker` in its own session (a Ctrl-C in the terminal reaches the page only; the
page forwards each signal once, so a worker counts signals as a CLI run does). The database URL
goes through the environment, never the command line (``ps`` would show its password). A worker
whose page has gone finishes its job and then stops (``--parent-pid``), so killing the page never
kills a deploy.

A worker that dies while the page runs (killed, out of memory, a crash) is replaced by a new one,
after a pause that doubles with each quick death (``restart_delay``), so a worker that cannot
start (a broken configuration folder, a database that refuses it) is retried slowly, not in a loop.
Each death and restart is written to stderr.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from deployer.web.worker import default_name

DATABASE_VARIABLE = "DEPLOYER_DATABASE"
FIRST_DELAY = 1.0
"""Seconds before the first restart of a worker that died quickly."""
LONGEST_DELAY = 60.0
"""The backoff's ceiling: a worker that keeps dying is retried once a minute."""
SETTLED_AFTER = 60.0
"""A worker that ran this long before dying was healthy: its replacement starts after FIRST_DELAY."""
WATCH_INTERVAL = 0.5


def restart_delay(quick_deaths: int) -> float:
    """How long to wait before starting a worker whose slot has seen ``quick_deaths`` deaths in a
    row, each within SETTLED_AFTER of its start (1, 2, 4, ... seconds, at most LONGEST_DELAY)."""
    return float(min(LONGEST_DELAY, FIRST_DELAY * 2 ** max(0, quick_deaths - 1)))


class WorkerPool:
    def __init__(self, count: int, config_dir: Path, database_url: str, *, grace: str, stale_after: float,
                 log: Callable[[str], None] | None = None) -> None:
        self.count, self.config_dir, self.database_url = count, config_dir, database_url
        self.grace, self.stale_after = grace, stale_after
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log = log or _stderr
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            self.procs = [self._spawn() for _ in range(self.count)]
        if self.count:
            self._watcher = threading.Thread(target=self._watch, name="worker-pool", daemon=True)
            self._watcher.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, DATABASE_VARIABLE: self.database_url}
        return subprocess.Popen(
            [sys.executable, "-m", "deployer", "--config-dir", str(self.config_dir), "worker",
             "--grace-period", self.grace, "--stale-after", f"{self.stale_after:g}",
             "--parent-pid", str(os.getpid())],
            env=env, stdin=subprocess.DEVNULL, start_new_session=True)

    def _watch(self) -> None:
        """Replace each worker that exits while the pool is not stopping (one slot per worker)."""
        started = [time.monotonic()] * self.count
        quick_deaths = [0] * self.count
        due: dict[int, float] = {}  # slot -> when its replacement starts
        while not self._stopping.wait(WATCH_INTERVAL):
            now = time.monotonic()
            with self._lock:
                if self._stopping.is_set():
                    return
                for slot, proc in enumerate(self.procs):
                    code = proc.poll()
                    if code is None or slot in due:
                        continue
                    quick_deaths[slot] = quick_deaths[slot] + 1 if now - started[slot] < SETTLED_AFTER else 1
                    delay = restart_delay(quick_deaths[slot])
                    due[slot] = now + delay
                    self.log(f"deployer web: worker {self._name(proc)} exited with code {code}; "
                             f"starting another in {delay:g}s")
                for slot, when in list(due.items()):
                    if when <= now:
                        del due[slot]
                        self.procs[slot] = self._spawn()
                        started[slot] = now
                        self.log(f"deployer web: started worker {self._name(self.procs[slot])}")

    @staticmethod
    def _name(proc: subprocess.Popen[bytes]) -> str:
        return f"{default_name().rsplit(':', 1)[0]}:{proc.pid}"

    @property
    def names(self) -> list[str]:
        """The workers' names as they claim jobs (host:pid)."""
        with self._lock:
            return [self._name(proc) for proc in self.procs]

    def signal(self, signum: int) -> None:
        """Forward ``signum`` to every live worker; from now on no dead worker is replaced."""
        self._stopping.set()
        with self._lock:
            procs = list(self.procs)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    def wait(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
        for proc in self.procs:
            proc.wait()

    def kill(self) -> None:
        self.signal(signal.SIGKILL)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
