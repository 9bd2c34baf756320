"""The page's audit log: one JSON line per job start and end, appended to ``audit.jsonl`` in the
state folder (``--state-dir``). Each line is scrubbed of every registered secret before it is
written, and the file and its folder are readable by their owner only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path
from typing import Any

from deployer.errors import DeployerError
from deployer.redact import scrub
from deployer.web.jobs import Job

FILE_NAME = "audit.jsonl"


def default_state_dir() -> Path:
    """$XDG_STATE_HOME/deployer/web, else ~/.local/state/deployer/web."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "deployer" / "web"


def entry(job: Job, event: str) -> dict[str, Any]:
    form = job.form
    out: dict[str, Any] = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "event": event, "job": job.id,
        "actor": job.actor, "action": form.action, "service": form.service, "environment": form.environment,
    }
    if form.revision is not None:
        out["revision"] = form.revision
    if event == "end":
        out.update(outcome=job.outcome, exitCode=job.exit_code,
                   seconds=round((job.finished or job.started) - job.started, 1))
        if job.error:
            out["error"] = job.error
    return out


class AuditLog:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME
        self._lock = threading.Lock()

    def prepare(self) -> None:
        """Create the folder and file now, so a start-up names an unwritable state folder at once."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.close(fd)

    def write(self, record: dict[str, Any]) -> None:
        line = scrub(json.dumps(record, sort_keys=False)) + "\n"
        try:
            with self._lock:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line.encode("utf-8"))
                finally:
                    os.close(fd)
        except OSError as exc:
            raise DeployerError(f"cannot append to the audit log {self.path}: {exc.strerror}",
                                hint="Free space or fix the permissions of --state-dir; no job starts without "
                                     "its audit line.") from exc

    def started(self, job: Job) -> None:
        self.write(entry(job, "start"))

    def ended(self, job: Job) -> None:
        self.write(entry(job, "end"))

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
