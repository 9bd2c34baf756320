"""Promotion decisions (pure): which build an environment may take from the one it is promoted from.

An image is built once per commit; a later environment never rebuilds it, it takes the digest the
earlier one ran. ``promotable`` answers `deployer promote --from SOURCE`: the release SOURCE runs
successfully on every one of its clusters, the same digest everywhere. ``succeeded_in`` answers the
``promoteFrom`` gate of `deployer deploy`: did this commit ever succeed on every SOURCE cluster.
Both read only the SOURCE environment's release records, passed in per cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deployer.errors import UsageError
from deployer.rollout.release import ReleaseRecord


@dataclass(frozen=True)
class Promotion:
    """One build, as the source environment ran it: what a promotion deploys, and where it came from."""

    source: str
    """The environment promoted from."""
    digest: str
    commit: str
    image: str
    """A pinned reference to copy from (a source cluster's repository@digest)."""
    revisions: dict[str, int]
    """Source cluster -> the revision of the source release that ran this build there."""
    images: dict[str, str] = field(default_factory=dict)
    """Every image the source ran, by name (``ReleaseRecord.images``): pinned references to copy
    from, never looked up again by tag. Empty when the source's records predate the map."""

    def note(self) -> dict[str, Any]:
        """What the release record keeps (``ReleaseRecord.promoted_from``)."""
        return {"environment": self.source, "revisions": dict(sorted(self.revisions.items()))}

    def describe(self) -> str:
        return f"{self.digest} (commit {self.commit or 'unknown'}) from {source_text(self.note())}"


def source_text(note: dict[str, Any]) -> str:
    """A record's ``promoted_from`` in words: "staging (r3 on local-gke, r2 on local-onprem)"."""
    revisions = ", ".join(f"r{rev} on {cluster}" for cluster, rev in sorted((note.get("revisions") or {}).items()))
    return f"{note.get('environment')} ({revisions})"


def commit_of(record: ReleaseRecord, records: list[ReleaseRecord]) -> str:
    """The commit a record's image was built from; a rollback's is the one of the release it restored."""
    seen: set[int] = set()
    while not record.commit and record.rollback_of is not None and record.revision not in seen:
        seen.add(record.revision)
        restored = [r for r in records if r.revision == record.rollback_of]
        if not restored:
            break
        record = restored[0]
    return record.commit


def promotable(service: str, source: str, target: str, records: Mapping[str, list[ReleaseRecord]]) -> Promotion:
    """The release ``source`` runs successfully on all of its clusters (``records``: per source
    cluster, that environment's records); refused when a cluster has none, its newest release did not
    succeed, or the clusters run different digests."""
    again = f"`deployer promote {service} --from {source} --to {target}`"
    newest: dict[str, ReleaseRecord] = {}
    for cluster, found in sorted(records.items()):
        latest = max(found, key=lambda r: r.revision, default=None)
        if latest is None:
            raise UsageError(f"cannot promote {service} from {source}: cluster {cluster} has no {source} release",
                             hint=f"Deploy to {source} first (`deployer deploy {service} --env {source}`), "
                                  f"then {again}.")
        if latest.outcome != "succeeded":
            raise UsageError(f"cannot promote {service} from {source}: its newest release on {cluster}, "
                             f"r{latest.revision}, is {latest.outcome}, so {source} does not run one release "
                             "successfully", hint=f"Deploy a good commit to {source} (or roll {source} back: "
                                                  f"`deployer rollback {service} --env {source}`), then {again}.")
        newest[cluster] = latest
    if len({_digests(record) for record in newest.values()}) != 1:
        runs = "; ".join(f"{cluster} runs {_shown(r)} (r{r.revision})" for cluster, r in newest.items())
        raise UsageError(f"cannot promote {service} from {source}: its clusters disagree: {runs}",
                         hint=f"Deploy one commit to every {source} cluster (`deployer deploy {service} --env "
                              f"{source}`), then {again}.")
    return _promotion(source, newest, records)


def succeeded_in(commit: str, source: str, records: Mapping[str, list[ReleaseRecord]]) -> Promotion | None:
    """The build of ``commit`` as it succeeded on every ``source`` cluster (its newest such release
    there), or None when some source cluster never ran it successfully."""
    matched: dict[str, ReleaseRecord] = {}
    for cluster, found in sorted(records.items()):
        good = [r for r in found if r.outcome == "succeeded" and commit_of(r, found) == commit]
        if not good:
            return None
        matched[cluster] = max(good, key=lambda r: r.revision)
    if not matched or len({_digests(r) for r in matched.values()}) != 1:
        return None
    return _promotion(source, matched, records)


def _digests(record: ReleaseRecord) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What must be the same on every source cluster: the digest of every image (each cluster names
    its own registry, so references differ; digests may not)."""
    return record.digest, tuple(sorted((name, ref.rpartition("@")[2]) for name, ref in record.images.items()))


def _shown(record: ReleaseRecord) -> str:
    others = ", ".join(f"{name} {ref.rpartition('@')[2]}" for name, ref in sorted(record.images.items()) if name)
    return record.digest + (f" ({others})" if others else "")


def _promotion(source: str, chosen: dict[str, ReleaseRecord], records: Mapping[str, list[ReleaseRecord]]
               ) -> Promotion:
    _, first = min(chosen.items())
    commits = [commit_of(r, records[cluster]) for cluster, r in sorted(chosen.items())]
    return Promotion(source, first.digest, next((c for c in commits if c), ""), first.image,
                     {cluster: r.revision for cluster, r in chosen.items()}, dict(first.images))
