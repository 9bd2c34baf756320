"""Where a cluster's API server is and how to trust it, from its cluster file.

The credential is not read here: putting a cluster's own credential on a client is composition,
done in ``deployer.app``, so no token ever travels to another cluster's API server.
"""

from __future__ import annotations

from deployer.config.loader import Config
from deployer.config.models import Cluster
from deployer.errors import ConfigError, ConfigProblem
from deployer.kube.client import Endpoint


def endpoint_of(cluster: Cluster, config: Config) -> Endpoint:
    if cluster.server is None:
        where = str(config.cluster_files.get(cluster.name, f"clusters/{cluster.name}.yaml"))
        raise ConfigError([ConfigProblem(where, None, None, "server",
                                         "deployer does not look GKE endpoints up yet: set server to the "
                                         "cluster's endpoint (gcloud container clusters describe "
                                         f"{cluster.gke.cluster if cluster.gke else cluster.name} "
                                         "--format='value(endpoint)')")])
    ca_file = ca_data = None
    if cluster.ca is not None:
        if cluster.ca.file:
            ca_file = str(config.resolve(cluster.ca.file))
        else:
            ca_data = cluster.ca.inline
    return Endpoint(cluster.name, cluster.server, ca_file=ca_file, ca_data=ca_data)
