"""Desired objects vs live objects (and the inventory) -> the plan: ordered changes for one cluster.

Pure: it gets everything it needs as data and returns data. The plan is what `cluster diff`
prints, what `--dry-run` shows, and what sync executes, so all three always agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from deployer.plan.compare import MANAGER, FieldChange, applied_fields, changes_to_apply, field_managers, normalise
from deployer.plan.inventory import Inventory
from deployer.plan.keys import ObjectKey, key_of
from deployer.plan.order import apply_rank, prune_rank
from deployer.plan.ownership import LABEL_CLUSTER, LABEL_SERVICE, describe_owner, labels_of


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    ADOPT = "adopt"
    """It exists but deployer did not create it: the apply takes it over (shown as its own line)."""
    UNCHANGED = "unchanged"
    PRUNE = "prune"
    KEEP = "keep"
    """A Namespace dropped from the files (never deleted without --prune-namespaces), or an entry
    whose API version the cluster no longer serves: left in place and in the inventory."""
    FORGET = "forget"
    """In the inventory but gone, or no longer this set's (another field manager, or labels naming
    a service or another cluster): dropped from the inventory, not deleted."""


WRITES = (Action.CREATE, Action.UPDATE, Action.ADOPT, Action.PRUNE)
SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.ADOPT: "*", Action.UNCHANGED: "=",
           Action.PRUNE: "-", Action.KEEP: "!", Action.FORGET: "?"}


@dataclass(frozen=True)
class Change:
    action: Action
    key: ObjectKey
    api_version: str
    desired: dict[str, Any] | None = None
    """The object to apply (normalised), for create/update/adopt."""
    fields: tuple[FieldChange, ...] = ()
    note: str = ""
    live_uid: str | None = None
    """For prune: delete only this incarnation (a precondition), never a same-named successor."""
    live_version: str | None = None
    """The live resourceVersion the plan was made from (to tell a real write from a no-op)."""

    @property
    def writes(self) -> bool:
        return self.action in WRITES

    @property
    def rank(self) -> int:
        return prune_rank(self.key.kind) if self.action is Action.PRUNE else apply_rank(self.key.kind)

    def line(self) -> str:
        text = f"{SYMBOLS[self.action]} {self.action.value} {self.key}"
        return f"{text}: {self.note}" if self.note else text

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action.value, "apiVersion": self.api_version, "kind": self.key.kind,
                "namespace": self.key.namespace or None, "name": self.key.name, "note": self.note or None,
                "fields": [f.to_dict() for f in self.fields]}


@dataclass(frozen=True)
class PlanOptions:
    prune_namespaces: bool = False
    manager: str = MANAGER
    cluster: str = ""
    """The cluster planned for: an object labelled with another cluster is not this set's."""


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    """Applies in dependency order, then prunes in reverse dependency order."""
    inventory_before: Inventory | None
    """None when the cluster holds no inventory for this set yet."""
    inventory_after: Inventory
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def writes(self) -> list[Change]:
        return [c for c in self.changes if c.writes]

    @property
    def inventory_changed(self) -> bool:
        return self.inventory_before != self.inventory_after

    @property
    def changed(self) -> bool:
        """Whether executing the plan writes anything at all."""
        return bool(self.writes) or self.inventory_changed

    def tiers(self) -> list[list[Change]]:
        """Writes grouped into steps that may each run in parallel: all applies of one rank, then
        the next rank; then the prunes, rank by rank."""
        steps: list[list[Change]] = []
        for pruning in (False, True):
            ranks: dict[int, list[Change]] = {}
            for change in self.writes:
                if (change.action is Action.PRUNE) == pruning:
                    ranks.setdefault(change.rank, []).append(change)
            steps += [ranks[r] for r in sorted(ranks)]
        return steps

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "changed": self.changed, "inventoryChanged": self.inventory_changed,
                "changes": [c.to_dict() for c in self.changes if c.action is not Action.UNCHANGED]}


def _count(changes: Iterable[Change]) -> dict[str, int]:
    counts = {a.value: 0 for a in Action}
    for change in changes:
        counts[change.action.value] += 1
    return counts


