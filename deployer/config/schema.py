"""JSON Schema export of the file models (by their YAML, camelCase, names)."""

from __future__ import annotations

from typing import Any

from deployer.config.models import Cluster, Service, Settings


def json_schemas() -> dict[str, Any]:
    out = {}
    for kind, model in (("cluster", Cluster), ("service", Service), ("settings", Settings)):
        schema = model.model_json_schema(by_alias=True, mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = "deployer.yaml" if kind == "settings" else f"deployer {kind} file"
        out[kind] = schema
    return out
