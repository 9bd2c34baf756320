"""Is a live object already as desired? The comparison that lets a second sync write nothing.

Server-side apply of an unchanged manifest is a no-op for the object but still a request, and
hundreds of them are what makes an idle sync slow. So deployer applies only objects for which
this comparison finds a difference. It mirrors what the API server would do with the apply:

1. Values: every field the manifest sets must hold the same value live. Fields the manifest does
   not set (server defaults, status, other managers' fields) are ignored. Lists are atomic and
   compared position by position (RBAC ``rules`` and ``subjects`` are atomic lists: an extra
   subject live is a difference), except the associative lists a workload uses (containers by
   name, ports by number, ...), which are matched by their merge key. Quantities the server
   rewrites to canonical form ("1000m" -> "1") compare by value.
2. Ownership: the set of fields deployer's field manager owns (from ``metadata.managedFields``)
   must be exactly the set the manifest sets. A field deployer owns but no longer sets would be
   removed by the apply; a field it sets but does not own (someone else took it, or it was
   never applied by deployer) would change ownership. Either way the apply is not a no-op.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MANAGER = "deployer"


class _Missing:
    def __repr__(self) -> str:
        return "<absent>"


MISSING: Any = _Missing()
_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})

# Lists Kubernetes merges by key rather than replacing (the `x-kubernetes-list-map-keys` of the
# built-in types a service manifest commonly sets), by the name of the field holding the list.
ASSOCIATIVE_LISTS = {
    "containers": ("name",), "initContainers": ("name",), "ephemeralContainers": ("name",),
    "env": ("name",), "volumes": ("name",), "volumeMounts": ("mountPath",),
    "imagePullSecrets": ("name",), "tolerations": (), "hostAliases": ("ip",),
    "ports": ("containerPort", "port"),
}
# Fields whose values are resource quantities, by the name of the field or of the map holding them.
_QUANTITY_MAPS = {"requests", "limits", "hard", "capacity", "allocatable", "default", "defaultRequest",
                  "max", "min", "maxLimitRequestRatio", "overhead"}
_QUANTITY_FIELDS = {"sizeLimit", "storage"}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$")
_SUFFIX: dict[str, int | Decimal] = {
    "": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
    "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
# Identity fields: never in managedFields, never compared.
_IDENTITY = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: ``before`` is live (or MISSING), ``after`` desired (or MISSING)."""

    path: str
    before: Any
    after: Any
    reason: str = "value"
    """"value": the value differs; "remove": deployer owns it but no longer sets it (the apply
    removes it); "ownership": deployer sets it but does not own it live; otherwise a sentence
    saying why the whole object needs applying (it was never applied by deployer)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "reason": self.reason}
        if self.before is not MISSING:
            out["before"] = self.before
        if self.after is not MISSING:
            out["after"] = self.after
        return out

    def __str__(self) -> str:
        def show(value: Any) -> str:
            return "(absent)" if value is MISSING else json.dumps(value, sort_keys=True)
        if self.reason == "remove":
            return f"{self.path}: {show(self.before)} -> (removed)"
        if self.reason == "ownership":
            return f"{self.path}: owned by {self.before or 'no field manager'}; deployer takes it"
        if self.reason != "value":
            return f"{self.reason} (field managers: {self.before})"
        return f"{self.path}: {show(self.before)} -> {show(self.after)}"


def normalise(obj: Any) -> Any:
    """What an apply of ``obj`` actually sets: nulls and empty maps/lists dropped (the API server
    drops them too, so leaving them in would look like a difference on every sync)."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            value = normalise(value)
            if value is None or value == {} or value == []:
                continue
            out[key] = value
        return out
    if isinstance(obj, list):
        return [normalise(item) for item in obj]
    return obj


