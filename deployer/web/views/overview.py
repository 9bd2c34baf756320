"""The overview's view: every service, and per environment what each cluster runs, drift flagged,
and the job in progress there. Built from ``deployer status``'s answer (``ReleaseStatus`` per
cluster and environment), so the page and the CLI say the same thing about the same clusters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployer.config.loader import Config
from deployer.errors import DeployerError
from deployer.pipeline.status import ReleaseStatus
from deployer.rollout.promotion import source_text
from deployer.web.forms import needs_confirmation
from deployer.web.views.common import RunningJob, digest_of, short_digest, started_text


@dataclass(frozen=True)
class Finding:
    message: str
    drift: bool


@dataclass(frozen=True)
class ClusterRow:
    cluster: str
    revision: int | None = None
    """The release the cluster runs (None: never deployed, or removed)."""
    commit: str = ""
    digest: str = ""
    image: str = ""
    actor: str = ""
    started: str = ""
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    """How the live objects differ from the newest record, as `deployer status` prints it."""
    error: str = ""
    """Why the cluster could not be read."""

    @property
    def drift(self) -> bool:
        return any(f.drift for f in self.findings)

    @property
    def short_digest(self) -> str:
        return short_digest(self.digest)

    @property
    def started_text(self) -> str:
        return started_text(self.started)

    def to_dict(self) -> dict[str, Any]:
        if self.error:
            return {"cluster": self.cluster, "error": self.error}
        return {"cluster": self.cluster, "revision": self.revision, "commit": self.commit or None,
                "digest": self.digest or None, "image": self.image or None, "actor": self.actor or None,
                "started": self.started or None, "notes": self.notes, "drift": self.drift,
                "findings": [{"message": f.message, "drift": f.drift} for f in self.findings]}


@dataclass(frozen=True)
class EnvironmentCard:
    name: str
    production: bool
    promote_from: str | None
    clusters: list[ClusterRow] = field(default_factory=list)
    job: RunningJob | None = None

    @property
    def drift(self) -> bool:
        return any(c.drift for c in self.clusters)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "production": self.production, "promoteFrom": self.promote_from,
                "drift": self.drift, "job": self.job.to_dict() if self.job else None,
                "clusters": [c.to_dict() for c in self.clusters]}


@dataclass(frozen=True)
class ServiceCard:
    name: str
    environments: list[EnvironmentCard] = field(default_factory=list)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "url": f"/services/{self.name}"}
        if self.error:
            out["error"] = self.error
        out["environments"] = [e.to_dict() for e in self.environments]
        return out


def production_of(config: Config, service: str, environment: str) -> bool:
    """Whether changing ``environment`` of ``service`` changes production (the page asks to confirm)."""
    env = config.service(service).environments[environment]
    return needs_confirmation("deploy", environment, [config.clusters[c].environment for c in env.clusters
                                                      if c in config.clusters])


def service_card(config: Config, name: str, found: list[ReleaseStatus] | DeployerError,
                 jobs: list[RunningJob]) -> ServiceCard:
    """``found``: `deployer status NAME`'s answer, or why it could not be read at all."""
    service = config.service(name)
    error = found.message if isinstance(found, DeployerError) else ""
    by_place = {} if isinstance(found, DeployerError) else {(s.cluster, s.environment): s for s in found}
    running = {j.environment: j for j in jobs if j.service == name}
    environments = []
    for env_name, env in service.environments.items():
        rows = [cluster_row(cluster, by_place.get((cluster, env_name)), error) for cluster in env.clusters]
        environments.append(EnvironmentCard(env_name, production_of(config, name, env_name), env.promote_from,
                                            rows, running.get(env_name)))
    return ServiceCard(name, environments, error)


def cluster_row(cluster: str, found: ReleaseStatus | None, error: str) -> ClusterRow:
    """What one cluster's row says: its release and notes, drift, or why it could not be read."""
    if found is None:
        return ClusterRow(cluster, error=error or "not read")
    if found.error is not None:
        return ClusterRow(cluster, error=found.error.message)
    findings = [Finding(f.message, f.drift) for f in found.findings]
    now, latest = found.current, found.latest
    if now is None:
        notes = [f"no release; latest r{latest.revision} {latest.outcome}"] if latest else ["never deployed"]
        return ClusterRow(cluster, notes=notes, findings=findings)
    notes = [f"rollback to r{now.rollback_of}"] if now.rollback_of else []
    if now.promoted_from:
        notes.append(f"promoted from {source_text(now.promoted_from)}")
    if latest is not None and latest.revision != now.revision:
        notes.append(f"latest r{latest.revision} {latest.outcome}")
    return ClusterRow(cluster, now.revision, now.commit, now.digest or digest_of(now.image), now.image, now.actor,
                      now.time, notes, findings)
