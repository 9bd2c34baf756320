"""Deploys in waves on both local clusters (wave 1: local-onprem, wave 2: local-gke), with the gate
between them watching the real API servers, a real Prometheus (Debian's, scraping a real
Pushgateway the tests push to) and the control ConfigMap `deployer wave` writes.

What each cluster holds is read with the admin token through the official client (``kit.admin_api``),
independently of deployer."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deployer.errors import ExitCode
from deployer.polling import poll_until
from tests.integration import test_deploy
from tests.integration.kit import admin_api, or_none
from tests.integration.test_deploy import _service, _wait_for_line, deployer, unique, write_service

pytestmark = pytest.mark.integration

synced = test_deploy.synced
deploy_dir = test_deploy.deploy_dir

WAVES = [["local-onprem"], ["local-gke"]]


# --- a real Prometheus scraping a real Pushgateway ------------------------------------------------------

@dataclass(frozen=True)
class Metrics:
    prometheus: str
    pushgateway: str

    def push(self, job: str, metric: str, value: float) -> None:
        """Set ``metric`` for ``job`` on the Pushgateway, then wait until Prometheus has scraped it."""
        body = f"{metric} {value}\n".encode()
        request = urllib.request.Request(f"{self.pushgateway}/metrics/job/{job}", data=body, method="PUT")
        urllib.request.urlopen(request, timeout=5).close()
        query = f'{metric}{{job="{job}"}}'
        seen = poll_until(lambda: self.value(query) == value or None, 30, interval=0.2)
        assert seen, f"Prometheus never scraped {query} = {value}"

    def value(self, query: str) -> float | None:
        url = f"{self.prometheus}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            result = json.load(answer)["data"]["result"]
        return float(result[0]["value"][1]) if result else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool | None:
    try:
        urllib.request.urlopen(url, timeout=1).close()
        return True
    except OSError:
        return None


@pytest.fixture(scope="module")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metrics]:
    prometheus, pushgateway = shutil.which("prometheus"), shutil.which("prometheus-pushgateway")
    if not prometheus or not pushgateway:
        pytest.skip("Debian's prometheus and prometheus-pushgateway are not installed "
                    "(scripts/test-prerequisites.sh installs them)")
    folder = tmp_path_factory.mktemp("prometheus")
    push_port, prom_port = _free_port(), _free_port()
    (folder / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: pushgateway\n"
        "    honor_labels: true\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{push_port}']}}]\n")
    procs = []
    try:
        for name, command in (
                ("pushgateway", [pushgateway, f"--web.listen-address=127.0.0.1:{push_port}"]),
                ("prometheus", [prometheus, f"--config.file={folder / 'prometheus.yml'}",
                                f"--storage.tsdb.path={folder / 'data'}",
                                f"--web.listen-address=127.0.0.1:{prom_port}"])):
            log = (folder / f"{name}.log").open("w")
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            procs.append((name, proc, folder / f"{name}.log"))
        for name, port, path in (("pushgateway", push_port, "/-/ready"), ("prometheus", prom_port, "/-/ready")):
            if not poll_until(lambda port=port, path=path: _ready(f"http://127.0.0.1:{port}{path}"), 30, interval=0.2):
                logs = {n: p.read_text()[-2000:] for n, _, p in procs}
                raise AssertionError(f"{name} did not become ready on port {port}: {logs[name]}")
        yield Metrics(f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{push_port}")
    finally:
        for _, proc, _ in procs:
            proc.terminate()
        for _, proc, _ in procs:
            proc.wait(timeout=30)


# --- helpers ---------------------------------------------------------------------------------------

def waved(name: str, *, bake: str = "2s", metrics: list[dict] | None = None, prometheus: str | None = None,
          on_failure: str = "rollback-failed", timeout: str = "20s", **values) -> dict:
    spec = _service(name, on_failure=on_failure, timeout=timeout, values=values)
    spec["environments"]["staging"] |= {"waves": WAVES, "gate": {"bake": bake, "metrics": metrics or []}}
    if prometheus:
        spec["prometheus"] = {"main": {"url": prometheus}}
    return spec


def greeting(platform, cluster: str, name: str) -> str | None:
    """The live Deployment's GREETING on ``cluster`` (None: no Deployment there)."""
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        found = or_none(lambda: client.AppsV1Api(api).read_namespaced_deployment(name, "apps"))
    if found is None:
        return None
    env = found.spec.template.spec.containers[0].env
    return next(e.value for e in env if e.name == "GREETING")


