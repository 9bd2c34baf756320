"""What the stories tell ``app.events`` (webhooks, metrics): a deploy or promote run publishes
``deploy-started`` once it has reached its clusters, then exactly one of ``deploy-succeeded`` or
``deploy-failed``; each rollback (onFailure's or `deployer rollback`'s) publishes ``rollback`` for
its cluster; status publishes ``drift-found`` for each drifted release. A dry run publishes nothing.

Built from the stories' own facts (the run report, the records), so the CLI, Jenkins and the
page tell the same things.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployer.app import App
from deployer.errors import ExitCode
from deployer.notify.events import ClusterResult, Event, EventType
from deployer.pipeline.report import RunReport
from deployer.rollout.release import ReleaseRecord

if TYPE_CHECKING:
    from deployer.pipeline.status import ReleaseStatus

_SUCCEEDED = (ExitCode.OK, ExitCode.CHANGED)


def cluster_results(run: RunReport) -> tuple[ClusterResult, ...]:
    return tuple(ClusterResult(c.cluster, c.outcome, c.revision, c.release,
                               next((s.seconds for s in c.steps if s.name == "lock" and s.status == "ok"), None))
                 for c in run.clusters)


class RunNews:
    """The started and finished events of one deploy or promote run."""

    def __init__(self, app: App, action: str, service: str, environment: str, actor: str, *, dry_run: bool) -> None:
        self.app, self.action, self.service, self.environment, self.actor = app, action, service, environment, actor
        self.quiet = dry_run
        self.commit = ""
        self._started_at: float | None = None

    def _event(self, type_: EventType, summary: str, **fields: object) -> Event:
        return Event(type_, self.service, self.environment, self.action, self.actor, self.app.run_id,
                     self.app.now().isoformat(), commit=self.commit, summary=summary, **fields)  # type: ignore[arg-type]

    def started(self, clusters: list[str], commit: str | None) -> None:
        if self.quiet or self._started_at is not None:
            return
        self._started_at = self.app.clock()
        self.commit = commit or ""
        at = f" at {self.commit[:12]}" if self.commit else ""
        self.app.events.publish(self._event(
            "deploy-started", f"{self.actor} started to {self.action} {self.service}{at} to {self.environment} "
                              f"({', '.join(clusters)})", details={"targets": clusters}))

    def finished(self, run: RunReport) -> None:
        if self._started_at is None:
            return
        seconds = round(self.app.clock() - self._started_at, 3)
        self._started_at = None
        results = cluster_results(run)
        ok = run.exit_code() in _SUCCEEDED
        per_cluster = "; ".join(f"{c.cluster}: {c.outcome}" + (f", {c.release}" if c.release else "") for c in results)
        verb = "succeeded" if ok else "failed"
        self.app.events.publish(self._event(
            "deploy-succeeded" if ok else "deploy-failed",
            f"{self.action} of {self.service} to {self.environment} {verb} in {seconds:.0f}s: {per_cluster}",
            outcome=verb, clusters=results, seconds=seconds,
            details={"exitCode": int(run.exit_code()), "notes": run.notes, "interrupted": run.interrupted}))

    def broke_off(self, error: BaseException) -> None:
        """The story raised: the run failed, whatever it had reached."""
        if self._started_at is None:
            return
        seconds = round(self.app.clock() - self._started_at, 3)
        self._started_at = None
        message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
        self.app.events.publish(self._event(
            "deploy-failed", f"{self.action} of {self.service} to {self.environment} failed: {message}",
            outcome="failed", seconds=seconds, details={"error": message}))


def rolled_back(app: App, record: ReleaseRecord, previous: ReleaseRecord, failed_revision: int | None,
                actor: str, outcome: str, reason: str = "") -> None:
    """One cluster's rollback to ``previous`` (as ``record``) ended with ``outcome``."""
    where = f"{record.service} on {record.cluster} ({record.environment})"
    why = f"r{failed_revision} failed; " if failed_revision is not None else f"{actor}: "
    result = (f"back on r{previous.revision}'s release as r{record.revision}" if outcome == "succeeded"
              else f"the rollback to r{previous.revision} failed: {reason}")
    app.events.publish(Event(
        "rollback", record.service, record.environment, "deploy" if failed_revision is not None else "rollback",
        actor, app.run_id, app.now().isoformat(), cluster=record.cluster, commit=previous.commit,
        revision=record.revision, outcome=outcome, summary=f"{where} rolled back: {why}{result}",
        details={"rollbackTo": previous.revision, "failedRevision": failed_revision, "reason": reason or None}))


def drift_found(app: App, found: list[ReleaseStatus], actor: str) -> None:
    for release in found:
        if not release.drift or release.latest is None:
            continue
        findings = [f.to_dict() for f in release.findings if f.drift]
        latest = release.latest
        app.events.publish(Event(
            "drift-found", latest.service, release.environment, "status", actor, app.run_id,
            app.now().isoformat(), cluster=release.cluster, commit=latest.commit, revision=latest.revision,
            outcome="drift",
            summary=f"{latest.service} ({release.environment}) on {release.cluster} differs from its release "
                    f"r{latest.revision}: " + "; ".join(f"{f['object']}: {f['message']}" for f in findings),
            details={"findings": findings}))
