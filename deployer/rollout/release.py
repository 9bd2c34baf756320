"""Release records: what each cluster runs for a service, kept in that cluster.

One ConfigMap per revision (as Helm keeps one Secret per revision), named
``deployer-release.<service>.<environment>.v<revision>`` in the environment's namespace and
labelled so history is a label query. It holds the record (revision, image digest, manifest
hash, actor, time, outcome) and the applied objects, which is what a rollback re-applies. Records
are created, never overwritten: a revision number another run took is a conflict, and the writer
re-reads and takes the next one. The deployer role may create and
update ConfigMaps but not delete them, so records are never pruned by deploys.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Outcome = Literal["in-progress", "succeeded", "failed", "rolled-back", "removed", "abandoned"]
"""``abandoned``: left in progress by a run that died holding the lock; marked so by the next run
that took the lock over (nothing can settle it otherwise)."""
LABEL_SERVICE = "deployer.io/service"
LABEL_ENVIRONMENT = "deployer.io/environment"
LABEL_REVISION = "deployer.io/revision"
LABEL_KIND = "deployer.io/record"
MANAGED_BY = {"app.kubernetes.io/managed-by": "deployer"}


@dataclass(frozen=True)
class ReleaseRecord:
    service: str
    cluster: str
    environment: str
    revision: int
    image: str
    """The pinned image reference (repository@sha256:...)."""
    digest: str
    manifest_hash: str
    actor: str
    time: str
    outcome: Outcome
    message: str = ""
    rollback_of: int | None = None
    """For a rollback: the revision whose objects were restored."""
    commit: str = ""
    """The commit the image was built from (its tag); empty in records older than this field."""
    promoted_from: dict[str, Any] | None = None
    """For a promotion: {"environment": source, "revisions": {source cluster: revision}}."""
    images: dict[str, str] = field(default_factory=dict)
    """Every image of the release by name ("" for the service's own ``image``, else its ``images``
    key) -> its pinned reference on this cluster: what a promotion copies. Empty in records older
    than this field (``image`` and ``digest`` still name the service's own image there)."""
    objects: list[dict[str, Any]] = field(default_factory=list, compare=False)
    finished: str = ""
    """When the outcome was settled (ISO 8601, as ``time``); empty while in progress and in records
    older than this field. ``finished - time`` is the release's duration on the page."""

    def with_outcome(self, outcome: Outcome, message: str = "", finished: str = "") -> ReleaseRecord:
        return replace(self, outcome=outcome, message=message, finished=finished or self.finished)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("objects")
        return out


def manifest_hash(objects: list[dict[str, Any]]) -> str:
    canonical = json.dumps(objects, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def configmap_name(service: str, environment: str, revision: int) -> str:
    return f"deployer-release.{service}.{environment}.v{revision}"


def to_configmap(record: ReleaseRecord, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(record.service, record.environment, record.revision),
            "namespace": namespace,
            "labels": {**MANAGED_BY, LABEL_KIND: "release", LABEL_SERVICE: record.service,
                       LABEL_ENVIRONMENT: record.environment, LABEL_REVISION: str(record.revision)},
        },
        "data": {"record.json": json.dumps(record.summary(), sort_keys=True),
                 "objects.json": json.dumps(record.objects, sort_keys=True)},
    }


def from_configmap(cm: dict[str, Any]) -> ReleaseRecord:
    data = cm.get("data") or {}
    summary = json.loads(data["record.json"])
    return ReleaseRecord(**summary, objects=json.loads(data.get("objects.json") or "[]"))


def next_revision(records: list[ReleaseRecord]) -> int:
    return max((r.revision for r in records), default=0) + 1


def current(records: list[ReleaseRecord]) -> ReleaseRecord | None:
    """The release the cluster is on: the newest record that ended succeeded (a rollback is a
    succeeded record too); none once the newest settled record says the service was removed."""
    for record in sorted(records, key=lambda r: r.revision, reverse=True):
        if record.outcome == "removed":
            return None
        if record.outcome == "succeeded":
            return record
    return None


def previous_good(records: list[ReleaseRecord], before: int) -> ReleaseRecord | None:
    for record in sorted(records, key=lambda r: r.revision, reverse=True):
        if record.revision < before and record.outcome == "succeeded":
            return record
    return None


def rollback_target(records: list[ReleaseRecord], running: int | None) -> ReleaseRecord | None:
    """Where a rollback returns to: the newest good release before the one the cluster runs.

    ``running`` is the revision the live objects say last applied them (None when they do not
    say: then the newest good record is taken as running). A failed release left in place (policy
    ``leave``, or a killed run) is what runs, so its predecessor is the target, not the one before
    the newest good record. A release identical to the running one (same digest and manifests, as
    a rollback is) is no step back and is passed over.
    """
    if running is None:
        now = current(records)
        if now is None:
            return None
        running = now.revision
    same = next((r for r in records if r.revision == running), None)
    for record in sorted(records, key=lambda r: r.revision, reverse=True):
        if record.revision >= running or record.outcome != "succeeded":
            continue
        if same is not None and (record.digest, record.manifest_hash) == (same.digest, same.manifest_hash):
            continue
        return record
    return None