def record_names(platform, cluster: str, name: str) -> list[str]:
    """The release-record ConfigMaps of ``name`` on ``cluster``, listed by the admin."""
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        found = client.CoreV1Api(api).list_namespaced_config_map(
            "apps", label_selector=f"deployer.io/record=release,deployer.io/service={name}")
    return sorted(cm.metadata.name for cm in found.items)


def history(folder: Path, name: str) -> dict[str, list[tuple[int, str, str]]]:
    found = deployer(folder, "-o", "json", "history", name, "--env", "staging")
    assert found.exit_code == ExitCode.OK, found.stdout + found.stderr
    return {cluster: [(r["revision"], r["outcome"], r.get("message") or "") for r in records]
            for cluster, records in found.json().items()}


def background_deploy(folder: Path, platform, name: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DEPLOYER_BUILDAH_ROOT": str(platform.state_dir / "buildah")}
    return subprocess.Popen([sys.executable, "-m", "deployer", "--config-dir", str(folder), "-o", "json", "deploy",
                             name, "--env", "staging", "--commit", unique("c"), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(proc: subprocess.Popen, seconds: float = 120) -> tuple[int, dict, str]:
    out, err = proc.communicate(timeout=seconds)
    return proc.returncode, json.loads(out), err


def by_cluster(report: dict) -> dict[str, dict]:
    return {c["cluster"]: c for c in report["clusters"]}


# --- the tests ---------------------------------------------------------------------------------------

def test_a_healthy_release_passes_two_waves_then_a_metric_over_its_threshold_stops_wave_one(
        deploy_dir, platform, metrics) -> None:
    name = unique("wave")
    check = {"name": "error-ratio", "prometheus": "main", "query": f'max(errors_ratio{{job="{name}"}})',
             "max": 0.05, "window": "2s"}
    spec = waved(name, metrics=[check], prometheus=metrics.prometheus)
    write_service(deploy_dir, spec)
    metrics.push(name, "errors_ratio", 0.0)

    first = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("good"))
    assert first.exit_code == ExitCode.OK, first.stdout + first.stderr
    report = first.json()
    assert [(w["wave"], w["clusters"], w["state"]) for w in report["waves"]] == [
        (1, ["local-onprem"], "passed"), (2, ["local-gke"], "passed")]
    assert "healthy for" in report["waves"][0]["reason"] and "1 metric check(s)" in report["waves"][0]["reason"]
    assert report["waves"][0]["gateSeconds"] >= 2
    gate = next(s for s in by_cluster(report)["local-onprem"]["steps"] if s["name"] == "gate")
    assert gate["status"] == "ok"
    assert "wave 1/2 (local-onprem): baking for 2s with 1 metric check(s)" in first.stderr
    # wave 2 started only after wave 1's gate: its progress comes after the bake's
    assert first.stderr.index("wave 1/2 (local-onprem): healthy") < \
        first.stderr.index("wave 2/2 (local-gke): deploying")
    assert greeting(platform, "local-onprem", name) == greeting(platform, "local-gke", name) == "hi"

    # The error ratio goes over its threshold: wave 1's gate fails, local-onprem goes back to r1
    # (rollback-failed), local-gke is never written.
    metrics.push(name, "errors_ratio", 0.5)
    spec["values"]["greeting"] = "new"
    write_service(deploy_dir, spec)
    gke_records = record_names(platform, "local-gke", name)
    second = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("bad"))
    assert second.exit_code == ExitCode.FAILED, second.stdout + second.stderr
    report = second.json()
    waves = report["waves"]
    assert (waves[0]["state"], waves[1]["state"]) == ("failed", "not-started")
    assert "metric error-ratio: 0.5 > 0.05" in waves[0]["reason"] and f"Prometheus main ({metrics.prometheus})" in \
        waves[0]["reason"]
    assert waves[1]["reason"].startswith("wave 1 stopped the deploy: metric error-ratio")
    clusters = by_cluster(report)
    assert clusters["local-onprem"]["outcome"] == "rolled-back"
    assert (clusters["local-onprem"]["end"]["kind"], clusters["local-onprem"]["end"]["rollbackTarget"]) == \
        ("previous", 1)
    assert clusters["local-gke"]["outcome"] == "skipped"
    assert clusters["local-gke"]["end"] == {"kind": "unchanged", "revision": 1, "rollbackTarget": None,
                                            "failedRevision": None, "reason": "wave 2 was not started"}

    assert greeting(platform, "local-onprem", name) == "hi" and greeting(platform, "local-gke", name) == "hi"
    assert record_names(platform, "local-gke", name) == gke_records  # no record of r2 on wave 2
    records = history(deploy_dir, name)
    assert [(r, o) for r, o, _ in records["local-onprem"]] == [(1, "succeeded"), (2, "rolled-back"), (3, "succeeded")]
    assert "wave 1 failed its gate: metric error-ratio: 0.5 > 0.05" in records["local-onprem"][1][2]
    assert [(r, o) for r, o, _ in records["local-gke"]] == [(1, "succeeded")]


def test_a_never_ready_release_stops_in_wave_one_and_wave_two_is_never_written(deploy_dir, platform) -> None:
    name = unique("wave")
    write_service(deploy_dir, waved(name, timeout="8s", neverReadyOn=["local-onprem"]))
    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"))
    assert result.exit_code == ExitCode.FAILED, result.stdout + result.stderr
    report = result.json()
    assert [w["state"] for w in report["waves"]] == ["failed", "not-started"]
    assert report["waves"][0]["reason"] == "rollout failed on local-onprem"
    assert by_cluster(report)["local-gke"]["outcome"] == "skipped"
    # The independent witness: nothing of the service on local-gke, not even a release record.
    assert greeting(platform, "local-onprem", name) == "hi"
    assert greeting(platform, "local-gke", name) is None
    assert record_names(platform, "local-gke", name) == []


def test_prometheus_unreachable_fails_the_gate_closed_naming_server_and_query(deploy_dir, platform) -> None:
    name = unique("wave")
    closed = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    check = {"name": "errors", "prometheus": "main", "query": "sum(rate(http_errors_total[$window]))", "max": 1,
             "window": "1s"}
    write_service(deploy_dir, waved(name, bake="1s", metrics=[check], prometheus=closed))
    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"))
    assert result.exit_code == ExitCode.FAILED, result.stdout + result.stderr
    wave = result.json()["waves"][0]
    assert wave["state"] == "failed"
    assert (f"metric errors: Prometheus main ({closed}): query 'sum(rate(http_errors_total[1s]))' failed: "
            "unreachable:") in wave["reason"]
    assert "(the gate fails closed)" in wave["reason"]
    assert record_names(platform, "local-gke", name) == []


def _pod_restarts(platform, cluster: str, name: str, restarts: int) -> str:
    """Report ``restarts`` on the first container of one of the release's pods (as a kubelet would
    after a crash), through the status subresource with the admin token."""
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        core = client.CoreV1Api(api)
        pod = core.list_namespaced_pod("apps", label_selector=f"app={name}").items[0]
        body = api.sanitize_for_serialization(pod)
        body["status"]["containerStatuses"][0]["restartCount"] = restarts
        core.replace_namespaced_pod_status(pod.metadata.name, "apps", body)
        return pod.metadata.name


def test_a_pod_restarting_during_the_bake_fails_the_gate_and_rolls_back_all_by_policy(deploy_dir, platform) -> None:
    name = unique("wave")
    spec = waved(name, bake="1s", on_failure="rollback-all")
    write_service(deploy_dir, spec)
    first = deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("good"))
    assert first.exit_code == ExitCode.OK, first.stdout + first.stderr

    spec["values"]["greeting"] = "new"
    spec["environments"]["staging"]["gate"]["bake"] = "60s"
    write_service(deploy_dir, spec)
    proc = background_deploy(deploy_dir, platform, name)
    try:
        _wait_for_line(proc, "wave 1/2 (local-onprem): baking for 60s", 90)
        pod = _pod_restarts(platform, "local-onprem", name, 2)
        code, report, err = finished(proc)
    finally:
        proc.kill()
    assert code == ExitCode.FAILED, err
    wave = report["waves"][0]
    assert wave["state"] == "failed" and wave["gateSeconds"] < 30, wave
    assert f"cluster local-onprem: 2 container restart(s) during the bake, more than the 0 allowed " \
           f"(gate.maxRestarts): {pod} 2" in wave["reason"]
    clusters = by_cluster(report)
    assert clusters["local-onprem"]["outcome"] == "rolled-back"
    assert clusters["local-gke"]["outcome"] == "skipped"
    assert greeting(platform, "local-onprem", name) == greeting(platform, "local-gke", name) == "hi"
    assert [(r, o) for r, o, _ in history(deploy_dir, name)["local-gke"]] == [(1, "succeeded")]


