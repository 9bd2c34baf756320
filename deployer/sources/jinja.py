"""``source: {jinja: DIR}`` (and ``manifests: DIR``): the service's jinja2 templates, rendered by
``deployer.render.templates`` as before; a namespaced object without a namespace is placed in the
environment's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deployer.errors import ConfigError
from deployer.render.templates import render_templates
from deployer.sources.context import SourceContext
from deployer.sources.documents import Collected


def render(ctx: SourceContext, folder: Path) -> Collected:
    values = {**ctx.service.values, **ctx.service.environments[ctx.environment].values}
    context: dict[str, Any] = {
        "service": {"name": ctx.service.name, "namespace": ctx.placement.namespace},
        "values": values,
        "image": ctx.image,
        "images": dict(ctx.images),
        "environment": ctx.environment,
        "cluster": {"name": ctx.cluster.name, "provider": ctx.cluster.provider,
                    "environment": ctx.cluster.environment, "labels": dict(ctx.cluster.labels)},
    }
    placement = ctx.placement
    objects = render_templates(folder, context, prepare=placement.place,
                               cluster_scoped=placement.allowed_cluster_scoped)
    collected = Collected(objects=objects)
    for obj in objects:
        collected.problems += placement.problems(obj, ctx.shown(folder))
    if collected.problems:
        raise ConfigError(collected.problems, hint="Fix the templates named above; nothing was built or sent.")
    return collected
