"""Executing a plan on one cluster: record intent, apply tier by tier, prune, record the result.

Order of writes, and why:
1. The inventory gains every object about to be created *before* any is, so a run killed halfway
   never leaves an object deployer made but did not record (it would never be pruned).
2. Applies run tier by tier (``Plan.tiers``: namespaces, cluster roles, roles, service accounts,
   bindings, the rest); the objects of one tier go in parallel. A tier with a failure stops the
   run: later tiers may depend on it (a binding on its role).
3. Prunes run last, in reverse dependency order, each guarded by the object's uid.
4. The inventory drops what was pruned or forgotten.
A plan without changes makes no request at all.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from deployer.errors import ApiError, DeployerError
from deployer.kube.client import KubeClient
from deployer.kube.inventory import InventoryRef, write_inventory
from deployer.kube.objects import apply, delete
from deployer.plan.changes import Action, Change, Plan
from deployer.plan.inventory import Inventory


@dataclass(frozen=True)
class ApplyOptions:
    force_conflicts: bool = False
    dry_run: bool = False
    """Send every change with dryRun=All: the API server validates, admits and checks conflicts
    and permissions, and persists nothing. The inventory is not touched."""
    workers: int = 8
    progress: Callable[[int, int], None] | None = None
    """Called with (changes done, changes planned) as the run goes."""


@dataclass(frozen=True)
class Applied:
    change: Change
    resource_version: str | None = None
    noop: bool = False
    """The server reported no change (the resourceVersion stayed): the plan over-estimated."""
    skipped: str = ""
    """Why a dry run could not check this change on the server."""


@dataclass
class Execution:
    applied: list[Applied] = field(default_factory=list)
    error: DeployerError | None = None
    inventory_writes: int = 0

    @property
    def writes(self) -> int:
        return sum(1 for a in self.applied if not a.noop and not a.skipped) + self.inventory_writes


def apply_plan(client: KubeClient, plan: Plan, ref: InventoryRef, options: ApplyOptions = ApplyOptions(),
               inventory_version: str | None = None) -> Execution:
    """Make the cluster match ``plan`` (made from the inventory stored at ``inventory_version``).

    Never raises for an API refusal: the first error (with any others of the same tier) is
    returned in ``Execution.error`` together with what was already done, so a report can say both.
    """
    done = Execution()
    if not plan.changed:
        return done
    before = plan.inventory_before or Inventory(ref.name)
    during = Inventory.of(ref.name, list(before.entries) + list(plan.inventory_after.entries))
    version = inventory_version
    try:
        if not options.dry_run and (during != before or plan.inventory_before is None):
            version = write_inventory(client, ref, during, version)
            done.inventory_writes += 1
        created_namespaces = {c.key.name for c in plan.changes
                              if c.action is Action.CREATE and c.key.kind == "Namespace"}
        with ThreadPoolExecutor(max_workers=max(1, options.workers),
                                thread_name_prefix=f"sync-{client.cluster}") as pool:
            for tier in plan.tiers():
                results = list(pool.map(lambda c: _run(client, c, options, created_namespaces), tier))
                if options.progress:
                    options.progress(len(done.applied) + len(results), len(plan.writes))
                errors = [r for r in results if isinstance(r, DeployerError)]
                done.applied += [r for r in results if isinstance(r, Applied)]
                if errors:
                    done.error = _combined(errors)
                    return done
        if not options.dry_run and plan.inventory_after != during:
            write_inventory(client, ref, plan.inventory_after, version)
            done.inventory_writes += 1
    except DeployerError as exc:  # the inventory itself could not be read or written
        done.error = exc
    return done


def _run(client: KubeClient, change: Change, options: ApplyOptions,
         created_namespaces: set[str]) -> Applied | DeployerError:
    try:
        if options.dry_run and change.key.namespace in created_namespaces:
            return Applied(change, skipped=f"namespace {change.key.namespace} does not exist yet; "
                                           "the real sync creates it first")
        if change.action is Action.PRUNE:
            delete(client, change.key, change.api_version, uid=change.live_uid, dry_run=options.dry_run)
            return Applied(change)
        assert change.desired is not None
        result = apply(client, change.desired, force=options.force_conflicts, dry_run=options.dry_run)
        version = (result or {}).get("metadata", {}).get("resourceVersion")
        noop = change.live_version is not None and version == change.live_version and not options.dry_run
        return Applied(change, version, noop=noop)
    except DeployerError as exc:
        return exc


def _combined(errors: list[DeployerError]) -> DeployerError:
    first = errors[0]
    if len(errors) == 1:
        return first
    others = "\n".join(f"  also: {e.message}" for e in errors[1:6])
    more = f"\n  ... and {len(errors) - 6} more" if len(errors) > 6 else ""
    message = f"{first.message}\n{others}{more}"
    if isinstance(first, ApiError):
        combined: DeployerError = type(first)(message, hint=first.hint, status=first.status, reason=first.reason)
    else:
        combined = type(first)(message, hint=first.hint)
    combined.__cause__ = first
    return combined
