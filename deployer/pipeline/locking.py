"""The per-service, per-cluster deploy lock: a coordination.k8s.io Lease, taken and renewed.

The decision (create / renew / take over / held) is ``deployer.rollout.lock.decide``; the requests
are ``deployer.kube.leases``; this module puts them in order. Writes carry the Lease's
resourceVersion, so two deploys racing for an expired lease cannot both win: the loser gets a 409
and sees the winner as the holder.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deployer.errors import ConflictError, LockedError
from deployer.kube.client import KubeClient
from deployer.kube.leases import create_lease, read_lease, replace_lease
from deployer.rollout import lock as rules

Clock = Callable[[], dt.datetime]


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

    def _read(self) -> dict[str, Any]:
        lease = read_lease(self.client, self.namespace, self.name)
        if lease is None:
            raise LockedError(f"cluster {self.client.cluster}: the deploy lock {self.namespace}/{self.name} was "
                              "deleted while this deploy held it",
                              hint="Someone removed the Lease by hand; check who, then run the deploy again.")
        return lease

    def renew(self, now: dt.datetime) -> None:
        lease = self._read()
        spec = lease.setdefault("spec", {})
        if spec.get("holderIdentity") != self.holder:
            raise LockedError(f"cluster {self.client.cluster}: the deploy lock {self.name} was taken over by "
                              f"{spec.get('holderIdentity')!r} while this deploy held it",
                              hint="This deploy stalled past the lease's duration; run it again.")
        spec["renewTime"] = _micro(now)
        replace_lease(self.client, lease, what="renew")

    def release(self) -> None:
        lease = self._read()
        spec = lease.setdefault("spec", {})
        if spec.get("holderIdentity") == self.holder:
            spec.pop("holderIdentity", None)
            replace_lease(self.client, lease, what="release")


def try_acquire(client: KubeClient, namespace: str, service: str, holder: str, now: dt.datetime,
                lease_seconds: int = rules.LEASE_SECONDS) -> HeldLock | rules.LockDecision:
    """Take the lock, or return the ``held`` decision naming who holds it."""
    name = lease_name(service)
    current = read_lease(client, namespace, name)
    decision = rules.decide(current, holder, now)
    if decision.action == "held":
        return decision
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
            return rules.decide(again, holder, now)
        return HeldLock(client, namespace, name, holder)
    return HeldLock(client, namespace, name, holder)


class Renewer:
    """Renews held leases every ``RENEW_EVERY`` seconds on a background thread until stopped."""

    def __init__(self, locks: list[HeldLock], now: Clock, every: float = rules.RENEW_EVERY) -> None:
        self._locks = locks
        self._now = now
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)
        self.errors: list[Exception] = []

    def __enter__(self) -> Renewer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            for held in self._locks:
                try:
                    held.renew(self._now())
                except Exception as exc:  # noqa: BLE001 - reported at the end; the deploy's own steps decide
                    self.errors.append(exc)
