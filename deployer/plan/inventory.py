"""The inventory: which objects deployer applied to a cluster for one set (the cluster chart, or
one service), so that objects dropped from the files are found and pruned.

Kept in the cluster itself (see ``deployer.kube.inventory`` for where and why), as one JSON line
per object so `kubectl get configmap -o yaml` reads as a list.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from deployer.plan.keys import ObjectKey, group_of

DATA_KEY = "objects"


@dataclass(frozen=True)
class Inventory:
    name: str
    """Which set this records: "cluster-base", or a service's name."""
    entries: tuple[tuple[ObjectKey, str], ...] = ()
    """(key, apiVersion) pairs, sorted by key."""

    @classmethod
    def of(cls, name: str, objects: Iterable[tuple[ObjectKey, str]]) -> Inventory:
        unique = dict(objects)
        return cls(name, tuple(sorted(unique.items(), key=lambda e: e[0].sort_key())))

    def keys(self) -> set[ObjectKey]:
        return {key for key, _ in self.entries}

    def api_version(self, key: ObjectKey) -> str:
        return dict(self.entries)[key]

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        return len(self.entries)

    def to_data(self) -> dict[str, str]:
        lines = [json.dumps([api_version, key.kind, key.namespace, key.name]) for key, api_version in self.entries]
        return {DATA_KEY: "\n".join(lines)}

    @classmethod
    def from_data(cls, name: str, data: dict[str, Any] | None) -> Inventory:
        """Parse stored data; raises ValueError naming the bad line."""
        text = (data or {}).get(DATA_KEY) or ""
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                api_version, kind, namespace, obj_name = json.loads(line)
                if not all(isinstance(v, str) for v in (api_version, kind, namespace, obj_name)):
                    raise ValueError
            except ValueError:
                raise ValueError(f"line {number} is not [apiVersion, kind, namespace, name]: {line[:100]!r}") from None
            entries.append((ObjectKey(group_of(api_version), kind, namespace, obj_name), api_version))
        return cls.of(name, entries)
