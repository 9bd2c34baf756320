"""Who may hold a service's deploy lock on a cluster: the decision over a Lease's fields.

The lock is a coordination.k8s.io Lease per service in the service's namespace. Its holder is the
actor (the Jenkins build URL or user@host) and the run. A holder renews it every
``leaseDurationSeconds / 3``; a deploy killed with SIGKILL stops renewing, and another run takes
the lease over once it has watched it stay unchanged for ``leaseDurationSeconds``.

Expiry is judged as client-go's leader election judges it (tools/leaderelection,
``tryAcquireOrRenew``/``isLeaseValid``): a candidate notes when it first saw the lease's current
record (holder, times, duration, resourceVersion) by its *own monotonic clock*, and takes the
lease only once that record has stayed the same for the lease's duration. ``renewTime`` is never
compared with the local wall clock, so a host whose clock runs 31 s ahead cannot take a live
30 s lease, and one whose clock runs behind does not wait longer. The price: a run that starts
after the holder died waits a full duration, however long ago the holder stopped renewing.
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
    """For ``held``: seconds this candidate still has to see the lease unchanged before taking it."""


@dataclass(frozen=True)
class Observation:
    """A lease's record as a candidate last saw it, and since when (the candidate's monotonic
    clock) it has seen exactly that record."""

    record: tuple[Any, ...]
    since: float


def holder_of(actor: str, run_id: str) -> str:
    """The Lease holder for one run: the actor, who a refused deploy is told about, and the run, so
    two runs by one actor (the same user@host, a Jenkins job's two builds) never both hold it."""
    return f"{actor} (run {run_id})"


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def record_of(lease: dict[str, Any]) -> tuple[Any, ...]:
    """What must stay unchanged for the lease to count as not renewed: any renewal changes
    ``renewTime`` and the resourceVersion, a take-over the holder too."""
    spec = lease.get("spec") or {}
    return (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("acquireTime"),
            spec.get("leaseDurationSeconds"), (lease.get("metadata") or {}).get("resourceVersion"))


def observe(lease: dict[str, Any] | None, previous: Observation | None, now: float) -> Observation | None:
    """The observation after reading ``lease`` at monotonic ``now``: the previous one while the
    record is unchanged, else a new one starting now."""
    if lease is None:
        return None
    record = record_of(lease)
    if previous is not None and previous.record == record:
        return previous
    return Observation(record, now)


def decide(lease: dict[str, Any] | None, me: str, observed: Observation | None, now: float) -> LockDecision:
    """``create`` when there is no lease; ``renew`` when it is ours; ``take`` when it was released,
    or when this candidate has seen it unchanged (``observed``, from ``observe`` over the same
    read) for its whole duration by its own monotonic ``now``; else ``held``, naming the holder."""
    if lease is None:
        return LockDecision("create")
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    if not holder:
        return LockDecision("take")
    if holder == me:
        return LockDecision("renew", holder)
    duration = spec.get("leaseDurationSeconds") or LEASE_SECONDS
    if observed is None or observed.record != record_of(lease):
        return LockDecision("held", holder, float(duration))  # first sight: the full duration to watch
    left = observed.since + duration - now
    if left <= 0:
        return LockDecision("take", holder)
    return LockDecision("held", holder, left)


def lost(renewed_at: float | None, now: float, duration: int) -> bool:
    """Whether a holder whose last successful renewal was at monotonic ``renewed_at`` must count
    its lease as lost: another candidate may have watched it unchanged for ``duration`` by now."""
    return renewed_at is not None and now - renewed_at >= duration