def parse_quantity(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if not match:
        return None
    number, suffix = str(match.group(1)), match.group(2)
    try:
        if suffix and suffix[0] in "eE":
            return Decimal(number) * (Decimal(10) ** int(suffix[1:]))
        return Decimal(number) * Decimal(_SUFFIX[suffix or ""])
    except InvalidOperation:
        return None


def _join(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"


def _same_scalar(desired: Any, live: Any, key: str, parent: str) -> bool:
    if desired == live and type(desired) is type(live):
        return True
    if isinstance(desired, int | float) and isinstance(live, int | float) and not isinstance(desired, bool) \
            and not isinstance(live, bool):
        return desired == live
    if parent in _QUANTITY_MAPS or key in _QUANTITY_FIELDS:
        a, b = parse_quantity(desired), parse_quantity(live)
        return a is not None and a == b
    return False


def _merge_key(field: str, items: list[Any]) -> tuple[str, ...] | None:
    candidates = ASSOCIATIVE_LISTS.get(field)
    if not candidates or not all(isinstance(i, dict) for i in items):
        return None
    for key in candidates:
        if all(key in i for i in items):
            return (key,)
    return None


def value_changes(desired: Any, live: Any, path: str = "", key: str = "", parent: str = "") -> list[FieldChange]:
    """Fields ``desired`` sets whose live value differs (fields only live has are ignored)."""
    found: list[tuple[tuple[str | int, ...], Any, Any]] = []
    _values(desired, live, (), key, parent, found)
    return [FieldChange(path + "".join(f"[{s}]" if isinstance(s, int | _Item) else f".{s}"
                                       for s in segments) or ".", before, after)
            for segments, before, after in found]


class _Item(str):
    """A path segment naming a list item by its merge key ("name=app")."""


def _values(desired: Any, live: Any, at: tuple[str | int, ...], key: str, parent: str,
            found: list[tuple[tuple[str | int, ...], Any, Any]]) -> None:
    # Path segments are kept as a tuple and only formatted for a difference: an idle sync
    # compares every field of hundreds of objects and finds none.
    if type(desired) is type(live) and not isinstance(desired, dict | list):
        if desired != live and not _same_scalar(desired, live, key, parent):
            found.append((at, live, desired))
        return
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            found.append((at, live, desired))
            return
        for k, value in desired.items():
            if k not in live:
                found.append((at + (k,), MISSING, value))
                continue
            have = live[k]
            # The common case, a scalar equal to the live one and of its very type (True is not
            # 1 here), needs no descent: most of a no-change sync's fields end here (issue 13).
            if value.__class__ is have.__class__ and value.__class__ in _PLAIN_SCALARS and value == have:
                continue
            _values(value, have, at + (k,), k, key, found)
        return
    if isinstance(desired, list):
        if not isinstance(live, list):
            found.append((at, live, desired))
            return
        merge = _merge_key(key, desired)
        if merge and all(isinstance(i, dict) for i in live):
            for item in desired:
                ident = {m: item[m] for m in merge}
                match = [i for i in live if all(i.get(m) == v for m, v in ident.items())]
                label = _Item(",".join(f"{m}={v}" for m, v in ident.items()))
                if not match:
                    found.append((at + (label,), MISSING, item))
                else:
                    _values(item, match[0], at + (label,), key, parent, found)
            return
        if len(desired) != len(live):
            found.append((at, live, desired))
            return
        # Same length: report the items that differ (".rules[0].verbs"), which says more to a
        # reader than the whole list; the apply still replaces an atomic list whole.
        for i, (d, item) in enumerate(zip(desired, live, strict=True)):
            _values(d, item, at + (i,), key, parent, found)
        return
    if not _same_scalar(desired, live, key, parent):
        found.append((at, live, desired))


def applied_fields(live: dict[str, Any], manager: str = MANAGER,
                   api_version: str | None = None) -> dict[str, Any] | None:
    """The fieldsV1 set ``manager`` owns through server-side apply, or None if it has none."""
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply" \
                and (api_version is None or entry.get("apiVersion") == api_version):
            return entry.get("fieldsV1") or {}
    return None


def field_managers(live: dict[str, Any], exclude: str | None = None) -> list[str]:
    """Every field manager of a live object (for plan lines and conflict messages)."""
    names = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        name = entry.get("manager")
        if name and name != exclude and name not in names:
            names.append(name)
    return names


def _owners_of(live: dict[str, Any], segments: tuple[str, ...], manager: str) -> str:
    """Which other managers own the field at ``segments`` (top-level field names only)."""
    owners = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        fields = entry.get("fieldsV1") or {}
        for seg in segments:
            fields = fields.get(f"f:{seg}") if isinstance(fields, dict) else None
            if fields is None:
                break
        else:
            if entry.get("manager") != manager and entry.get("manager") not in owners:
                owners.append(entry.get("manager"))
    return ", ".join(owners)


def ownership_changes(desired: dict[str, Any], live: dict[str, Any], owned: dict[str, Any],
                      manager: str = MANAGER) -> list[FieldChange]:
    """Differences between the fields ``desired`` sets and the fields ``manager`` owns live."""
    changes: list[FieldChange] = []

    def walk(want: Any, have: Any, fields: dict[str, Any], path: str, segments: tuple[str, ...]) -> None:
        if isinstance(want, dict):
            children = {k[2:]: v for k, v in fields.items() if k.startswith("f:")}
            if not children and fields.keys() <= {"."}:
                return  # an atomic map or struct: owned whole, values compared elsewhere
            for name, sub in children.items():
                here = segments + (name,)
                if name not in want:
                    before = have.get(name, MISSING) if isinstance(have, dict) else MISSING
                    changes.append(FieldChange(_join(path, name), before, MISSING, "remove"))
                elif sub:
                    walk(want[name], have.get(name) if isinstance(have, dict) else None, sub,
                         _join(path, name), here)
            for name in want:
                here = segments + (name,)
                if name not in children and not _identity_only(here, want[name]):
                    changes.append(FieldChange(_join(path, name), _owners_of(live, here, manager),
                                               want[name], "ownership"))
        elif isinstance(want, list):
            items = {k: v for k, v in fields.items() if k[:2] in ("k:", "v:", "i:")}
            if not items:
                return  # an atomic list
            matched: set[int] = set()
            for fkey, sub in items.items():
                index = _find_item(want, fkey)
                if index is None:
                    changes.append(FieldChange(f"{path}[{fkey[2:]}]", fkey[2:], MISSING, "remove"))
                    continue
                matched.add(index)
                if sub:
                    walk(want[index], None, sub, f"{path}[{fkey[2:]}]", segments)
            for index, item in enumerate(want):
                if index not in matched:
                    changes.append(FieldChange(_join(path, index), _owners_of(live, segments, manager),
                                               item, "ownership"))

    walk(desired, live, owned, "", ())
    return changes


def _identity_only(segments: tuple[str, ...], value: Any) -> bool:
    """Whether a field holds nothing but identity (``metadata`` with just name and namespace),
    which managedFields never records."""
    if segments in _IDENTITY:
        return True
    return isinstance(value, dict) and all(segments + (k,) in _IDENTITY for k in value)


# Key fields the API server defaults before recording managedFields: a port applied without a
# protocol is keyed as {"containerPort": 8080, "protocol": "TCP"} (core/v1 defaults).
_KEY_DEFAULTS = {"protocol": "TCP"}


def _find_item(items: list[Any], fkey: str) -> int | None:
    kind, raw = fkey[:2], fkey[2:]
    if kind == "i:":
        index = int(raw)
        return index if index < len(items) else None
    try:
        wanted = json.loads(raw)
    except ValueError:
        return None
    for index, item in enumerate(items):
        if kind == "v:" and item == wanted:
            return index
        if kind == "k:" and isinstance(item, dict) and isinstance(wanted, dict) \
                and all(item.get(k, _KEY_DEFAULTS.get(k)) == v for k, v in wanted.items()):
            return index
    return None


def changes_to_apply(desired: dict[str, Any], live: dict[str, Any], manager: str = MANAGER) -> list[FieldChange]:
    """What an apply of ``desired`` (normalised) by ``manager`` would change on ``live``; empty
    when the object is already as desired and the apply may be skipped."""
    changes = value_changes(desired, live)
    owned = applied_fields(live, manager, desired.get("apiVersion"))
    if owned is None:
        owned_elsewhere = applied_fields(live, manager)
        reason = ("applied by deployer at another API version" if owned_elsewhere is not None
                  else "not applied by deployer yet")
        return changes + [FieldChange("metadata.managedFields", ", ".join(field_managers(live)) or "none",
                                      manager, reason)]
    return changes + ownership_changes(desired, live, owned, manager)
