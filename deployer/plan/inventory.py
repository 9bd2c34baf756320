"""The inventory: which objects deployer applied to a cluster for one set (the cluster chart, or
one service), so that objects dropped from the files are found and pruned.

Kept in the cluster itself (see ``deployer.kube.inventory`` for where and why), as one JSON line
per object so `kubectl get configmap -o yaml` reads as a list. A service's inventory also records
each object's uid once it exists, so that a prune or ``--delete-unmanaged`` deletes only the very
object the release created, never a same-named successor.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from deployer.plan.keys import ObjectKey, group_of

DATA_KEY = "objects"


@dataclass(frozen=True)
class Inventory:
    name: str
    """Which set this records: "cluster-base", or a service's name."""
    entries: tuple[tuple[ObjectKey, str], ...] = ()
    """(key, apiVersion) pairs, sorted by key."""
    uids: tuple[tuple[ObjectKey, str], ...] = ()
    """(key, uid) of the entries whose uid is known, sorted by key."""

    @classmethod
    def of(cls, name: str, objects: Iterable[tuple[ObjectKey, str]],
           uids: Mapping[ObjectKey, str] | None = None) -> Inventory:
        unique = dict(objects)
        known = {key: uid for key, uid in (uids or {}).items() if key in unique and uid}
        return cls(name, tuple(sorted(unique.items(), key=lambda e: e[0].sort_key())),
                   tuple(sorted(known.items(), key=lambda e: e[0].sort_key())))

    # Looked up once per entry when a release prunes hundreds of objects: built once, not per call.
    @cached_property
    def _versions(self) -> dict[ObjectKey, str]:
        return dict(self.entries)

    @cached_property
    def _uids(self) -> dict[ObjectKey, str]:
        return dict(self.uids)

    def uid(self, key: ObjectKey) -> str | None:
        return self._uids.get(key)

    def keys(self) -> set[ObjectKey]:
        return set(self._versions)

    def api_version(self, key: ObjectKey) -> str:
        return self._versions[key]

    def __contains__(self, key: object) -> bool:
        return key in self._versions

    def __len__(self) -> int:
        return len(self.entries)

    def to_data(self) -> dict[str, str]:
        uids = dict(self.uids)
        lines = [json.dumps([api_version, key.kind, key.namespace, key.name] + ([uids[key]] if key in uids else []))
                 for key, api_version in self.entries]
        return {DATA_KEY: "\n".join(lines)}

    @classmethod
    def from_data(cls, name: str, data: dict[str, Any] | None) -> Inventory:
        """Parse stored data; raises ValueError naming the bad line."""
        text = (data or {}).get(DATA_KEY) or ""
        entries, uids = [], {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                fields = orjson.loads(line)
                if not isinstance(fields, list) or len(fields) not in (4, 5) \
                        or not all(isinstance(v, str) for v in fields):
                    raise ValueError
            except ValueError:
                raise ValueError(f"line {number} is not [apiVersion, kind, namespace, name(, uid)]: "
                                 f"{line[:100]!r}") from None
            api_version, kind, namespace, obj_name = fields[:4]
            key = ObjectKey(group_of(api_version), kind, namespace, obj_name)
            entries.append((key, api_version))
            if len(fields) == 5:
                uids[key] = fields[4]
        return cls.of(name, entries, uids)
