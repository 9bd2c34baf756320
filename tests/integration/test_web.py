"""The deploy-button page against the real local platform: the server runs in process on a free
port, jobs run the real pipeline (buildah, the registry, both API servers), and a real browser
(Debian's chromium, headless) renders the pages."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from deployer.errors import ExitCode
from deployer.polling import poll_until
from deployer.web.context import WebContext
from deployer.web.worker import Worker
from tests.conftest import REPO
from tests.integration.browser import screenshot
from tests.integration.kit import CLUSTERS, WEB_DEPLOYMENT, admin_api, or_none, platform_secrets
from tests.webserver import serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def synced(synced_config_dir):
    return synced_config_dir


@pytest.fixture
def service(tmp_path: Path, synced: Path, platform, monkeypatch) -> tuple[Path, str]:
    """A config folder with the platform's clusters and one small fresh service on both."""
    folder = tmp_path / "config"
    (folder / "services" / "manifests").mkdir(parents=True)
    (folder / "charts").symlink_to(REPO / "charts")
    (folder / "clusters").symlink_to(synced / "clusters")
    name = f"btn-{uuid.uuid4().hex[:6]}"
    write_service(folder, name, never_ready_on=[])
    (folder / "services" / "manifests" / "deployment.yaml.j2").write_text(WEB_DEPLOYMENT)
    monkeypatch.setenv("DEPLOYER_BUILDAH_ROOT", str(platform.state_dir / "buildah"))
    return folder, name


def write_service(folder: Path, name: str, never_ready_on: list[str], timeout: str = "6s") -> None:
    # The timeout is short so that a never-ready cluster fails (and is rolled back) in seconds.
    (folder / "services" / f"{name}.yaml").write_text(yaml.safe_dump({
        "name": name, "namespace": "apps", "manifests": "manifests",
        "image": {"name": "web", "context": str(REPO / "apps" / "hello")},
        "values": {"neverReadyOn": never_ready_on},
        "environments": {"staging": {"clusters": list(CLUSTERS)},
                         "production": {"clusters": list(CLUSTERS), "namespace": "apps-production",
                                        "promoteFrom": "staging"}},
        "rollout": {"timeout": timeout, "onFailure": "rollback-failed"},
    }))


@pytest.fixture
def web(service, tmp_path) -> Iterator[tuple[WebContext, int]]:
    """The page, and one worker on its database, both in this process (so a test may patch what
    a job calls)."""
    app, serving = serve(service[0], tmp_path / "web-state", keep_alive=1.0)
    worker = Worker(app.store, service[0], name="test-worker", poll=0.1)
    running = threading.Thread(target=worker.run, name="test-worker", daemon=True)
    running.start()
    yield app, serving.port
    serving.stop()
    worker.stop_claiming()
    running.join(60)
    assert not running.is_alive(), "a job was still running at the end of the test"


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=180)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    return response.status, text


def press(port: int, **fields: str) -> str:
    """POST a button's form; return the job's path from the redirect."""
    from urllib.parse import urlencode

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/jobs", body=urlencode(fields), headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-User": "alice@example.com",
        "Origin": f"http://127.0.0.1:{port}", "Host": f"127.0.0.1:{port}"})
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    assert response.status == 303, body
    return response.getheader("Location")