def _other_owner(live: dict[str, Any], cluster: str) -> str:
    """Who else the labels of ``live`` say owns it ("" when nobody else): a service that took the
    object over, or another cluster's chart (two cluster files once pointing at one server)."""
    labels = labels_of(live)
    if labels.get(LABEL_SERVICE) or (cluster and labels.get(LABEL_CLUSTER, cluster) != cluster):
        return describe_owner(labels)
    return ""


def plan_changes(desired: Iterable[dict[str, Any]], live: Mapping[ObjectKey, dict[str, Any]],
                 inventory: Inventory | None, options: PlanOptions = PlanOptions(), *,
                 inventory_name: str | None = None, unreadable: Mapping[ObjectKey, str] | None = None) -> Plan:
    """The changes that make a cluster hold exactly ``desired``.

    ``live`` maps the key of every desired object and every inventory entry that exists in the
    cluster to its live object (absent keys do not exist). ``inventory`` is what deployer recorded
    last time (None if nothing yet). ``unreadable`` names inventory entries that could not be read
    (an API version no longer served), each with why: they are kept, neither deleted nor forgotten.
    """
    manager = options.manager
    recorded = inventory.keys() if inventory else set()
    objects = [normalise(obj) for obj in desired]
    ordered = sorted(enumerate(objects), key=lambda pair: (apply_rank(pair[1]["kind"]), pair[0]))
    changes: list[Change] = []
    kept: list[tuple[ObjectKey, str]] = []
    wanted: dict[ObjectKey, str] = {}
    for _, obj in ordered:
        key = key_of(obj)
        wanted[key] = obj["apiVersion"]
        current = live.get(key)
        if current is None:
            changes.append(Change(Action.CREATE, key, obj["apiVersion"], obj))
            continue
        diffs = tuple(changes_to_apply(obj, current, manager))
        version = (current.get("metadata") or {}).get("resourceVersion")
        ours = applied_fields(current, manager) is not None
        if not diffs:
            changes.append(Change(Action.UNCHANGED, key, obj["apiVersion"]))
        elif key not in recorded and not ours:
            others = ", ".join(field_managers(current, exclude=manager)) or "no recorded field manager"
            changes.append(Change(Action.ADOPT, key, obj["apiVersion"], obj, diffs,
                                  note=f"exists but deployer did not create it (made by {others}); "
                                       "deployer takes it over", live_version=version))
        else:
            changes.append(Change(Action.UPDATE, key, obj["apiVersion"], obj, diffs, live_version=version))

    leaving = sorted((k for k in recorded if k not in wanted), key=lambda k: (prune_rank(k.kind), k.sort_key()))
    for key in leaving:
        api_version = inventory.api_version(key) if inventory else ""
        current = live.get(key)
        if key in (unreadable or {}):
            kept.append((key, api_version))
            changes.append(Change(Action.KEEP, key, api_version,
                                  note=f"skipped: {(unreadable or {})[key]}; left in place and in the inventory"))
        elif current is None:
            changes.append(Change(Action.FORGET, key, api_version, note="already gone"))
        elif applied_fields(current, manager) is None:
            others = ", ".join(field_managers(current)) or "no field manager"
            changes.append(Change(Action.FORGET, key, api_version,
                                  note=f"left in place: no longer applied by deployer (field managers: {others})"))
        elif other := _other_owner(current, options.cluster):
            changes.append(Change(Action.FORGET, key, api_version, note=f"left in place: now owned by {other}"))
        elif key.kind == "Namespace" and not options.prune_namespaces:
            kept.append((key, api_version))
            changes.append(Change(Action.KEEP, key, api_version,
                                  note="no longer declared; kept because deleting a namespace deletes "
                                       "everything in it: pass --prune-namespaces to delete it"))
        else:
            meta = current.get("metadata") or {}
            changes.append(Change(Action.PRUNE, key, api_version, live_uid=meta.get("uid"),
                                  live_version=meta.get("resourceVersion"), note="no longer in the files or chart"))

    name = inventory.name if inventory else (inventory_name or "")
    after = Inventory.of(name, list(wanted.items()) + kept)
    return Plan(tuple(changes), inventory, after, _count(changes))
