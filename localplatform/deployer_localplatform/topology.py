"""What the local platform consists of: two clusters shaped like the two kinds deployer serves.

- local-onprem: a data-centre cluster. Bearer tokens from a static token file, as a cluster whose
  Jenkins holds a long-lived token: an admin (system:masters) and `jenkins-deployer`, a user
  with no group beyond system:authenticated, so it can do nothing until RBAC grants it.
- local-gke: a GKE-like cluster. Google identities reach it through a token webhook served by the
  GCP stand-in (google-auth access token -> TokenReview -> the service account's email, the
  name GKE's RBAC bindings use); a static admin token sits beside it (token authenticators are
  unioned), standing in for the cluster-admin a platform engineer has.

Both share one etcd, each under its own key prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ADMIN_USER = "admin"
GCP_PROJECT = "local-project"
GKE_LOCATION = "europe-west1"
DEPLOYER_ACCOUNT_ID = "deployer"
# The platform team's own Google identity on local-gke: cluster-admin through RBAC (as a project
# owner is on GKE), and the identity `cluster provision` runs Terraform as.
PLATFORM_ADMIN_ACCOUNT_ID = "platform-admin"


@dataclass(frozen=True)
class TokenUser:
    name: str
    groups: tuple[str, ...] = ()


ADMIN = TokenUser(ADMIN_USER, ("system:masters",))


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    provider: Literal["onprem", "gke"]
    token_users: tuple[TokenUser, ...]
    google_webhook: bool
    """Authenticate Google access tokens through the GCP stand-in's TokenReview webhook."""
    registry_path: str
    """The repository prefix under the platform registry for this cluster's images."""

    @property
    def etcd_prefix(self) -> str:
        return f"/{self.name}"

    def component(self, role: str) -> str:
        """The process name of one of this cluster's components (also its log and pid file name)."""
        return f"{self.name}-{role}"


ONPREM = ClusterSpec("local-onprem", "onprem", (ADMIN, TokenUser("jenkins-deployer")), False, "onprem")
GKE = ClusterSpec("local-gke", "gke", (ADMIN,), True, "gke")
CLUSTERS = (ONPREM, GKE)


def bench_clusters(count: int) -> tuple[ClusterSpec, ...]:
    """Extra on-prem-style clusters bench-1..count for the fan-out benchmark (bench/), beside the
    two above and sharing their etcd and registry. Each costs about 0.3 GB (an API server, a
    controller-manager, a scheduler and kwok), so only the benchmark asks for them."""
    return tuple(ClusterSpec(f"bench-{i}", "onprem", (ADMIN, TokenUser("jenkins-deployer")), False, f"bench-{i}")
                 for i in range(1, count + 1))

# The addresses inside the clusters are never routed anywhere (kwok's pods run nothing); they only
# need to be valid and distinct from 127.0.0.1.
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
NODE_IP = "10.0.0.1"
NODE_NAME = "kwok-node-0"

CLUSTER_ROLES = ("apiserver", "controller-manager", "scheduler", "kwok")