def _warn(platform, cluster: str, name: str) -> str:
    """Post a Warning event about one of the release's pods, as a kubelet would after a failed probe."""
    import datetime as dt

    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        core = client.CoreV1Api(api)
        pod = core.list_namespaced_pod("apps", label_selector=f"app={name}").items[0]
        now = dt.datetime.now(dt.UTC)
        core.create_namespaced_event("apps", {
            "metadata": {"name": f"{pod.metadata.name}.probe", "namespace": "apps"},
            "involvedObject": {"kind": "Pod", "name": pod.metadata.name, "namespace": "apps",
                               "uid": pod.metadata.uid, "apiVersion": "v1"},
            "type": "Warning", "reason": "Unhealthy", "message": "Readiness probe failed: HTTP 503",
            "count": 1, "firstTimestamp": now.isoformat(), "lastTimestamp": now.isoformat(),
            "source": {"component": "kubelet"}})
        return pod.metadata.name


def test_a_new_warning_event_for_the_release_fails_the_gate_and_leave_keeps_it(deploy_dir, platform) -> None:
    name = unique("wave")
    write_service(deploy_dir, waved(name, bake="60s", on_failure="leave"))
    proc = background_deploy(deploy_dir, platform, name)
    try:
        _wait_for_line(proc, "wave 1/2 (local-onprem): baking for 60s", 90)
        pod = _warn(platform, "local-onprem", name)
        code, report, err = finished(proc)
    finally:
        proc.kill()
    assert code == ExitCode.FAILED, err
    wave = report["waves"][0]
    assert wave["state"] == "failed" and wave["gateSeconds"] < 30, wave
    assert wave["reason"] == (f"cluster local-onprem: Warning Unhealthy on Pod {pod}: Readiness probe failed: "
                              "HTTP 503")
    clusters = by_cluster(report)
    # onFailure: leave: the failing wave keeps the new release and says why; wave 2 was never written.
    assert clusters["local-onprem"]["end"]["kind"] == "new-failed"
    assert clusters["local-onprem"]["release"] == (
        f"on the new release r1, which failed; wave 1 failed its gate: {wave['reason']}; left on the new release "
        "(onFailure: leave)")
    assert greeting(platform, "local-onprem", name) == "hi" and greeting(platform, "local-gke", name) is None
    assert [(r, o) for r, o, _ in history(deploy_dir, name)["local-onprem"]] == [(1, "failed")]


