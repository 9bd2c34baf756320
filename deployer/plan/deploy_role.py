"""Which cluster-file value grants the deployer role a kind it lacks: pure, over the rendered chart.

The chart's ``deployer`` ClusterRole (charts/cluster-base/templates/20-clusterroles.yaml.j2) grants
a declared default set of kinds; a cluster file extends it with ``values.deployerRole``: ``secrets:
true``, ``rbac: true`` (Roles and RoleBindings), or ``extraRules`` naming more kinds. A preflight
refusal for a kind outside that set names the value to change, so the on-call engineer does not
have to read the chart to find it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from deployer.plan.access import Atom, Rule, covered

DEPLOYER_ROLE = "deployer:deployer"
RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class KindOutsideRole:
    kind: str
    group: str
    plural: str

    @property
    def value(self) -> str:
        """The cluster-file value that adds this kind to the deployer role."""
        if (self.group, self.plural) == ("", "secrets"):
            return "values.deployerRole.secrets: true"
        if self.group == RBAC_GROUP and self.plural in ("roles", "rolebindings"):
            return "values.deployerRole.rbac: true"
        return (f"values.deployerRole.extraRules: [{{apiGroups: [{json.dumps(self.group)}], "
                f"resources: [{self.plural}]}}]")

    def __str__(self) -> str:
        resource = f"{self.plural}.{self.group}" if self.group else self.plural
        return f"kind {self.kind} ({resource})"


def deployer_role_rules(chart_objects: Iterable[dict[str, Any]]) -> list[Rule]:
    """The rules of the rendered deployer ClusterRole (none when the chart renders none)."""
    for obj in chart_objects:
        if obj.get("kind") == "ClusterRole" and (obj.get("metadata") or {}).get("name") == DEPLOYER_ROLE:
            return [Rule.from_api(r) for r in obj.get("rules") or []]
    return []


def kinds_outside_role(kinds: Sequence[tuple[str, str, str]], role: Sequence[Rule]) -> list[KindOutsideRole]:
    """Of ``kinds`` (kind, API group, plural) a release writes, those the deployer role does not let
    it create and patch: only a cluster-file change can fix those, not a binding."""
    outside = {}
    for kind, group, plural in kinds:
        if not all(covered(Atom(group, plural, verb), role) for verb in ("get", "create", "patch")):
            outside[(group, plural)] = KindOutsideRole(kind, group, plural)
    return [outside[k] for k in sorted(outside)]
