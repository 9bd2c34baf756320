"""Rolling workloads when the configuration they mount changes: pure, over rendered objects.

A pod reads a ConfigMap or Secret at start, so changing one changes nothing that runs until the
pods restart. As Kustomize's generators (a content hash in the name) and Helm charts'
``checksum/config`` annotations do, each pod template that references ConfigMaps or Secrets of the
same release (volumes, projected volumes, envFrom, env valueFrom) gets the annotation
``deployer.io/config-hash``: a hash of exactly those objects' contents. A change to one of them
changes the template of exactly the workloads that use it, and so rolls them; nothing else.
The hash is one-way: no value of a Secret can be read back from it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from deployer.render.pin import CONTAINER_LISTS, TEMPLATE_KINDS

ANNOTATION = "deployer.io/config-hash"
CONTENT_FIELDS = ("data", "binaryData", "stringData")


def pod_template(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template of a workload (``spec.template``; a CronJob's job template's), or None."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return None
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    elif obj.get("kind") not in TEMPLATE_KINDS:
        return None
    template = spec.get("template")
    return template if isinstance(template, dict) else None


def references(pod: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, name) of every ConfigMap and Secret a pod spec uses."""
    for volume in pod.get("volumes") or []:
        if (volume.get("configMap") or {}).get("name"):
            yield "ConfigMap", volume["configMap"]["name"]
        if (volume.get("secret") or {}).get("secretName"):
            yield "Secret", volume["secret"]["secretName"]
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (source.get("configMap") or {}).get("name"):
                yield "ConfigMap", source["configMap"]["name"]
            if (source.get("secret") or {}).get("name"):
                yield "Secret", source["secret"]["name"]
    for field in CONTAINER_LISTS:
        for container in pod.get(field) or []:
            for source in container.get("envFrom") or []:
                if (source.get("configMapRef") or {}).get("name"):
                    yield "ConfigMap", source["configMapRef"]["name"]
                if (source.get("secretRef") or {}).get("name"):
                    yield "Secret", source["secretRef"]["name"]
            for env in container.get("env") or []:
                value_from = env.get("valueFrom") or {}
                if (value_from.get("configMapKeyRef") or {}).get("name"):
                    yield "ConfigMap", value_from["configMapKeyRef"]["name"]
                if (value_from.get("secretKeyRef") or {}).get("name"):
                    yield "Secret", value_from["secretKeyRef"]["name"]


def with_config_hashes(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``objects`` with each pod template that uses ConfigMaps or Secrets of ``objects`` annotated
    with the hash of their contents. The input is not changed."""
    contents = {(obj["kind"], (obj.get("metadata") or {}).get("namespace"), (obj.get("metadata") or {}).get("name")):
                {f: obj[f] for f in CONTENT_FIELDS if f in obj}
                for obj in objects if obj.get("kind") in ("ConfigMap", "Secret")}
    out = []
    for original in objects:
        template = pod_template(original)
        namespace = (original.get("metadata") or {}).get("namespace")
        used = sorted({(kind, name) for kind, name in references((template or {}).get("spec") or {})
                       if (kind, namespace, name) in contents})
        if template is None or not used:
            out.append(original)
            continue
        digest = hashlib.sha256(json.dumps([[kind, name, contents[(kind, namespace, name)]] for kind, name in used],
                                           sort_keys=True).encode()).hexdigest()[:16]
        obj = copy.deepcopy(original)
        template = pod_template(obj)
        assert template is not None
        meta = template.setdefault("metadata", {})
        meta["annotations"] = {**(meta.get("annotations") or {}), ANNOTATION: digest}
        out.append(obj)
    return out