def test_pause_holds_the_next_wave_and_resume_lets_it_go(deploy_dir, platform) -> None:
    name = unique("wave")
    write_service(deploy_dir, waved(name, bake="3s"))
    proc = background_deploy(deploy_dir, platform, name, "--actor", "https://ci/job/waves")
    try:
        _wait_for_line(proc, "wave 1/2 (local-onprem): baking for 3s", 90)
        paused = deployer(deploy_dir, "-o", "json", "wave", "pause", name, "--env", "staging", "--actor", "ops-alice")
        assert paused.exit_code == ExitCode.OK, paused.stdout + paused.stderr
        assert paused.json()["run"].startswith("https://ci/job/waves (run ")
        _wait_for_line(proc, "paused by ops-alice", 10)
        # Held well past the 3 s bake: wave 2 is not written while paused (the deploy logs
        # "still paused" lines meanwhile; the bound is the bake plus its announcement period).
        _wait_for_line(proc, "paused by ops-alice", 15)
        assert greeting(platform, "local-gke", name) is None and proc.poll() is None
        resumed = deployer(deploy_dir, "wave", "resume", name, "--env", "staging", "--actor", "ops-alice")
        assert resumed.exit_code == ExitCode.OK, resumed.stdout + resumed.stderr
        code, report, err = finished(proc)
    finally:
        proc.kill()
    assert code == ExitCode.OK, err
    assert [w["state"] for w in report["waves"]] == ["passed", "passed"]
    assert greeting(platform, "local-gke", name) == "hi"
    # Nothing runs now: a pause is refused, naming why (exit 9).
    late = deployer(deploy_dir, "wave", "pause", name, "--env", "staging")
    assert late.exit_code == ExitCode.LOCKED
    assert f"no deploy of {name} to staging is running" in late.stderr


