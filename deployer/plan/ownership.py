"""Who owns an object deployer applied, and which objects a release may delete.

Every object a service deploy applies names its owner twice: in labels anyone can read
(``app.kubernetes.io/managed-by: deployer``, ``deployer.io/service``, ``deployer.io/environment``)
and in its field manager (``deployer/<service>``; the cluster chart's objects are ``deployer``'s
and are labelled with their cluster). A release deletes an object only when three things agree:
its environment's inventory lists it, the live object's labels name this service and environment,
and its uid is the one the inventory recorded. Anything else is named and left in place.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from deployer.plan.compare import MANAGER
from deployer.plan.inventory import Inventory
from deployer.plan.keys import ObjectKey
from deployer.plan.order import prune_rank

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_SERVICE = "deployer.io/service"
LABEL_ENVIRONMENT = "deployer.io/environment"
LABEL_CLUSTER = "deployer.io/cluster"
ANNOTATION_REVISION = "deployer.io/revision"
"""On every object a release applied: the revision that last applied it (which release runs)."""
# The API server accepts any field manager of at most 128 printable characters.
FIELD_MANAGER_MAX = 128


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


@dataclass(frozen=True)
class Owner:
    """One release identity: a service's environment in its namespace."""

    service: str
    environment: str
    namespace: str
    allowed_namespaces: frozenset[str] = frozenset()
    """Other namespaces the service file lets its objects live in (allowNamespaces)."""
    allowed_cluster_scoped: frozenset[str] = frozenset()
    """Cluster-scoped kinds the service file lets it own (allowClusterScoped)."""

    def reaches(self, key: ObjectKey) -> bool:
        """Whether ``key`` is somewhere this release may own (and so prune) objects."""
        if key.namespace == "":
            return key.kind in self.allowed_cluster_scoped
        return key.namespace == self.namespace or key.namespace in self.allowed_namespaces

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_MANAGED_BY: MANAGER, LABEL_SERVICE: self.service, LABEL_ENVIRONMENT: self.environment}

    @property
    def manager(self) -> str:
        """The field manager of the service's applies: not the chart's, so an object that moves
        between the chart and a service changes owner visibly in managedFields."""
        return f"{MANAGER}/{self.service}"[:FIELD_MANAGER_MAX]

    @property
    def inventory_name(self) -> str:
        return f"{self.service}.{self.environment}"

    def disowns(self, live: Mapping[str, Any]) -> str:
        """Why ``live`` is provably not this owner's ("" when its labels say it is)."""
        labels = labels_of(live)
        if labels.get(LABEL_MANAGED_BY) != MANAGER:
            return f"it is not labelled {LABEL_MANAGED_BY}={MANAGER}"
        theirs = (labels.get(LABEL_SERVICE), labels.get(LABEL_ENVIRONMENT))
        if theirs != (self.service, self.environment):
            return f"its labels name {describe_owner(labels)}, not {self.service} {self.environment}"
        return ""


def describe_owner(labels: Mapping[str, str]) -> str:
    """Who an object's labels say owns it, in words."""
    if labels.get(LABEL_SERVICE):
        return f"service {labels[LABEL_SERVICE]} {labels.get(LABEL_ENVIRONMENT) or '(no environment)'}"
    if labels.get(LABEL_CLUSTER):
        return f"the cluster chart of {labels[LABEL_CLUSTER]}"
    return "no deployer owner"


def stamped(obj: dict[str, Any], revision: int) -> dict[str, Any]:
    """``obj`` as revision ``revision`` applies it: annotated with that revision."""
    meta = dict(obj.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), ANNOTATION_REVISION: str(revision)}
    return {**obj, "metadata": meta}


def revision_of(live: Mapping[str, Any]) -> int | None:
    value = ((live.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_REVISION)
    return int(value) if isinstance(value, str) and value.isdigit() else None


@dataclass(frozen=True)
class Removal:
    """An inventory entry a release no longer declares, and what happens to it."""

    key: ObjectKey
    api_version: str
    uid: str | None = None
    """For a delete: only this incarnation (a precondition)."""
    left: str = ""
    """Why it is not deleted ("" when it is); it is dropped from the inventory either way."""

    @property
    def delete(self) -> bool:
        return not self.left


def removals(inventory: Inventory | None, keep: Collection[ObjectKey], live: Mapping[ObjectKey, dict[str, Any]],
             owner: Owner) -> list[Removal]:
    """What to do with every entry of ``inventory`` not in ``keep``, in prune order.

    ``live`` holds the live object of each such entry that exists. Deleted only when it is in the
    owner's namespace (or a namespace or cluster-scoped kind its service file allows), is not a
    Namespace, carries the owner's labels and is the incarnation the inventory recorded (when it
    recorded one).
    """
    if inventory is None:
        return []
    leaving = sorted((k for k in inventory.keys() if k not in keep), key=lambda k: (prune_rank(k.kind), k.sort_key()))
    out = []
    for key in leaving:
        api_version, current = inventory.api_version(key), live.get(key)
        meta = (current or {}).get("metadata") or {}
        recorded = inventory.uid(key)
        if current is None:
            left = "already gone"
        elif key.kind == "Namespace":
            left = "a Namespace is never deleted by a release (it holds everything in it)"
        elif key.kind == "CustomResourceDefinition":
            left = "a CustomResourceDefinition is never deleted by a release (every object of its kind would go too)"
        elif not owner.reaches(key):
            left = f"it is outside the release's namespace {owner.namespace} and what its service file allows"
        elif reason := owner.disowns(current):
            left = reason
        elif recorded and meta.get("uid") != recorded:
            left = f"it is another object of that name (uid {meta.get('uid')}, not the recorded {recorded})"
        else:
            left = ""
        out.append(Removal(key, api_version, meta.get("uid") or recorded, left))
    return out


def running_revision(live: Iterable[Mapping[str, Any]], owner: Owner) -> int | None:
    """The release the cluster runs, as its live objects say: the newest revision stamped on an
    object that carries the owner's labels (None when none says). A release that failed and was
    left in place runs, whatever the newest good record says."""
    # A pre-deploy Job runs before its release does: a failed one says nothing about what runs.
    revisions = [revision_of(obj) for obj in live if not owner.disowns(obj)
                 and ((obj.get("metadata") or {}).get("annotations") or {}).get("deployer.io/phase") != "pre-deploy"]
    return max((r for r in revisions if r is not None), default=None)
