"""Reading and writing coordination.k8s.io Leases: the requests behind the deploy lock.

Who may hold a lock is decided in ``deployer.rollout.lock``; taking, renewing and releasing it is
``deployer.pipeline.locking``. Writes here are plain creates and replaces that carry the Lease's
resourceVersion, so a write based on a stale read fails with a 409 (``ConflictError``) instead
of overwriting the other writer.
"""

from __future__ import annotations

from typing import Any

from deployer.errors import ConflictError, UnreachableError
from deployer.kube.client import KubeClient
from deployer.kube.resources import LEASES


def read_lease(client: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The Lease, or None when there is none."""
    answer = client.request("GET", LEASES.item(name, namespace), what=f"read lease {name}", ok=(404,))
    return answer.data if answer.status != 404 else None


def create_lease(client: KubeClient, lease: dict[str, Any]) -> dict[str, Any]:
    """Create ``lease``; a ConflictError when one by that name exists already.

    When the connection broke after sending, the Lease is read back rather than created blindly
    again: one with the holder and acquire time sent (the holder names this run) is this create having
    landed; one held otherwise is another run's (a ConflictError, as if the create had lost).
    """
    meta = lease["metadata"]
    what = f"create lease {meta['name']}"
    for attempt in (1, 2):
        try:
            return client.request("POST", LEASES.collection(meta["namespace"]), what=what, body=lease).data
        except UnreachableError:
            found = read_lease(client, meta["namespace"], meta["name"])
            if found is not None:
                if _same_holding(found.get("spec") or {}, lease["spec"]):
                    return found
                raise ConflictError(f"cluster {client.cluster}: {what} failed: another run created it while "
                                    "this one's create got no answer", status=409, reason="AlreadyExists") from None
            if attempt == 2:
                raise
    raise AssertionError("unreachable: the loop returns or raises")


def _same_holding(live: dict[str, Any], sent: dict[str, Any]) -> bool:
    # The holder names this run (actor and run id) and acquireTime is to the microsecond.
    return all(live.get(key) == sent.get(key) for key in ("holderIdentity", "acquireTime"))


def replace_lease(client: KubeClient, lease: dict[str, Any], *, what: str) -> dict[str, Any]:
    """Write ``lease`` as read and changed; a ConflictError when it changed since that read."""
    meta = lease["metadata"]
    return client.request("PUT", LEASES.item(meta["name"], meta["namespace"]), what=f"{what} lease {meta['name']}",
                          body=lease).data
