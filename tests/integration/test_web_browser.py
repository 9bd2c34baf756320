"""The page clicked through in a real browser (Debian's chromium driven by Playwright) against the
real `deployer web` process with its worker and the real local platform, signed in through the
OpenID Connect flow of the GCP stand-in: a developer deploys staging and watches the live log to
the end, promotes to production and sees staging's digest on the production clusters, and rolls
back from the history page; a user without the production group is refused, in the browser and by
a direct POST, and nothing starts. Screenshots of each page are kept as test artifacts
(``DEPLOYER_TEST_ARTIFACTS``, default build/test-artifacts/)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployer.polling import poll_until
from deployer_localplatform.gcp_standin import AdminClient, GcpStandIn
from tests.integration.browser import TIMEOUT_MS, expect_refusal, screenshot
from tests.integration.kit import CLUSTERS, admin_api
from tests.integration.pages_kit import PRODUCTION_GROUP, cli, commit_change

pytestmark = pytest.mark.integration

NAMESPACES = {"staging": "apps", "production": "apps-production"}
_SERVING = re.compile(r"serving .* on (http://127\.0\.0\.1:\d+)/")
CLIENT_ID, CLIENT_SECRET = "deployer-web.apps.example", "browser-test-client-s3cret"
DEV = "dev@example.com"  # in the production group
BOB = "bob@example.com"  # in staff only


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[GcpStandIn]:
    """The GCP stand-in as the Google sign-in: two users, one of them in the production group."""
    with GcpStandIn(tmp_path / "gcp") as standin:
        admin = AdminClient(standin.base_url)
        admin.add_oidc_user(DEV, [PRODUCTION_GROUP, "staff"], name="Dev")
        admin.add_oidc_user(BOB, ["staff"], name="Bob")
        yield standin


@pytest.fixture
def deployer_web(git_service, issuer: GcpStandIn, tmp_path: Path) -> Iterator[str]:
    """`deployer web` as a team runs it (its own process, one worker process, OpenID Connect sign-in)
    on a free port; its URL."""
    folder, _name, _repo = git_service
    log = tmp_path / "web.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "deployer", "--config-dir", str(folder), "web", "--port", "0",
                                 "--state-dir", str(tmp_path / "web-state"), "--workers", "1",
                                 "--oidc-issuer", issuer.base_url, "--oidc-client-id", CLIENT_ID],
                                env={**os.environ, "DEPLOYER_OIDC_CLIENT_SECRET": CLIENT_SECRET},
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        found = poll_until(lambda: _SERVING.search(log.read_text()) or (proc.poll() is not None or None), 60,
                           interval=0.05)
        assert isinstance(found, re.Match), f"deployer web did not start:\n{log.read_text()[-3000:]}"
        AdminClient(issuer.base_url).add_oidc_client(CLIENT_ID, CLIENT_SECRET, [found.group(1) + "/auth/callback"])
        yield found.group(1)
        assert CLIENT_SECRET not in log.read_text()
    finally:
        proc.send_signal(signal.SIGINT)  # as Ctrl-C: the page stops, its worker finishes and stops
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise AssertionError(f"deployer web did not stop on SIGINT:\n{log.read_text()[-3000:]}") from None


def api(page, base: str, path: str) -> dict:
    """A JSON API answer, asked with the browser's own session (its cookie)."""
    answer = page.request.get(base + path, timeout=TIMEOUT_MS)
    assert answer.ok, (answer.status, answer.text())
    data: dict = answer.json()
    return data


def sign_in(page, base: str, email: str, shot: str = "") -> None:
    """Through the OpenID Connect flow, as a person does it: the page sends the browser to the
    issuer's sign-in form, the person types their email, the issuer sends them back signed in."""
    page.goto(base + "/login?next=/")
    page.wait_for_selector("#email")
    if shot:
        screenshot(page, shot)
    page.fill("#email", email)
    page.click("#next")
    page.wait_for_url(base + "/")
    assert f"signed in as {email}" in page.locator("header").inner_text()