def test_abort_during_the_bake_leaves_every_cluster_on_a_known_release(deploy_dir, platform) -> None:
    name = unique("wave")
    spec = waved(name, bake="1s")
    write_service(deploy_dir, spec)
    first = deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("good"))
    assert first.exit_code == ExitCode.OK, first.stdout + first.stderr

    spec["values"]["greeting"] = "new"
    spec["environments"]["staging"]["gate"]["bake"] = "5m"
    write_service(deploy_dir, spec)
    proc = background_deploy(deploy_dir, platform, name)
    try:
        _wait_for_line(proc, "wave 1/2 (local-onprem): baking for 300s", 90)
        assert greeting(platform, "local-onprem", name) == "new"
        aborted = deployer(deploy_dir, "wave", "abort", name, "--env", "staging", "--actor", "ops-bob")
        assert aborted.exit_code == ExitCode.OK, aborted.stdout + aborted.stderr
        sent = time.monotonic()
        _wait_for_line(proc, "gate failed: aborted by ops-bob", 10)
        noticed = time.monotonic() - sent
        code, report, err = finished(proc)
    finally:
        proc.kill()
    print(f"abort noticed {noticed:.2f}s after `deployer wave abort` returned")
    assert noticed < 5, f"the abort was noticed after {noticed:.1f}s"
    assert code == ExitCode.FAILED, err
    assert report["waves"][0]["state"] == "failed" and report["waves"][0]["reason"].startswith("aborted by ops-bob")
    clusters = by_cluster(report)
    # Every cluster on a known release, each saying which: local-onprem back on r1's release,
    # local-gke never left r1.
    assert (clusters["local-onprem"]["end"]["kind"], clusters["local-onprem"]["end"]["rollbackTarget"]) == \
        ("previous", 1)
    assert clusters["local-gke"]["end"]["kind"] == "unchanged" and clusters["local-gke"]["end"]["revision"] == 1
    assert greeting(platform, "local-onprem", name) == greeting(platform, "local-gke", name) == "hi"
    records = history(deploy_dir, name)
    assert [(r, o) for r, o, _ in records["local-onprem"]] == [(1, "succeeded"), (2, "rolled-back"), (3, "succeeded")]
    assert "wave 1 failed its gate: aborted by ops-bob" in records["local-onprem"][1][2]
    assert [(r, o) for r, o, _ in records["local-gke"]] == [(1, "succeeded")]


