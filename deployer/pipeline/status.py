"""The status story: what each cluster runs for a service, read from the cluster and checked against
the records.

Read top to bottom, ``status`` is what `deployer status SERVICE` (and the page's overview) does:

1. read the service's release records from each of its clusters (``deployer.pipeline.history``);
2. per cluster and environment, read the live objects the newest record applied, with the cluster's
   own credential (every cluster in parallel);
3. compare them with that record (``deployer.rollout.drift``): images by digest, owner labels,
   presence, generation observed; a difference is drift, reported, never hidden.

A cluster that cannot be read is reported as unreadable, never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployer.app import App
from deployer.errors import DeployerError, ExitCode
from deployer.kube import objects
from deployer.pipeline import news
from deployer.pipeline.fanout import fan_out
from deployer.pipeline.history import ClusterHistory, history
from deployer.pipeline.steps import default_actor
from deployer.plan.keys import key_of
from deployer.rollout.drift import Finding, compare
from deployer.rollout.release import ReleaseRecord


@dataclass(frozen=True)
class ReleaseStatus:
    """One release (an environment of the service on one cluster and namespace), as the cluster runs it."""

    cluster: str
    environment: str
    namespace: str
    current: ReleaseRecord | None = None
    """The release the records say the cluster is on (``deployer.rollout.release.current``)."""
    latest: ReleaseRecord | None = None
    """The newest record, which the live objects are compared with."""
    findings: list[Finding] = field(default_factory=list)
    error: DeployerError | None = None
    """Why the cluster could not be read."""

    @property
    def drift(self) -> bool:
        return any(f.drift for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"namespace": self.namespace, "error": self.error.message}
        return {"namespace": self.namespace, "current": self.current.summary() if self.current else None,
                "latest": self.latest.summary() if self.latest else None, "drift": self.drift,
                "findings": [f.to_dict() for f in self.findings]}


def status(app: App, service_name: str, environment: str | None = None) -> list[ReleaseStatus]:
    """Per target cluster and environment of ``service_name`` (by cluster, then environment)."""
    service = app.config.service(service_name)
    found = history(app, service_name)  # every environment: a foreign digest is named by its release
    known = [r for h in found for r in h.records]
    places = [(h, env) for h in found for env in service.environments
              if environment in (None, env) and h.cluster in service.environments[env].clusters]

    def check(place: tuple[ClusterHistory, str]) -> ReleaseStatus:
        cluster, env = place
        namespace = service.namespace_of(env)
        if cluster.error is not None:
            return ReleaseStatus(cluster.cluster, env, namespace, error=cluster.error)
        mine = cluster.of_environment(env)
        latest = mine.latest
        if latest is None:
            return ReleaseStatus(cluster.cluster, env, namespace)
        client = app.client(app.config.cluster(cluster.cluster))
        live = {key_of(obj): objects.get(client, key_of(obj), obj["apiVersion"]) for obj in latest.objects}
        return ReleaseStatus(cluster.cluster, env, namespace, mine.current, latest,
                             compare(service.name, cluster.cluster, latest, live, known))

    results = []
    for place, run in zip(places, fan_out(places, check, name=lambda p: f"{p[0].cluster}/{p[1]}"), strict=True):
        cluster, env = place
        results.append(run.result if run.result is not None else
                       ReleaseStatus(cluster.cluster, env, service.namespace_of(env), error=run.error))
    news.drift_found(app, results, default_actor())
    return results


def exit_code(found: list[ReleaseStatus]) -> ExitCode:
    """0: every release read and as recorded; 12: drift somewhere; 7/8: none/some unreadable."""
    unreadable = [s for s in found if s.error is not None]
    if found and len(unreadable) == len(found):
        return ExitCode.FAILED
    if any(s.drift for s in found):
        return ExitCode.DRIFT
    return ExitCode.PARTIAL if unreadable else ExitCode.OK
