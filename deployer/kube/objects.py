"""Reading, applying and deleting objects: server-side apply with deployer's one field manager.

Apply is a PATCH of type ``application/apply-patch+yaml`` with ``fieldManager=deployer``: the API
server records which fields deployer set (managedFields), merges with what others set, and
reports a conflict instead of silently overwriting a field another manager changed. deployer never
uses the client-side ``last-applied-configuration`` annotation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from deployer.errors import ForbiddenError, NotFoundError
from deployer.kube.client import KubeClient
from deployer.kube.parallel import at_once
from deployer.kube.resources import Resource, discover, resource
from deployer.plan.compare import MANAGER
from deployer.plan.keys import ObjectKey, key_of

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
PAGE = 500


def read_live(client: KubeClient, wanted: Mapping[ObjectKey, str]) -> dict[ObjectKey, dict[str, Any]]:
    """The live object of every key in ``wanted`` (key -> apiVersion to read it at) that exists.

    Reads by listing, not one GET per object: one list per kind (cluster-wide when the objects
    span namespaces, falling back to one list per namespace where cluster-wide listing is
    forbidden), so a sync of hundreds of objects costs a handful of requests. The kinds are
    listed at once, each on its own connection: a list waits on the API server (on a real
    cluster, a round trip of tens of milliseconds), and the next need not wait for it.
    """
    groups: dict[tuple[str, str], set[ObjectKey]] = defaultdict(set)
    for key, api_version in wanted.items():
        groups[(api_version, key.kind)].add(key)
    discover(client, {api_version for api_version, _kind in groups})

    def listed(group: tuple[tuple[str, str], set[ObjectKey]]) -> list[tuple[ObjectKey, dict[str, Any]]]:
        (api_version, kind), keys = group
        res = resource(client, api_version, kind)
        namespaces = sorted({k.namespace for k in keys}) if res.namespaced else [""]
        return [(key, item) for item in _list_kind(client, res, namespaces) if (key := key_of(item)) in keys]

    live: dict[ObjectKey, dict[str, Any]] = {}
    for found in at_once(listed, list(groups.items())):
        live.update(found)
    return live


def _list_kind(client: KubeClient, res: Resource, namespaces: list[str]) -> list[dict[str, Any]]:
    if len(namespaces) > 1:
        try:
            return _list(client, res, "")
        except ForbiddenError:
            pass  # e.g. a deploy identity that may only list inside its own namespaces
    items = []
    for namespace in namespaces:
        items += _list(client, res, namespace)
    return items


def _list(client: KubeClient, res: Resource, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cont: str | None = None
    where = f" in namespace {namespace}" if namespace else ""
    while True:
        page = client.get_json(res.collection(namespace), what=f"list {res.plural}{where}",
                               query={"limit": PAGE, "continue": cont}) or {}
        for item in page.get("items") or []:
            # List items omit apiVersion and kind; comparisons need them.
            item["apiVersion"], item["kind"] = res.api_version, res.kind
            items.append(item)
        cont = (page.get("metadata") or {}).get("continue")
        if not cont:
            return items


def get(client: KubeClient, key: ObjectKey, api_version: str) -> dict[str, Any] | None:
    res = resource(client, api_version, key.kind)
    try:
        obj = client.get_json(res.path_of(key), what=f"read {key}")
    except NotFoundError:
        return None
    return obj


def apply(client: KubeClient, obj: dict[str, Any], *, force: bool = False, dry_run: bool = False,
          strict: bool = False, manager: str = MANAGER) -> dict[str, Any]:
    """Server-side apply ``obj``; returns the object as the server now holds it (or would, with
    ``dry_run``). ``force`` takes fields other managers own instead of failing with a conflict;
    ``strict`` makes an unknown or duplicate field an error rather than a warning the server drops."""
    key = key_of(obj)
    res = resource(client, obj["apiVersion"], obj["kind"])
    query = {"fieldManager": manager, "force": "true" if force else "false", "dryRun": "All" if dry_run else None,
             "fieldValidation": "Strict" if strict else None}
    what = f"dry-run apply {key}" if dry_run else f"apply {key}"
    return client.request("PATCH", res.path_of(key), what=what, query=query, body=obj,
                          content_type=APPLY_CONTENT_TYPE).data


def delete(client: KubeClient, key: ObjectKey, api_version: str, *, uid: str | None = None,
           dry_run: bool = False) -> bool:
    """Delete one object (only the incarnation ``uid`` when given); False when it was already gone."""
    res = resource(client, api_version, key.kind)
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
    if uid:
        body["preconditions"] = {"uid": uid}
    if dry_run:
        # In the body, not the query: with a DeleteOptions body the API server ignores the
        # query's options, and a dryRun there would be dropped silently (and the delete real).
        body["dryRun"] = ["All"]
    response = client.request("DELETE", res.path_of(key), what=f"delete {key}", body=body, ok=(404,))
    return response.status != 404