def test_the_page_watches_typed_wave_events_and_aborts_through_the_same_function(deploy_dir, platform) -> None:
    """What the page will do, without the CLI: run the deploy story with a watcher of its wave
    events, and abort it with ``deployer.pipeline.waves.control`` once the first wave bakes."""
    import threading

    from deployer.app import App
    from deployer.config.loader import load_config
    from deployer.pipeline.deploy import DeployRequest, deploy
    from deployer.pipeline.waves import control
    from deployer.rollout.waves import WaveEvent, WaveState

    name = unique("wave")
    write_service(deploy_dir, waved(name, bake="5m"))
    events: list[WaveEvent] = []
    baking = threading.Event()

    def watch(event: WaveEvent) -> None:
        events.append(event)
        if event.state is WaveState.BAKING:
            baking.set()

    config = load_config(deploy_dir)
    request = DeployRequest(name, "staging", commit=unique("c"), actor="page:carol", on_wave=watch)
    with App(config) as app:
        ran: list = []
        story = threading.Thread(target=lambda: ran.append(deploy(request, app)))
        story.start()
        try:
            assert baking.wait(120), [e.message for e in events]
            with App(config) as page:
                sent = control(page, name, "staging", "abort", "page:dave")
            assert sent.holder.startswith("page:carol (run ") and sent.clusters == ["local-onprem", "local-gke"]
        finally:
            story.join(60)
    assert not story.is_alive()
    [report] = ran
    seen = [(e.wave, e.of, e.state) for e in events]
    assert seen[:2] == [(1, 2, WaveState.DEPLOYING), (1, 2, WaveState.BAKING)]
    assert seen[-2:] == [(1, 2, WaveState.FAILED), (2, 2, WaveState.NOT_STARTED)]
    baked = next(e for e in events if e.state is WaveState.BAKING)
    assert baked.clusters == ("local-onprem",) and baked.remaining == 300
    assert events[-2].message.startswith("gate failed: aborted by page:dave")
    assert [w.state for w in report.waves] == [WaveState.FAILED, WaveState.NOT_STARTED]
    # No earlier release: local-onprem is left on r1 and says so; local-gke was never written.
    assert greeting(platform, "local-gke", name) is None


def test_promote_deploys_in_the_target_environments_waves(deploy_dir, platform) -> None:
    name = unique("wave")
    spec = _service(name)
    spec["environments"]["production"] = {"clusters": ["local-onprem", "local-gke"], "namespace": "apps-production",
                                          "promoteFrom": "staging", "canary": "local-gke", "gate": {"bake": "1s"}}
    write_service(deploy_dir, spec)
    staged = deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("c"))
    assert staged.exit_code == ExitCode.OK, staged.stdout + staged.stderr
    assert "wave 1/" not in staged.stderr  # staging has one wave: reported as before

    promoted = deployer(deploy_dir, "-o", "json", "promote", name, "--from", "staging", "--to", "production")
    assert promoted.exit_code == ExitCode.OK, promoted.stdout + promoted.stderr
    report = promoted.json()
    assert [(w["clusters"], w["state"]) for w in report["waves"]] == [(["local-gke"], "passed"),
                                                                       (["local-onprem"], "passed")]
    assert promoted.stderr.index("wave 1/2 (local-gke): healthy") < \
        promoted.stderr.index("wave 2/2 (local-onprem): deploying")
