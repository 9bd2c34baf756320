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

from deployer.errors import ApiError
from deployer.kube.client import KubeClient
from deployer.kube.objects import apply, get
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


def read_inventory(client: KubeClient, ref: InventoryRef) -> Inventory | None:
    """The recorded inventory, or None when the cluster has none for this set yet."""
    live = get(client, ref.key, "v1")
    if live is None:
        return None
    try:
        return Inventory.from_data(ref.name, live.get("data"))
    except ValueError as exc:
        raise ApiError(f"cluster {client.cluster}: the inventory ConfigMap {ref.namespace}/{ref.configmap} is "
                       f"damaged ({exc}); deployer will not prune from it",
                       hint="Restore it from the last good copy, or delete it to start a new inventory "
                            "(objects deployer applied before are then adopted again, and none is pruned).") from exc


def inventory_object(ref: InventoryRef, inventory: Inventory) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ref.configmap, "namespace": ref.namespace, "labels": dict(LABELS)},
            "data": inventory.to_data()}


def write_inventory(client: KubeClient, ref: InventoryRef, inventory: Inventory, *, dry_run: bool = False) -> None:
    namespace = ObjectKey("", "Namespace", "", ref.namespace)
    if ref.namespace == SYSTEM_NAMESPACE and get(client, namespace, "v1") is None:
        apply(client, {"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": SYSTEM_NAMESPACE, "labels": {"app.kubernetes.io/managed-by": "deployer"}}},
              dry_run=dry_run)
    apply(client, inventory_object(ref, inventory), force=True, dry_run=dry_run)
