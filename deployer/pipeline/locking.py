"""The per-service, per-cluster deploy lock: a coordination.k8s.io Lease, taken and renewed.

The decision (create / renew / take over / held) is ``deployer.rollout.lock.decide``; this module
does the reads and writes. Writes carry the Lease's resourceVersion, so two deploys racing for an
expired lease cannot both win: the loser gets a 409 and sees the winner as the holder.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

from deployer.errors import ConflictError, LockedError
from deployer.kube.client import KubeClient
from deployer.rollout import lock as rules

Clock = Callable[[], dt.datetime]


def lease_name(service: str) -> str:
    return f"deployer-lock.{service}"


def _path(namespace: str, name: str = "") -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    return f"{base}/{name}" if name else base


def _micro(now: dt.datetime) -> str:
    # Lease times are MicroTime: RFC 3339 with microseconds.
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class HeldLock:
    client: KubeClient
    namespace: str
    name: str
    holder: str

    def renew(self, now: dt.datetime) -> None:
        lease = self.client.get_json(_path(self.namespace, self.name), what=f"read lease {self.name}")
        spec = lease.setdefault("spec", {})
        if spec.get("holderIdentity") != self.holder:
            raise LockedError(f"cluster {self.client.cluster}: the deploy lock {self.name} was taken over by "
                              f"{spec.get('holderIdentity')!r} while this deploy held it",
                              hint="This deploy stalled past the lease's duration; run it again.")
        spec["renewTime"] = _micro(now)
        self.client.request("PUT", _path(self.namespace, self.name), what=f"renew lease {self.name}", body=lease)

    def release(self) -> None:
        lease = self.client.get_json(_path(self.namespace, self.name), what=f"read lease {self.name}")
        spec = lease.setdefault("spec", {})
        if spec.get("holderIdentity") == self.holder:
            spec.pop("holderIdentity", None)
            self.client.request("PUT", _path(self.namespace, self.name), what=f"release lease {self.name}",
                                body=lease)


def try_acquire(client: KubeClient, namespace: str, service: str, holder: str, now: dt.datetime,
                lease_seconds: int = rules.LEASE_SECONDS) -> HeldLock | rules.LockDecision:
    """Take the lock, or return the ``held`` decision naming who holds it."""
    name = lease_name(service)
    lease = client.request("GET", _path(namespace, name), what=f"read lease {name}", ok=(404,))
    current = lease.data if lease.status != 404 else None
    decision = rules.decide(current, holder, now)
    if decision.action == "held":
        return decision
    spec = {"holderIdentity": holder, "leaseDurationSeconds": lease_seconds,
            "acquireTime": _micro(now), "renewTime": _micro(now)}
    try:
        if current is None:
            client.request("POST", _path(namespace), what=f"create lease {name}", body={
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
            client.request("PUT", _path(namespace, name), what=f"take lease {name}", body=current)
    except ConflictError:
        # Someone else wrote the lease between our read and write: they won.
        again = client.get_json(_path(namespace, name), what=f"read lease {name}")
        return rules.decide(again, holder, now) if (again.get("spec") or {}).get("holderIdentity") != holder \
            else HeldLock(client, namespace, name, holder)
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
