"""The deploy-button page's pure parts: form parsing and its rules, SSE framing, the audit entry,
headlines and HTML escaping, from inline data."""

from __future__ import annotations

import pytest

from deployer.errors import DeployerError, UsageError
from deployer.pipeline.status import ReleaseStatus
from deployer.rollout.drift import Finding
from deployer.rollout.release import ReleaseRecord
from deployer.web import pages, sse
from deployer.web.audit import entry
from deployer.web.forms import (
    JobForm,
    actor_of,
    check_confirmation,
    needs_confirmation,
    parse_job_form,
    same_origin,
)
from deployer.web.jobs import Job, headline
from deployer.web.views.common import RunningJob
from deployer.web.views.overview import EnvironmentCard, ServiceCard, cluster_row

FORM = "application/x-www-form-urlencoded"
HOSTILE = '<script>alert("x")</script>&"\'<img src=x onerror=alert(1)>'


# --- forms ----------------------------------------------------------------------------------------

def test_a_button_press_is_parsed() -> None:
    form = parse_job_form(b"action=rollback&service=hello&environment=staging&revision=r3&confirm=", FORM)
    assert form == JobForm("rollback", "hello", "staging", 3, "")
    assert parse_job_form(b"action=deploy&service=hello&environment=production&confirm=hello",
                          FORM + "; charset=utf-8") == JobForm("deploy", "hello", "production", None, "hello")


