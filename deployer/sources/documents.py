"""Turning YAML text a source produced (a file, ``kubectl kustomize``'s or ``helm template``'s
output) into checked objects: parsed safely, ``List`` kinds flattened, namespaces placed, then
checked the way rendered templates are (``deployer.render.objects.check_object``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from deployer.errors import ConfigProblem
from deployer.render.objects import check_object, describe, identity
from deployer.render.templates import ManifestLoader
from deployer.sources.placement import Placement


@dataclass
class Collected:
    """Objects gathered from one source, every problem found on the way, and notes for the report."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    problems: list[ConfigProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    first_seen: dict[tuple[str, str, str, str], str] = field(default_factory=dict)

    def add(self, doc: Any, where: str, line: int | None, placement: Placement) -> None:
        for item in flattened(doc):
            placed = placement.place(item)
            shown = f"{where} ({describe(placed)})" if isinstance(placed, dict) else where
            found = check_object(placed, shown, placement.allowed_cluster_scoped)
            if not found:
                found = placement.problems(placed, where, line)
            if found:
                self.problems += [p if p.line is not None else ConfigProblem(p.file, line, None, p.field, p.message)
                                  for p in found]
                continue
            key = identity(placed)
            if key in self.first_seen:
                self.problems.append(ConfigProblem(where, line, None, "", f"{describe(placed)} again (first in "
                                                   f"{self.first_seen[key]}); each object must come from one place"))
                continue
            self.first_seen[key] = where
            self.objects.append(placed)


def flattened(doc: Any) -> list[Any]:
    """``kind: List`` (and ``DeploymentList`` and the like) is several objects, as kubectl reads it."""
    if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
        return [one for item in doc["items"] for one in flattened(item)]
    return [doc]


def parse(text: str, where: str) -> tuple[list[tuple[int | None, Any]], list[ConfigProblem]]:
    """The documents of ``text`` with the line each starts on; empty documents skipped."""
    try:
        documents = list(yaml.load_all(text, Loader=ManifestLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        return [], [ConfigProblem(where, mark.line + 1 if mark else None, mark.column + 1 if mark else None, "",
                                  f"invalid YAML: {exc.problem}")]
    except yaml.YAMLError as exc:
        return [], [ConfigProblem(where, None, None, "", f"invalid YAML: {exc}")]
    starts: list[int | None] = []
    try:
        starts = [node.start_mark.line + 1 if node is not None else None
                  for node in yaml.compose_all(text, Loader=yaml.SafeLoader)]
    except yaml.YAMLError:
        pass
    if len(starts) != len(documents):
        starts = [None] * len(documents)
    return [(line, doc) for line, doc in zip(starts, documents, strict=True) if doc is not None], []
