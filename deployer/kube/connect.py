"""Building a cluster's client from its cluster file: its endpoint, its CA, its own credential.

Every client is built from one cluster's own file and credential, so no token ever travels to
another cluster's API server.
"""

from __future__ import annotations

from deployer.config.loader import Config
from deployer.config.models import Cluster
from deployer.errors import ConfigError, ConfigProblem
from deployer.kube.client import ClientOptions, Endpoint, KubeClient


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


def connect(cluster: Cluster, config: Config, *, admin: bool = False,
            options: ClientOptions | None = None) -> KubeClient:
    """A client for ``cluster`` authenticating with its own credential: the deploy ``credential``,
    or with ``admin`` its ``adminCredential`` (falling back to ``credential``)."""
    from deployer.credentials import bearer_source

    bearer = bearer_source(cluster, config, admin=admin)
    which = "admin credential" if admin and cluster.admin_credential is not None else "credential"
    return KubeClient(endpoint_of(cluster, config), bearer, options or ClientOptions(),
                      identity=f"the cluster's {which} ({bearer.describe()})")