def events(port: int, job_path: str) -> tuple[str, list[str], dict]:
    """Read a job's SSE stream to its end: the raw text, the log lines and the final event."""
    _, text = get(port, f"{job_path}/events")
    lines, final = [], None
    for block in text.split("\n\n"):
        fields = [line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")]
        data = "\n".join(value for key, value in fields if key == "data")
        if ["event", "done"] in fields:
            final = json.loads(data)
        elif any(key == "data" for key, _ in fields):
            lines.append(data)
    assert final is not None, text
    return text, lines, final


def live_deployment(platform, cluster: str, name: str) -> dict | None:
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        found = or_none(lambda: client.AppsV1Api(api).read_namespaced_deployment(name, "apps"))
        return None if found is None else api.sanitize_for_serialization(found)


def test_check_then_deploy_from_the_page_reaches_both_clusters(web, service, platform) -> None:
    app, port = web
    _, name = service

    check = press(port, action="check", service=name, environment="staging")
    check_text, _, final = events(port, check)
    assert (final["outcome"], final["exitCode"]) == ("succeeded", 0), final
    assert "dry run, nothing written" in final["report"]
    assert all(live_deployment(platform, c, name) is None for c in CLUSTERS)

    job = press(port, action="deploy", service=name, environment="staging")
    status, page = get(port, job)
    assert status == 200 and (f"deploying {name} in staging" in page or f"deploy of {name}" in page)
    deploy_text, lines, final = events(port, job)
    assert (final["outcome"], final["exitCode"]) == ("succeeded", 0), final
    assert final["headline"] == f"deploy of {name} in staging succeeded on every cluster"
    assert any("[local-onprem]" in line for line in lines) and any("[local-gke]" in line for line in lines)
    for cluster in CLUSTERS:
        assert f"{cluster}" in final["report"] and "on the new release r1" in final["report"]
        live = live_deployment(platform, cluster, name)
        assert live is not None and live["status"]["availableReplicas"] == 1
        assert "@sha256:" in live["spec"]["template"]["spec"]["containers"][0]["image"]

    job_id = job.rsplit("/", 1)[1]
    api = json.loads(get(port, f"/api/jobs/{job_id}")[1])
    assert (api["actor"], api["state"], api["exitCode"]) == ("web:alice@example.com", "finished", 0)
    status, index = get(port, "/")
    assert status == 200 and index.count("<strong>r1</strong>") == 2 and "web:alice@example.com" in index
    _, job_page = get(port, job)
    assert "succeeded on every cluster" in job_page and "exit code 0" in job_page

    audit = app.store.audit()
    assert [(a["event"], a["action"]) for a in audit] == [("start", "check"), ("end", "check"),
                                                          ("start", "deploy"), ("end", "deploy")]
    assert audit[-1]["outcome"] == "succeeded" and audit[-1]["exitCode"] == 0
    assert {a["actor"] for a in audit} == {"web:alice@example.com"}

    everything = check_text + deploy_text + index + job_page + json.dumps(api) + json.dumps(app.store.audit())
    for secret in platform_secrets(platform):
        assert secret not in everything


class JumpingClock:
    """The jobs' monotonic clock, which jumps ``by`` seconds when the test says so: a rollout wait
    of that length then times out at its next poll, and not a moment before."""

    def __init__(self, by: float) -> None:
        self.by, self.offset = by, 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def jump(self) -> None:
        self.offset = self.by


def test_a_browser_follows_a_failing_deploy_live_and_sees_it_rolled_back(web, service, platform, page,
                                                                         monkeypatch) -> None:
    from deployer import app as app_module
    from deployer.web import sse

    # The deploy's wait for local-gke lasts until the browser has the page and its live log open:
    # the jobs' clock jumps past the rollout timeout only then, whatever the browser's start takes.
    clock = JumpingClock(600)

    class ClockedApp(app_module.App):
        def __init__(self, config, **options) -> None:
            super().__init__(config, **{"clock": clock, **options})

    monkeypatch.setattr(app_module, "App", ClockedApp)
    streams: list[int] = []  # the first line of every live log the server streams, one per request
    stream = sse.stream

    def counted(follow, index, **options):
        streams.append(index)
        return stream(follow, index, **options)

    monkeypatch.setattr(sse, "stream", counted)

    app, port = web
    folder, name = service
    _, _, first = events(port, press(port, action="deploy", service=name, environment="staging"))
    assert first["exitCode"] == 0, (first["report"], first["error"])

    write_service(folder, name, never_ready_on=["local-gke"], timeout=f"{clock.by:.0f}s")
    job = press(port, action="deploy", service=name, environment="staging")
    opened = len(streams)
    url = f"http://127.0.0.1:{port}"
    try:
        # The browser loads the page while the deploy waits for local-gke, then follows the live
        # log (app.js over SSE) until the "done" event shows the result.
        page.goto(url + job)
        screenshot(page, "web-job-running")
        following = poll_until(lambda: True if len(streams) > opened else None, 60, interval=0.1)
        assert following, "the browser never opened the job's live log"
        # ...and only once local-gke's rollout wait has begun (its deadline read from the clock
        # before the jump): a browser that opens the log faster than the deploy reaches its wait
        # would otherwise move the deadline with the clock.
        job_id = job.rsplit("/", 1)[1]
        waiting = poll_until(lambda: True if any("[local-gke] Deployment" in line
                                                 for line in app.store.get(job_id).lines) else None,
                             60, interval=0.1)
        assert waiting, "the deploy never began waiting for local-gke"
        assert app.store.get(job_id).running
        clock.jump()
        page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    finally:
        clock.jump()  # whatever failed, the job ends and the fixture's join returns
    dom = page.content()
    final = app.store.get(job.rsplit("/", 1)[1])
    assert final is not None and not final.running and final.exit_code == ExitCode.PARTIAL, final
    rendered = int(dom.split("/events?from=", 1)[1].split('"', 1)[0])
    assert rendered in streams[opened:], "the browser's live log did not start where its page ended"
    assert rendered < len(final.lines), "the page was rendered after the job ended: nothing was streamed"
    log = dom.split('id="log"', 1)[1].split(">", 1)[1].split("</pre>", 1)[0]
    assert log.count("\n") + 1 == len(final.lines) and "[local-gke]" in log
    assert 'class="status partial"' in dom
    assert f"deploy of {name} in staging succeeded on some clusters and failed on others" in dom
    assert "back on r1's release as r3 (r2 failed)" in final.report
    assert "exit code 8: the operation succeeded on some clusters and failed on others" in dom
    labels = live_deployment(platform, "local-gke", name)["spec"]["template"]["metadata"]["labels"]
    assert "deployer.test/never-ready" not in labels  # rolled back

    status, index = get(port, "/")
    # local-onprem's objects did not change (it stays on r1); local-gke is back on r1's release as r3.
    assert status == 200 and "<strong>r1</strong>" in index and "<strong>r3</strong>" in index
    assert index.count("never deployed") == 2  # production
    assert f'placeholder="type {name}"' in index  # production asks for the service's name
    screenshot(page, "web-job-finished")
    page.goto(url + "/")
    screenshot(page, "web-index")
    everything = dom + index + json.dumps(app.store.audit())
    for secret in platform_secrets(platform):
        assert secret not in everything


def test_a_deploy_lock_held_elsewhere_fails_the_job_with_exit_code_9(web, service, platform) -> None:
    from deployer.app import App, utcnow
    from deployer.config.loader import load_config
    from deployer.pipeline import locking

    app, port = web
    folder, name = service
    config = load_config(folder)
    with App(config) as other:
        held = locking.try_acquire(other.client(config.cluster("local-gke")), "apps", name,
                                   "https://ci/job/first", utcnow(), 60)
        assert isinstance(held, locking.HeldLock)
        try:
            _, _, final = events(port, press(port, action="deploy", service=name, environment="staging"))
        finally:
            held.release()
    assert (final["outcome"], final["exitCode"]) == ("failed", ExitCode.LOCKED), final
    assert "local-gke" in final["error"] and "https://ci/job/first" in final["error"]
    assert final["hint"] and final["report"] == ""
    assert all(live_deployment(platform, c, name) is None for c in CLUSTERS)
    assert app.store.audit()[-1]["exitCode"] == ExitCode.LOCKED
