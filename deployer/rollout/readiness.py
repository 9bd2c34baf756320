"""Is a workload done rolling out? kubectl's `rollout status` rules, as pure functions.

Matches kubectl's polymorphichelpers/rollout_status.go: status is only trusted once
observedGeneration has caught up with the generation we wrote (so a stale status from before our
apply can never report success), and ProgressDeadlineExceeded is a failure, not a wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

State = Literal["done", "waiting", "failed"]


@dataclass(frozen=True)
class Readiness:
    state: State
    message: str

    @property
    def done(self) -> bool:
        return self.state == "done"


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def _observed(obj: dict[str, Any], min_generation: int | None) -> Readiness | None:
    generation = obj.get("metadata", {}).get("generation") or 0
    if min_generation is not None:
        generation = max(generation, min_generation)
    observed = (obj.get("status") or {}).get("observedGeneration") or 0
    if observed < generation:
        return Readiness("waiting", f"waiting for the controller to observe generation {generation} "
                                    f"(observed {observed})")
    return None


def deployment(obj: dict[str, Any], min_generation: int | None = None) -> Readiness:
    if (stale := _observed(obj, min_generation)) is not None:
        return stale
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    progressing = _condition(status, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Readiness("failed", f"exceeded its progress deadline: {progressing.get('message', '')}".rstrip(": "))
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas") or 0
    replicas = status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    # Still a wait, as for kubectl (a quota may be raised, a webhook come back), but the reason
    # pods are not being created is said with the progress and in a timeout's message.
    failing = _condition(status, "ReplicaFailure")
    why = _why("; pods cannot be created", failing) if failing and failing.get("status") == "True" else ""
    if updated < wanted:
        return Readiness("waiting", f"{updated} of {wanted} new replicas have been updated{why}")
    if replicas > updated:
        return Readiness("waiting", f"{replicas - updated} old replicas are pending termination{why}")
    if available < updated:
        return Readiness("waiting", f"{available} of {updated} updated replicas are available{why}")
    return Readiness("done", f"{available} of {wanted} replicas available")


def _not_rolling(kind: str, strategy: str) -> Readiness:
    # kubectl refuses too ("rollout status is only available for RollingUpdate strategy type"):
    # with OnDelete the new template reaches a pod only when someone deletes it, so there is no
    # rollout to wait for, and calling it done would claim pods run what they do not.
    return Readiness("failed", f"a {kind} with updateStrategy {strategy} has no rollout to wait for (its pods change "
                               "only when deleted); use updateStrategy RollingUpdate, or delete its pods yourself")


def statefulset(obj: dict[str, Any], min_generation: int | None = None) -> Readiness:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    update = spec.get("updateStrategy") or {}
    strategy = update.get("type", "RollingUpdate")
    if strategy != "RollingUpdate":
        return _not_rolling("StatefulSet", strategy)
    if (stale := _observed(obj, min_generation)) is not None:
        return stale
    wanted = spec.get("replicas", 1)
    ready = status.get("readyReplicas") or 0
    updated = status.get("updatedReplicas") or 0
    if ready < wanted:
        return Readiness("waiting", f"{ready} of {wanted} pods are ready")
    rolling = update.get("rollingUpdate")
    if rolling is not None:
        # The API server defaults rollingUpdate.partition to 0: kubectl then judges by the pods at
        # or above the partition, and never by currentRevision, which a partitioned rollout leaves
        # behind on purpose.
        partition = rolling.get("partition") or 0
        to_update = max(wanted - partition, 0)
        if updated < to_update:
            return Readiness("waiting", f"{updated} of {to_update} pods are on the new revision"
                                        + (f" (partition {partition})" if partition else ""))
        return Readiness("done", f"{ready} of {wanted} pods ready, {updated} on the new revision"
                                 + (f" (partition {partition})" if partition else ""))
    if status.get("updateRevision") != status.get("currentRevision"):
        return Readiness("waiting", f"{updated} of {wanted} pods are on the new revision")
    return Readiness("done", f"{ready} of {wanted} pods ready")


def daemonset(obj: dict[str, Any], min_generation: int | None = None) -> Readiness:
    strategy = ((obj.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy != "RollingUpdate":
        return _not_rolling("DaemonSet", strategy)
    if (stale := _observed(obj, min_generation)) is not None:
        return stale
    status = obj.get("status") or {}
    wanted = status.get("desiredNumberScheduled") or 0
    updated = status.get("updatedNumberScheduled") or 0
    available = status.get("numberAvailable") or 0
    if updated < wanted:
        return Readiness("waiting", f"{updated} of {wanted} updated pods are scheduled")
    if available < wanted:
        return Readiness("waiting", f"{available} of {wanted} updated pods are available")
    return Readiness("done", f"{available} of {wanted} pods available")


def _why(what: str, condition: dict[str, Any]) -> str:
    detail = condition.get("message") or condition.get("reason") or ""
    return f"{what}: {detail}" if detail else what


def job(obj: dict[str, Any], min_generation: int | None = None) -> Readiness:
    """A Job is done when it completes and failed when it fails (`kubectl wait --for=condition=
    Complete` / `Failed`); a Job's spec.template is immutable, so there is no generation to wait for."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    failed = _condition(status, "Failed")
    if failed and failed.get("status") == "True":
        return Readiness("failed", _why("failed", failed))
    complete = _condition(status, "Complete")
    if complete and complete.get("status") == "True":
        return Readiness("done", "completed")
    completions = spec.get("completions", 1)
    succeeded = status.get("succeeded") or 0
    return Readiness("waiting", f"{succeeded} of {completions} completions")


def custom_resource_definition(obj: dict[str, Any], min_generation: int | None = None) -> Readiness:
    """Done when Established (`kubectl wait --for=condition=Established`): only then are its
    custom objects served; NamesAccepted False is a failure (the names clash with another CRD)."""
    status = obj.get("status") or {}
    names = _condition(status, "NamesAccepted")
    if names and names.get("status") == "False":
        return Readiness("failed", _why("names not accepted", names))
    established = _condition(status, "Established")
    return Readiness("done", "established") if established and established.get("status") == "True" \
        else Readiness("waiting", "not established yet")


RULES = {("apps", "Deployment"): deployment, ("apps", "StatefulSet"): statefulset,
         ("apps", "DaemonSet"): daemonset, ("batch", "Job"): job,
         ("apiextensions.k8s.io", "CustomResourceDefinition"): custom_resource_definition}


def readiness(obj: dict[str, Any], min_generation: int | None = None) -> Readiness:
    """Readiness of any object: workloads by their rules, everything else is done once applied."""
    group = obj.get("apiVersion", "").rpartition("/")[0]
    rule = RULES.get((group, obj.get("kind", "")))
    if rule is None:
        return Readiness("done", "applied")
    return rule(obj, min_generation)


def has_rule(obj: dict[str, Any]) -> bool:
    return (obj.get("apiVersion", "").rpartition("/")[0], obj.get("kind", "")) in RULES
