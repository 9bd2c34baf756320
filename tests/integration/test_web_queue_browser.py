"""The push queue clicked through in real browsers (Debian's chromium driven by Playwright), three
people signed in through the GCP stand-in's OpenID Connect flow against the real `deployer web`
process, its worker and the local platform: two join the staging queue, the second sees their
place and gets the turn when the first's deploy ends, and their deploy runs; a third presses
Deploy around the queue and is placed in it instead. Screenshots are kept as test artifacts."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from deployer_localplatform.gcp_standin import AdminClient, GcpStandIn
from tests.integration.browser import TIMEOUT_MS, fresh_page, screenshot
from tests.integration.pages_kit import commit_change
from tests.integration.test_web_browser import (  # noqa: F401 -- fixtures shared with the page's browser tests
    BOB,
    DEV,
    api,
    deployer_web,
    follow_job_to_its_end,
    issuer,
    sign_in,
)

pytestmark = pytest.mark.integration

CAT = "cat@example.com"  # in staff only, like Bob


@pytest.fixture
def another_page(browser) -> Iterator[object]:
    """A second person's browser (its own context: its own session cookie)."""
    yield from fresh_page(browser)


@pytest.fixture
def third_page(browser) -> Iterator[object]:
    yield from fresh_page(browser)


def scrape(page, base: str) -> dict[str, float]:
    """The page's /metrics as {series: value} (Prometheus' text format, parsed by prometheus_client)."""
    from prometheus_client.parser import text_string_to_metric_families

    answer = page.request.get(base + "/metrics", timeout=TIMEOUT_MS)
    assert answer.ok, answer.status
    found = {}
    for family in text_string_to_metric_families(answer.text()):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


def your_turn(page) -> None:
    """The queue page, refreshed live by its own polling, says it is this viewer's turn."""
    page.wait_for_function("() => document.getElementById('your-place').textContent.includes('your turn')",
                           timeout=TIMEOUT_MS)


def test_two_people_take_turns_and_a_deploy_pressed_around_the_queue_waits_in_it(
        deployer_web, issuer: GcpStandIn, git_service, platform, page, another_page, third_page) -> None:  # noqa: F811 -- the imported fixtures
    base = deployer_web
    _folder, name, repo = git_service
    AdminClient(issuer.base_url).add_oidc_user(CAT, ["staff"], name="Cat")
    commit_change(repo, "queued\n", "a change that waits its turn")
    queue_url = f"{base}/queues/{name}/staging"
    dev, bob, cat = page, another_page, third_page

    sign_in(dev, base, DEV)
    dev.goto(queue_url)
    dev.get_by_role("button", name="Join the queue").click()
    dev.wait_for_url(queue_url)
    assert dev.locator("#your-place").inner_text() == "You are number 1 of 1."
    assert "has the turn" in dev.locator(f'#entries li[data-actor="web:{DEV}"]').inner_text()

    sign_in(bob, base, BOB)
    bob.goto(queue_url)
    bob.get_by_role("button", name="Join the queue").click()
    bob.wait_for_url(queue_url)
    assert bob.locator("#your-place").inner_text() == "You are number 2 of 2."
    assert [e["actor"] for e in api(bob, base, f"/api/queues/{name}/staging")["entries"]] == [f"web:{DEV}",
                                                                                               f"web:{BOB}"]
    screenshot(bob, "queue-second-in-line")

    # Cat presses Deploy on the overview while Dev holds the turn and Bob waits: the press joins the queue.
    sign_in(cat, base, CAT)
    cat.locator(f'#service-{name} [data-environment="staging"]').get_by_role("button", name="Deploy to staging").click()
    cat.wait_for_url(re.compile(rf"/queues/{name}/staging\?placed=1$"))
    assert "joined the queue instead of running around it" in cat.locator("#placed").inner_text()
    assert cat.locator("#your-place").inner_text() == "You are number 3 of 3."
    jobs = [j for j in api(cat, base, "/api/services")["jobs"] if j.get("environment") == "staging"]
    assert jobs == []  # nothing was started around the queue
    screenshot(cat, "queue-press-around-the-queue-waits")

    before = scrape(dev, base)
    assert before.get(f'deployer_queue_length{{queue="{name}/staging"}}') == 3.0
    dev.get_by_role("button", name=re.compile("^Deploy to staging$")).click()
    job = follow_job_to_its_end(dev, base)
    assert (job["outcome"], job["exitCode"]) == ("succeeded", 0), "\n".join(job["log"]) + job["report"] + job["error"]
    after = scrape(dev, base)
    deploys = (f'deployer_page_jobs_total{{action="deploy",environment="staging",outcome="succeeded",'
               f'service="{name}"}}')
    assert (before.get(deploys, 0.0), after.get(deploys)) == (0.0, 1.0)  # exactly one deploy, in the page's /metrics

    your_turn(bob)  # Bob's open page hears it by itself (it polls the queue's JSON)
    screenshot(bob, "queue-your-turn")
    cat.wait_for_function("() => document.getElementById('your-place').textContent === 'You are number 2 of 2.'",
                          timeout=TIMEOUT_MS)  # Dev's entry left with the deploy's end
    bob.get_by_role("button", name=re.compile("^Deploy to staging$")).click()
    job = follow_job_to_its_end(bob, base)
    assert job["actor"] == f"web:{BOB}"
    assert (job["outcome"], job["exitCode"]) == ("succeeded", 0), "\n".join(job["log"]) + job["report"] + job["error"]

    your_turn(cat)  # Cat's open page hears the turn by itself
    entries = api(cat, base, f"/api/queues/{name}/staging")["entries"]
    assert [(e["actor"], e["turn"]) for e in entries] == [(f"web:{CAT}", True)]

    # The service page draws the DORA charts of the two deploys (screenshot kept as an artifact).
    dev.goto(f"{base}/services/{name}")
    charts = dev.locator('section[data-environment="staging"] img.chart')
    assert charts.count() == 4
    dev.wait_for_function("() => [...document.querySelectorAll('img.chart')].every(i => i.complete && "
                          "i.naturalWidth > 0)", timeout=TIMEOUT_MS)
    svg = dev.request.get(f"{base}/services/{name}/charts/staging/deploys-per-day.svg", timeout=TIMEOUT_MS)
    assert svg.ok and svg.headers["content-type"].startswith("image/svg+xml") and "<svg" in svg.text()
    screenshot(dev, "service-page-charts")
