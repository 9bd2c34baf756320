"""Reading and writing release records in a cluster (their format is ``deployer.rollout.release``)."""

from __future__ import annotations

from deployer.kube import objects
from deployer.kube.client import KubeClient
from deployer.kube.resources import CONFIGMAPS
from deployer.rollout.release import LABEL_KIND, LABEL_SERVICE, ReleaseRecord, from_configmap, to_configmap


def read_records(client: KubeClient, namespace: str, service: str) -> list[ReleaseRecord]:
    """Every release record of ``service`` in ``namespace``, oldest first."""
    selector = f"{LABEL_KIND}=release,{LABEL_SERVICE}={service}"
    page = client.get_json(CONFIGMAPS.collection(namespace), what=f"read release records of {service} in {namespace}",
                           query={"labelSelector": selector})
    records = [from_configmap(cm) for cm in (page or {}).get("items") or []]
    return sorted(records, key=lambda r: r.revision)


def write_record(client: KubeClient, namespace: str, record: ReleaseRecord) -> None:
    objects.apply(client, to_configmap(record, namespace), force=True)
