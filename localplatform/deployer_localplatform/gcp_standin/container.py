"""GKE's ``projects.locations.clusters.get`` (container.googleapis.com/v1), the call deployer and
``gcloud container clusters get-credentials`` make to find a cluster's API server and CA.

As Google does: the caller needs a token with the cloud-platform scope and
``container.clusters.get`` on the project (``roles/container.clusterViewer`` and the roles above
it; see permissions), checked before whether the cluster exists, so a caller without it cannot
probe for names (403 either way); a known caller asking for an unknown cluster gets 404
``Not found: projects/.../clusters/NAME.``. The answer is the subset of the ``Cluster`` resource
a client uses to connect: ``name``, ``location``, ``endpoint``, ``masterAuth.clusterCaCertificate``
(base64 PEM), ``status``, ``selfLink``, ``currentMasterVersion``, ``createTime``.
"""

from __future__ import annotations

import re

from deployer_localplatform.gcp_standin.google_rest import CLOUD_PLATFORM, caller_of
from deployer_localplatform.gcp_standin.permissions import CLUSTERS_GET, has_permission
from deployer_localplatform.gcp_standin.responses import GoogleApiError
from deployer_localplatform.gcp_standin.state import GkeCluster, StateStore

CLUSTER_PATH = re.compile(r"^projects/(?P<project>[^/:]+)/locations/(?P<location>[^/:]+)/clusters/(?P<cluster>[^/:]+)$")
SCOPES = frozenset({CLOUD_PLATFORM})
# What the stand-in reports as the control plane's version: the local platform's kube-apiserver.
MASTER_VERSION = "1.34.4-gke.standin"


def cluster_json(cluster: GkeCluster) -> dict:
    return {"name": cluster.name, "location": cluster.location, "status": "RUNNING",
            "endpoint": cluster.endpoint, "masterAuth": {"clusterCaCertificate": cluster.ca_certificate},
            "currentMasterVersion": MASTER_VERSION, "createTime": cluster.create_time,
            "selfLink": f"https://container.googleapis.com/v1/{cluster.resource}"}


class ContainerApi:
    def __init__(self, store: StateStore, clock) -> None:
        self.store = store
        self.clock = clock

    def serves(self, path: str) -> bool:
        return CLUSTER_PATH.match(path) is not None

    def handle(self, method: str, path: str, authorization: str | None) -> dict:
        match = CLUSTER_PATH.match(path)
        if match is None or method != "GET":
            raise GoogleApiError(404, "NOT_FOUND", f"The stand-in serves no {method} v1/{path}.")
        caller = caller_of(self.store, authorization, SCOPES, self.clock())
        with self.store.lock:
            state = self.store.state
            if not has_permission(state, match["project"], caller.account, CLUSTERS_GET):
                raise GoogleApiError(403, "PERMISSION_DENIED",
                                     f'Required "{CLUSTERS_GET}" permission(s) for "{path}".')
            cluster = state.gke_clusters.get(path)
            if cluster is None:
                raise GoogleApiError(404, "NOT_FOUND", f"Not found: {path}.")
            return cluster_json(cluster)
