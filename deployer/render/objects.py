"""Checking that each rendered document is a Kubernetes object deployer can apply.

A template that forgets ``metadata.namespace`` on a Role, or sets one on a ClusterRole, renders
valid YAML that the API server would either put in the wrong place or reject mid-sync. These
checks run before anything talks to a cluster, so such a mistake is a config error naming the
template, not a half-applied cluster.
"""

from __future__ import annotations

import re
from typing import Any

from deployer.errors import ConfigProblem

# Kinds that live outside namespaces (from `kubectl api-resources --namespaced=false` of the built-in
# API groups). A kind not listed here is treated as namespaced, which is what every custom resource
# a service ships is in practice; a cluster-scoped custom kind must be added here.
CLUSTER_SCOPED_KINDS = frozenset({
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "APIService", "StorageClass", "CSIDriver", "CSINode",
    "VolumeAttachment", "PriorityClass", "RuntimeClass", "IngressClass",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "FlowSchema",
    "PriorityLevelConfiguration", "CertificateSigningRequest", "ComponentStatus",
})

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# RBAC objects may use path segment names such as "deployer:viewer" (like "system:node").
_PATH_SEGMENT = re.compile(r"^[^/%]+$")
_RBAC_KINDS = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def is_namespaced(kind: str) -> bool:
    return kind not in CLUSTER_SCOPED_KINDS


def check_object(obj: Any, where: str, cluster_scoped: frozenset[str] = frozenset()) -> list[ConfigProblem]:
    """Problems with one rendered document (empty when it is a well-formed object).
    ``cluster_scoped``: custom kinds to take as cluster-scoped (a service's allowClusterScoped)."""
    def problem(field: str, message: str) -> ConfigProblem:
        return ConfigProblem(where, None, None, field, message)

    if not isinstance(obj, dict):
        return [problem("", f"renders a {type(obj).__name__}, not a Kubernetes object (a mapping)")]
    problems = []
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not api_version:
        problems.append(problem("apiVersion", "is missing"))
    if not isinstance(kind, str) or not kind:
        problems.append(problem("kind", "is missing"))
        kind = ""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return problems + [problem("metadata", "is missing (an object needs metadata.name)")]
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or not name:
        problems.append(problem("metadata.name", "is missing"))
    elif len(name) > 253 or not (_PATH_SEGMENT if kind in _RBAC_KINDS else _DNS_SUBDOMAIN).match(name):
        problems.append(problem("metadata.name", f"{name!r} is not a valid Kubernetes object name"))
    if kind and is_namespaced(kind) and kind not in cluster_scoped:
        if not isinstance(namespace, str) or not namespace:
            problems.append(problem("metadata.namespace",
                                    f"a {kind} lives in a namespace: set metadata.namespace"))
        elif not _DNS_LABEL.match(namespace):
            problems.append(problem("metadata.namespace", f"{namespace!r} is not a valid namespace name"))
    elif kind and namespace is not None:
        problems.append(problem("metadata.namespace",
                                f"a {kind} is cluster-wide: remove metadata.namespace ({namespace!r})"))
    return problems


def identity(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    """(API group, kind, namespace, name): what makes two documents the same object."""
    group = obj["apiVersion"].rpartition("/")[0]
    meta = obj["metadata"]
    return group, obj["kind"], meta.get("namespace") or "", meta["name"]


def describe(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"
