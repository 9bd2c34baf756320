"""The metrics a run's events feed, read back through the ASGI app the page mounts; a Pushgateway
that cannot be reached is a warning that hides the URL's credentials."""

from __future__ import annotations

from deployer.notify.events import ClusterResult, Event
from deployer.observe.metrics import DeployMetrics, asgi_app
from deployer.observe.pushing import describe, push
from tests.metrics_scrape import free_port, samples, scrape_asgi, value


def finished(type_: str, *clusters: ClusterResult) -> Event:
    return Event(type_, "web", "production", "deploy", "me", "r1", "2026-11-29T10:00:00+00:00",  # type: ignore[arg-type]
                 seconds=42.0, clusters=clusters)


def test_a_run_counts_one_deploy_per_cluster_its_duration_and_lock_waits() -> None:
    metrics = DeployMetrics()
    serve = asgi_app(metrics)
    metrics(finished("deploy-failed", ClusterResult("a", "succeeded", 2, "", 0.5),
                     ClusterResult("b", "rolled-back", 3, "", 2.0), ClusterResult("c", "skipped")))
    metrics(Event("rollback", "web", "production", "deploy", "me", "r1", "t", cluster="b", outcome="succeeded"))
    metrics(Event("deploy-started", "web", "production", "deploy", "me", "r1", "t"))  # counts nothing
    got = samples(scrape_asgi(serve))
    assert value(got, "deployer_deploys_total", cluster="a", outcome="succeeded") == 1
    assert value(got, "deployer_deploys_total", cluster="b", outcome="rolled-back") == 1
    assert value(got, "deployer_deploys_total", cluster="c", outcome="skipped") == 1
    assert value(got, "deployer_deploys_total") == 3
    assert value(got, "deployer_runs_total", outcome="failed", action="deploy") == 1
    assert value(got, "deployer_deploy_duration_seconds_sum", outcome="failed") == 42.0
    assert value(got, "deployer_deploy_duration_seconds_bucket", outcome="failed", le="30.0") == 0
    assert value(got, "deployer_deploy_duration_seconds_bucket", outcome="failed", le="60.0") == 1
    assert value(got, "deployer_lock_wait_seconds_count") == 2  # c never took its lock
    assert value(got, "deployer_lock_wait_seconds_sum") == 2.5
    assert value(got, "deployer_rollbacks_total", cluster="b", outcome="succeeded") == 1


def test_a_pushgateway_that_is_down_is_one_warning_without_the_password() -> None:
    warnings: list[str] = []
    gateway = f"http://jenkins:pa55w0rd-secret@127.0.0.1:{free_port()}"
    assert push(DeployMetrics(), gateway, "web", warnings.append, timeout=2.0) is False
    assert len(warnings) == 1 and warnings[0].startswith(
        f"could not push metrics to the Pushgateway at {describe(gateway)}: ")
    assert "pa55w0rd" not in warnings[0] and warnings[0].endswith("the run's result stands")
