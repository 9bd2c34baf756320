"""Every manifest source a service file can name, behind one contract.

``render(service, environment, cluster, image, base, images)`` returns the environment's objects for one
cluster, whatever the source: a jinja2 folder (``jinja``), plain YAML files (``yaml``), a
Kustomize directory (``kustomize``) or a Helm chart (``helm``), one module each. Every source's
objects come out the same way: parsed safely, ``List`` kinds flattened, namespaced objects without
a namespace placed in the environment's (``placement``), other namespaces and cluster-scoped
kinds refused unless the service file allows them, and every problem raised as one
``ConfigError`` naming file (and line where the source has one) and object. Nothing here talks to
a cluster or builds an image, so the deploy runs it before it builds anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.config.models import Cluster, Service
from deployer.sources import helm, jinja, kustomize, plain
from deployer.sources.context import SourceContext
from deployer.sources.placement import Placement, scope_problems


@dataclass(frozen=True)
class Rendered:
    objects: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    """What the source left out on purpose (Helm test hooks), for the run's report."""


def render(service: Service, environment: str, cluster: Cluster, image: str, base: Path,
           images: Mapping[str, str] | None = None) -> Rendered:
    """``environment``'s objects for ``cluster`` from its manifest source; ``base`` is the service
    file's folder; ``images`` the service's named images by name (jinja's ``{{ images.NAME }}``,
    Helm's ``deployer.images.NAME``). Raises ``ConfigError`` (exit 3) naming every problem."""
    source = service.source_of(environment)
    ctx = SourceContext(service, environment, cluster, image, base, dict(images or {}))
    if source.helm is not None:
        collected = helm.render(ctx, source.helm)
    elif source.yaml is not None:
        collected = plain.render(ctx, base / source.yaml)
    elif source.kustomize is not None:
        collected = kustomize.render(ctx, base / source.kustomize)
    else:
        collected = jinja.render(ctx, base / (source.jinja or service.manifests))
    return Rendered(collected.objects, collected.notes)


__all__ = ["Placement", "Rendered", "render", "scope_problems"]
