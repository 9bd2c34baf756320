"""Waiting for a cluster's rollout to finish, by kubectl's rules (deployer.rollout.readiness).

Time is injected (``clock``, ``sleep``) so the deadline logic is testable without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from deployer.kube import objects
from deployer.kube.client import KubeClient
from deployer.plan.keys import key_of
from deployer.polling import poll_until
from deployer.rollout.readiness import Readiness, has_rule, readiness
from deployer.stopping import Stop, WriteKind


@dataclass(frozen=True)
class WaitResult:
    done: bool
    message: str


def wait_for(client: KubeClient, applied: Sequence[tuple[dict[str, Any], int | None]], deadline_seconds: float, *,
             progress: Callable[[str], None] = lambda _: None, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep, interval: float = 1.0,
             stop: Stop | None = None, kind: WriteKind = "new") -> WaitResult:
    """Poll every workload in ``applied`` (object, generation our apply produced) until all are
    done, one fails, the deadline passes, or ``stop`` ends waits for a ``kind`` rollout."""
    workloads = [(obj, gen) for obj, gen in applied if has_rule(obj)]
    last: dict[str, str] = {}
    pending: list[str] = []

    def settled() -> WaitResult | None:
        pending.clear()
        for obj, generation in workloads:
            key = key_of(obj)
            live = objects.get(client, key, obj["apiVersion"])
            state = Readiness("waiting", "not found") if live is None else readiness(live, generation)
            if state.state == "failed":
                return WaitResult(False, f"{key}: {state.message}")
            if not state.done:
                pending.append(f"{key}: {state.message}")
            if last.get(str(key)) != state.message:
                last[str(key)] = state.message
                progress(f"{key}: {state.message}")
        return None if pending else WaitResult(True, "rollout complete")

    cancelled = (lambda: stop.cancelled(kind)) if stop is not None else (lambda: False)
    result = poll_until(settled, deadline_seconds, interval=interval, clock=clock, sleep=sleep, cancelled=cancelled)
    if result is None and stop is not None and stop.cancelled(kind):
        return WaitResult(False, f"stopped waiting, {stop.describe()}: " + ("; ".join(pending) or "not checked yet"))
    return result or WaitResult(False, f"timed out after {deadline_seconds:.0f}s: " + "; ".join(pending))
