"""``source: {yaml: DIR}``: plain manifest files taken as they are, the way `kubectl apply -f DIR`
reads them: ``*.yaml``, ``*.yml`` and ``*.json`` files in name order (sub-folders included),
several documents per file, ``List`` kinds flattened, no templating (``{{`` is just text)."""

from __future__ import annotations

from pathlib import Path

from deployer.errors import ConfigError, ConfigProblem
from deployer.sources.context import SourceContext
from deployer.sources.documents import Collected, parse

SUFFIXES = (".yaml", ".yml", ".json")


def manifest_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))


def render(ctx: SourceContext, folder: Path) -> Collected:
    collected = Collected()
    files = manifest_files(folder)
    if not files:
        collected.problems.append(ConfigProblem(ctx.shown(folder), None, None, "",
                                                "holds no .yaml, .yml or .json manifest"))
    for path in files:
        shown = ctx.shown(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            collected.problems.append(ConfigProblem(shown, None, None, "", f"cannot read manifest: {exc}"))
            continue
        documents, problems = parse(text, shown)
        collected.problems += problems
        for line, doc in documents:
            collected.add(doc, shown, line, ctx.placement)
    if collected.problems:
        raise ConfigError(collected.problems, hint="Fix the manifests named above; nothing was built or sent.")
    return collected
