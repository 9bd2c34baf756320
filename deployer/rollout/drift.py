"""Drift (pure): what the live objects of a release run, against what its newest record says.

``deployer status`` and the page never report a release record alone: they read the objects the
newest record applied and compare, per object, the images of its pod template (by container), its
owner labels (deployer's: ``app.kubernetes.io/managed-by`` and ``deployer.io/*``), whether it is
there at all, and whether its controller has observed its latest generation. An image that differs
is named by the release that ran it, when a record of the service knows its digest ("which is
production r2 of hello"), else as set outside deployer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from deployer.plan.keys import ObjectKey, key_of
from deployer.rollout.release import ReleaseRecord, current

FindingKind = Literal["image", "missing", "owner", "unobserved"]

OWNER_LABELS = ("app.kubernetes.io/managed-by",)
OWNER_PREFIX = "deployer.io/"


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    object: str
    """The object it is about: "Deployment apps/hello"."""
    message: str

    @property
    def drift(self) -> bool:
        """Whether the cluster runs something the record does not say ("unobserved" is a rollout
        still being picked up by its controller: not a difference, only not yet settled)."""
        return self.kind != "unobserved"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "object": self.object, "message": self.message, "drift": self.drift}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec a workload runs (Pod, the template of Deployment/StatefulSet/DaemonSet/ReplicaSet/Job,
    CronJob's job template), or None for objects that run nothing."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        return spec
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template")
    return (template or {}).get("spec") if isinstance(template, dict) else None


def images(obj: dict[str, Any]) -> dict[str, str]:
    """Container name -> image, init containers included."""
    spec = pod_spec(obj) or {}
    return {c.get("name", ""): c.get("image", "") for field in ("initContainers", "containers")
            for c in spec.get(field) or []}


def digest_of(image: str) -> str:
    return image.rpartition("@")[2] if "@" in image else ""


def short(digest: str) -> str:
    """sha256: and 12 hex digits, as the messages name digests."""
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:12]}..." if value else digest


def compare(service: str, cluster: str, record: ReleaseRecord, live: Mapping[ObjectKey, dict[str, Any] | None],
            known: Iterable[ReleaseRecord]) -> list[Finding]:
    """Every difference between the objects ``record`` applied and ``live`` (by key; None: absent).
    ``known`` are the service's records (any environment, any cluster), to name a foreign digest."""
    if record.outcome == "removed":
        return []
    by_digest = _by_digest(cluster, list(known))
    label = f"{record.environment} r{record.revision}"
    findings: list[Finding] = []
    for obj in record.objects:
        key = key_of(obj)
        now = live.get(key)
        if now is None:
            findings.append(Finding("missing", str(key), f"drift: {key} of {label} is not in the cluster"))
            continue
        findings += _image_findings(service, cluster, record, key, images(obj), images(now), by_digest)
        findings += _owner_findings(key, label, obj, now)
        meta, status = now.get("metadata") or {}, now.get("status") or {}
        generation, observed = meta.get("generation"), status.get("observedGeneration")
        if pod_spec(obj) is not None and isinstance(generation, int) and isinstance(observed, int) \
                and observed < generation:
            findings.append(Finding("unobserved", str(key), f"{key}: generation {generation} is not yet observed "
                                                            f"by its controller (observed {observed})"))
    return findings


def _by_digest(cluster: str, known: list[ReleaseRecord]) -> dict[str, ReleaseRecord]:
    """Digest -> the release to name it by: on this cluster before others, the release its
    environment runs now before superseded ones, then the newest."""
    running = {(r.cluster, r.environment): current([k for k in known if (k.cluster, k.environment) ==
                                                    (r.cluster, r.environment)]) for r in known}
    chosen: dict[str, ReleaseRecord] = {}
    for record in sorted(known, key=lambda r: (r.cluster != cluster, running[(r.cluster, r.environment)] != r,
                                               -r.revision)):
        chosen.setdefault(record.digest, record)
    return chosen


def _image_findings(service: str, cluster: str, record: ReleaseRecord, key: ObjectKey, wanted: dict[str, str],
                    running: dict[str, str], by_digest: Mapping[str, ReleaseRecord]) -> list[Finding]:
    found = []
    for name, image in sorted(running.items()):
        if wanted.get(name) == image:
            continue
        recorded = wanted.get(name, "")
        other = by_digest.get(digest_of(image)) if digest_of(image) else None
        if digest_of(image) and digest_of(image) == digest_of(recorded):
            message = f"drift: {key} runs the recorded digest from another repository: {image}, not {recorded}"
        elif other is not None:
            message = (f"{cluster} runs {short(digest_of(image))} in {key}, which is {other.environment} "
                       f"r{other.revision} of {service}, not {record.environment} r{record.revision}")
        else:
            message = (f"drift: {key} runs image {image} in container {name}, set outside deployer, not the "
                       f"recorded {short(digest_of(recorded)) if digest_of(recorded) else recorded or 'nothing'} "
                       f"of {record.environment} r{record.revision}")
        found.append(Finding("image", str(key), message))
    for name in sorted(set(wanted) - set(running)):
        found.append(Finding("image", str(key), f"drift: {key} has no container {name}, which "
                                                f"{record.environment} r{record.revision} runs"))
    return found


def _owner_findings(key: ObjectKey, label: str, obj: dict[str, Any], live: dict[str, Any]) -> list[Finding]:
    wanted = ((obj.get("metadata") or {}).get("labels")) or {}
    have = ((live.get("metadata") or {}).get("labels")) or {}
    found = []
    for name, value in sorted(wanted.items()):
        if (name in OWNER_LABELS or name.startswith(OWNER_PREFIX)) and have.get(name) != value:
            now = f"{name}={have[name]}" if name in have else f"no {name} label"
            found.append(Finding("owner", str(key), f"drift: {key} has {now}, not {name}={value} as {label} "
                                                    "applied it: another owner may have taken it"))
    return found
