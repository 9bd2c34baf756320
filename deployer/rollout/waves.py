"""Pure decisions of progressive delivery: which clusters each wave deploys, whether a baking wave
is still healthy, whether a metric breached its threshold, and what a control request asks of the
run. The I/O around them (reading pods, events, Prometheus, the control ConfigMap) is in
``deployer.pipeline.waves``; docs/waves.md describes the behaviour.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal


def restrict(plan: Sequence[Sequence[str]], targets: Iterable[str]) -> list[list[str]]:
    """``plan`` with only the clusters this run targets (``--cluster``), in the plan's order; a wave
    left empty is dropped. A target the plan does not name (never so after validation) goes last."""
    wanted = list(targets)
    waves = [[c for c in wave if c in wanted] for wave in plan]
    waves = [w for w in waves if w]
    planned = {c for w in waves for c in w}
    rest = [c for c in wanted if c not in planned]
    return [*waves, rest] if rest else waves


class WaveState(StrEnum):
    PENDING = "pending"
    DEPLOYING = "deploying"
    BAKING = "baking"
    PAUSED = "paused"
    PASSED = "passed"
    """Deployed and, unless it was the last, passed its gate."""
    FAILED = "failed"
    """A cluster of it failed its rollout, or it failed its gate, or it was aborted: the deploy stopped here."""
    NOT_STARTED = "not-started"
    """An earlier wave stopped the deploy: nothing of this release was written here."""


@dataclass
class WaveReport:
    """One wave of a run, as the report, ``--output json`` and the page show it."""

    index: int
    """1-based."""
    clusters: list[str]
    state: WaveState = WaveState.PENDING
    reason: str = ""
    """Why it failed or did not start; what its gate saw when it passed."""
    gate_seconds: float = 0.0
    """How long its gate ran."""

    def to_dict(self) -> dict[str, Any]:
        return {"wave": self.index, "clusters": self.clusters, "state": self.state.value,
                "reason": self.reason or None, "gateSeconds": round(self.gate_seconds, 3)}


@dataclass(frozen=True)
class WaveEvent:
    """A typed progress event for a watcher (the page): the plan, then each wave's changes and the
    gate's progress. ``remaining`` is the bake time left, in seconds, while baking."""

    wave: int
    of: int
    clusters: tuple[str, ...]
    state: WaveState
    message: str
    remaining: float | None = None


# --- the health a baking wave must keep ------------------------------------------------------------

@dataclass(frozen=True)
class PodSeen:
    uid: str
    name: str
    restarts: int


@dataclass(frozen=True)
class EventSeen:
    uid: str
    count: int
    kind: str
    name: str
    reason: str
    message: str


@dataclass
class Baseline:
    """What the cluster showed when its bake began: restarts and warnings before it are not the
    release's fault during the bake (a rollout's own start-up events are judged by the rollout)."""

    restarts: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, pods: Iterable[PodSeen], events: Iterable[EventSeen]) -> Baseline:
        return cls({p.uid: p.restarts for p in pods}, {e.uid: e.count for e in events})


def health_problems(cluster: str, baseline: Baseline, unavailable: Sequence[str], pods: Sequence[PodSeen],
                    warnings: Sequence[EventSeen], max_restarts: int) -> list[str]:
    """Why ``cluster``'s release is no longer healthy, in words (empty: healthy).

    - a workload no longer done by kubectl's rollout rules (``unavailable``: already described);
    - more container restarts since the bake began than ``max_restarts`` (a pod that appeared
      during the bake counts all of its restarts);
    - a Warning event for one of its objects or pods that is new since the bake began (or whose
      count went up: the API server folds repeats into one event).
    """
    problems = [f"cluster {cluster}: {what}" for what in unavailable]
    restarted = {p.name: p.restarts - baseline.restarts.get(p.uid, 0) for p in pods}
    restarted = {name: n for name, n in restarted.items() if n > 0}
    if sum(restarted.values()) > max_restarts:
        detail = ", ".join(f"{name} {n}" for name, n in sorted(restarted.items()))
        problems.append(f"cluster {cluster}: {sum(restarted.values())} container restart(s) during the bake, "
                        f"more than the {max_restarts} allowed (gate.maxRestarts): {detail}")
    for event in warnings:
        if event.count > baseline.events.get(event.uid, 0):
            problems.append(f"cluster {cluster}: Warning {event.reason} on {event.kind} {event.name}: "
                            f"{event.message}".rstrip(": "))
    return problems


def about_release(events: Iterable[EventSeen], names: set[tuple[str, str]], deployments: set[str]
                  ) -> list[EventSeen]:
    """The events about the release: one of its objects or pods by (kind, name), or a ReplicaSet of
    one of its Deployments. ReplicaSets are named <deployment>-<pod-template-hash> and the hash has
    no dash, so "web-api-5d9f" is web-api's, never web's."""
    return [e for e in events if (e.kind, e.name) in names
            or (e.kind == "ReplicaSet" and e.name.rsplit("-", 1)[0] in deployments)]


# --- metric checks ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float


def metric_problem(check: str, server: str, query: str, samples: Sequence[Sample], maximum: float) -> str | None:
    """Why a metric check fails on this evaluation (None: within its threshold).

    No sample at all fails too: a query that matches nothing (a typo, a metric not exported yet)
    must not pass a gate by saying nothing. NaN (0/0 in a rate ratio) is no evidence of health
    either.
    """
    if not samples:
        return f"metric {check}: Prometheus {server} returned no samples for {query!r}; a gate needs evidence"
    worst = max(samples, key=lambda s: s.value if not math.isnan(s.value) else math.inf)
    if math.isnan(worst.value) or worst.value > maximum:
        labels = ",".join(f"{k}={v}" for k, v in sorted(worst.labels.items()))
        return (f"metric {check}: {worst.value:g} > {maximum:g} "
                f"({query!r} on Prometheus {server}{' {' + labels + '}' if labels else ''})")
    return None


def window_query(query: str, window: float) -> str:
    return query.replace("$window", f"{int(window)}s")


# --- pause, resume, abort ---------------------------------------------------------------------------

Action = Literal["pause", "resume", "abort"]
ACTIONS: tuple[Action, ...] = ("pause", "resume", "abort")


@dataclass(frozen=True)
class ControlRequest:
    action: Action
    holder: str
    """The lock holder (this run) it is meant for: a request left over from another run is ignored."""
    by: str
    at: str
    """ISO time it was written: when clusters disagree (one write did not land), the newest wins."""

    def to_data(self) -> dict[str, str]:
        return {"action": self.action, "holder": self.holder, "by": self.by, "at": self.at}

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> ControlRequest | None:
        data = data or {}
        action = data.get("action")
        if action not in ACTIONS or not all(isinstance(data.get(k), str) for k in ("holder", "by", "at")):
            return None
        return cls(action, data["holder"], data["by"], data["at"])


def control_for(holder: str, requests: Iterable[ControlRequest | None]) -> ControlRequest | None:
    """The newest request addressed to ``holder``, if any."""
    mine = [r for r in requests if r is not None and r.holder == holder]
    return max(mine, key=lambda r: r.at, default=None)
