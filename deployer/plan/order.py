"""The order changes reach a cluster: what others depend on goes first, and is removed last.

Namespaces hold everything else; a RoleBinding may only be created by someone holding the role it
grants (RBAC's escalation check), so roles precede bindings; ServiceAccounts precede the bindings
naming them so a binding never points at nothing. CustomResourceDefinitions go first so custom
objects a service ships can be applied in the same run. What pods use (ConfigMaps, Secrets,
PersistentVolumeClaims) precedes the workloads that mount it, so a new pod never starts without
its configuration. Pruning runs in the reverse order.
"""

from __future__ import annotations

APPLY_RANKS = {
    "Namespace": 0,
    "CustomResourceDefinition": 0,
    "ClusterRole": 1,
    "Role": 2,
    "ServiceAccount": 3,
    "RoleBinding": 4,
    "ClusterRoleBinding": 4,
    "ConfigMap": 5,
    "Secret": 5,
    "PersistentVolumeClaim": 5,
}
OTHER_RANK = 6


def apply_rank(kind: str) -> int:
    return APPLY_RANKS.get(kind, OTHER_RANK)


def prune_rank(kind: str) -> int:
    return OTHER_RANK - apply_rank(kind)
