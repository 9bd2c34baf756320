"""The phases a release's objects reach a cluster in: pure, over rendered objects.

1. ``definitions``: CustomResourceDefinitions, waited for until Established, so the custom objects
   of the same release resolve (discovery is asked again afterwards).
2. ``pre-deploy``: objects annotated ``deployer.io/phase: pre-deploy`` (what Helm calls
   pre-install/pre-upgrade hooks: a database migration Job and whatever it alone needs), waited
   for until their Jobs complete. A failed one stops the release before anything else is written.
3. ``release``: everything else, in ``order.apply_rank`` order (Namespaces, RBAC, ServiceAccounts,
   ConfigMaps and Secrets before the workloads that use them).

A Job's pod template is immutable, so a pre-deploy Job is named by its content
(``<name>-<hash of its spec>``): a changed Job is a new Job, the old one is pruned with the release
that dropped it (by the admin credential, like every prune), and an unchanged one is not run again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from deployer.plan.order import apply_rank

PHASE_ANNOTATION = "deployer.io/phase"
PRE_DEPLOY = "pre-deploy"
DEFINITIONS, RELEASE = "definitions", "release"
DEFINITION = "CustomResourceDefinition"
JOB_NAME_LIMIT = 63
"""A Job's name is copied into its pods' ``job-name`` label, whose values are at most 63 characters."""


def is_pre_deploy(obj: dict[str, Any]) -> bool:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(PHASE_ANNOTATION) == PRE_DEPLOY


def phases(objects: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """``objects`` split into the phases above, each in apply order; empty phases are left out."""
    ordered = [obj for _, obj in sorted(enumerate(objects), key=lambda p: (apply_rank(p[1]["kind"]), p[0]))]
    split: dict[str, list[dict[str, Any]]] = {DEFINITIONS: [], PRE_DEPLOY: [], RELEASE: []}
    for obj in ordered:
        if obj["kind"] == DEFINITION:
            split[DEFINITIONS].append(obj)
        elif is_pre_deploy(obj):
            split[PRE_DEPLOY].append(obj)
        else:
            split[RELEASE].append(obj)
    return [(name, objs) for name, objs in split.items() if objs]


def content_named_jobs(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``objects`` with each pre-deploy Job renamed ``<name>-<first 8 hex of its spec's sha256>``."""
    out = []
    for obj in objects:
        if obj.get("kind") == "Job" and is_pre_deploy(obj):
            digest = hashlib.sha256(json.dumps(obj.get("spec"), sort_keys=True).encode()).hexdigest()[:8]
            meta = dict(obj.get("metadata") or {})
            meta["name"] = f"{str(meta.get('name'))[:JOB_NAME_LIMIT - 9]}-{digest}"
            obj = {**obj, "metadata": meta}
        out.append(obj)
    return out


def defines_kinds(objects: list[dict[str, Any]]) -> bool:
    return any(obj.get("kind") == DEFINITION for obj in objects)


def defined_kinds(objects: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(API group, kind) -> plural, of every kind the release's CustomResourceDefinitions define."""
    found = {}
    for obj in objects:
        if obj.get("kind") == DEFINITION:
            spec = obj.get("spec") or {}
            names = spec.get("names") or {}
            if spec.get("group") and names.get("kind") and names.get("plural"):
                found[(str(spec["group"]), str(names["kind"]))] = str(names["plural"])
    return found