def live_image(platform, cluster: str, name: str, environment: str) -> str | None:
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as admin:
        try:
            found = client.AppsV1Api(admin).read_namespaced_deployment(name, NAMESPACES[environment])
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
    return str(found.spec.template.spec.containers[0].image)


def follow_job_to_its_end(page, base: str) -> dict:
    """On a job page just opened by a button: wait until its live log says the job ended; return
    the job as the JSON API has it, after checking the browser received lines while it ran."""
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]+$"))
    job_id = page.url.rsplit("/", 1)[1]
    rendered = int(page.locator("#log").get_attribute("data-events").rsplit("from=", 1)[1])
    # The "done" event of the live log shows the result section (app.js); until then the job is
    # queued or running.
    page.wait_for_function("() => !document.getElementById('result').hidden", timeout=TIMEOUT_MS)
    job = api(page, base, f"/api/jobs/{job_id}")
    assert rendered < len(job["log"]), f"the page was rendered after the job ended: nothing was streamed live: {job}"
    assert page.locator("#log").inner_text() == "\n".join(job["log"])
    assert page.locator("#status").inner_text() == job["headline"]
    return job


def test_a_developer_deploys_staging_watches_the_log_then_promotes_the_same_digest(
        deployer_web, git_service, platform, page) -> None:
    base = deployer_web
    folder, name, repo = git_service
    commit = commit_change(repo, "hello from the browser\n", "a greeting for the browser test")

    sign_in(page, base, DEV, shot="sign-in-form")
    staging = page.locator(f'#service-{name} [data-environment="staging"]')
    assert "never deployed" in staging.inner_text()
    screenshot(page, "overview-before-deploy")
    staging.get_by_role("button", name="Deploy to staging").click()
    job = follow_job_to_its_end(page, base)
    assert (job["outcome"], job["exitCode"]) == ("succeeded", 0), "\n".join(job["log"]) + job["report"] + job["error"]
    assert any("[local-onprem]" in line for line in job["log"]) and any("[local-gke]" in line for line in job["log"])
    assert page.locator("#exit").inner_text() == "exit code 0: done"
    screenshot(page, "job-deploy-staging-finished")
    staged = {c: live_image(platform, c, name, "staging") for c in CLUSTERS}
    digest = staged["local-onprem"].rsplit("@", 1)[1]
    assert staged["local-gke"].endswith("@" + digest)

    page.goto(base + "/")
    page.locator(f'#service-{name} [data-environment="production"]').get_by_role(
        "link", name="Promote from staging").click()
    page.wait_for_url(re.compile(rf"/services/{name}/promote\?from=staging&to=production$"))
    assert page.locator("#ship-commit").inner_text() == commit
    assert page.locator(".ships code.digest").first.inner_text() == digest
    assert page.locator(".runs-now").inner_text().count("no release yet") == 2
    assert "runs no release yet" in page.locator("#commits-unavailable").inner_text()
    screenshot(page, "promote-preview")
    page.get_by_label(f"type the service name ({name}) to confirm").fill(name)
    page.get_by_role("button", name="Promote to production").click()
    job = follow_job_to_its_end(page, base)
    assert (job["outcome"], job["exitCode"]) == ("succeeded", 0), "\n".join(job["log"]) + job["report"] + job["error"]
    screenshot(page, "job-promote-finished")

    for cluster in CLUSTERS:  # read with the admin's own client: the same digest, from each cluster's registry
        image = live_image(platform, cluster, name, "production")
        assert image == f"{platform.cluster(cluster).registry}/web@{digest}"
    page.goto(base + "/")
    production = page.locator(f'#service-{name} [data-environment="production"]')
    for cluster in CLUSTERS:
        row = production.locator(f'tr[data-cluster="{cluster}"]')
        assert row.locator("code.digest").inner_text() == digest.split(":", 1)[1][:12]
        assert "promoted from staging" in row.inner_text()
    screenshot(page, "overview-after-promote")
    assert api(page, base, "/api/services")["services"][0]["environments"][0]["name"] in NAMESPACES


