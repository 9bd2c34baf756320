"""Which namespace each object of a service goes to, and which objects a service may not ship.

The rules kubectl (``apply -n``), Helm and kapp follow: a namespaced object without
``metadata.namespace`` goes to the release's namespace (here the environment's,
``Service.namespace_of``). A service's objects stay in that namespace unless its file allows
another (``allowNamespaces``), and it ships cluster-scoped objects only of the kinds its file
names (``allowClusterScoped``): both would otherwise reach past the namespace a release owns.

Pure: the built-in kinds' scope comes from a static table (``deployer.render.objects``) so these
checks run before anything is built; a custom kind's scope is checked against the cluster's
discovery at preflight (``scope_problems``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deployer.config.models import Service
from deployer.errors import ConfigProblem
from deployer.render.objects import is_namespaced


@dataclass(frozen=True)
class Placement:
    namespace: str
    """The environment's namespace: where an object without one goes."""
    allowed_namespaces: frozenset[str] = frozenset()
    allowed_cluster_scoped: frozenset[str] = frozenset()

    @classmethod
    def of(cls, service: Service, environment: str) -> Placement:
        return cls(service.namespace_of(environment), service.allowed_namespaces(environment),
                   service.allowed_cluster_scoped(environment))

    def cluster_scoped(self, kind: str) -> bool:
        """A built-in cluster-scoped kind, or a custom kind the service file declares to be one."""
        return not is_namespaced(kind) or kind in self.allowed_cluster_scoped

    def place(self, doc: Any) -> Any:
        """``doc`` with the environment's namespace when it is namespaced and names none."""
        if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
            return doc
        meta = doc.get("metadata")
        if isinstance(meta, dict) and not meta.get("namespace") and not self.cluster_scoped(doc["kind"]):
            return {**doc, "metadata": {**meta, "namespace": self.namespace}}
        return doc

    def problems(self, obj: dict[str, Any], where: str, line: int | None = None) -> list[ConfigProblem]:
        """Why ``obj`` (already placed and checked to be an object) may not be deployed, if it may not."""
        kind, meta = obj["kind"], obj["metadata"]
        namespace, name = meta.get("namespace"), f"{obj['kind']} {meta['name']}"
        if self.cluster_scoped(kind):
            if kind not in self.allowed_cluster_scoped:
                return [ConfigProblem(where, line, None, "kind",
                                      f"{name} is cluster-scoped, which reaches past the environment's namespace "
                                      f"{self.namespace}: add it to the service file's allowClusterScoped "
                                      f"([{kind}]) to deploy and own it on purpose, or drop it")]
            if namespace:
                return [ConfigProblem(where, line, None, "metadata.namespace",
                                      f"{name} is cluster-scoped (allowClusterScoped): remove metadata.namespace "
                                      f"({namespace!r})")]
            return []
        if namespace != self.namespace and namespace not in self.allowed_namespaces:
            return [ConfigProblem(where, line, None, "metadata.namespace",
                                  f"{name} names namespace {namespace!r}, not the environment's {self.namespace}: "
                                  "remove metadata.namespace to deploy it there, or add "
                                  f"{namespace!r} to the service file's allowNamespaces")]
        return []


def scope_problems(objs: list[dict[str, Any]], placement: Placement, cluster: str,
                   namespaced: Callable[[str, str], bool | None]) -> list[ConfigProblem]:
    """Objects whose kind the cluster's discovery scopes otherwise than the render assumed.

    ``namespaced(apiVersion, kind)`` is the server's answer, or None when it does not serve the
    kind (yet: a CustomResourceDefinition of the same release may define it).
    """
    problems = []
    for obj in objs:
        served = namespaced(obj["apiVersion"], obj["kind"])
        if served is None or served != placement.cluster_scoped(obj["kind"]):
            continue
        name = f"{obj['kind']} {obj['metadata']['name']}"
        if served:
            message = (f"cluster {cluster} serves {obj['kind']} as a namespaced kind: remove it from "
                       "allowClusterScoped")
        else:
            message = (f"cluster {cluster} serves {obj['kind']} as a cluster-scoped kind: add it to the service "
                       f"file's allowClusterScoped to deploy {name} on purpose, or drop it")
        problems.append(ConfigProblem(name, None, None, "kind", message))
    return problems
