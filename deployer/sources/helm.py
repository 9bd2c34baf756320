"""``source: {helm: {chart, values, set}}``: a Helm chart (a folder or a packaged ``.tgz``)
rendered by `helm template`, release name the service's and namespace the environment's.

Values reach Helm as files only: the chart's ``values`` files in order, then one generated file
holding the service file's ``values`` (environment's over service's), the ``set`` paths and
``deployer.image`` / ``deployer.images.NAME`` / ``deployer.environment`` / ``deployer.cluster``. A generated file, not
``--set`` flags, so nothing needs shell quoting and no value shows in ``ps``; it lives in a
private temporary folder removed when Helm exits. CRDs in the chart's ``crds/`` are included
(``--include-crds``) so they meet ``allowClusterScoped`` like any other cluster-scoped object.
Hooks are mapped by ``deployer.sources.hooks``; Helm's errors keep the chart file and line.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from deployer import procs
from deployer.config.models import HelmSource
from deployer.errors import ConfigError, ConfigProblem
from deployer.sources import tools
from deployer.sources.context import SourceContext
from deployer.sources.documents import Collected, parse
from deployer.sources.hooks import map_hook

TIMEOUT = 120.0
_SOURCE = re.compile(r"^# Source: (\S.*)$", re.M)
_SEPARATOR = re.compile(r"^---[ \t]*$", re.M)
# Helm names the template and line as "template: app/templates/x.yaml:12:20: ...", "parse error at
# (app/templates/x.yaml:5): ..." or "YAML parse error on app/templates/x.yaml: ... line 4: ...".
_ERROR_FILE = re.compile(r"(?P<file>[A-Za-z0-9_.\-/]+\.(?:yaml|yml|tpl|txt|json))(?::(?P<line>\d+))?")
_ERROR_LINE = re.compile(r"\bline (\d+)\b")


def values_document(ctx: SourceContext, helm: HelmSource) -> dict[str, Any]:
    """The generated values file: the service file's values, its ``set`` paths, and deployer's."""
    env = ctx.service.environments[ctx.environment]
    values = merged(ctx.service.values, env.values)
    for path, value in helm.set.items():
        values = merged(values, nested(path, value))
    return merged(values, {"deployer": {"image": ctx.image, "images": dict(ctx.images),
                                        "environment": ctx.environment,
                                        "cluster": ctx.cluster.name}})


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of values files: maps merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def nested(path: str, value: Any) -> dict[str, Any]:
    """``a.b.c`` = v as ``{a: {b: {c: v}}}`` (``--set a.b.c=v``)."""
    out: Any = value
    for part in reversed(path.split(".")):
        out = {part: out}
    result: dict[str, Any] = out
    return result


def chart_file(chart: Path, shown_chart: str, source: str) -> str:
    """A ``# Source:`` path (``<chart name>/templates/x.yaml``) as a file the user can open."""
    inside = source.partition("/")[2] or source
    return f"{shown_chart}:{inside}" if chart.is_file() else f"{shown_chart}/{inside}"


def error_problem(stderr: str, chart: Path, shown_chart: str) -> ConfigProblem:
    """Helm's error, located at the chart file and line it names (when it names one)."""
    text = stderr.strip()
    files = [m for m in _ERROR_FILE.finditer(text) if "/" in m["file"]]
    # An error inside an `include` names the including template first and the one that failed
    # last: the innermost file and line is where to look.
    with_line = [m for m in files if m["line"]]
    found = with_line[-1] if with_line else (files[0] if files else None)
    where, line = shown_chart, None
    if found:
        where = chart_file(chart, shown_chart, found["file"])
        number = found["line"] or (m[1] if (m := _ERROR_LINE.search(text, found.end())) else None)
        line = int(number) if number else None
    return ConfigProblem(where, line, None, "", "helm template refused it:\n" + procs.indent_tail(text))


def render(ctx: SourceContext, helm: HelmSource) -> Collected:
    chart = ctx.base / helm.chart
    shown_chart = ctx.shown(chart)
    helm_bin = tools.helm_binary()
    with tempfile.TemporaryDirectory(prefix="deployer-helm-") as private:  # mode 0700
        generated = Path(private) / "deployer-values.yaml"
        generated.touch(mode=0o600)
        generated.write_text(json.dumps(values_document(ctx, helm)), encoding="utf-8")  # JSON is YAML
        command = [helm_bin, "template", ctx.service.name, str(chart), "--namespace", ctx.placement.namespace,
                   "--include-crds"]
        for values_file in helm.values:
            command += ["--values", str(ctx.base / values_file)]
        command += ["--values", str(generated)]
        result = procs.run(command, what=f"helm template {shown_chart}", timeout=TIMEOUT, check=False)
    if result.returncode != 0:
        raise ConfigError([error_problem(result.stderr, chart, shown_chart)],
                          hint="Fix the chart or values named above (`helm template` shows the same); nothing "
                               "was built or sent.")
    return collect(result.stdout, chart, shown_chart, ctx)


def collect(output: str, chart: Path, shown_chart: str, ctx: SourceContext) -> Collected:
    """`helm template`'s output as checked objects, each attributed to its chart file."""
    collected = Collected()
    for chunk in _SEPARATOR.split(output):
        source = _SOURCE.search(chunk)
        where = chart_file(chart, shown_chart, source[1].strip()) if source else shown_chart
        documents, problems = parse(chunk, where)
        collected.problems += problems
        for _line, doc in documents:
            hooked = map_hook(doc, where) if isinstance(doc, dict) else None
            if hooked is not None and hooked.refusal:
                collected.problems.append(ConfigProblem(where, None, None, "metadata.annotations", hooked.refusal))
                continue
            if hooked is not None and hooked.note:
                collected.notes.append(hooked.note)
                continue
            collected.add(hooked.obj if hooked is not None else doc, where, None, ctx.placement)
    if collected.problems:
        raise ConfigError(collected.problems, hint="Fix the chart files named above; nothing was built or sent.")
    return collected
