"""Where a cluster's API server is and how to trust it, from its cluster file.

A GKE cluster file may leave ``server`` and ``ca`` out: they are then looked up by name through
the GKE API (``deployer.credentials.gke_endpoint``, which needs the cluster's Google credential)
and handed in here as the ``looked_up`` control plane; what the file sets overrides it.

The credential is not read here: putting a cluster's own credential on a client is composition,
done in ``deployer.app``, so no token ever travels to another cluster's API server.
"""

from __future__ import annotations

from typing import Protocol

from deployer.config.loader import Config
from deployer.config.models import Cluster
from deployer.kube.client import Endpoint


class LookedUp(Protocol):
    """A control plane found through the GKE API (``deployer.credentials.gke_endpoint.ControlPlane``)."""

    @property
    def server(self) -> str: ...

    @property
    def ca_pem(self) -> str: ...


def needs_lookup(cluster: Cluster) -> bool:
    """A GKE cluster whose file does not give both server and ca is found by name."""
    return cluster.gke is not None and (cluster.server is None or cluster.ca is None)


def endpoint_of(cluster: Cluster, config: Config, looked_up: LookedUp | None = None) -> Endpoint:
    if needs_lookup(cluster) and looked_up is None:
        raise TypeError(f"cluster {cluster.name}: its endpoint must be looked up through the GKE API first")
    server = cluster.server or (looked_up.server if looked_up else None)
    if server is None:  # only an onprem file without server, which validation refuses
        raise TypeError(f"cluster {cluster.name}: no server")
    ca_file = ca_data = None
    if cluster.ca is not None:
        if cluster.ca.file:
            ca_file = str(config.resolve(cluster.ca.file))
        else:
            ca_data = cluster.ca.inline
    elif looked_up is not None:
        ca_data = looked_up.ca_pem
    return Endpoint(cluster.name, server, ca_file=ca_file, ca_data=ca_data)
