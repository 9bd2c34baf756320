"""Who may hold a service's deploy lock on a cluster: the decision over a Lease's fields.

The lock is a coordination.k8s.io Lease per service in the service's namespace. Its holder is the
Jenkins build URL or user@host; it expires ``leaseDurationSeconds`` after its last renewal, so a
deploy killed with SIGKILL blocks others only until then.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

LEASE_SECONDS = 30
RENEW_EVERY = 10


@dataclass(frozen=True)
class LockDecision:
    action: Literal["create", "take", "renew", "held"]
    holder: str | None = None
    expires_in: float = 0.0


def holder_of(actor: str, run_id: str) -> str:
    """The Lease holder for one run: the actor, who a refused deploy is told about, and the run, so
    two runs by one actor (the same user@host, a Jenkins job's two builds) never both hold it."""
    return f"{actor} (run {run_id})"


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def decide(lease: dict[str, Any] | None, me: str, now: dt.datetime) -> LockDecision:
    """``create`` when there is no lease; ``renew`` when it is ours; ``take`` when it expired or was
    released; ``held`` (with holder and seconds left) when someone else holds it."""
    if lease is None:
        return LockDecision("create")
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    if not holder:
        return LockDecision("take")
    if holder == me:
        return LockDecision("renew", holder)
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    duration = spec.get("leaseDurationSeconds") or LEASE_SECONDS
    if renewed is None:
        return LockDecision("take", holder)
    left = (renewed + dt.timedelta(seconds=duration) - now).total_seconds()
    if left <= 0:
        return LockDecision("take", holder)
    return LockDecision("held", holder, left)
