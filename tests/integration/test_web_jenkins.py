# ruff: noqa: F811  (the stand-in fixtures imported from test_jenkins_executor are arguments here)
"""Buttons that run through Jenkins (issue 18), clicked in a real browser: Debian's chromium driven
by Playwright signs in to the real `deployer web` process (OpenID Connect through the GCP stand-in)
and presses Deploy for a service with ``executor: jenkins``; the page's worker triggers the
service's job on the Jenkins stand-in, which runs the repository's real Jenkinsfile through the
pipeline harness with the clusters' credentials bound the Jenkins way, and deployer deploys to both
local clusters.

The page and its worker run as an unprivileged user (nobody) with the page's configuration only:
cluster files that name credentials, jenkins.yaml and the Jenkins API token. Their environments and
every file that user can read are checked for every token and key the platform issued. A second
press deploys pods that never become ready; Cancel on the page aborts the build while both clusters
wait, and deployer (SIGTERMed by Jenkins) puts every cluster back on r1's release.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployer.jenkins.client import JenkinsClient
from deployer.polling import poll_until
from deployer_localplatform.gcp_standin import AdminClient, GcpStandIn
from tests.integration.browser import TIMEOUT_MS, screenshot
from tests.integration.kit import CLUSTERS, platform_secrets
from tests.integration.pages_kit import PRODUCTION_GROUP
from tests.integration.test_jenkins_executor import (  # noqa: F401 - the stand-in's fixtures, shared
    CALLER_PYTHON,
    NOBODY,
    READABLE_SCAN,
    SITE_PACKAGES,
    caller_config,
    jenkins_config,
    live_pod_labels,
    name,
    release_records,
    standin,
    synced,
    write_service,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
_SERVING = re.compile(r"serving .* on (http://127\.0\.0\.1:\d+)/")
CLIENT_ID, CLIENT_SECRET = "deployer-web.jenkins.example", "jenkins-page-client-s3cret"
DEV = "dev@example.com"
ACTOR = f"web:{DEV}"
OUTSIDER = "outsider@example.com"
"""Signed in, but not in the production group: may deploy staging, not approve production."""


@pytest.fixture(scope="module")
def issuer(tmp_path_factory) -> Iterator[GcpStandIn]:
    with GcpStandIn(tmp_path_factory.mktemp("gcp")) as found:
        AdminClient(found.base_url).add_oidc_user(DEV, [PRODUCTION_GROUP, "staff"], name="Dev")
        AdminClient(found.base_url).add_oidc_user(OUTSIDER, ["staff"], name="Outsider")
        yield found


@pytest.fixture(scope="module")
def page_web(caller_config: Path, issuer: GcpStandIn) -> Iterator[tuple[str, subprocess.Popen]]:
    """`deployer web` with one worker, as nobody, on the page's configuration (no cluster credential)."""
    state = Path(tempfile.mkdtemp(prefix="jenkins-web-state-"))
    os.chown(state, 65534, 65534)
    state.chmod(0o700)
    log = Path(tempfile.mkdtemp(prefix="jenkins-web-log-")) / "web.log"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(caller_config), "LANG": "C.UTF-8",
           "PYTHONPATH": f"{SITE_PACKAGES}:{REPO}", "DEPLOYER_OIDC_CLIENT_SECRET": CLIENT_SECRET}
    with log.open("wb") as out:
        proc = subprocess.Popen([*NOBODY, CALLER_PYTHON, "-m", "deployer", "--config-dir", str(caller_config), "web",
                                 "--port", "0", "--state-dir", str(state), "--workers", "1",
                                 "--oidc-issuer", issuer.base_url, "--oidc-client-id", CLIENT_ID],
                                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        found = poll_until(lambda: _SERVING.search(log.read_text()) or (proc.poll() is not None or None), 60,
                           interval=0.05)
        assert isinstance(found, re.Match), f"deployer web did not start:\n{log.read_text()[-3000:]}"
        AdminClient(issuer.base_url).add_oidc_client(CLIENT_ID, CLIENT_SECRET, [found.group(1) + "/auth/callback"])
        yield found.group(1), proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        print(log.read_text()[-4000:])
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(log.parent, ignore_errors=True)


def processes_of(root: int) -> list[int]:
    """``root`` and its descendants (the page's worker processes)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            todo += [int(c) for c in children]
    return found


def sign_in(page, base: str, email: str = DEV) -> None:
    page.goto(base + "/login?next=/")
    page.wait_for_selector("#email")
    page.fill("#email", email)
    page.click("#next")
    page.wait_for_url(base + "/")


def job_api(page, base: str) -> dict:
    answer = page.request.get(base + "/api/jobs/" + page.url.rsplit("/", 1)[1], timeout=TIMEOUT_MS)
    assert answer.ok, answer.text()
    data: dict = answer.json()
    return data


def press_deploy(page, base: str, service: str) -> None:
    page.goto(base + "/")
    page.locator(f'#service-{service} [data-environment="staging"]').get_by_role(
        "button", name="Deploy to staging").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]+$"))


def wait_for_log_while_running(page, needle: str) -> None:
    """Until the live log shows ``needle`` while the job's result is still hidden (it runs): a
    line streamed before the end. Times out (fails) if the job ended first."""
    page.wait_for_function(
        """needle => document.getElementById('result').hidden
                     && document.getElementById('log').textContent.includes(needle)""",
        arg=needle, timeout=TIMEOUT_MS * 3)


def test_a_deploy_pressed_on_the_page_runs_through_jenkins_to_both_clusters_without_cluster_credentials(
        platform, page_web, standin, caller_config: Path, name: str, page, tmp_path_factory) -> None:
    base, web = page_web
    url, _, home = standin
    secrets = platform_secrets(platform)
    sign_in(page, base)
    press_deploy(page, base, name)
    wait_for_log_while_running(page, "[local-gke]")
    screenshot(page, "jenkins-job-running")
    page.wait_for_function("() => !document.getElementById('result').hidden", timeout=TIMEOUT_MS * 3)
    job = job_api(page, base)
    log = "\n".join(job["log"])
    assert (job["outcome"], job["exitCode"]) == ("succeeded", 0), log[-6000:] + job["report"] + job["error"]
    assert job["actor"] == ACTOR
    assert any("s + deployer --output json deploy" in line for line in job["log"])
    build_url = job["result"]["buildUrl"]
    assert build_url.startswith(url + f"job/deploy/job/{name}/") and job["result"]["result"] == "SUCCESS"
    for cluster in CLUSTERS:
        assert f"{cluster}: succeeded, " in job["report"] and "r1" in job["report"]
        [record] = release_records(platform, cluster, name, name)
        assert record["actor"] == f"{ACTOR} via {build_url}"
    assert page.locator("#report").inner_text() == job["report"]
    page.reload()
    assert page.locator("#build-url").get_attribute("href") == build_url
    screenshot(page, "jenkins-job-finished")

    # The page and its worker hold no cluster credential: not in their environments, not in anything
    # their user can read (the platform's files, Jenkins' home, the page's configuration and state).
    pids = processes_of(web.pid)
    assert len(pids) >= 2, pids   # the page (setpriv execs python) and its worker
    for pid in pids:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert all(secret.encode() not in environ for secret in secrets), pid
    everything = log + job["report"] + json.dumps(job) + page.content()
    assert all(secret not in everything for secret in secrets)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{SITE_PACKAGES}:{REPO}"}
    roots = [str(platform.state_dir), str(home), str(caller_config), str(tmp_path_factory.getbasetemp()),
             tempfile.gettempdir()]
    scan = subprocess.run([*NOBODY, CALLER_PYTHON, "-c", READABLE_SCAN, json.dumps(roots), json.dumps(secrets)],
                          capture_output=True, text=True, timeout=600, check=True, env=env)
    result = json.loads(scan.stdout)
    assert result["found"] == [] and result["read"] >= 5


def test_cancel_on_the_page_aborts_the_build_and_every_cluster_ends_on_a_known_release(
        platform, page_web, standin, caller_config: Path, jenkins_config: Path, name: str, page) -> None:
    base, _ = page_web
    for folder in (jenkins_config, caller_config):
        write_service(folder, name, never_ready_on=list(CLUSTERS))
    sign_in(page, base)
    press_deploy(page, base, name)
    for cluster in CLUSTERS:   # both clusters wait on a rollout that never completes
        wait_for_log_while_running(page, f"[{cluster}] Deployment {name}/{name}: ")
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_function("() => !document.getElementById('result').hidden", timeout=TIMEOUT_MS * 3)
    job = job_api(page, base)
    log = "\n".join(job["log"])
    assert job["result"]["result"] == "ABORTED" and job["result"]["stopRequested"], log[-6000:]
    assert any(line.endswith("s Sending interrupt signal to process") for line in job["log"])
    assert job["exitCode"] == 143 and job["outcome"] == "failed", log[-6000:]
    for cluster in CLUSTERS:
        records = release_records(platform, cluster, name, name)
        assert all(r["outcome"] != "in-progress" for r in records), records
        assert "deployer.test/never-ready" not in live_pod_labels(platform, cluster, name, name)
        assert f"{cluster}: rolled-back, " in job["report"]
    screenshot(page, "jenkins-job-aborted")


def csrf_token_of(page) -> str:
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert token
    return str(token)


def test_a_production_deploy_waits_for_approval_which_only_a_production_member_may_give_on_the_page(
        platform, page_web, standin, caller_config: Path, jenkins_config: Path, name: str, page) -> None:
    base, _ = page_web
    url, token, _ = standin
    for folder in (jenkins_config, caller_config):
        write_service(folder, name, never_ready_on=[], production_group=PRODUCTION_GROUP)
    sign_in(page, base)
    started = page.request.post(base + "/jobs", headers={"Origin": base}, timeout=TIMEOUT_MS, form={
        "action": "deploy", "service": name, "environment": "production", "confirm": name,
        "csrf_token": csrf_token_of(page)})
    assert started.ok and re.search(r"/jobs/[0-9a-f]+$", started.url), started.text()[:2000]
    job_url = started.url
    job_id = job_url.rsplit("/", 1)[1]

    def waiting() -> dict | None:
        job = page.request.get(base + "/api/jobs/" + job_id, timeout=TIMEOUT_MS).json()
        assert job["state"] in ("queued", "running"), "\n".join(job["log"])[-6000:]
        return job if any("jenkins: waiting for approval in Jenkins: " in line for line in job["log"]) else None

    job = poll_until(waiting, TIMEOUT_MS * 3 / 1000, interval=0.5)
    assert job is not None, "the build never reached its approval"
    build_url = next(line.split("jenkins: build ", 1)[1].strip() for line in job["log"]
                     if "jenkins: build http" in line)
    page.goto(job_url)
    assert page.locator("#approval").inner_text().startswith("Waiting for approval in Jenkins")
    assert page.locator("#approve-url").get_attribute("href") == build_url + "input/"
    assert page.get_by_role("button", name="Approve").is_visible()
    screenshot(page, "jenkins-job-waiting-for-approval")

    # Someone outside the production group sees the link but no button, and the server refuses the POST.
    outsider = page.context.browser.new_context()
    outsider.set_default_timeout(TIMEOUT_MS)
    try:
        other = outsider.new_page()
        sign_in(other, base, OUTSIDER)
        other.goto(job_url)
        assert other.locator("#approve-url").is_visible() and other.get_by_role("button", name="Approve").count() == 0
        refused = other.request.post(base + f"/jobs/{job_id}/approve", headers={"Origin": base}, timeout=TIMEOUT_MS,
                                     form={"csrf_token": csrf_token_of(other)}, max_redirects=0)
        assert refused.status == 403, refused.text()[:2000]
    finally:
        outsider.close()
    with JenkinsClient(url, "deploy-page", token) as jenkins:
        [pending] = jenkins.pending_inputs(build_url)   # the build still waits
        assert pending.message == f"Promote {name} to production?"
        assert jenkins.build(build_url).building

    page.get_by_role("button", name="Approve").click()
    page.wait_for_function("() => !document.getElementById('result').hidden", timeout=TIMEOUT_MS * 3)
    job = job_api(page, base)
    log = "\n".join(job["log"])
    assert (job["outcome"], job["exitCode"]) == ("succeeded", 0), log[-6000:] + job["report"] + job["error"]
    assert job["result"]["result"] == "SUCCESS"
    assert any(line.endswith("Approved by deploy-page") for line in job["log"])
    assert log.index("Approved by deploy-page") < log.index("deployer --output json promote")
    for cluster in CLUSTERS:
        assert f"{cluster}: succeeded, " in job["report"]
        [record] = release_records(platform, cluster, f"{name}-prod", name)
        assert record["actor"] == f"{ACTOR} via {build_url}"
    screenshot(page, "jenkins-job-approved")
