"""The stats story: the four DORA figures of one environment of a service, from the release
records its clusters hold (``deployer.pipeline.history``) and the times of the commits they name
(read from git in the service's folder; a commit git does not know has no lead time and is named).

Read top to bottom, ``stats`` is what `deployer stats SERVICE --env production` (and later the
service page) does: read the records, look the commits up, compute (``deployer.observe.dora``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from deployer.app import App
from deployer.errors import ToolError, UsageError
from deployer.observe.dora import Figures, Release, figures, parse_time
from deployer.pipeline.history import history
from deployer.procs import run


@dataclass(frozen=True)
class Stats:
    service: str
    figures: Figures
    unreadable: dict[str, str] = field(default_factory=dict)
    """Clusters whose records could not be read: the figures leave their releases out."""


def commit_time(folder: Path, commit: str) -> dt.datetime | None:
    """The committer time of ``commit`` in the git repository holding ``folder`` (None: unknown)."""
    if not commit:
        return None
    try:
        shown = run(["git", "show", "-s", "--format=%cI", f"{commit}^{{commit}}", "--"], what=f"look up commit "
                    f"{commit}", cwd=folder, timeout=30, check=False)
    except ToolError:  # no git here: every lead time is unknown, which the result says
        return None
    text = shown.stdout.strip()
    return parse_time(text) if shown.returncode == 0 and text else None


def stats(app: App, service_name: str, environment: str, days: int) -> Stats:
    service = app.config.service(service_name)
    if environment not in service.environments:
        raise UsageError(f"service {service.name} has no environment {environment!r}",
                         hint=f"Its environments: {', '.join(sorted(service.environments))}.")
    found = history(app, service.name, environment)
    releases = [Release.of(r) for h in found for r in h.records]
    folder = app.config.service_files[service.name].parent
    times = {commit: when for commit in sorted({r.commit for r in releases if r.commit})
             if (when := commit_time(folder, commit)) is not None}
    until = app.now().astimezone(dt.UTC).date()
    return Stats(service.name, figures(releases, environment, until - dt.timedelta(days=days - 1), until, times),
                 {h.cluster: h.error.message for h in found if h.error is not None})
