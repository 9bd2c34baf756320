"""``source: {kustomize: DIR}``: a Kustomize directory or overlay, built by `kubectl kustomize`
(or `kustomize build`), its output read as plain manifests. Kustomize's own errors (a missing
resource, a bad patch) are the service's config errors: they stop the deploy before any build."""

from __future__ import annotations

from pathlib import Path

from deployer import procs
from deployer.errors import ConfigError, ConfigProblem
from deployer.sources import tools
from deployer.sources.context import SourceContext
from deployer.sources.documents import Collected, parse

TIMEOUT = 120.0


def render(ctx: SourceContext, folder: Path) -> Collected:
    shown = ctx.shown(folder)
    command = tools.kustomize_command(str(folder))
    result = procs.run(command, what=f"kustomize {shown}", timeout=TIMEOUT, check=False)
    if result.returncode != 0:
        raise ConfigError([ConfigProblem(f"{shown}/kustomization.yaml", None, None, "",
                                         "kustomize refused it:\n" + procs.indent_tail(result.stderr))],
                          hint="Fix the kustomization named above (`kubectl kustomize DIR` shows the same); "
                               "nothing was built or sent.")
    collected = Collected()
    documents, problems = parse(result.stdout, f"{shown} (kustomize output)")
    collected.problems += problems
    for _line, doc in documents:
        collected.add(doc, shown, None, ctx.placement)
    if collected.problems:
        raise ConfigError(collected.problems, hint="Fix the kustomization named above; nothing was built or sent.")
    return collected