def test_a_developer_rolls_back_from_the_history_page(deployer_web, git_service, platform, page) -> None:
    base = deployer_web
    folder, name, repo = git_service
    first = commit_change(repo, "one\n", "first")
    cli(folder, "deploy", name, "--env", "staging")
    old = live_image(platform, "local-onprem", name, "staging")
    second = commit_change(repo, "two\n", "second")
    cli(folder, "deploy", name, "--env", "staging")
    assert live_image(platform, "local-onprem", name, "staging") != old

    sign_in(page, base, DEV)
    page.goto(f"{base}/services/{name}")
    staging = page.locator('section[data-environment="staging"]')
    for cluster in CLUSTERS:
        table = staging.locator(f'table[data-cluster="{cluster}"]')
        assert table.locator('tr[data-revision="2"] code.commit').inner_text() == second
        assert table.locator('tr[data-revision="1"] code.commit').inner_text() == first
        assert re.fullmatch(r"\d+s|\d+m \d\ds", table.locator('tr[data-revision="1"] td.duration').inner_text())
        assert table.locator('tr[data-revision="2"]').get_by_role("button").count() == 0  # it runs now
    screenshot(page, "history-before-rollback")
    staging.locator('table[data-cluster="local-onprem"] tr[data-revision="1"]').get_by_role(
        "button", name="Roll back to this release").click()
    job = follow_job_to_its_end(page, base)
    assert (job["outcome"], job["exitCode"]) == ("succeeded", 0), "\n".join(job["log"]) + job["report"] + job["error"]
    screenshot(page, "job-rollback-finished")

    for cluster in CLUSTERS:
        assert live_image(platform, cluster, name, "staging").rsplit("@", 1)[1] == old.rsplit("@", 1)[1]
    page.goto(f"{base}/services/{name}")
    for cluster in CLUSTERS:
        r3 = page.locator(f'section[data-environment="staging"] table[data-cluster="{cluster}"] tr[data-revision="3"]')
        assert "rollback to r1" in r3.inner_text() and "running" in r3.inner_text()
        assert r3.locator("code.commit").inner_text() == first
    screenshot(page, "history-after-rollback")
    history = api(page, base, f"/api/services/{name}")
    envs = {e["name"]: e for e in history["environments"]}
    assert envs["staging"]["rollbackRevisions"] == [2]  # r1's build runs again (as r3): r2 is the only step


def test_a_user_without_the_production_group_is_refused_and_nothing_starts(deployer_web, git_service, platform,
                                                                           page) -> None:
    base = deployer_web
    folder, name, repo = git_service
    commit_change(repo, "staged\n", "staged")
    cli(folder, "deploy", name, "--env", "staging")

    sign_in(page, base, BOB)
    page.goto(f"{base}/services/{name}/promote?from=staging&to=production")
    expect_refusal(page, 403, "/jobs")
    page.get_by_label(f"type the service name ({name}) to confirm").fill(name)
    page.get_by_role("button", name="Promote to production").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Refused"
    assert PRODUCTION_GROUP in page.locator('[role="alert"]').inner_text()
    screenshot(page, "promote-refused")

    # The button is only the page's; the server refuses the same POST sent directly with Bob's
    # session and a valid CSRF token.
    token = api(page, base, "/auth/session")["csrfToken"]
    direct = page.request.post(base + "/jobs", form={
        "action": "promote", "service": name, "environment": "production", "from": "staging", "confirm": name,
        "csrf_token": token}, headers={"Origin": base}, max_redirects=0)
    assert direct.status == 403 and PRODUCTION_GROUP in direct.text()
    assert all(live_image(platform, c, name, "production") is None for c in CLUSTERS)
    overview = api(page, base, "/api/services")
    assert overview["jobs"] == []  # nothing queued or running
    envs = {e["name"]: e for s in overview["services"] if s["name"] == name for e in s["environments"]}
    assert [c["revision"] for c in envs["production"]["clusters"]] == [None, None]
