"""Running one function per cluster in parallel, and what the set of results means.

Used by every story that works on clusters (sync, diff, verify, provision, deploy, rollback,
history): each cluster runs in its
own thread with its own client and credential; one cluster failing (an error, or even a bug)
never stops or hides the others; the overall outcome distinguishes no change, changed, failed
(every cluster) and partial (some), and maps to the documented exit codes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from deployer.errors import DeployerError, ExitCode

T = TypeVar("T")
Item = TypeVar("Item")


@dataclass(frozen=True)
class ClusterRun(Generic[T]):
    cluster: str
    result: T | None = None
    error: DeployerError | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.error is not None


class Outcome(StrEnum):
    NO_CHANGE = "no-change"
    CHANGED = "changed"
    FAILED = "failed"
    PARTIAL = "partial"


def fan_out(items: Sequence[Item], work: Callable[[Item], T], *, name: Callable[[Item], str] = str,
            failure: Callable[[T], DeployerError | None] | None = None, workers: int | None = None,
            clock: Callable[[], float] = time.monotonic) -> list[ClusterRun[T]]:
    """``work(item)`` for every item (a cluster's name, or anything ``name`` names by its cluster)
    at once; results in the order of ``items``.

    A cluster fails when ``work`` raises, or when ``failure(result)`` returns an error (for work
    that fails part-way and still has a result worth reporting, such as a half-applied sync).
    An unexpected exception is a bug: it is reported for its cluster as an internal error (the
    traceback kept as the cause for --debug) and the other clusters carry on.
    """
    def run(item: Item) -> ClusterRun[T]:
        cluster = name(item)
        start = clock()
        try:
            result = work(item)
        except DeployerError as exc:
            return ClusterRun(cluster, error=exc, seconds=clock() - start)
        except Exception as exc:  # noqa: BLE001 - one cluster's bug must not hide the others' results
            error = DeployerError(f"cluster {cluster}: internal error: {type(exc).__name__}: {exc}",
                                  hint="This is a bug in deployer: run again with --debug and report the traceback.")
            error.__cause__ = exc
            return ClusterRun(cluster, error=error, seconds=clock() - start)
        return ClusterRun(cluster, result, failure(result) if failure else None, clock() - start)

    if not items:
        return []
    with ThreadPoolExecutor(max_workers=workers or len(items), thread_name_prefix="cluster") as pool:
        return list(pool.map(run, items))


def outcome_of(runs: Sequence[ClusterRun[T]], changed: Callable[[T], bool]) -> Outcome:
    failed = [r for r in runs if r.failed]
    if failed and len(failed) == len(runs):
        return Outcome.FAILED
    if failed:
        return Outcome.PARTIAL
    if any(r.result is not None and changed(r.result) for r in runs):
        return Outcome.CHANGED
    return Outcome.NO_CHANGE


def exit_code(outcome: Outcome, detailed: bool = False) -> ExitCode:
    """The exit code of an outcome; "changed" is told apart from "no change" only with
    --detailed-exitcode (as with terraform plan), so plain runs exit 0 on success."""
    return {
        Outcome.FAILED: ExitCode.FAILED,
        Outcome.PARTIAL: ExitCode.PARTIAL,
        Outcome.CHANGED: ExitCode.CHANGED if detailed else ExitCode.OK,
        Outcome.NO_CHANGE: ExitCode.OK,
    }[outcome]
