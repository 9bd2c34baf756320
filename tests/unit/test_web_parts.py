"""The deploy-button page's pure parts: form parsing and its rules, SSE framing, the job registry,
the audit line and HTML escaping, from inline data."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest

from deployer.errors import DeployerError, ExitCode, LockedError, UsageError
from deployer.pipeline.report import ClusterReport, End, EndState, RunReport
from deployer.redact import register
from deployer.rollout.release import ReleaseRecord
from deployer.web import pages, sse
from deployer.web.actions import ClusterState, EnvironmentState, ServiceState
from deployer.web.audit import AuditLog, entry
from deployer.web.forms import (
    JobForm,
    actor_of,
    check_confirmation,
    needs_confirmation,
    parse_job_form,
    same_origin,
)
from deployer.web.jobs import Busy, Job, JobRegistry, headline

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


# --- jobs -----------------------------------------------------------------------------------------

def report(*outcomes: str, action: str = "deploy") -> RunReport:
    clusters = [ClusterReport(f"c{i}", outcome, end=EndState(End.NEW, i))  # type: ignore[arg-type]
                for i, outcome in enumerate(outcomes)]
    return RunReport(action, "hello", "staging", clusters)


def finished(registry: JobRegistry, job: Job) -> Job:
    assert registry.join(5)
    return job


def test_a_job_runs_in_the_background_and_keeps_its_log_and_report() -> None:
    events: list[tuple[str, str]] = []
    registry = JobRegistry(on_start=lambda j: events.append(("start", j.id)), on_end=lambda j: events.append(
        ("end", j.outcome or "")))

    def work(progress):
        progress("c0", "applied")
        progress("", "all done")
        return report("succeeded", "unchanged")

    job = finished(registry, registry.start(JobForm("deploy", "hello", "staging"), "web:alice", work))
    assert [line.split("s ", 1)[1] for line in job.lines] == ["[c0] applied", "all done"]
    assert job.exit_code == 0 and job.outcome == "succeeded"
    assert job.report.startswith("c0  succeeded    on the new release r0")
    assert job.result is not None and job.result["clusters"][1]["outcome"] == "unchanged"
    assert events == [("start", job.id), ("end", "succeeded")]
    assert headline(job) == "deploy of hello in staging succeeded on every cluster"


def test_a_second_press_names_who_is_running_it_until_it_ends() -> None:
    registry = JobRegistry()
    release = threading.Event()

    def slow(progress):
        release.wait(5)
        return report("succeeded")

    first = registry.start(JobForm("deploy", "hello", "staging"), "web:alice", slow)
    with pytest.raises(Busy) as busy:
        registry.start(JobForm("check", "hello", "staging"), "web:bob", slow)
    assert busy.value.message == f"web:alice is already deploying hello in staging (job {first.id})"
    assert busy.value.exit_code == ExitCode.LOCKED
    other = registry.start(JobForm("check", "hello", "production"), "web:bob", lambda p: report("unchanged"))
    assert registry.running_for("hello", "staging") is first
    release.set()
    finished(registry, first)
    assert registry.running_for("hello", "staging") is None
    registry.start(JobForm("check", "hello", "staging"), "web:bob", lambda p: report("unchanged"))
    assert registry.join(5) and other.exit_code == 0


def test_a_refusal_is_the_jobs_failure_with_its_exit_code_and_hint() -> None:
    registry = JobRegistry()

    def locked(progress):
        raise LockedError("cluster c0: hello is being deployed by https://ci/job/7", hint="Wait for it.")

    job = finished(registry, registry.start(JobForm("deploy", "hello", "staging"), "web:alice", locked))
    assert (job.exit_code, job.outcome, job.error, job.hint) == (
        9, "failed", "cluster c0: hello is being deployed by https://ci/job/7", "Wait for it.")
    assert headline(job) == "deploy of hello in staging failed: cluster c0: hello is being deployed by https://ci/job/7"
    assert job.final()["meaning"] == "another deploy holds the lock for this service and cluster"


def test_a_bug_in_a_job_is_reported_as_internal_without_secrets(capsys) -> None:
    register("s3cr3t-token-value")
    registry = JobRegistry()

    def buggy(progress):
        progress("c0", "sending s3cr3t-token-value")
        raise KeyError("s3cr3t-token-value")

    job = finished(registry, registry.start(JobForm("deploy", "hello", "staging"), "web:alice", buggy))
    assert job.exit_code == ExitCode.INTERNAL and job.error.startswith("internal error: KeyError")
    assert "s3cr3t-token-value" not in json.dumps(job.to_dict()) + capsys.readouterr().err


def test_partial_and_failed_runs() -> None:
    registry = JobRegistry()
    partial = finished(registry, registry.start(JobForm("deploy", "a", "staging"), "web:x",
                                                lambda p: report("succeeded", "rolled-back")))
    failed = finished(registry, registry.start(JobForm("rollback", "b", "staging"), "web:x",
                                               lambda p: report("failed", action="rollback")))
    assert (partial.exit_code, partial.outcome) == (8, "partial")
    assert "succeeded on some clusters and failed on others" in headline(partial)
    assert (failed.exit_code, failed.outcome, headline(failed)) == (7, "failed", "rollback of b in staging failed")


def test_follow_returns_new_lines_then_the_final_event() -> None:
    registry = JobRegistry()
    go = threading.Event()

    def work(progress):
        progress("c0", "one")
        go.wait(5)
        progress("c0", "two")
        return report("succeeded")

    job = registry.start(JobForm("deploy", "hello", "staging"), "web:alice", work)
    lines, final = registry.follow(job, 0, 5)
    assert [line.endswith("one") for line in lines] == [True] and final is None
    assert registry.follow(job, 1, 0.05) == ([], None)  # nothing new yet: the caller keeps the stream alive
    go.set()
    lines, final = registry.follow(job, 1, 5)
    assert lines and lines[0].endswith("two")
    registry.join(5)
    lines, final = registry.follow(job, 2, 5)
    assert lines == [] and final is not None and final["outcome"] == "succeeded" and final["exitCode"] == 0


def test_old_finished_jobs_are_forgotten_running_ones_never() -> None:
    registry = JobRegistry(keep=2)
    ids = []
    for n in range(4):
        ids.append(registry.start(JobForm("check", f"s{n}", "staging"), "web:x", lambda p: report("unchanged")).id)
        registry.join(5)
    assert [j.id for j in registry.recent()] == [ids[3], ids[2]]
    assert registry.get(ids[0]) is None


# --- audit ----------------------------------------------------------------------------------------

def test_the_audit_log_has_a_start_and_an_end_line_without_secrets(tmp_path) -> None:
    register("another-s3cret-token")
    audit = AuditLog(tmp_path / "state")
    audit.prepare()
    registry = JobRegistry(on_start=audit.started, on_end=audit.ended)

    def refused(progress):
        raise UsageError("token another-s3cret-token was refused")

    registry.start(JobForm("rollback", "hello", "staging", revision=2), "web:alice", refused)
    registry.join(5)
    start, end = audit.read()
    assert {k: start[k] for k in ("event", "actor", "action", "service", "environment", "revision")} == {
        "event": "start", "actor": "web:alice", "action": "rollback", "service": "hello",
        "environment": "staging", "revision": 2}
    assert (end["event"], end["outcome"], end["exitCode"]) == ("end", "failed", 2)
    assert end["error"] == "token [redacted] was refused"
    assert "another-s3cret-token" not in audit.path.read_text()
    assert stat.S_IMODE(os.stat(audit.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(audit.path.parent).st_mode) == 0o700


def test_no_job_starts_without_its_audit_line(tmp_path) -> None:
    (tmp_path / "a-file").write_text("")
    audit = AuditLog(tmp_path / "a-file" / "state")
    registry = JobRegistry(on_start=audit.started, on_end=audit.ended)
    with pytest.raises(DeployerError, match="cannot append to the audit log"):
        registry.start(JobForm("deploy", "hello", "staging"), "web:alice", lambda p: report("succeeded"))
    assert registry.recent() == [] and registry.running_for("hello", "staging") is None


def test_an_audit_entry_names_time_actor_action_and_outcome() -> None:
    job = Job("abc", JobForm("deploy", "hello", "staging"), "web:alice", 100.0, finished=112.34, exit_code=0)
    line = entry(job, "end")
    assert set(line) == {"time", "event", "job", "actor", "action", "service", "environment", "outcome",
                         "exitCode", "seconds"}
    assert (line["outcome"], line["exitCode"], line["seconds"]) == ("succeeded", 0, 12.3)


# --- HTML -----------------------------------------------------------------------------------------

def record(revision: int, outcome: str = "succeeded", actor: str = "web:alice") -> ReleaseRecord:
    return ReleaseRecord("hello", "c1", "production", revision, f"reg/hello@sha256:{'ab' * 32}", f"sha256:{'ab' * 32}",
                         "sha256:00", actor, "2025-01-02T03:04:05+00:00", outcome)  # type: ignore[arg-type]


def test_hostile_text_from_files_clusters_and_logs_is_escaped() -> None:
    service = ServiceState(HOSTILE, [EnvironmentState(HOSTILE, True, [
        ClusterState(HOSTILE, record(3, actor=HOSTILE), record(4, "failed")),
        ClusterState("c2", error=HOSTILE)])], error=HOSTILE)
    job = Job("abc123", JobForm("deploy", "hello", "staging"), HOSTILE, 0.0, lines=[HOSTILE, "ok </pre><b>"],
              finished=1.0, exit_code=7, report=HOSTILE, error=HOSTILE, hint=HOSTILE)
    for html in (pages.index_page([service], [job], {(HOSTILE, HOSTILE): job}, actor=HOSTILE,
                                  error=(HOSTILE, HOSTILE)),
                 pages.job_page(job, actor=HOSTILE),
                 pages.error_page(400, HOSTILE, HOSTILE, actor=HOSTILE, link=("/jobs/abc123", HOSTILE))):
        assert "<script>" not in html and "<img" not in html and "</pre><b>" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&#34;&#39;&lt;img" in html
        assert html.count("<script") == 1  # the page's own app.js


def test_the_overview_shows_each_clusters_release_and_production_asks_for_the_name() -> None:
    service = ServiceState("hello", [
        EnvironmentState("staging", False, [ClusterState("c1", record(2), record(2)),
                                            ClusterState("c2", None, record(1, "failed")),
                                            ClusterState("c3")]),
        EnvironmentState("production", True, [ClusterState("c1", record(3), record(4, "failed"))])])
    html = pages.index_page([service], [], {})
    assert "<strong>r2</strong>" in html and f'<code title="reg/hello@sha256:{"ab" * 32}">abababababab</code>' in html
    assert "no release; latest r1 failed" in html and "never deployed" in html
    assert "<strong>r3</strong><div class=\"note\">latest r4 failed</div>" in html
    assert html.count('name="confirm"') == 2  # deploy and rollback in production; never check or staging
    assert 'placeholder="type hello"' in html
    for word in ("gke", "onprem", "on-prem"):
        assert word not in html.lower()


def test_the_overview_names_who_is_running_a_job_for_an_environment() -> None:
    job = Job("abc123", JobForm("rollback", "hello", "staging"), "web:alice", 0.0)
    html = pages.index_page([ServiceState("hello", [EnvironmentState("staging", False, [])])], [job],
                            {("hello", "staging"): job})
    assert 'web:alice is rolling back hello in staging now: <a href="/jobs/abc123">watch the log</a>' in html


def test_a_running_job_page_streams_from_the_lines_it_already_shows() -> None:
    job = Job("abc123", JobForm("rollback", "hello", "staging", 2), "web:alice", 0.0, lines=["one", "two"])
    html = pages.job_page(job)
    assert 'data-state="running"' in html and 'data-events="/jobs/abc123/events?from=2"' in html
    assert "<h1>rollback hello in staging to r2</h1>" in html
    assert '<section id="result" hidden>' in html


def test_the_overview_shows_drift_as_status_does_and_where_a_release_was_promoted_from() -> None:
    from dataclasses import replace

    from deployer.rollout.drift import Finding

    promoted = replace(record(2), promoted_from={"environment": "staging", "revisions": {"c1": 5}})
    drift = Finding("image", "Deployment apps/hello", "drift: Deployment apps/hello runs image nginx:latest in "
                                                      "container web, set outside deployer")
    settling = Finding("unobserved", "Deployment apps/hello", "generation 3 is not yet observed")
    service = ServiceState("hello", [EnvironmentState("production", True, [
        ClusterState("c1", promoted, promoted, findings=[drift]),
        ClusterState("c2", record(1), record(1), findings=[settling])])])
    html = pages.index_page([service], [], {})
    assert '<div class="note">promoted from staging (r5 on c1)</div>' in html
    assert ('<tr class="drift"><td>c1</td>' in html and '<div class="drift" role="alert">drift: Deployment '
            "apps/hello runs image nginx:latest in container web, set outside deployer</div>" in html)
    assert '<tr><td>c2</td>' in html and '<div class="note">generation 3 is not yet observed</div>' in html
