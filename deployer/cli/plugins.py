"""Commands other installed packages add through an entry-point group, found without importing
``importlib.metadata``.

``importlib.metadata`` pulls in the ``email`` package to parse distribution metadata: about 40 ms
of imports, a third of what ``deployer --help`` may cost (issue 13's budget is 150 ms). Entry
points need none of that: they are the ``entry_points.txt`` of each ``*.dist-info`` (or
``*.egg-info``) folder on ``sys.path``, an INI file. The first distribution of a name on
``sys.path`` wins, as with ``importlib.metadata``.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_METADATA_FOLDER = re.compile(r"^(?P<name>[^-]+)(-[^-]+)?\.(dist-info|egg-info)$")


@dataclass(frozen=True)
class PluginEntryPoint:
    name: str
    value: str
    """``module:attribute``, as in entry_points.txt."""

    def load(self) -> Any:
        module_name, _, attr = self.value.partition(":")
        target: Any = importlib.import_module(module_name.strip())
        for part in attr.strip().split(".") if attr.strip() else []:
            target = getattr(target, part)
        return target


def _normalised(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


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
            match = _METADATA_FOLDER.match(entry)
            if match is None:
                continue
            distribution = _normalised(match["name"])
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
