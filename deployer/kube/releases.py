"""Reading and creating release records in a cluster (their format is ``deployer.rollout.release``)."""

from __future__ import annotations

from typing import Any

from deployer.errors import ConflictError, UnreachableError
from deployer.kube import objects
from deployer.kube.client import KubeClient
from deployer.kube.resources import CONFIGMAPS
from deployer.rollout.release import LABEL_KIND, LABEL_SERVICE, ReleaseRecord, from_configmap, to_configmap


def read_records(client: KubeClient, namespace: str, service: str, environment: str | None = None
                 ) -> list[ReleaseRecord]:
    """Every release record of ``service`` (of ``environment``, when given) in ``namespace``, oldest first."""
    selector = f"{LABEL_KIND}=release,{LABEL_SERVICE}={service}"
    page = client.get_json(CONFIGMAPS.collection(namespace), what=f"read release records of {service} in {namespace}",
                           query={"labelSelector": selector})
    records = [from_configmap(cm) for cm in (page or {}).get("items") or []]
    return sorted((r for r in records if environment in (None, r.environment)), key=lambda r: r.revision)


def create_record(client: KubeClient, namespace: str, record: ReleaseRecord) -> bool:
    """Create ``record``'s ConfigMap; False when that revision exists already (another run wrote it:
    it is never overwritten).

    A create is never sent twice blindly: when the connection broke after sending, the record is
    read back. What this run sent is its own (the record names the run's actor and the time to the
    microsecond), so a ConfigMap with exactly that content is this create having landed, and any
    other content is another run's revision. Only when there is none is the create sent once more.
    """
    configmap = to_configmap(record, namespace)
    name = configmap["metadata"]["name"]
    what = f"create release record r{record.revision} of {record.service} in {namespace}"
    for attempt in (1, 2):
        try:
            client.request("POST", CONFIGMAPS.collection(namespace), body=configmap, what=what)
            return True
        except ConflictError:
            return _holds(client, namespace, name, configmap)
        except UnreachableError:
            found = client.request("GET", CONFIGMAPS.item(name, namespace), ok=(404,),
                                   what=f"read back release record r{record.revision} of {record.service} "
                                        "after its create got no answer")
            if found.status != 404:
                return _same_record(found.data, configmap)
            if attempt == 2:
                raise
    raise AssertionError("unreachable: the loop returns or raises")


def _holds(client: KubeClient, namespace: str, name: str, configmap: dict[str, Any]) -> bool:
    """Whether the existing ConfigMap ``name`` is ``configmap`` (this run's own earlier create)."""
    found = client.request("GET", CONFIGMAPS.item(name, namespace), ok=(404,), what=f"read release record {name}")
    return found.status != 404 and _same_record(found.data, configmap)


def _same_record(live: dict[str, Any], sent: dict[str, Any]) -> bool:
    return bool((live.get("data") or {}).get("record.json") == sent["data"]["record.json"])


def write_record(client: KubeClient, namespace: str, record: ReleaseRecord) -> None:
    """Update an existing record this run created (its outcome)."""
    objects.apply(client, to_configmap(record, namespace), force=True)
