"""What to do when some clusters fail: the service's declared onFailure policy, as data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["succeeded", "unchanged", "failed", "skipped"]


@dataclass(frozen=True)
class RollbackDecision:
    roll_back: tuple[str, ...]
    """Clusters to return to their previous release."""
    reasons: Mapping[str, str]
    """Why each cluster is (or is not) rolled back, for the report."""


def decide(policy: str, outcomes: Mapping[str, Outcome], wrote: Mapping[str, bool],
           has_previous: Mapping[str, bool]) -> RollbackDecision:
    """Which clusters to roll back.

    - ``rollback-failed``: each failed cluster goes back; the others keep the new release.
    - ``rollback-all``: if any cluster failed, every cluster this deploy wrote to goes back, so the
      environment stays on one release.
    - ``leave``: nothing is rolled back; failed clusters are reported as left on the new release.
    A cluster this deploy never wrote to has nothing to undo; one with no earlier release has
    nowhere to go back to and is reported so.
    """
    failed = {c for c, o in outcomes.items() if o == "failed"}
    if policy == "leave" or not failed:
        candidates: set[str] = set()
    elif policy == "rollback-failed":
        candidates = failed
    elif policy == "rollback-all":
        candidates = set(outcomes)
    else:
        raise ValueError(f"unknown onFailure policy {policy!r}")
    chosen, reasons = [], {}
    for cluster in sorted(outcomes):
        if cluster not in candidates:
            if cluster in failed:
                reasons[cluster] = "left on the new release (onFailure: leave)"
            continue
        if not wrote.get(cluster):
            reasons[cluster] = "nothing was written, nothing to roll back"
        elif not has_previous.get(cluster):
            reasons[cluster] = "no earlier release to return to; left on the new release"
        else:
            chosen.append(cluster)
            reasons[cluster] = f"rolled back ({policy})"
    return RollbackDecision(tuple(chosen), reasons)
