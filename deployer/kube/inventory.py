"""Where the inventory lives: a ConfigMap in the cluster it describes.

Chosen over labels on the objects themselves (kapp and Helm use variants of both):
- one GET reads it, so an idle sync does not have to list every kind deployer ever applied just to
  find what to prune; and a kind dropped from the chart altogether is still found, because the
  record names it;
- it is exact: a label removed by hand cannot make deployer forget (or prune) an object;
- it lives in the cluster, so every Jenkins agent and laptop sees the same record, with no local
  state to lose;
- the chart's inventory sits in its own namespace, ``deployer-system``, which no cluster file
  declares: pruning a namespace can never delete it, and RBAC there limits who may edit it.
A service's inventory can live in the service's namespace instead (the deployer role may create
and update ConfigMaps there); ``InventoryRef`` says where.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deployer.errors import ApiError, ConflictError
from deployer.kube.client import KubeClient
from deployer.kube.objects import apply, get
from deployer.kube.resources import CONFIGMAPS
from deployer.plan.inventory import Inventory
from deployer.plan.keys import ObjectKey

SYSTEM_NAMESPACE = "deployer-system"
LABELS = {"app.kubernetes.io/managed-by": "deployer", "deployer.io/inventory": "true"}


@dataclass(frozen=True)
class InventoryRef:
    name: str
    """The set it records ("cluster-base", or a service name)."""
    namespace: str = SYSTEM_NAMESPACE

    @property
    def configmap(self) -> str:
        return f"deployer-inventory.{self.name}"

    @property
    def key(self) -> ObjectKey:
        return ObjectKey("", "ConfigMap", self.namespace, self.configmap)


@dataclass(frozen=True)
class StoredInventory:
    inventory: Inventory | None
    """None when the cluster holds no inventory for this set yet."""
    resource_version: str | None = None
    """The version read: writes are conditional on it, so two syncs of one cluster at the same
    time cannot silently overwrite each other's record (the second fails and says so)."""


def read_inventory(client: KubeClient, ref: InventoryRef) -> StoredInventory:
    live = get(client, ref.key, "v1")
    if live is None:
        return StoredInventory(None)
    try:
        inventory = Inventory.from_data(ref.name, live.get("data"))
    except ValueError as exc:
        raise ApiError(f"cluster {client.cluster}: the inventory ConfigMap {ref.namespace}/{ref.configmap} is "
                       f"damaged ({exc}); deployer will not prune from it",
                       hint="Restore it from the last good copy, or delete it to start a new inventory "
                            "(objects deployer applied before are then adopted again, and none is pruned).") from exc
    return StoredInventory(inventory, (live.get("metadata") or {}).get("resourceVersion"))


def inventory_object(ref: InventoryRef, inventory: Inventory, resource_version: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": ref.configmap, "namespace": ref.namespace, "labels": dict(LABELS)}
    if resource_version:
        meta["resourceVersion"] = resource_version
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": inventory.to_data()}


def write_inventory(client: KubeClient, ref: InventoryRef, inventory: Inventory, expected_version: str | None) -> str:
    """Store ``inventory`` if the stored one is still at ``expected_version`` (None: if there is
    none yet); return the new version. Raises ConflictError when another run got there first."""
    try:
        if expected_version is None:
            namespace = ObjectKey("", "Namespace", "", ref.namespace)
            if ref.namespace == SYSTEM_NAMESPACE and get(client, namespace, "v1") is None:
                apply(client, {"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": SYSTEM_NAMESPACE,
                                            "labels": {"app.kubernetes.io/managed-by": "deployer"}}})
            # A create, not an apply: it fails if another run created the record meanwhile.
            stored = client.request("POST", CONFIGMAPS.collection(ref.namespace),
                                    what=f"create the inventory {ref.namespace}/{ref.configmap}",
                                    body=inventory_object(ref, inventory)).data
        else:
            # An apply carrying resourceVersion is conditional on it (a 409 if the record moved on).
            stored = apply(client, inventory_object(ref, inventory, expected_version), force=True)
    except ConflictError as exc:
        raise ConflictError(
            f"cluster {client.cluster}: the inventory {ref.namespace}/{ref.configmap} changed after this run read "
            "it: another sync of this cluster ran at the same time; this one stopped before its next step",
            hint="Run the sync again when the other one has finished.", status=409, reason=exc.reason) from exc
    return str((stored.get("metadata") or {}).get("resourceVersion", ""))
