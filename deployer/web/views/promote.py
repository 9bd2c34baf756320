"""The promote page's view: exactly what a promotion would ship, what the target runs now, and the
commits between the two.

What ships is ``deployer.pipeline.promote.chosen_release``'s answer (the rule of `deployer promote`
itself, never a copy), or its refusal, shown as the CLI would print it. The commits are git's
answer for the range the two releases span, or the plain reason there is none to show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from deployer.errors import UsageError
from deployer.pipeline.history import ClusterHistory
from deployer.rollout.promotion import Promotion, commit_of
from deployer.rollout.release import current
from deployer.web.views.common import digest_of, short_digest

_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    date: str
    subject: str

    def to_dict(self) -> dict[str, Any]:
        return {"sha": self.sha, "author": self.author, "date": self.date, "subject": self.subject}


@dataclass(frozen=True)
class CommitLog:
    """The commits a promotion adds (``git log OLD..NEW``), or why they cannot be shown."""

    old: str = ""
    new: str = ""
    commits: list[Commit] = field(default_factory=list)
    unavailable: str = ""
    """Why there is no list: no repository, a commit it does not have, nothing to compare with."""

    def to_dict(self) -> dict[str, Any]:
        if self.unavailable:
            return {"from": self.old or None, "to": self.new or None, "available": False,
                    "reason": self.unavailable}
        return {"from": self.old, "to": self.new, "available": True, "commits": [c.to_dict() for c in self.commits]}


@dataclass(frozen=True)
class ShippedImage:
    name: str
    """"" for the service's own ``image``, else its ``images`` key."""
    reference: str
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reference": self.reference, "digest": self.digest}


@dataclass(frozen=True)
class Shipment:
    commit: str
    digest: str
    images: list[ShippedImage]
    source_revisions: dict[str, int]
    """Source cluster -> the revision that ran this build there."""

    @property
    def short_digest(self) -> str:
        return short_digest(self.digest)

    def to_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "digest": self.digest, "images": [i.to_dict() for i in self.images],
                "sourceRevisions": dict(sorted(self.source_revisions.items()))}


@dataclass(frozen=True)
class TargetRelease:
    cluster: str
    revision: int | None = None
    commit: str = ""
    digest: str = ""
    error: str = ""

    @property
    def short_digest(self) -> str:
        return short_digest(self.digest)

    def to_dict(self) -> dict[str, Any]:
        if self.error:
            return {"cluster": self.cluster, "error": self.error}
        return {"cluster": self.cluster, "revision": self.revision, "commit": self.commit or None,
                "digest": self.digest or None}


@dataclass(frozen=True)
class PromotePreview:
    service: str
    source: str
    target: str
    production: bool
    ships: Shipment | None
    refusal: tuple[str, str] | None
    """(message, hint) when `deployer promote` would refuse: nothing would ship."""
    runs_now: list[TargetRelease]
    commits: CommitLog

    @property
    def already_running(self) -> bool:
        """Every target cluster already runs the digest that would ship (a promotion changes nothing)."""
        return (self.ships is not None and bool(self.runs_now)
                and all(t.digest == self.ships.digest and not t.error for t in self.runs_now))

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "from": self.source, "to": self.target, "production": self.production,
                "ships": self.ships.to_dict() if self.ships else None,
                "refused": {"error": self.refusal[0], "hint": self.refusal[1]} if self.refusal else None,
                "runsNow": [t.to_dict() for t in self.runs_now], "alreadyRunning": self.already_running,
                "commits": self.commits.to_dict()}


def shipment(promotion: Promotion) -> Shipment:
    """The images a promotion copies: the service's own first, then each other by name."""
    images = {"": promotion.image} | {name: ref for name, ref in promotion.images.items() if name}
    shipped = [ShippedImage(name, ref, digest_of(ref) or (promotion.digest if name == "" else ""))
               for name, ref in images.items()]
    return Shipment(promotion.commit, promotion.digest, shipped, dict(promotion.revisions))


def target_releases(found: list[ClusterHistory], target: str, clusters: list[str]) -> list[TargetRelease]:
    """What each target cluster runs now for ``target`` (``found``: the target environment's history)."""
    by_cluster = {h.cluster: h.of_environment(target) for h in found}
    out = []
    for cluster in clusters:
        h = by_cluster.get(cluster)
        if h is None:
            out.append(TargetRelease(cluster, error="not read"))
        elif h.error is not None:
            out.append(TargetRelease(cluster, error=h.error.message))
        else:
            now = current(h.records)
            out.append(TargetRelease(cluster) if now is None else
                       TargetRelease(cluster, now.revision, commit_of(now, h.records), now.digest))
    return out


def commit_range(runs_now: list[TargetRelease], ships: Shipment | None) -> tuple[str, str] | str:
    """The (old, new) commits to list, or why there is no range: nothing ships, the target has no
    release or runs several commits, or a commit is not a plain git commit (an image built from
    uncommitted changes, or a record that predates commits)."""
    if ships is None:
        return "nothing would ship"
    if not ships.commit or not _COMMIT.match(ships.commit):
        return f"the release that would ship names no git commit ({ships.commit or 'none recorded'})"
    olds = {t.commit for t in runs_now if not t.error and t.revision is not None}
    if not olds:
        return "the target runs no release yet: every commit up to the one that ships is new"
    if len(olds) > 1:
        return f"the target's clusters run different commits ({', '.join(sorted(olds))})"
    (old,) = olds
    if not old or not _COMMIT.match(old):
        return f"the target's release names no git commit ({old or 'none recorded'})"
    return old, ships.commit


def promote_preview(service: str, source: str, target: str, production: bool, chosen: Promotion | UsageError,
                    runs_now: list[TargetRelease], commits: CommitLog) -> PromotePreview:
    if isinstance(chosen, UsageError):
        return PromotePreview(service, source, target, production, None, (chosen.message, chosen.hint or ""),
                              runs_now, commits)
    return PromotePreview(service, source, target, production, shipment(chosen), None, runs_now, commits)
