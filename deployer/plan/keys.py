"""Naming objects: what makes two manifests, or a manifest and a live object, the same object."""

from __future__ import annotations

from typing import Any, NamedTuple


class ObjectKey(NamedTuple):
    """An object's identity: API group (not version: one object is served at several versions),
    kind, namespace ("" when cluster-scoped) and name."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.namespace, self.name, self.group)


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def key_of(obj: dict[str, Any]) -> ObjectKey:
    meta = obj.get("metadata") or {}
    return ObjectKey(group_of(obj["apiVersion"]), obj["kind"], meta.get("namespace") or "", meta["name"])
