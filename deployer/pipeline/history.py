"""The history and status story: a service's release records, read from each of its clusters.

What deployer says runs is read from the clusters themselves (every target cluster in parallel,
each with its own credential); a cluster that cannot be read is reported as such, never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deployer.app import App
from deployer.errors import DeployerError
from deployer.kube import releases
from deployer.pipeline.fanout import fan_out
from deployer.rollout.release import ReleaseRecord, current


@dataclass(frozen=True)
class ClusterHistory:
    cluster: str
    records: list[ReleaseRecord] = field(default_factory=list)
    """Oldest first."""
    error: DeployerError | None = None
    """Why the records could not be read (``records`` is then empty)."""

    @property
    def current(self) -> ReleaseRecord | None:
        """The release the cluster runs (``deployer.rollout.release.current``)."""
        return current(self.records)

    @property
    def latest(self) -> ReleaseRecord | None:
        return max(self.records, key=lambda r: r.revision, default=None)

    def of_environment(self, environment: str) -> ClusterHistory:
        return ClusterHistory(self.cluster, [r for r in self.records if r.environment == environment], self.error)


def history(app: App, service_name: str, environment: str | None = None) -> list[ClusterHistory]:
    """Per target cluster of ``service_name`` (of ``environment``, or of every environment), by
    cluster name: its records of the service."""
    config = app.config
    service = config.service(service_name)
    wanted = [env for env in service.environments if environment in (None, env)]
    # Each environment's releases live in its own namespace on each of its clusters.
    places: dict[str, list[tuple[str, str]]] = {}
    for env in wanted:
        for cluster in service.environments[env].clusters:
            places.setdefault(cluster, []).append((env, service.namespace_of(env)))
    names = sorted(places)

    def read(name: str) -> list[ReleaseRecord]:
        client = app.client(config.cluster(name))
        found: list[ReleaseRecord] = []
        for namespace in sorted({namespace for _env, namespace in places[name]}):
            envs = {env for env, ns in places[name] if ns == namespace}
            found += [r for r in releases.read_records(client, namespace, service.name) if r.environment in envs]
        return sorted(found, key=lambda r: r.revision)

    return [ClusterHistory(run.cluster, run.result or [], run.error) for run in fan_out(names, read)]

