"""Rendered documents kept by a hash of everything they are made from, so a run whose inputs did
not change skips jinja2 and the YAML parse (issue 13: rendering 498 objects was a quarter of a
no-change sync's CPU, and the fan-out renders every cluster before any request).

The key covers every input of a render: each file of the template folder (helpers too) by
content, the context by value (pydantic models by their fields, dataclasses, plain data; a value
of any other type makes the render uncacheable rather than risk two contexts sharing a key), the
interpreter, and every source file of deployer by size and modification time, so a changed filter
or model property can never be served an old render. Only the parsed documents are kept: every
check after the parse (namespace placement, object checks, duplicates) runs on every run.

Entries live in ``deployer.localcache``'s ``render`` folder as ``marshal`` data, which keeps
exactly the types a safe YAML parse produces. A missing, unreadable or foreign entry is a miss.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import marshal
import sys
from pathlib import Path, PurePath
from typing import Any

from deployer import localcache

# Bump when what an entry holds changes shape.
_FORMAT = "render-cache-2"
_KIND = "render"

Documents = list[list[Any]]
"""The parsed YAML documents of each template, in template order."""


class _Unkeyable(Exception):
    """A context value whose identity cannot be told from its data."""


def cache_folder() -> Path:
    return localcache.folder(_KIND)


def render_key(folder: Path, templates: list[Path], context: dict[str, Any],
               cluster_scoped: frozenset[str]) -> str | None:
    """The key of rendering ``templates`` of ``folder`` with ``context``; None when the context
    holds a value that cannot be keyed (such a render is simply not cached)."""
    digest = hashlib.sha256()
    digest.update(f"{_FORMAT}\0{sys.version}\0{localcache.code_stamp()}\0".encode())
    digest.update(json.dumps(sorted(cluster_scoped)).encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"\0file {path.relative_to(folder).as_posix()} {path in templates}\0".encode())
        digest.update(path.read_bytes())
    try:
        digest.update(json.dumps(_plain(context), sort_keys=True, separators=(",", ":")).encode())
    except _Unkeyable:
        return None
    return digest.hexdigest()


def load(key: str) -> Documents | None:
    payload = localcache.read(_KIND, key)
    if payload is None:
        return None
    try:
        data = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None
    if not (isinstance(data, tuple) and len(data) == 2 and data[0] == key and isinstance(data[1], list)):
        return None  # written by something else under this name
    documents: Documents = data[1]
    return documents


def store(key: str, documents: Documents) -> None:
    try:
        payload = marshal.dumps((key, documents))
    except ValueError:
        return  # a value marshal cannot keep: not cached
    localcache.write(_KIND, key, payload)


def _plain(value: Any) -> Any:
    """``value`` as JSON data that differs whenever ``value`` differs (types are named)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return [type(value).__name__, repr(value)]
    if isinstance(value, enum.Enum):
        return ["enum", type(value).__qualname__, _plain(value.value)]
    if isinstance(value, PurePath):
        return ["path", str(value)]
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [_plain(item) for item in value]]
    if isinstance(value, (set, frozenset)):
        return ["set", sorted(json.dumps(_plain(item), sort_keys=True) for item in value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise _Unkeyable(f"a mapping with keys of type {sorted({type(k).__name__ for k in value})}")
        return ["dict", {k: _plain(v) for k, v in value.items()}]
    fields = getattr(type(value), "model_fields", None)
    if isinstance(fields, dict) and getattr(value, "__pydantic_private__", None) in (None, {}):
        # Read field by field, not by model_dump: dumping builds the model's serializer, which a
        # run served from the configuration cache otherwise never needs (issue 13).
        return ["model", type(value).__qualname__, {name: _plain(getattr(value, name)) for name in fields}]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return ["dataclass", type(value).__qualname__,
                {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}]
    raise _Unkeyable(f"a value of type {type(value).__qualname__}")
