"""The four DORA figures of one environment (usually production), computed from release records:
pure, so a scripted history checks them against hand-computed values.

- A *deploy* is one run's releases in the environment: the records of every cluster it reached
  (one per cluster, same digest, started within ``SAME_RUN`` of the first), ``failed`` when any
  cluster's release failed or was rolled back. A rollback (a record with ``rollbackOf``) is a
  *restore*, never a deploy.
- **Deploys per day**: deploys started that UTC day, succeeded and failed.
- **Lead time for changes**: for each succeeded deploy, from its commit's time (the commit the image
  was built from: ``commit_times``) to the deploy's start; the median.
- **Change failure rate**: failed deploys / all deploys.
- **Time to restore**: for each failed deploy, from its start to the start of the next deploy or
  rollback of the environment that succeeded; the median. A failure nothing restored yet is counted
  in ``unrestored``.

Times are the records' start times (a record keeps when its release began, not when it ended).
The page will add its jobs the same way: as ``Release`` values.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deployer.rollout.release import ReleaseRecord

SAME_RUN = dt.timedelta(minutes=30)
"""Records of one digest on different clusters started this close together are one run's."""
_FAILED = ("failed", "rolled-back")
_COUNTED = ("succeeded", "failed", "rolled-back")


@dataclass(frozen=True)
class Release:
    """One cluster's release, as the figures need it."""

    environment: str
    cluster: str
    time: dt.datetime
    outcome: str
    digest: str
    commit: str = ""
    rollback: bool = False

    @classmethod
    def of(cls, record: ReleaseRecord) -> Release:
        return cls(record.environment, record.cluster, parse_time(record.time), record.outcome, record.digest,
                   record.commit, record.rollback_of is not None)


def parse_time(text: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Deploy:
    environment: str
    time: dt.datetime
    digest: str
    commit: str
    rollback: bool
    clusters: tuple[str, ...]
    failed: bool


def deploys(releases: Iterable[Release], environment: str, same_run: dt.timedelta = SAME_RUN) -> list[Deploy]:
    """``environment``'s releases grouped into runs (oldest first); in-progress and removed records
    are not counted (a run still going has no outcome yet)."""
    groups: list[list[Release]] = []
    for release in sorted((r for r in releases if r.environment == environment and r.outcome in _COUNTED),
                          key=lambda r: r.time):
        group = next((g for g in reversed(groups)
                      if g[0].digest == release.digest and g[0].rollback == release.rollback
                      and release.time - g[0].time <= same_run and release.cluster not in {r.cluster for r in g}),
                     None)
        if group is None:
            groups.append([release])
        else:
            group.append(release)
    return [Deploy(environment, g[0].time, g[0].digest, g[0].commit, g[0].rollback,
                   tuple(sorted(r.cluster for r in g)), any(r.outcome in _FAILED for r in g)) for g in groups]


@dataclass(frozen=True)
class Day:
    date: dt.date
    succeeded: int
    failed: int


@dataclass(frozen=True)
class Figures:
    environment: str
    since: dt.date
    until: dt.date
    days: list[Day]
    deploys: int
    failures: int
    change_failure_rate: float | None
    """failures / deploys (None: no deploy in the period)."""
    lead_times: list[tuple[dt.datetime, float]]
    """(deploy start, seconds from its commit) for each succeeded deploy whose commit time is known."""
    lead_time_median: float | None
    restores: list[tuple[dt.datetime, float]]
    """(failed deploy's start, seconds until the environment was restored)."""
    time_to_restore_median: float | None
    unrestored: int
    unknown_commits: list[str] = field(default_factory=list)
    """Commits of succeeded deploys whose time is not known (no lead time for them)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment, "since": self.since.isoformat(), "until": self.until.isoformat(),
            "deploysPerDay": [{"date": d.date.isoformat(), "succeeded": d.succeeded, "failed": d.failed}
                              for d in self.days],
            "deploys": self.deploys, "failures": self.failures, "changeFailureRate": self.change_failure_rate,
            "leadTimeSeconds": {"median": self.lead_time_median,
                                "each": [{"deployed": t.isoformat(), "seconds": s} for t, s in self.lead_times]},
            "timeToRestoreSeconds": {"median": self.time_to_restore_median, "unrestored": self.unrestored,
                                     "each": [{"failed": t.isoformat(), "seconds": s} for t, s in self.restores]},
            "unknownCommits": self.unknown_commits,
        }


def figures(releases: Iterable[Release], environment: str, since: dt.date, until: dt.date,
            commit_times: Mapping[str, dt.datetime]) -> Figures:
    """The figures of ``environment`` for the UTC days ``since`` to ``until``, both included."""
    everything = deploys(releases, environment)
    inside = [d for d in everything if since <= d.time.astimezone(dt.UTC).date() <= until]
    changes = [d for d in inside if not d.rollback]
    days = []
    day = since
    while day <= until:
        that_day = [d for d in changes if d.time.astimezone(dt.UTC).date() == day]
        days.append(Day(day, sum(not d.failed for d in that_day), sum(d.failed for d in that_day)))
        day += dt.timedelta(days=1)
    failures = [d for d in changes if d.failed]

    lead_times, unknown = [], []
    for d in changes:
        if d.failed:
            continue
        if d.commit in commit_times:
            lead_times.append((d.time, (d.time - commit_times[d.commit]).total_seconds()))
        elif d.commit not in unknown:
            unknown.append(d.commit)

    restores, unrestored = [], 0
    for failed in failures:
        after = next((d for d in everything if d.time > failed.time and not d.failed), None)
        if after is None:
            unrestored += 1
        else:
            restores.append((failed.time, (after.time - failed.time).total_seconds()))

    return Figures(environment, since, until, days, len(changes), len(failures),
                   len(failures) / len(changes) if changes else None, lead_times,
                   _median([s for _, s in lead_times]), restores, _median([s for _, s in restores]), unrestored,
                   unknown)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
