"""Pinning images a set of manifests names literally: pure, over rendered objects.

Manifests teams already have (plain YAML, charts) name images as ``registry/app:1.2``, not through
deployer's template variables. Every cluster must run the same bytes, from its own registry, so
each container and initContainer image whose *repository* matches a declared image (the tag or
digest written there is ignored) is rewritten to that image's pinned per-cluster reference.
ephemeralContainers are left alone: they are added by ``kubectl debug``, never declared.

The pod templates looked at are those of every workload kind: a Pod's own spec, ``spec.template``
of Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers and Jobs, and a
CronJob's ``spec.jobTemplate.spec.template``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"})
CONTAINER_LISTS = ("initContainers", "containers")


@dataclass(frozen=True)
class Rewrite:
    object: str
    """"Deployment apps/web"."""
    container: str
    was: str
    now: str

    def __str__(self) -> str:
        return f"{self.object} container {self.container}: {self.was} -> {self.now}"


def repository(ref: str) -> str:
    """The repository of an image reference, normalised as Docker names it: ``nginx:1.27`` and
    ``docker.io/library/nginx@sha256:...`` are both ``docker.io/library/nginx``."""
    name = ref.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:  # a tag (a colon before the last slash is a registry's port)
        name = name[:colon]
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name if rest else 'library/' + name}"
    return name


def pod_spec(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pod spec ``obj`` runs, or None for a kind that runs no pods."""
    kind, spec = obj.get("kind"), obj.get("spec")
    if not isinstance(spec, dict):
        return None
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    elif kind not in TEMPLATE_KINDS:
        return None
    found = (spec.get("template") or {}).get("spec")
    return found if isinstance(found, dict) else None


def pin_images(objects: list[dict[str, Any]], pins: Mapping[str, str]) -> tuple[list[dict[str, Any]], list[Rewrite]]:
    """``objects`` with every container image whose repository is a key of ``pins`` replaced by its
    value (a pinned reference), and what was rewritten. The input is not changed."""
    by_repository = {repository(source): pinned for source, pinned in pins.items()}
    out, rewrites = [], []
    for original in objects:
        obj = copy.deepcopy(original)
        spec = pod_spec(obj)
        if spec is not None:
            meta = obj.get("metadata") or {}
            name = f"{meta['namespace']}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))
            for field in CONTAINER_LISTS:
                for container in spec.get(field) or []:
                    image = container.get("image") if isinstance(container, dict) else None
                    if not isinstance(image, str):
                        continue
                    pinned = by_repository.get(repository(image))
                    if pinned is not None and pinned != image:
                        container["image"] = pinned
                        rewrites.append(Rewrite(f"{obj.get('kind')} {name}", str(container.get("name")), image,
                                                pinned))
        out.append(obj)
    return out, rewrites
