"""The per-service, per-cluster deploy lock: a coordination.k8s.io Lease, taken and renewed.

The decision (create / renew / take over / held) is ``deployer.rollout.lock.decide``, over what a
``Candidate`` has observed of the lease by its own monotonic clock; the requests are
``deployer.kube.leases``; this module puts them in order. Writes carry the Lease's
resourceVersion, so two deploys racing for an expired lease cannot both win: the loser gets a 409
and sees the winner as the holder.

A held lock that cannot be kept (another holder on renewal, the Lease deleted, or no successful
renewal for the lease's duration) is *lost*: the ``Renewer`` abandons that cluster's ``Stop`` so
its writes and waits end at once, and the cluster is reported failed.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deployer.errors import ConflictError, DeployerError, LockedError
from deployer.kube.client import KubeClient
from deployer.kube.leases import create_lease, read_lease, replace_lease
from deployer.rollout import lock as rules
from deployer.stopping import Stop

Clock = Callable[[], dt.datetime]
Monotonic = Callable[[], float]


def lease_name(service: str) -> str:
    return f"deployer-lock.{service}"


def _micro(now: dt.datetime) -> str:
    # Lease times are MicroTime: RFC 3339 with microseconds.
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class HeldLock:
    client: KubeClient
    namespace: str
    name: str
    holder: str
    lease_seconds: int = rules.LEASE_SECONDS
    renewed_at: float | None = None
    """Monotonic time just before the last write that made the lease ours (taken or renewed)."""
    taken_from: str | None = None
    """The holder this run took the lease over from (it had stopped renewing), if any."""

    def _read(self) -> dict[str, Any]:
        lease = read_lease(self.client, self.namespace, self.name)
        if lease is None:
            raise LockedError(f"cluster {self.client.cluster}: the deploy lock {self.namespace}/{self.name} was "
                              "deleted while this deploy held it",
                              hint="Someone removed the Lease by hand; check who, then run the deploy again.")
        return lease

    def renew(self, now: dt.datetime, monotonic: float | None = None) -> None:
        before = time.monotonic() if monotonic is None else monotonic
        lease = self._read()
        spec = lease.setdefault("spec", {})
        if spec.get("holderIdentity") != self.holder:
            raise LockedError(f"cluster {self.client.cluster}: the deploy lock {self.name} was taken over by "
                              f"{spec.get('holderIdentity')!r} while this deploy held it",
                              hint="This deploy stalled past the lease's duration; run it again.")
        spec["renewTime"] = _micro(now)
        replace_lease(self.client, lease, what="renew")
        self.renewed_at = before

    def release(self) -> None:
        lease = self._read()
        spec = lease.setdefault("spec", {})
        if spec.get("holderIdentity") == self.holder:
            spec.pop("holderIdentity", None)
            replace_lease(self.client, lease, what="release")


@dataclass
class Candidate:
    """One run's attempts at one cluster's lock: what it has observed of the Lease, and since when
    by its own monotonic clock (``deployer.rollout.lock.observe``)."""

    client: KubeClient
    namespace: str
    service: str
    holder: str
    lease_seconds: int = rules.LEASE_SECONDS
    monotonic: Monotonic = time.monotonic
    observed: rules.Observation | None = field(default=None, init=False)

    def try_acquire(self, now: dt.datetime) -> HeldLock | rules.LockDecision:
        """Take the lock, or return the ``held`` decision naming who holds it."""
        name = lease_name(self.service)
        before = self.monotonic()
        current = read_lease(self.client, self.namespace, name)
        self.observed = rules.observe(current, self.observed, before)
        decision = rules.decide(current, self.holder, self.observed, before)
        if decision.action == "held":
            return decision
        got = _write_acquire(self.client, self.namespace, self.service, self.holder, now, self.lease_seconds,
                             current, decision)
        if isinstance(got, HeldLock):
            got.renewed_at = before
        else:  # the winner of a race: a new record, observed from now on
            self.observed = None
        return got


def try_acquire(client: KubeClient, namespace: str, service: str, holder: str, now: dt.datetime,
                lease_seconds: int = rules.LEASE_SECONDS) -> HeldLock | rules.LockDecision:
    """One look at the lock: take it if it is free or ours (a lease someone else holds is never taken
    on one look; a ``Candidate`` watches it expire)."""
    return Candidate(client, namespace, service, holder, lease_seconds).try_acquire(now)


def _write_acquire(client: KubeClient, namespace: str, service: str, holder: str, now: dt.datetime,
                   lease_seconds: int, current: dict[str, Any] | None,
                   decision: rules.LockDecision) -> HeldLock | rules.LockDecision:
    name = lease_name(service)
    spec = {"holderIdentity": holder, "leaseDurationSeconds": lease_seconds,
            "acquireTime": _micro(now), "renewTime": _micro(now)}
    try:
        if current is None:
            create_lease(client, {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": namespace,
                             "labels": {"app.kubernetes.io/managed-by": "deployer", "deployer.io/service": service}},
                "spec": spec})
        else:
            if decision.action == "renew":
                spec["acquireTime"] = (current.get("spec") or {}).get("acquireTime") or spec["acquireTime"]
            else:
                spec["leaseTransitions"] = int((current.get("spec") or {}).get("leaseTransitions") or 0) + 1
            current["spec"] = spec
            replace_lease(client, current, what="take")
    except ConflictError:
        # Someone else wrote the lease between our read and write: they won.
        again = read_lease(client, namespace, name)
        if again is None:
            raise  # and deleted it since: nothing to report as the holder
        if (again.get("spec") or {}).get("holderIdentity") != holder:
            return rules.decide(again, holder, None, 0.0)
        return HeldLock(client, namespace, name, holder, lease_seconds)
    return HeldLock(client, namespace, name, holder, lease_seconds,
                    taken_from=decision.holder if decision.action == "take" else None)


class Renewer:
    """Renews held leases every ``every`` seconds on a background thread until stopped.

    A lock that is lost (taken over, deleted, or not renewed for its whole duration) abandons the
    ``Stop`` given with it: that cluster's writes and waits end, and ``lost`` says why.
    """

    def __init__(self, locks: list[tuple[HeldLock, Stop]], now: Clock, every: float = rules.RENEW_EVERY,
                 monotonic: Monotonic = time.monotonic) -> None:
        self._locks = locks
        self._now = now
        self._monotonic = monotonic
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)
        self.errors: list[Exception] = []
        self.lost: dict[str, str] = {}
        """Cluster name -> why its lock was lost."""

    def __enter__(self) -> Renewer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        # Checked more often than renewed, so a lock whose renewals keep failing is given up as
        # soon as its duration has passed, not up to one renewal period later.
        tick = min(self._every, 1.0)
        next_renewal = self._monotonic() + self._every
        while not self._stop.wait(tick):
            due = self._monotonic() >= next_renewal
            if due:
                next_renewal = self._monotonic() + self._every
            for held, stop in self._locks:
                if held.client.cluster in self.lost:
                    continue
                if due:
                    self._renew(held, stop)
                if held.client.cluster not in self.lost and rules.lost(held.renewed_at, self._monotonic(),
                                                                       held.lease_seconds):
                    self._lose(held, stop, f"the deploy lock {held.name} could not be renewed for its whole "
                                           f"{held.lease_seconds}s duration, so another run may hold it now")

    def _renew(self, held: HeldLock, stop: Stop) -> None:
        try:
            held.renew(self._now(), self._monotonic())
        except LockedError as exc:  # taken over or deleted: someone else may be writing now
            self._lose(held, stop, exc.message)
        except DeployerError as exc:  # unreachable, refused: tried again until the lease would lapse
            self.errors.append(exc)

    def _lose(self, held: HeldLock, stop: Stop, why: str) -> None:
        message = why if why.startswith("cluster ") else f"cluster {held.client.cluster}: {why}"
        self.lost[held.client.cluster] = message
        stop.abandon(f"lock lost ({message}); stopped writing there")
