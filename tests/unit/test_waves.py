"""The pure decisions of progressive delivery (deployer.rollout.waves), the wave plan a service
file declares, and how a run report shows waves, from inline data."""

from __future__ import annotations

import math

import pytest

from deployer.config.models import Environment, Gate
from deployer.pipeline.report import ClusterReport, RunReport
from deployer.rollout.waves import (
    Baseline,
    ControlRequest,
    EventSeen,
    PodSeen,
    Sample,
    WaveReport,
    WaveState,
    about_release,
    control_for,
    health_problems,
    metric_problem,
    restrict,
    window_query,
)


def test_the_wave_plan_is_one_wave_by_default_the_declared_waves_or_the_canary_first() -> None:
    assert Environment(clusters=["a", "b", "c"]).wave_plan() == [["a", "b", "c"]]
    assert Environment(clusters=["a", "b", "c"], waves=[["b"], ["a", "c"]]).wave_plan() == [["b"], ["a", "c"]]
    assert Environment(clusters=["a", "b", "c"], canary="c").wave_plan() == [["c"], ["a", "b"]]
    assert Environment(clusters=["a"], canary="a").wave_plan() == [["a"]]


@pytest.mark.parametrize(("fields", "message"), [
    ({"waves": [["a"]]}, "missing: b"),
    ({"waves": [["a", "b"], ["b"]]}, "cluster 'b' is in more than one wave"),
    ({"waves": [["a"], ["b"], ["x"]]}, "cluster 'x' is not one of clusters"),
    ({"waves": [["a"], []]}, "at least 1 item"),
    ({"canary": "x"}, "canary 'x' is not one of clusters"),
    ({"canary": "a", "waves": [["a"], ["b"]]}, "set waves or canary, not both"),
])
def test_waves_must_cover_exactly_the_environments_clusters(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Environment(clusters=["a", "b"], **fields)


def test_a_gate_reads_durations_and_refuses_negative_restarts() -> None:
    gate = Gate.model_validate({"bake": "2m", "maxRestarts": 1, "metrics": [
        {"name": "errors", "prometheus": "main", "query": "x", "max": 0.1, "window": "30s"}]})
    assert (gate.bake, gate.max_restarts, gate.metrics[0].window) == (120.0, 1, 30.0)
    with pytest.raises(ValueError):
        Gate.model_validate({"maxRestarts": -1})


def test_restrict_keeps_the_plans_order_and_drops_empty_waves() -> None:
    plan = [["a"], ["b", "c"], ["d"]]
    assert restrict(plan, ["a", "b", "c", "d"]) == plan
    assert restrict(plan, ["c", "a"]) == [["a"], ["c"]]
    assert restrict(plan, ["d"]) == [["d"]]
    assert restrict(plan, ["d", "z"]) == [["d"], ["z"]]


def pod(uid: str, restarts: int) -> PodSeen:
    return PodSeen(uid, f"web-{uid}", restarts)


def warning(uid: str, count: int = 1) -> EventSeen:
    return EventSeen(uid, count, "Pod", "web-1", "BackOff", "Back-off restarting failed container")


def test_a_healthy_wave_has_no_problems_whatever_happened_before_its_bake() -> None:
    baseline = Baseline.of([pod("1", 3)], [warning("e1", 2)])
    assert health_problems("c1", baseline, [], [pod("1", 3)], [warning("e1", 2)], max_restarts=0) == []


def test_restarts_during_the_bake_beyond_the_threshold_fail_naming_the_pods() -> None:
    baseline = Baseline.of([pod("1", 3), pod("2", 0)], [])
    assert health_problems("c1", baseline, [], [pod("1", 4), pod("2", 0)], [], max_restarts=1) == []
    problems = health_problems("c1", baseline, [], [pod("1", 4), pod("2", 0), pod("3", 1)], [], max_restarts=1)
    assert problems == ["cluster c1: 2 container restart(s) during the bake, more than the 1 allowed "
                        "(gate.maxRestarts): web-1 1, web-3 1"]


def test_a_new_or_repeated_warning_fails_and_an_unavailable_workload_is_named() -> None:
    baseline = Baseline.of([], [warning("e1", 2)])
    assert health_problems("c1", baseline, [], [], [warning("e1", 3)], 0) == [
        "cluster c1: Warning BackOff on Pod web-1: Back-off restarting failed container"]
    assert len(health_problems("c1", baseline, [], [], [warning("e2")], 0)) == 1
    assert health_problems("c1", baseline, ["Deployment apps/web is no longer available: 1 of 2"], [], [], 0) == [
        "cluster c1: Deployment apps/web is no longer available: 1 of 2"]


def test_a_metric_fails_over_its_threshold_on_nan_and_on_no_samples() -> None:
    assert metric_problem("e", "main (http://p)", "q", [Sample({}, 0.01)], 0.01) is None
    over = metric_problem("e", "main (http://p)", "q", [Sample({"pod": "a"}, 0.0), Sample({"pod": "b"}, 0.5)], 0.01)
    assert over == "metric e: 0.5 > 0.01 ('q' on Prometheus main (http://p) {pod=b})"
    assert "nan > 0.01" in str(metric_problem("e", "s", "q", [Sample({}, math.nan)], 0.01))
    assert "returned no samples" in str(metric_problem("e", "s", "q", [], 0.01))


def test_window_is_put_into_the_query_in_seconds() -> None:
    assert window_query("rate(x[$window])", 120.0) == "rate(x[120s])"


def test_only_the_newest_request_for_this_run_counts() -> None:
    mine = "ci (run 1)"
    old = ControlRequest("abort", "ci (run 0)", "bob", "2026-01-01T10:00:00")
    pause = ControlRequest("pause", mine, "alice", "2026-01-01T10:00:01")
    resume = ControlRequest("resume", mine, "alice", "2026-01-01T10:00:05")
    assert control_for(mine, [old, None]) is None
    assert control_for(mine, [pause, resume, old]) == resume
    assert control_for(mine, [pause]) == pause
    assert ControlRequest.from_data(resume.to_data()) == resume
    assert ControlRequest.from_data({"action": "explode", "holder": mine, "by": "x", "at": "y"}) is None
    assert ControlRequest.from_data(None) is None


def _run(waves: list[WaveReport]) -> RunReport:
    return RunReport("deploy", "web", "production",
                     [ClusterReport("c1", outcome="failed"), ClusterReport("c2", outcome="skipped")], waves=waves)


def test_a_run_in_waves_reports_each_wave_and_one_wave_reports_as_before() -> None:
    waves = [WaveReport(1, ["c1"], WaveState.FAILED, "aborted by bob", 3.25),
             WaveReport(2, ["c2"], WaveState.NOT_STARTED, "wave 1 stopped the deploy: aborted by bob")]
    report = _run(waves)
    assert report.to_dict()["waves"] == [
        {"wave": 1, "clusters": ["c1"], "state": "failed", "reason": "aborted by bob", "gateSeconds": 3.25},
        {"wave": 2, "clusters": ["c2"], "state": "not-started", "reason": "wave 1 stopped the deploy: aborted by bob",
         "gateSeconds": 0.0}]
    assert "wave 1 (c1): failed: aborted by bob" in report.to_text()
    assert "wave 2 (c2): not-started: wave 1 stopped the deploy" in report.to_text()
    # The clusters of a wave never started were not touched: the run failed everywhere it went.
    assert int(report.exit_code()) == 7

    plain = _run([])
    assert "waves" not in plain.to_dict() and "wave" not in plain.to_text()
    assert int(plain.exit_code()) == 8


def test_a_later_wave_failing_after_an_earlier_one_succeeded_is_partial() -> None:
    report = RunReport("deploy", "web", "production",
                       [ClusterReport("c1", outcome="succeeded"), ClusterReport("c2", outcome="failed")],
                       waves=[WaveReport(1, ["c1"], WaveState.PASSED), WaveReport(2, ["c2"], WaveState.FAILED)])
    assert int(report.exit_code()) == 8


def test_prometheus_answers_are_read_and_errors_name_server_and_query_never_the_token(monkeypatch) -> None:
    """Against a small real HTTP server that speaks Prometheus' query API (and, on a bad query,
    echoes the token it was sent, as a careless proxy might)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    from deployer.config.models import PrometheusServer
    from deployer.gates.prometheus import Prometheus, PrometheusError

    token = "prom-token-3f9a1c0e7d"
    monkeypatch.setenv("PROM_TOKEN", token)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)["query"][0]
            seen.append(self.headers.get("Authorization", ""))
            if query == "bad(":
                status, body = 400, {"status": "error", "errorType": "bad_data",
                                     "error": f"parse error (sent with {self.headers.get('Authorization')})"}
            else:
                status, body = 200, {"status": "success", "data": {"resultType": "vector", "result": [
                    {"metric": {"pod": "a"}, "value": [1, "0.25"]}, {"metric": {"pod": "b"}, "value": [1, "NaN"]}]}}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        prometheus = Prometheus("main", PrometheusServer(url=url, bearer_token_env="PROM_TOKEN"))
        samples = prometheus.query("errors")
        assert [(s.labels, s.value) for s in samples[:1]] == [({"pod": "a"}, 0.25)] and math.isnan(samples[1].value)
        assert seen == [f"Bearer {token}"]
        with pytest.raises(PrometheusError) as failed:
            prometheus.query("bad(")
        assert f"Prometheus main ({url}): query 'bad(' failed: HTTP 400: parse error" in failed.value.message
        assert token not in failed.value.message
        monkeypatch.delenv("PROM_TOKEN")
        with pytest.raises(PrometheusError, match="PROM_TOKEN that holds its token is not set"):
            prometheus.query("errors")
    finally:
        server.shutdown()
        server.server_close()


def test_the_page_gets_the_plan_before_a_deploy_starts() -> None:
    from deployer.config.models import Service
    from deployer.pipeline.waves import wave_plan

    service = Service.model_validate({"name": "web", "namespace": "apps", "environments": {
        "production": {"clusters": ["dc1", "gke1", "gke2"], "canary": "dc1"}, "staging": {"clusters": ["s1"]}}})
    assert wave_plan(service, "production") == [["dc1"], ["gke1", "gke2"]]
    assert wave_plan(service, "production", ["gke2", "dc1"]) == [["dc1"], ["gke2"]]
    assert wave_plan(service, "staging") == [["s1"]]


def test_wave_commands_refuse_an_unknown_environment_before_any_request(cli) -> None:
    result = cli("wave", "pause", "hello", "--env", "nowhere")
    assert result.exit_code == 2, result.stderr
    assert "service hello has no environment 'nowhere'" in result.stderr
    assert "Example: deployer wave pause hello --env production" in cli("wave", "pause", "--help").stdout


def test_only_events_about_the_releases_objects_pods_and_replica_sets_count() -> None:
    def event(kind: str, name: str) -> EventSeen:
        return EventSeen(f"{kind}/{name}", 1, kind, name, "R", "m")

    events = [event("Pod", "web-5d9f-abcde"), event("ReplicaSet", "web-5d9f"), event("ReplicaSet", "web-api-77c1"),
              event("Deployment", "web"), event("Pod", "other-1"), event("Service", "web")]
    found = about_release(events, {("Deployment", "web"), ("Pod", "web-5d9f-abcde")}, {"web"})
    assert [(e.kind, e.name) for e in found] == [("Pod", "web-5d9f-abcde"), ("ReplicaSet", "web-5d9f"),
                                                 ("Deployment", "web")]
