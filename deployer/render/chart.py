"""Rendering the cluster chart (``charts/cluster-base``) for one cluster.

The chart's templates decide what objects a cluster gets; this module only hands them the cluster
file in the shape templates need (access bindings grouped per role and namespace, the GKE
deployer account's email) and checks that every role ``chart.yaml`` promises has its ClusterRole,
because cluster files are validated against that list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer.config.loader import read_chart_roles
from deployer.config.models import Cluster
from deployer.errors import ConfigError, ConfigProblem
from deployer.plan.ownership import LABEL_CLUSTER
from deployer.render.templates import render_templates


def cluster_role_name(role: str) -> str:
    """The ClusterRole that implements a chart role. Prefixed so it never collides with the
    API server's own roles (view, edit, admin) or another tool's."""
    return f"deployer:{role}"


@dataclass(frozen=True)
class Chart:
    folder: Path
    roles: tuple[str, ...]

    @property
    def templates(self) -> Path:
        return self.folder / "templates"


def load_chart(folder: Path) -> Chart:
    roles, problems = read_chart_roles(folder)
    if problems:
        raise ConfigError(problems)
    return Chart(folder=folder, roles=roles)


def gke_deployer_email(cluster: Cluster) -> str | None:
    if cluster.gke is None:
        return None
    return f"{cluster.gke.deployer_account.account_id}@{cluster.gke.project}.iam.gserviceaccount.com"


def _subject(subject: Any) -> dict[str, Any]:
    if subject.kind == "ServiceAccount":
        return {"kind": "ServiceAccount", "name": subject.name, "namespace": subject.namespace}
    return {"kind": subject.kind, "apiGroup": "rbac.authorization.k8s.io", "name": subject.name}


def group_bindings(cluster: Cluster) -> list[dict[str, Any]]:
    """One binding per (role, namespace), or per role cluster-wide, holding every subject the
    cluster file grants it, in declaration order. Grouping keeps object names stable: removing one
    access entry changes or prunes only the bindings of its own role and namespaces."""
    grouped: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    cluster_wide: list[str | None] = [None]

    def add(role: str, namespace: str | None, subject: dict[str, Any]) -> None:
        subjects = grouped.setdefault((role, namespace), [])
        if subject not in subjects:
            subjects.append(subject)

    for binding in cluster.access:
        for namespace in binding.namespaces or cluster_wide:
            for subject in binding.subjects:
                add(binding.role, namespace, _subject(subject))
    email = gke_deployer_email(cluster)
    if email and cluster.gke is not None:
        for namespace in cluster.namespace_names:
            add(cluster.gke.deployer_account.role, namespace,
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": email})
    return [{"role": role, "namespace": namespace, "cluster_role": cluster_role_name(role),
             "subjects": subjects}
            for (role, namespace), subjects in grouped.items()]


def chart_context(cluster: Cluster, chart: Chart) -> dict[str, Any]:
    return {
        "cluster": cluster,
        "values": dict(cluster.values),
        "roles": list(chart.roles),
        "bindings": group_bindings(cluster),
        "gke_deployer": gke_deployer_email(cluster),
    }


def render_chart(cluster: Cluster, chart: Chart) -> list[dict[str, Any]]:
    """The cluster's common objects, checked; raises ConfigError naming template and line."""
    objects = render_templates(chart.templates, chart_context(cluster, chart))
    for obj in objects:  # the owner, visible: which cluster's chart made it
        meta = obj.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), LABEL_CLUSTER: cluster.name}
    rendered_roles = {o["metadata"]["name"] for o in objects if o["kind"] == "ClusterRole"}
    missing = [r for r in chart.roles if cluster_role_name(r) not in rendered_roles]
    if missing:
        raise ConfigError([ConfigProblem(str(chart.folder / "chart.yaml"), None, None, "roles",
                                         f"role {r!r} is listed but no template renders ClusterRole "
                                         f"{cluster_role_name(r)!r}") for r in missing])
    return objects
