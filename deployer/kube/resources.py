"""From (apiVersion, kind) to the URL of an object, through the API server's own discovery.

Only the group versions a run actually uses are asked for, once per client and kept in memory for
that run: no discovery cache on disk, so a new cluster on a reused port (the local platform, a
rebuilt cluster) can never be answered from another cluster's stale cache.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from deployer.errors import ApiError, NotFoundError
from deployer.kube.client import KubeClient
from deployer.kube.parallel import at_once
from deployer.plan.keys import ObjectKey


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def base(self) -> str:
        return f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"

    def collection(self, namespace: str = "") -> str:
        if self.namespaced and namespace:
            return f"{self.base}/namespaces/{quote(namespace, safe='')}/{self.plural}"
        return f"{self.base}/{self.plural}"

    def item(self, name: str, namespace: str = "") -> str:
        return f"{self.collection(namespace)}/{quote(name, safe='')}"

    def path_of(self, key: ObjectKey) -> str:
        return self.item(key.name, key.namespace)


# Built-in kinds deployer itself reads and writes (locks, records, inventories, tokens): their
# URLs are fixed by Kubernetes, so they need no discovery round trip.
CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps", True)
LEASES = Resource("coordination.k8s.io/v1", "Lease", "leases", True)
SERVICE_ACCOUNTS = Resource("v1", "ServiceAccount", "serviceaccounts", True)


def resource(client: KubeClient, api_version: str, kind: str) -> Resource:
    """The resource serving ``kind`` at ``api_version`` on the client's cluster."""
    known = _group_version(client, api_version)
    if kind not in known:
        raise ApiError(f"cluster {client.cluster}: the API server does not serve kind {kind} in {api_version}",
                       hint="Check the object's apiVersion and kind; a custom kind needs its "
                            "CustomResourceDefinition installed first.")
    return known[kind]


def discover(client: KubeClient, api_versions: Iterable[str]) -> None:
    """Ask for every group version in ``api_versions`` not known yet, at once (one request each)."""
    cache = client.shared
    missing = sorted({v for v in api_versions if f"discovery:{v}" not in cache})
    at_once(lambda api_version: _group_version(client, api_version), missing)


def served(client: KubeClient, api_version: str, kind: str) -> bool:
    """Whether the client's cluster serves ``kind`` at ``api_version`` (one discovery request)."""
    return kind in _group_version(client, api_version)


def _group_version(client: KubeClient, api_version: str) -> dict[str, Resource]:
    cache = client.shared
    key = f"discovery:{api_version}"
    if key in cache:
        cached: dict[str, Resource] = cache[key]
        return cached
    path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    try:
        listing = client.get_json(path, what=f"discover {api_version}") or {}
    except NotFoundError:
        listing = {}
    found = {}
    for item in listing.get("resources") or []:
        if "/" in item.get("name", ""):
            continue  # a subresource (deployments/scale)
        found[item["kind"]] = Resource(api_version, item["kind"], item["name"], bool(item.get("namespaced")))
    with cache["lock"]:
        cache[key] = found
    return found


def forget_discovery(client: KubeClient) -> None:
    """Drop what discovery said so far: after CustomResourceDefinitions are established, the kinds
    they define are served, and the next lookup must ask again."""
    cache = client.shared
    with cache["lock"]:
        for key in [k for k in cache if isinstance(k, str) and k.startswith("discovery:")]:
            del cache[key]
