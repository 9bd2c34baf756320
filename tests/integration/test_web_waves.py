"""The waves of a deploy on the job page, live, in a real browser (Debian's chromium driven by
Playwright) against the page and a worker in this process and the real local platform: a
two-wave service (wave 1 local-onprem, wave 2 local-gke) with a bake time. The page shows wave 1
baking; Pause holds wave 2 past the bake (local-gke, read by the admin through the official
client, never gets the release); Resume lets it finish. Abort during the bake leaves every cluster
on a known release and the page says which. A steer from someone who may not deploy is refused
and sends nothing."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from deployer.errors import ExitCode
from deployer.polling import poll_until
from deployer.web.context import Refused, WebContext
from deployer.web.worker import Worker
from tests.integration import test_deploy
from tests.integration.browser import TIMEOUT_MS, expect_refusal, screenshot
from tests.integration.test_deploy import deployer, unique, write_service
from tests.integration.test_waves import greeting, record_names, waved
from tests.webserver import serve

pytestmark = pytest.mark.integration

synced = test_deploy.synced
deploy_dir = test_deploy.deploy_dir
BAKE = "25s"
"""Long enough for a loaded 2-core machine to render the page and press a button inside it; the
test never waits for it to run out, except to prove a pause holds past it."""


@pytest.fixture
def web(deploy_dir: Path, tmp_path: Path) -> Iterator[tuple[WebContext, str]]:
    """The page and one worker on its database, in this process; refuses steering to "mallory"."""
    ctx, serving = serve(deploy_dir, tmp_path / "web-state", keep_alive=1.0)
    allowed = ctx.authorize

    def authorize(request, action, service, environment):  # a rule like a group check: one user may not deploy
        if request.headers.get("X-Forwarded-User") == "mallory":
            raise Refused(f"mallory may not {action} {service} in {environment}")
        return allowed(request, action, service, environment)

    ctx.authorize = authorize
    worker = Worker(ctx.store, deploy_dir, name="waves-worker", poll=0.1)
    running = threading.Thread(target=worker.run, name="waves-worker", daemon=True)
    running.start()
    yield ctx, f"http://127.0.0.1:{serving.port}"
    serving.stop()
    worker.stop_claiming()
    running.join(120)
    assert not running.is_alive(), "a job was still running at the end of the test"


def post(base: str, path: str, user: str = "alice", **fields: str) -> tuple[int, str, str]:
    host = base.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=60)
    conn.request("POST", path, body=urlencode(fields), headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-User": user, "Origin": base, "Host": host})
    answer = conn.getresponse()
    body = answer.read().decode()
    conn.close()
    return answer.status, answer.getheader("Location") or "", body


def start_deploy(base: str, name: str) -> str:
    status, location, body = post(base, "/jobs", action="deploy", service=name, environment="staging")
    assert status == 303, body
    return location


def wave_state(page, number: int) -> str | None:
    found = page.locator(f"#wave-list li[data-wave='{number}']")
    return found.get_attribute("data-state") if found.count() else None


def wait_for_wave(page, number: int, state: str) -> None:
    page.wait_for_selector(f"#wave-list li[data-wave='{number}'][data-state='{state}']", timeout=TIMEOUT_MS)


def board(page, base: str, job_path: str) -> dict:
    answer = page.request.get(f"{base}/api{job_path}/waves", timeout=TIMEOUT_MS)
    assert answer.ok, answer.text()
    data: dict = answer.json()
    return data


def wait_for_end(page) -> None:
    page.wait_for_function("() => !document.getElementById('result').hidden", timeout=TIMEOUT_MS)


def test_the_page_shows_wave_one_baking_pause_holds_wave_two_and_resume_finishes(
        web, deploy_dir, platform, page) -> None:
    ctx, base = web
    name = unique("wweb")
    write_service(deploy_dir, waved(name, bake=BAKE))
    job = start_deploy(base, name)
    page.goto(base + job)

    wait_for_wave(page, 1, "baking")
    item = page.locator("#wave-list li[data-wave='1']")
    assert "wave 1/2 (local-onprem)" in item.inner_text() and "s left" in item.inner_text()
    assert wave_state(page, 2) == "pending"
    assert page.locator("#wave-controls").is_visible() and page.locator(".wave-pause button").is_visible()
    assert not page.locator(".wave-resume button").is_visible()
    screenshot(page, "waves-baking")

    # Someone who may not deploy staging cannot steer it: 403, nothing sent, nothing audited.
    status, _, body = post(base, f"{job}/waves/pause", user="mallory")
    assert status == 403 and "mallory may not deploy" in body

    page.click(".wave-pause button")
    wait_for_wave(page, 1, "paused")
    assert page.locator(".wave-resume button").is_visible() and not page.locator(".wave-pause button").is_visible()
    # Held past the bake: the gate's time ran out while paused, and still local-gke has nothing.
    held = poll_until(lambda: board(page, base, job)["waves"][0]["remaining"] == 0 or None, 120, interval=0.5)
    assert held, board(page, base, job)
    assert board(page, base, job)["waves"][0]["state"] == "paused"
    assert greeting(platform, "local-gke", name) is None and record_names(platform, "local-gke", name) == []
    assert greeting(platform, "local-onprem", name) == "hi"
    screenshot(page, "waves-paused")
    overview = page.request.get(base + "/api/services", timeout=TIMEOUT_MS).json()
    assert [(j["service"], j["waves"]) for j in overview["jobs"]] == [(name, "wave 1/2 paused")]

    page.click(".wave-resume button")
    wait_for_end(page)
    wait_for_wave(page, 2, "passed")
    assert wave_state(page, 1) == "passed"
    assert not page.locator("#wave-controls").is_visible()
    assert greeting(platform, "local-gke", name) == "hi"
    done = page.request.get(f"{base}/api{job}").json()
    assert done["exitCode"] == ExitCode.OK, done
    job_id = job.rsplit("/")[-1]
    steers = [(e["event"], e["actor"], e.get("waveNumber")) for e in ctx.store.audit()
              if e["job"] == job_id and e["event"].startswith("wave-")]
    assert steers == [("wave-pause", "web:127.0.0.1", 1), ("wave-resume", "web:127.0.0.1", 1)]
    screenshot(page, "waves-finished")


def test_abort_during_the_bake_leaves_every_cluster_on_a_known_release_and_the_page_says_which(
        web, deploy_dir, platform, page) -> None:
    _, base = web
    name = unique("wweb")
    spec = waved(name, bake="1s")
    write_service(deploy_dir, spec)
    first = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"))
    assert first.exit_code == ExitCode.OK, first.stdout + first.stderr

    spec = waved(name, bake=BAKE, greeting="new")
    write_service(deploy_dir, spec)
    job = start_deploy(base, name)
    page.goto(base + job)
    wait_for_wave(page, 1, "baking")
    assert greeting(platform, "local-onprem", name) == "new"
    page.click(".wave-abort button")
    wait_for_end(page)
    wait_for_wave(page, 1, "failed")
    assert wave_state(page, 2) == "not-started"
    assert "aborted by web:127.0.0.1" in page.locator("#wave-list li[data-wave='1']").inner_text()

    # rollback-failed: wave 1 goes back to r1; wave 2 was never written. The page's report says so.
    assert greeting(platform, "local-onprem", name) == "hi" and greeting(platform, "local-gke", name) == "hi"
    done = page.request.get(f"{base}/api{job}").json()
    assert done["exitCode"] == ExitCode.FAILED, done
    ends = {c["cluster"]: c["end"] for c in done["result"]["clusters"]}
    assert (ends["local-onprem"]["kind"], ends["local-onprem"]["rollbackTarget"]) == ("previous", 1)
    assert (ends["local-gke"]["kind"], ends["local-gke"]["revision"]) == ("unchanged", 1)
    shown = page.locator("#report").inner_text()
    assert "back on r1's release" in shown and "unchanged, on r1 (wave 2 was not started)" in shown, shown
    screenshot(page, "waves-aborted")

    # Once the deploy has ended there is nothing to steer: the server says so.
    expect_refusal(page, 409, f"/api{job}/waves/pause")
    late = page.request.post(f"{base}/api{job}/waves/pause", headers={"Origin": base})
    assert late.status == 409 and "no wave baking or paused" in late.json()["error"]
