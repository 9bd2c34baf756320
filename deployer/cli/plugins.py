"""Commands other installed packages add through an entry-point group, found without importing
``importlib.metadata``.

``importlib.metadata`` pulls in the ``email`` package to parse distribution metadata: about 40 ms
of imports, a third of what ``deployer --help`` may cost (issue 13's budget is 150 ms). Entry
points need none of that: they are the ``entry_points.txt`` of each ``*.dist-info`` (or
``*.egg-info``) folder on ``sys.path``, an INI file. The first distribution of a name on
``sys.path`` wins, as with ``importlib.metadata``.
"""

from __future__ import annotations

import os
import sys

# The module stays as cheap as a bare interpreter: no re, dataclasses or typing (dataclasses
# imports inspect), since a cached `deployer --help` (cli/entry.py) imports nothing else.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

# Entry-point group through which other installed packages add commands.
PLUGIN_GROUP = "deployer.commands"

_METADATA_SUFFIXES = (".dist-info", ".egg-info")


class PluginEntryPoint:
    """One ``name = module:attribute`` line of an entry_points.txt (immutable, compared by value)."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value
        """``module:attribute``, as in entry_points.txt."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PluginEntryPoint):
            return NotImplemented
        return (self.name, self.value) == (other.name, other.value)

    def __hash__(self) -> int:
        return hash((self.name, self.value))

    def __repr__(self) -> str:
        return f"PluginEntryPoint(name={self.name!r}, value={self.value!r})"

    def load(self) -> Any:
        import importlib

        module_name, _, attr = self.value.partition(":")
        target: Any = importlib.import_module(module_name.strip())
        for part in attr.strip().split(".") if attr.strip() else []:
            target = getattr(target, part)
        return target


def distribution_of(folder_name: str) -> str | None:
    """The distribution a ``NAME[-VERSION].dist-info`` (or ``.egg-info``) folder belongs to, or
    None for any other folder name."""
    for suffix in _METADATA_SUFFIXES:
        if folder_name.endswith(suffix):
            parts = folder_name[:-len(suffix)].split("-")
            if len(parts) <= 2 and all(parts):
                return parts[0]
    return None


def _normalised(distribution: str) -> str:
    # PEP 503: runs of "-", "_" and "." are one "-" (the name holds no "-" here)
    name = distribution.lower().replace("_", ".")
    while ".." in name:
        name = name.replace("..", ".")
    return name.replace(".", "-")


def parse_entry_points(text: str, group: str) -> list[PluginEntryPoint]:
    """The entries of one group in an entry_points.txt (INI: ``[group]`` then ``name = value``)."""
    found: list[PluginEntryPoint] = []
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == group and "=" in line:
            name, _, value = line.partition("=")
            # "module:attr [extra]": extras do not change what is loaded
            found.append(PluginEntryPoint(name.strip(), value.split("[")[0].strip()))
    return found


def entry_points(group: str, path: Iterable[str] | None = None) -> list[PluginEntryPoint]:
    seen: set[str] = set()
    found: list[PluginEntryPoint] = []
    for folder in sys.path if path is None else path:
        try:
            names = sorted(os.listdir(folder or "."))
        except OSError:
            continue  # a zip file or a missing folder on sys.path holds no metadata folders here
        for entry in names:
            name = distribution_of(entry)
            if name is None:
                continue
            distribution = _normalised(name)
            if distribution in seen:
                continue
            seen.add(distribution)
            try:
                with open(os.path.join(folder, entry, "entry_points.txt"), encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                continue
            found.extend(parse_entry_points(text, group))
    return found
