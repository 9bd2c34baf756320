"""Reading what a baking release shows: its pods (restarts) and Warning events in its namespace.

Read with the deploy identity, which the chart's deployer role lets get, list and watch pods and
events. The judgement is ``deployer.rollout.waves.health_problems``.
"""

from __future__ import annotations

from typing import Any

from deployer.kube.client import KubeClient
from deployer.rollout.waves import EventSeen, PodSeen

PODS = "/api/v1/namespaces/{namespace}/pods"
EVENTS = "/api/v1/namespaces/{namespace}/events"


def pods_matching(client: KubeClient, namespace: str, match_labels: dict[str, str]) -> list[PodSeen]:
    """The pods a workload's ``selector.matchLabels`` selects, with their containers' restarts."""
    selector = ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
    page = client.get_json(PODS.format(namespace=namespace), what=f"list pods {selector} in {namespace}",
                           query={"labelSelector": selector}) or {}
    return [_pod(item) for item in page.get("items") or []]


def _pod(item: dict[str, Any]) -> PodSeen:
    meta, status = item.get("metadata") or {}, item.get("status") or {}
    statuses = [*(status.get("containerStatuses") or []), *(status.get("initContainerStatuses") or [])]
    return PodSeen(meta.get("uid", ""), meta.get("name", ""), sum(int(s.get("restartCount") or 0) for s in statuses))


def warnings_in(client: KubeClient, namespace: str) -> list[EventSeen]:
    """Every Warning event in ``namespace`` (core/v1 events: what kubectl describe shows)."""
    page = client.get_json(EVENTS.format(namespace=namespace), what=f"list warning events in {namespace}",
                           query={"fieldSelector": "type=Warning"}) or {}
    found = []
    for item in page.get("items") or []:
        involved = item.get("involvedObject") or {}
        found.append(EventSeen((item.get("metadata") or {}).get("uid", ""), int(item.get("count") or 1),
                               involved.get("kind", ""), involved.get("name", ""), item.get("reason", ""),
                               item.get("message", "")))
    return found
