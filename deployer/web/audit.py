"""The audit trail's entries: one per job start (the press) and end (its outcome), kept in the
database's ``audit`` table by the store (deployer.web.store.jobs), each value scrubbed of every
registered secret before it is written. Who, what, where, when, outcome.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from deployer.web.jobs import Job


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
    if form.source:
        out["from"] = form.source
    if event == "end":
        out.update(outcome=job.outcome, exitCode=job.exit_code,
                   seconds=round((job.finished or job.started) - job.started, 1))
        if job.error:
            out["error"] = job.error
        if job.result and job.result.get("buildUrl"):
            out["buildUrl"] = job.result["buildUrl"]  # a Jenkins-run job: the build that did it
    return out
