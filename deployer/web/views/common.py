"""Small shared wordings of the pages: a digest shortened, a duration, a running job named."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


def short_digest(digest: str) -> str:
    """The first 12 hex digits, as container tools abbreviate image IDs (the page's tooltip has all)."""
    _, _, value = digest.partition(":")
    return (value or digest)[:12]


def digest_of(image: str) -> str:
    """The digest of a pinned reference (repository@sha256:...), or "" when it is not pinned."""
    return image.rpartition("@")[2] if "@" in image else ""


def seconds_between(started: str, finished: str) -> float | None:
    """How long a release took, from its record's ISO 8601 times; None when either is missing or
    unreadable (records older than ``finished``, a release still in progress)."""
    try:
        start, end = dt.datetime.fromisoformat(started), dt.datetime.fromisoformat(finished)
    except ValueError:
        return None
    if (start.tzinfo is None) != (end.tzinfo is None):
        return None
    return max(0.0, (end - start).total_seconds())


def duration_text(seconds: float | None) -> str:
    """``42s``, ``3m 05s``, ``1h 02m``: what a person reads at a glance; "" when unknown."""
    if seconds is None:
        return ""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def started_text(time: str) -> str:
    """A record's start time as the page shows it: ``2026-11-29 13:44:38``, UTC as recorded."""
    return time[:19].replace("T", " ")


@dataclass(frozen=True)
class RunningJob:
    """A job in progress, as a page mentions it (the job store's own type stays the store's)."""

    id: str
    action: str
    service: str
    environment: str
    actor: str
    headline: str
    waves: str = ""
    """Where a deploy in waves is, for example "wave 1/2 baking, 40s left" (deployer.web.routes.waves)."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.action, "service": self.service, "environment": self.environment,
                "actor": self.actor, "headline": self.headline, "url": f"/jobs/{self.id}", "waves": self.waves}
