"""What a run tells its listeners (deployer.pipeline.news), from its report: started once, then
exactly one end event; nothing for a dry run or a run that never started."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from deployer.app import App
from deployer.config.loader import load_config
from deployer.errors import LockedError
from deployer.notify.events import Event
from deployer.pipeline.news import RunNews
from deployer.pipeline.report import ClusterReport, End, EndState, RunReport

REPO = Path(__file__).resolve().parents[2]


def app_hearing(heard: list[Event]) -> App:
    ticks = iter(range(0, 1000, 7))
    app = App(load_config(REPO), now=lambda: dt.datetime(2026, 11, 29, 10, tzinfo=dt.UTC), clock=lambda: next(ticks))
    app.events.subscribe(heard.append)
    return app


def report(*outcomes: tuple[str, str]) -> RunReport:
    clusters = []
    for name, outcome in outcomes:
        c = ClusterReport(name, outcome, 2, end=EndState(End.NEW, 2))  # type: ignore[arg-type]
        c.step("lock", "ok", 1.5, "held")
        clusters.append(c)
    return RunReport("deploy", "hello", "production", clusters)


def test_a_promote_run_is_started_then_failed_with_each_clusters_outcome() -> None:
    heard: list[Event] = []
    news = RunNews(app_hearing(heard), "promote", "hello", "production", "jenkins", dry_run=False)
    news.started(["gke-prod", "onprem-dc1"], "abc123")
    news.started(["gke-prod"], "abc123")  # once only
    news.finished(report(("gke-prod", "succeeded"), ("onprem-dc1", "failed")))
    news.finished(report(("gke-prod", "succeeded")))  # once only
    assert [(e.type, e.action, e.commit) for e in heard] == [("deploy-started", "promote", "abc123"),
                                                             ("deploy-failed", "promote", "abc123")]
    end = heard[1]
    assert end.seconds == 7 and end.outcome == "failed" and end.details["exitCode"] == 8
    assert [(c.cluster, c.outcome, c.lock_wait_seconds) for c in end.clusters] == [
        ("gke-prod", "succeeded", 1.5), ("onprem-dc1", "failed", 1.5)]
    assert end.summary.startswith("promote of hello to production failed in 7s: gke-prod: succeeded, on the new")


def test_a_dry_run_or_a_run_that_never_started_tells_nothing() -> None:
    heard: list[Event] = []
    dry = RunNews(app_hearing(heard), "deploy", "hello", "production", "me", dry_run=True)
    dry.started(["gke-prod"], None)
    dry.finished(report(("gke-prod", "succeeded")))
    never = RunNews(app_hearing(heard), "deploy", "hello", "production", "me", dry_run=False)
    never.finished(report(("gke-prod", "skipped")))
    never.broke_off(RuntimeError("before the clusters were reached"))
    assert heard == []


def test_a_run_that_raised_ends_failed_with_the_error() -> None:
    heard: list[Event] = []
    news = RunNews(app_hearing(heard), "deploy", "hello", "production", "me", dry_run=False)
    news.started(["gke-prod"], None)
    news.broke_off(LockedError("cluster gke-prod: hello is being deployed by someone"))
    assert [e.type for e in heard] == ["deploy-started", "deploy-failed"]
    assert heard[1].details == {"error": "cluster gke-prod: hello is being deployed by someone"}
