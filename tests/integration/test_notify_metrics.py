"""Notifications and metrics of real deploys on both local clusters: a webhook receiver (a real
HTTP server, tests/receiver.py) hears every event of a run in order, including a never-ready
cluster's failure and rollback; a failing or hanging receiver does not slow the deploy; the
metrics, scraped from the ASGI app and from a real Pushgateway, move by exactly one deploy."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from deployer.app import App, Publishers
from deployer.config.loader import load_config
from deployer.errors import ExitCode
from deployer.notify.events import Event
from deployer.notify.sender import Notifier
from deployer.observe.metrics import DeployMetrics, asgi_app
from deployer.pipeline.deploy import DeployRequest, deploy
from tests.integration.test_deploy import _service, deployer, unique, write_service
from tests.integration.test_no_change_writes import deploy_dir  # noqa: F401  (the fixture)
from tests.metrics_scrape import pushgateway, samples, scrape_asgi, scrape_url, value
from tests.receiver import receiving

pytestmark = pytest.mark.integration
CLUSTERS = ("local-onprem", "local-gke")


def with_hooks(spec: dict, *hooks: dict) -> dict:
    return {**spec, "notifications": list(hooks)}


def test_a_receiver_hears_every_event_of_a_never_ready_deploy_in_order(deploy_dir: Path, monkeypatch) -> None:  # noqa: F811
    with receiving() as hook, receiving() as slack:
        monkeypatch.setenv("TEAM_SLACK_WEBHOOK", slack.url)
        (deploy_dir / "deployer.yaml").write_text(yaml.safe_dump({"notifications": [
            {"urlEnv": "TEAM_SLACK_WEBHOOK", "format": "slack", "events": ["deploy-failed", "rollback"]}]}))
        name = unique("notified")
        spec = with_hooks(_service(name, timeout="15s"), {"url": hook.url})
        write_service(deploy_dir, spec)
        good = deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("good"))
        assert good.exit_code == 0, good.stdout + good.stderr

        spec["values"]["neverReadyOn"] = ["local-gke"]
        write_service(deploy_dir, spec)
        bad = deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("bad"))
        assert bad.exit_code == ExitCode.PARTIAL, bad.stdout + bad.stderr
        # The CLI returns after its bounded flush: everything is in by now.
        bodies, chat = hook.bodies(), slack.bodies()

    assert [(b["type"], b["cluster"]) for b in bodies] == [
        ("deploy-started", None), ("deploy-succeeded", None),
        ("deploy-started", None), ("rollback", "local-gke"), ("deploy-failed", None)]
    assert all(b["schema"] == "deployer.event/v1" and b["service"] == name and b["environment"] == "staging"
               for b in bodies)
    assert {c["cluster"]: c["outcome"] for c in bodies[1]["clusters"]} == dict.fromkeys(CLUSTERS, "succeeded")
    rollback, failed = bodies[3], bodies[4]
    assert (rollback["outcome"], rollback["revision"], rollback["details"]["failedRevision"],
            rollback["details"]["rollbackTo"]) == ("succeeded", 3, 2, 1)
    assert "back on r1's release as r3" in rollback["summary"]
    assert {c["cluster"]: c["outcome"] for c in failed["clusters"]} == {"local-onprem": "succeeded",
                                                                        "local-gke": "rolled-back"}
    assert failed["outcome"] == "failed" and failed["seconds"] > 0 and failed["runId"] == bodies[2]["runId"]
    assert all(c["lockWaitSeconds"] is not None for c in failed["clusters"])

    # deployer.yaml's Slack webhook heard only the events it asked for, in Slack's form
    assert [c["text"].split(" ")[0] for c in chat] == [":leftwards_arrow_with_hook:", ":x:"]
    assert all(isinstance(c["blocks"], list) and c["blocks"] for c in chat)
    for output in (good.stdout, good.stderr, bad.stdout, bad.stderr):
        assert "T0KEN-S3CRET-PATH" not in output

    # The same two runs as DORA figures: two deploys, one failed, restored by its rollback
    charts = deploy_dir / "charts-out"
    figures = deployer(deploy_dir, "-o", "json", "stats", name, "--env", "staging", "--days", "2",
                       "--charts", str(charts))
    assert figures.exit_code == 0, figures.stdout + figures.stderr
    found = figures.json()
    assert (found["deploys"], found["failures"], found["changeFailureRate"]) == (2, 1, 0.5)
    assert sum(d["succeeded"] for d in found["deploysPerDay"]) == 1
    assert len(found["timeToRestoreSeconds"]["each"]) == 1 and found["timeToRestoreSeconds"]["unrestored"] == 0
    assert len(found["unknownCommits"]) == 1  # "good-...": no such commit in git, so no lead time
    assert sorted(p.name for p in charts.iterdir()) == ["change-failure-rate.svg", "deploys-per-day.svg",
                                                        "lead-time.svg", "time-to-restore.svg"]
    assert "Change failure rate of staging: 50%" in (charts / "change-failure-rate.svg").read_text()
    text = deployer(deploy_dir, "stats", name, "--env", "staging", "--days", "2")
    assert text.exit_code == 0 and "deploys              2 (1 failed)" in text.stdout
    assert "change failure rate  50%" in text.stdout and "over 1 restores" in text.stdout


def _timed_deploy(folder: Path, name: str, flush_seconds: float) -> tuple[float, float, float, int]:
    """(seconds the deploy story took, seconds its thread spent publishing events, seconds the
    App's close took, exit code)."""
    config = load_config(folder)
    publishers = Publishers(config, lambda message: None, flush_seconds=flush_seconds)
    publishing: list[float] = []
    publish = publishers.events.publish

    def timed(event: Event) -> None:
        started = time.monotonic()
        publish(event)
        publishing.append(time.monotonic() - started)

    publishers.events.publish = timed  # type: ignore[method-assign]
    with App(config, publishers=publishers) as app:
        started = time.monotonic()
        run = deploy(DeployRequest(name, "staging", commit=unique("c")), app)
        story = time.monotonic() - started
        closing = time.monotonic()
    assert len(publishing) == 2  # deploy-started, deploy-succeeded
    return story, sum(publishing), time.monotonic() - closing, int(run.exit_code())


def test_a_failing_or_hanging_receiver_does_not_slow_the_deploy(deploy_dir: Path) -> None:  # noqa: F811
    name = unique("slowhook")
    with receiving() as healthy:
        write_service(deploy_dir, with_hooks(_service(name), {"url": healthy.url}))
        _timed_deploy(deploy_dir, name, 5.0)  # the first build of this service: not measured
        healthy_story, _, _, code = _timed_deploy(deploy_dir, name, 5.0)
        assert code == 0 and len(healthy.bodies()) == 4

    with receiving(delay=10.0) as hanging, receiving(answers=[500, 500, 200]) as failing:
        write_service(deploy_dir, with_hooks(_service(name), {"url": hanging.url}, {"url": failing.url}))
        slow_story, publishing, closing, code = _timed_deploy(deploy_dir, name, 4.0)
        hung = len(hanging.received)
        tries = [r for r in failing.received if r.body["type"] == "deploy-started"]

    print(f"deploy story: {healthy_story:.2f}s with a healthy receiver, {slow_story:.2f}s with a hanging and a "
          f"failing one, of which {publishing * 1000:.1f} ms publishing; the App's close (bounded flush) "
          f"{closing:.2f}s")
    assert code == 0
    # The hanging receiver holds its first request 10 s: the deploy thread never waits for it. The
    # stories differ by their builds' own variance (a few seconds on two shared cores); a notifier
    # that waited would add at least one 5 s timeout per event.
    assert hung >= 1
    assert publishing < 0.5, publishing  # a waiting notifier: at least 5 s
    assert slow_story < healthy_story + 5.0, (slow_story, healthy_story)
    assert closing < 4.5, closing  # the flush at the end is bounded
    # The 500s were retried with backoff: 0.5 s, then 1 s
    assert [r.body["type"] for r in failing.received][:3] == ["deploy-started"] * 3
    gaps = [b.at - a.at for a, b in zip(tries, tries[1:], strict=False)]
    assert 0.5 <= gaps[0] < 1.0 <= gaps[1] < 2.0, gaps


def test_metrics_move_by_exactly_one_deploy_in_the_asgi_app(deploy_dir: Path) -> None:  # noqa: F811
    name = unique("metered")
    write_service(deploy_dir, _service(name))
    config = load_config(deploy_dir)
    metrics = DeployMetrics()
    serve = asgi_app(metrics)
    before = samples(scrape_asgi(serve))
    publishers = Publishers(config, lambda message: None, notifier=Notifier(config, warn=print), metrics=metrics)
    with App(config, publishers=publishers) as app:
        assert deploy(DeployRequest(name, "staging", commit=unique("c")), app).exit_code() == 0
    after = samples(scrape_asgi(serve))
    for cluster in CLUSTERS:
        labels = {"service": name, "environment": "staging", "cluster": cluster}
        assert value(before, "deployer_deploys_total", **labels) == 0
        assert value(after, "deployer_deploys_total", **labels, outcome="succeeded") == 1
        assert value(after, "deployer_deploys_total", **labels) == 1
        assert value(after, "deployer_lock_wait_seconds_count", **labels) == 1
    assert value(after, "deployer_runs_total", service=name, outcome="succeeded", action="deploy") == 1
    assert value(after, "deployer_deploy_duration_seconds_count", service=name, outcome="succeeded") == 1
    assert value(after, "deployer_deploy_duration_seconds_bucket", service=name, le="+Inf") == 1
    assert value(after, "deployer_rollbacks_total", service=name) == 0


def test_metrics_pushed_to_a_real_pushgateway_move_by_exactly_one_deploy_each_run(
        deploy_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    name = unique("pushed")
    spec = _service(name, timeout="15s")
    write_service(deploy_dir, spec)
    with pushgateway(tmp_path) as gateway:
        seen = [samples(scrape_url(gateway))]
        for outcome in ("good", "good", "bad"):
            if outcome == "bad":
                spec["values"]["neverReadyOn"] = ["local-gke"]
                write_service(deploy_dir, spec)
            result = deployer(deploy_dir, "--pushgateway", gateway, "deploy", name, "--env", "staging",
                              "--commit", unique(outcome))
            assert "warning" not in result.stderr, result.stderr
            seen.append(samples(scrape_url(gateway)))

    def deploys(scrape: dict, cluster: str, outcome: str) -> float:
        return value(scrape, "deployer_deploys_total", service=name, cluster=cluster, outcome=outcome, job="deployer")

    assert [deploys(s, "local-onprem", "succeeded") for s in seen] == [0, 1, 2, 3]
    assert [deploys(s, "local-gke", "succeeded") for s in seen] == [0, 1, 2, 2]
    assert [deploys(s, "local-gke", "rolled-back") for s in seen] == [0, 0, 0, 1]
    assert [value(s, "deployer_deploy_duration_seconds_count", service=name) for s in seen] == [0, 1, 2, 3]
    assert [value(s, "deployer_rollbacks_total", service=name, cluster="local-gke", outcome="succeeded")
            for s in seen] == [0, 0, 0, 1]


def test_status_finding_drift_notifies_once_per_drifted_release(deploy_dir: Path, platform, admin_client) -> None:  # noqa: F811
    from kubernetes import client

    name = unique("drifty")
    with receiving() as hook:
        write_service(deploy_dir, with_hooks(_service(name), {"url": hook.url, "events": ["drift-found"]}))
        assert deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("c")).exit_code == 0
        body = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:by-hand"}]}}}}
        client.AppsV1Api(admin_client(platform.cluster("local-gke"))).patch_namespaced_deployment(name, "apps", body)
        found = deployer(deploy_dir, "status", name)
        assert found.exit_code == ExitCode.DRIFT, found.stdout + found.stderr
        bodies = hook.bodies()
    assert [(b["type"], b["cluster"], b["revision"]) for b in bodies] == [("drift-found", "local-gke", 1)]
    assert "nginx:by-hand" in bodies[0]["summary"]
    assert [f["object"] for f in bodies[0]["details"]["findings"]] == [f"Deployment apps/{name}"]
