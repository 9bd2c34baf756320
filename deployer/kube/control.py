"""The control ConfigMap through which another process pauses, resumes or aborts a running deploy.

One ConfigMap per service in each target namespace, ``<service>-deploy-control``, written by
``deployer wave pause|resume|abort`` (or the page) with the deploy identity, which may write
ConfigMaps there; the running deploy reads it while a wave bakes. Its content is a
``deployer.rollout.waves.ControlRequest`` naming the run it is for (the lock holder), so a request
left from an earlier run is ignored. It is not labelled as a release record, so history and status
never see it.
"""

from __future__ import annotations

from typing import Any

from deployer.kube.client import KubeClient
from deployer.kube.resources import CONFIGMAPS
from deployer.rollout.waves import ControlRequest

LABEL = "deployer.io/control"


def control_name(service: str) -> str:
    return f"{service}-deploy-control"


def read_control(client: KubeClient, namespace: str, service: str) -> ControlRequest | None:
    name = control_name(service)
    found = client.request("GET", CONFIGMAPS.item(name, namespace), ok=(404,),
                           what=f"read deploy control {namespace}/{name}")
    return None if found.status == 404 else ControlRequest.from_data(found.data.get("data"))


def write_control(client: KubeClient, namespace: str, service: str, request: ControlRequest) -> None:
    """Create or replace the control ConfigMap; a replace carries the resourceVersion read, so two
    writers racing get a conflict rather than a silent overwrite."""
    name = control_name(service)
    what = f"write deploy control {namespace}/{name}"
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": {LABEL: service,
                                                                          "app.kubernetes.io/managed-by": "deployer"}},
            "data": request.to_data()}
    found = client.request("GET", CONFIGMAPS.item(name, namespace), ok=(404,), what=what)
    if found.status == 404:
        client.request("POST", CONFIGMAPS.collection(namespace), body=body, what=what)
        return
    body["metadata"]["resourceVersion"] = found.data["metadata"]["resourceVersion"]
    client.request("PUT", CONFIGMAPS.item(name, namespace), body=body, what=what)