@pytest.mark.parametrize(("body", "says"), [
    (b"", "no action"),
    (b"action=destroy&service=hello&environment=staging", "unknown action 'destroy'"),
    (b"action=deploy&service=Hello%3Cb%3E&environment=staging", "not a valid name"),
    (b"action=deploy&service=hello&environment=../etc", "environment '../etc' is not a valid name"),
    (b"action=deploy&service=hello", "no environment"),
    (b"action=deploy&action=check&service=hello&environment=staging", "2 values for action"),
    (b"action=deploy&service=hello&environment=staging&revision=3", "only applies to a rollback"),
    (b"action=rollback&service=hello&environment=staging&revision=0", "not a revision number"),
    (b"action=rollback&service=hello&environment=staging&revision=-1", "not a revision number"),
    (b"action=deploy&service=hello&environment=%ff", "could not be read"),
])
def test_a_bad_press_is_refused_saying_why(body: bytes, says: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_job_form(body, FORM)
    assert says in refused.value.message


def test_only_forms_are_accepted() -> None:
    with pytest.raises(UsageError, match="takes a form"):
        parse_job_form(b'{"action": "deploy"}', "application/json")


def test_production_is_the_environment_name_or_a_target_cluster() -> None:
    assert needs_confirmation("deploy", "production", ["staging"])
    assert needs_confirmation("rollback", "Prod", [])
    assert needs_confirmation("deploy", "live", ["staging", "production"])
    assert not needs_confirmation("deploy", "staging", ["staging"])
    assert not needs_confirmation("check", "production", ["production"])  # a check writes nothing


def test_a_production_change_needs_the_service_name_typed() -> None:
    check_confirmation(JobForm("deploy", "hello", "production", confirm="hello"), needed=True)
    check_confirmation(JobForm("deploy", "hello", "staging"), needed=False)
    for typed in ("", "Hello", "yes"):
        with pytest.raises(UsageError) as refused:
            check_confirmation(JobForm("deploy", "hello", "production", confirm=typed), needed=True)
        assert "not confirmed" in refused.value.message and "(hello)" in refused.value.hint


def test_the_actor_is_the_proxy_user_else_the_address() -> None:
    assert actor_of("alice@example.com", "10.0.0.5") == "web:alice@example.com"
    assert actor_of(None, "10.0.0.5") == "web:10.0.0.5"
    assert actor_of("  ", "::1") == "web:::1"
    assert actor_of('eve"\n<b>', "10.0.0.5") == "web:eve___b_"
    assert len(actor_of("x" * 500, "10.0.0.5")) == len("web:") + 64


def test_posts_from_other_sites_are_refused() -> None:
    assert same_origin("http://deploy.internal:8080", None, "deploy.internal:8080")
    assert same_origin(None, "http://deploy.internal:8080/", "deploy.internal:8080")
    assert same_origin(None, None, "deploy.internal:8080")  # curl, scripts
    assert not same_origin("https://evil.example", None, "deploy.internal:8080")
    assert not same_origin(None, "https://evil.example/page", "deploy.internal:8080")
    assert not same_origin("null", None, "deploy.internal:8080")


# --- SSE framing ----------------------------------------------------------------------------------

def test_each_line_of_data_is_its_own_data_field() -> None:
    assert sse.event("one line", event_id=3) == b"id: 3\ndata: one line\n\n"
    assert sse.event("a\r\nb\rc\nd", name="done") == b"event: done\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
    assert sse.event("") == b"data: \n\n"
    assert sse.comment("keep-alive") == b": keep-alive\n\n"


def test_a_field_that_would_end_the_event_early_is_refused() -> None:
    with pytest.raises(ValueError):
        sse.event("x", name="done\n\ndata: forged")
    with pytest.raises(ValueError):
        sse.event("x", event_id="1\r2")


def test_a_reconnect_resumes_after_the_last_event_seen() -> None:
    assert sse.resume_from(None, None) == 0
    assert sse.resume_from(None, "5") == 5
    assert sse.resume_from("7", "5") == 8
    assert sse.resume_from("junk", "x") == 0


def test_the_stream_sends_lines_keeps_alive_then_ends_with_done() -> None:
    script = iter([(["a", "b"], None), ([], None), (["c"], None), ([], {"outcome": "succeeded", "exitCode": 0})])
    seen = []

    def follow(index: int, wait: float):
        seen.append(index)
        return next(script)

    out = b"".join(sse.stream(follow, 4))
    assert seen == [4, 6, 6, 7]
    assert out == (b"retry: 2000\n\nid: 4\ndata: a\n\nid: 5\ndata: b\n\n: keep-alive\n\nid: 6\ndata: c\n\n"
                   b'event: done\ndata: {"outcome": "succeeded", "exitCode": 0}\n\n')


# --- jobs and the audit entry (their store and workers: test_web_store.py) ----------------------------

def test_a_promote_press_names_the_environment_it_promotes_from() -> None:
    form = parse_job_form(b"action=promote&service=hello&environment=production&from=staging&confirm=hello", FORM)
    assert (form.action, form.source, form.environment, form.confirm) == ("promote", "staging", "production", "hello")
    with pytest.raises(UsageError, match="the form has no from"):
        parse_job_form(b"action=promote&service=hello&environment=production", FORM)
    with pytest.raises(UsageError, match="from only applies to a promote, not to deploy"):
        parse_job_form(b"action=deploy&service=hello&environment=production&from=staging", FORM)
    with pytest.raises(UsageError, match="is not a valid name"):
        parse_job_form(b"action=promote&service=hello&environment=production&from=..%2Fx", FORM)
    assert needs_confirmation("promote", "production", [])


def test_a_promote_entry_names_where_from_and_its_headline_both_environments() -> None:
    job = Job("abc", JobForm("promote", "hello", "production", source="staging"), "web:alice", 100.0,
              finished=101.0, exit_code=0, state="finished")
    assert entry(job, "end")["from"] == "staging"
    assert headline(job) == "promote of hello from staging to production succeeded on every cluster"


def test_queued_interrupted_and_cancelled_jobs_say_so() -> None:
    form = JobForm("deploy", "hello", "staging")
    assert headline(Job("a", form, "web:x", 0.0, state="queued")) == "waiting for a worker: deploying hello in staging"
    lost = Job("b", form, "web:x", 0.0, finished=5.0, state="interrupted", error="its worker h:1 stopped")
    assert (lost.running, lost.outcome) == (False, "interrupted")
    assert headline(lost) == "deploy of hello in staging was interrupted: its worker h:1 stopped"
    assert Job("c", form, "web:x", 0.0, state="cancelled").outcome == "cancelled"


def test_an_audit_entry_names_time_actor_action_and_outcome() -> None:
    job = Job("abc", JobForm("deploy", "hello", "staging"), "web:alice", 100.0, finished=112.34, exit_code=0,
              state="finished")
    line = entry(job, "end")
    assert set(line) == {"time", "event", "job", "actor", "action", "service", "environment", "outcome",
                         "exitCode", "seconds"}
    assert (line["outcome"], line["exitCode"], line["seconds"]) == ("succeeded", 0, 12.3)


# --- HTML -----------------------------------------------------------------------------------------

def record(revision: int, outcome: str = "succeeded", actor: str = "web:alice") -> ReleaseRecord:
    return ReleaseRecord("hello", "c1", "production", revision, f"reg/hello@sha256:{'ab' * 32}", f"sha256:{'ab' * 32}",
                         "sha256:00", actor, "2025-01-02T03:04:05+00:00", outcome)  # type: ignore[arg-type]


def row(cluster: str, current: ReleaseRecord | None = None, latest: ReleaseRecord | None = None,
        findings: list[Finding] | None = None, error: str = ""):  # type: ignore[no-untyped-def]
    """A cluster's row as the live overview builds it from `deployer status`'s answer."""
    if error:
        return cluster_row(cluster, ReleaseStatus(cluster, "production", "apps", error=DeployerError(error)), "")
    return cluster_row(cluster, ReleaseStatus(cluster, "production", "apps", current, latest, findings or []), "")


def overview_page(services: list[ServiceCard], jobs: list[Job] | None = None,
                  error: tuple[str, str] | None = None, actor: str = "") -> str:
    return pages.render("overview.html", services=services, jobs=jobs or [], error=error, actor=actor)


def test_hostile_text_from_files_clusters_and_logs_is_escaped() -> None:
    running = RunningJob("abc123", "deploy", HOSTILE, HOSTILE, HOSTILE, HOSTILE)
    service = ServiceCard(HOSTILE, [EnvironmentCard(HOSTILE, True, None, [
        row(HOSTILE, record(3, actor=HOSTILE), record(4, "failed")), row("c2", error=HOSTILE)], running)],
        error=HOSTILE)
    job = Job("abc123", JobForm("deploy", "hello", "staging"), HOSTILE, 0.0, lines=[HOSTILE, "ok </pre><b>"],
              finished=1.0, exit_code=7, report=HOSTILE, error=HOSTILE, hint=HOSTILE)
    for html in (overview_page([service], [job], (HOSTILE, HOSTILE), actor=HOSTILE),
                 pages.job_page(job, actor=HOSTILE),
                 pages.error_page(400, HOSTILE, HOSTILE, actor=HOSTILE, link=("/jobs/abc123", HOSTILE))):
        assert "<script>" not in html and "<img" not in html and "</pre><b>" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&#34;&#39;&lt;img" in html
        # the page's own scripts only: app.js, and waves.js on a job page
        assert html.count("<script") == html.count('<script src="/static/') in (1, 2)


def test_the_overview_shows_each_clusters_release_and_production_asks_for_the_name() -> None:
    service = ServiceCard("hello", [
        EnvironmentCard("staging", False, None, [row("c1", record(2), record(2)),
                                                 row("c2", None, record(1, "failed")), row("c3")]),
        EnvironmentCard("production", True, None, [row("c1", record(3), record(4, "failed"))])])
    html = overview_page([service])
    assert "<strong>r2</strong>" in html
    assert f'<code class="digest" title="reg/hello@sha256:{"ab" * 32}">abababababab</code>' in html
    assert "no release; latest r1 failed" in html and "never deployed" in html
    assert '<strong>r3</strong><div class="note">latest r4 failed</div>' in html
    assert html.count('name="confirm"') == 2  # deploy and rollback in production; never check or staging
    assert 'placeholder="type hello"' in html
    for word in ("gke", "onprem", "on-prem"):
        assert word not in html.lower()


def test_the_overview_names_who_is_running_a_job_for_an_environment() -> None:
    job = RunningJob("abc123", "rollback", "hello", "staging", "web:alice", "rolling back hello in staging")
    html = overview_page([ServiceCard("hello", [EnvironmentCard("staging", False, None, [], job)])])
    assert 'web:alice is rolling back hello in staging now: <a href="/jobs/abc123">watch the log</a>' in html


def test_a_running_job_page_streams_from_the_lines_it_already_shows() -> None:
    job = Job("abc123", JobForm("rollback", "hello", "staging", 2), "web:alice", 0.0, lines=["one", "two"])
    html = pages.job_page(job)
    assert 'data-state="running"' in html and 'data-events="/jobs/abc123/events?from=2"' in html
    assert "<h1>rollback hello in staging to r2</h1>" in html
    assert '<section id="result" hidden>' in html


def test_the_overview_shows_drift_as_status_does_and_where_a_release_was_promoted_from() -> None:
    from dataclasses import replace

    promoted = replace(record(2), promoted_from={"environment": "staging", "revisions": {"c1": 5}})
    drift = Finding("image", "Deployment apps/hello", "drift: Deployment apps/hello runs image nginx:latest in "
                                                      "container web, set outside deployer")
    settling = Finding("unobserved", "Deployment apps/hello", "generation 3 is not yet observed")
    service = ServiceCard("hello", [EnvironmentCard("production", True, None, [
        row("c1", promoted, promoted, findings=[drift]), row("c2", record(1), record(1), findings=[settling])])])
    html = overview_page([service])
    assert '<div class="note">promoted from staging (r5 on c1)</div>' in html
    assert ('<tr data-cluster="c1" class="drift"><td>c1</td>' in html and '<div class="drift" role="alert">drift: '
            "Deployment apps/hello runs image nginx:latest in container web, set outside deployer</div>" in html)
    assert '<tr data-cluster="c2"><td>c2</td>' in html
    assert '<div class="note">generation 3 is not yet observed</div>' in html
