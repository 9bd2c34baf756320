"""The service page's view: every release record of a service, per environment and cluster, and
which releases the page offers to roll back to.

A rollback from the page is ``POST /jobs action=rollback environment=E revision=N``: the rollback
story returns *every* cluster of E to its own record rN. Revisions are numbered per cluster, so the
button is offered on rN only where that means one release everywhere: every cluster of E has rN,
it succeeded there, it is the same build on each (every image's digest: each cluster pulls from
its own registry, so references and manifest hashes differ while digests may not), and it is not
the build every cluster already runs (as ``rollback_target`` passes over an identical release).
Anything else the story would refuse, do unevenly or do for nothing, so it is not offered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployer.config.loader import Config
from deployer.pipeline.history import ClusterHistory
from deployer.rollout.promotion import commit_of, source_text
from deployer.rollout.release import ReleaseRecord, current
from deployer.web.forms import needs_confirmation
from deployer.web.views.common import duration_text, seconds_between, short_digest, started_text


@dataclass(frozen=True)
class ReleaseRow:
    revision: int
    commit: str
    """The commit the image was built from (a rollback's: the one of the release it restored)."""
    digest: str
    image: str
    actor: str
    outcome: str
    started: str
    finished: str
    seconds: float | None
    note: str
    current: bool
    """The release this cluster runs now."""
    can_roll_back_to: bool

    @property
    def short_digest(self) -> str:
        return short_digest(self.digest)

    @property
    def started_text(self) -> str:
        return started_text(self.started)

    @property
    def duration_text(self) -> str:
        return duration_text(self.seconds)

    def to_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "commit": self.commit, "digest": self.digest, "image": self.image,
                "actor": self.actor, "outcome": self.outcome, "started": self.started,
                "finished": self.finished or None, "durationSeconds": self.seconds, "note": self.note,
                "current": self.current, "canRollBackTo": self.can_roll_back_to}


@dataclass(frozen=True)
class ClusterReleases:
    cluster: str
    releases: list[ReleaseRow] = field(default_factory=list)
    """Newest first."""
    error: str = ""
    """Why the cluster's records could not be read (never skipped silently)."""

    def to_dict(self) -> dict[str, Any]:
        if self.error:
            return {"cluster": self.cluster, "error": self.error}
        return {"cluster": self.cluster, "releases": [r.to_dict() for r in self.releases]}


@dataclass(frozen=True)
class EnvironmentHistory:
    name: str
    production: bool
    clusters: list[ClusterReleases] = field(default_factory=list)
    rollback_revisions: list[int] = field(default_factory=list)
    """The revisions the page offers to roll this environment back to (newest first)."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "production": self.production, "rollbackRevisions": self.rollback_revisions,
                "clusters": [c.to_dict() for c in self.clusters]}


@dataclass(frozen=True)
class ServiceHistory:
    service: str
    environments: list[EnvironmentHistory] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "environments": [e.to_dict() for e in self.environments]}


def rollback_revisions(records: dict[str, list[ReleaseRecord]]) -> list[int]:
    """Per the module's rule: the revisions every cluster of one environment can return to, as one
    release (``records``: cluster -> its records of that environment). Newest first."""
    if not records:
        return []
    by_cluster = {cluster: {r.revision: r for r in found} for cluster, found in records.items()}
    running = {cluster: current(found) for cluster, found in records.items()}
    shared = set.intersection(*(set(revisions) for revisions in by_cluster.values()))
    offered = []
    for revision in sorted(shared, reverse=True):
        chosen = [by_cluster[cluster][revision] for cluster in by_cluster]
        if any(r.outcome != "succeeded" for r in chosen):
            continue
        if len({_build(r) for r in chosen}) != 1:
            continue
        if all(now is not None and _build(now) == _build(chosen[0]) for now in running.values()):
            continue  # the build every cluster runs already (itself, or a rollback to it): no step back
        offered.append(revision)
    return offered


def _build(record: ReleaseRecord) -> tuple[str, tuple[tuple[str, str], ...]]:
    return record.digest, tuple(sorted((name, ref.rpartition("@")[2]) for name, ref in record.images.items()))


def service_history(config: Config, service_name: str, found: list[ClusterHistory]) -> ServiceHistory:
    """``found`` is ``deployer.pipeline.history.history``'s answer for every environment."""
    service = config.service(service_name)
    by_cluster = {h.cluster: h for h in found}
    environments = []
    for env_name, env in service.environments.items():
        mine = {c: by_cluster[c].of_environment(env_name) for c in env.clusters if c in by_cluster}
        readable = {c: h.records for c, h in mine.items() if h.error is None}
        offered = rollback_revisions(readable) if len(readable) == len(env.clusters) else []
        clusters = []
        for cluster in env.clusters:
            h = mine.get(cluster)
            if h is None:
                clusters.append(ClusterReleases(cluster, error="not read"))
            elif h.error is not None:
                clusters.append(ClusterReleases(cluster, error=h.error.message))
            else:
                clusters.append(ClusterReleases(cluster, _rows(h.records, offered)))
        production = needs_confirmation("deploy", env_name, [config.clusters[c].environment for c in env.clusters
                                                             if c in config.clusters])
        environments.append(EnvironmentHistory(env_name, production, clusters, offered))
    return ServiceHistory(service.name, environments)


def _rows(records: list[ReleaseRecord], offered: list[int]) -> list[ReleaseRow]:
    running = current(records)
    rows = []
    for r in sorted(records, key=lambda r: r.revision, reverse=True):
        rows.append(ReleaseRow(r.revision, commit_of(r, records), r.digest, r.image, r.actor, r.outcome, r.time,
                               r.finished, seconds_between(r.time, r.finished) if r.finished else None, _note(r),
                               running is not None and running.revision == r.revision, r.revision in offered))
    return rows


def _note(record: ReleaseRecord) -> str:
    notes = [f"rollback to r{record.rollback_of}"] if record.rollback_of else []
    if record.promoted_from:
        notes.append(f"promoted from {source_text(record.promoted_from)}")
    if record.message:
        notes.append(record.message)
    return "; ".join(notes)
