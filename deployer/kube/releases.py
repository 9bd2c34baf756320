"""Reading and creating release records in a cluster (their format is ``deployer.rollout.release``)."""

from __future__ import annotations

from deployer.errors import ConflictError
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
    it is never overwritten)."""
    try:
        client.request("POST", CONFIGMAPS.collection(namespace), body=to_configmap(record, namespace),
                       what=f"create release record r{record.revision} of {record.service} in {namespace}")
    except ConflictError:
        return False
    return True


def write_record(client: KubeClient, namespace: str, record: ReleaseRecord) -> None:
    """Update an existing record this run created (its outcome)."""
    objects.apply(client, to_configmap(record, namespace), force=True)
