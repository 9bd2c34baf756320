"""The page's store and its workers against a real SQLite file: jobs queued, claimed, run, logged,
settled, cancelled and interrupted; the audit trail; the schema's migrations. (The same store on a
real PostgreSQL server: tests/integration/test_web_store_postgres.py.)"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from deployer.errors import ExitCode, LockedError, UsageError
from deployer.pipeline.report import ClusterReport, End, EndState, RunReport
from deployer.polling import poll_until
from deployer.redact import register
from deployer.stopping import Stop
from deployer.web.forms import JobForm
from deployer.web.jobs import Busy, headline
from deployer.web.store import database
from deployer.web.store.database import SchemaTooNew, open_database
from deployer.web.store.jobs import JobStore
from deployer.web.store.schema import job_lines
from deployer.web.worker import Worker


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(open_database(database.default_url(tmp_path / "state")), follow_interval=0.02)


def report(*outcomes: str, action: str = "deploy") -> RunReport:
    clusters = [ClusterReport(f"c{i}", outcome, end=EndState(End.NEW, i))  # type: ignore[arg-type]
                for i, outcome in enumerate(outcomes)]
    return RunReport(action, "hello", "staging", clusters)


def worker(store: JobStore, body, name: str = "w1", **options) -> Worker:
    """A worker whose every job runs ``body(progress, stop)``."""
    return Worker(store, Path("."), name=name, work_for=lambda d, f, a, stop: lambda p: body(p, stop),
                  **{"heartbeat": 0.05, **options})


def test_a_job_is_queued_run_by_a_worker_and_keeps_its_log_report_and_audit(store) -> None:
    def body(progress, stop):
        progress("c0", "applied")
        progress("", "all done")
        return report("succeeded", "unchanged")

    queued = store.submit(JobForm("deploy", "hello", "staging"), "web:alice")
    assert (queued.state, headline(queued)) == ("queued", "waiting for a worker: deploying hello in staging")
    assert worker(store, body).run_one() is True
    job = store.get(queued.id)
    assert job is not None and (job.state, job.worker, job.exit_code, job.outcome) == ("finished", "w1", 0, "succeeded")
    assert [line.split("s ", 1)[1] for line in job.lines] == ["[c0] applied", "all done"]
    assert job.report.startswith("c0  succeeded    on the new release r0")
    assert job.result is not None and job.result["clusters"][1]["outcome"] == "unchanged"
    assert headline(job) == "deploy of hello in staging succeeded on every cluster"
    assert [(e["event"], e["job"], e.get("outcome")) for e in store.audit()] == [
        ("start", job.id, None), ("end", job.id, "succeeded")]
    assert worker(store, body).run_one() is False  # nothing else queued


def test_a_second_press_names_who_is_running_it_until_it_ends(store) -> None:
    first = store.submit(JobForm("deploy", "hello", "staging"), "web:alice")
    with pytest.raises(Busy) as busy:
        store.submit(JobForm("check", "hello", "staging"), "web:bob")
    assert busy.value.message == f"web:alice is already deploying hello in staging (job {first.id})"
    assert busy.value.exit_code == ExitCode.LOCKED
    store.submit(JobForm("check", "hello", "production"), "web:bob")  # another environment may run
    runner = worker(store, lambda p, s: report("succeeded"))
    assert runner.run_one() and runner.run_one()
    assert store.active_for("hello", "staging") is None
    assert store.submit(JobForm("check", "hello", "staging"), "web:bob").state == "queued"


def test_a_refusal_is_the_jobs_failure_with_its_exit_code_and_hint(store) -> None:
    def locked(progress, stop):
        raise LockedError("cluster c0: hello is being deployed by https://ci/job/7", hint="Wait for it.")

    job_id = store.submit(JobForm("deploy", "hello", "staging"), "web:alice").id
    worker(store, locked).run_one()
    job = store.get(job_id)
    assert job is not None and (job.exit_code, job.outcome, job.error, job.hint) == (
        9, "failed", "cluster c0: hello is being deployed by https://ci/job/7", "Wait for it.")
    assert headline(job) == "deploy of hello in staging failed: cluster c0: hello is being deployed by https://ci/job/7"
    assert job.final()["meaning"] == "another deploy holds the lock for this service and cluster"


def test_a_bug_in_a_job_is_reported_as_internal_without_secrets(store, capsys) -> None:
    register("s3cr3t-token-value")

    def buggy(progress, stop):
        progress("c0", "sending s3cr3t-token-value")
        raise KeyError("s3cr3t-token-value")

    job_id = store.submit(JobForm("deploy", "hello", "staging"), "web:alice").id
    worker(store, buggy).run_one()
    job = store.get(job_id)
    assert job is not None and job.exit_code == ExitCode.INTERNAL and job.error.startswith("internal error: KeyError")
    everything = json.dumps(job.to_dict()) + json.dumps(store.audit()) + capsys.readouterr().err
    assert "s3cr3t-token-value" not in everything and "[redacted]" in job.lines[0]


def test_partial_and_failed_runs(store) -> None:
    partial = store.submit(JobForm("deploy", "a", "staging"), "web:x").id
    failed = store.submit(JobForm("rollback", "b", "staging"), "web:x").id
    outcomes = iter([report("succeeded", "rolled-back"), report("failed", action="rollback")])
    runner = worker(store, lambda p, s: next(outcomes))
    assert runner.run_one() and runner.run_one()  # oldest first
    first, second = store.get(partial), store.get(failed)
    assert first is not None and (first.exit_code, first.outcome) == (8, "partial")
    assert "succeeded on some clusters and failed on others" in headline(first)
    assert second is not None and (second.exit_code, second.outcome) == (7, "failed")


def test_follow_returns_new_lines_then_the_final_event(store) -> None:
    go = threading.Event()

    def body(progress, stop):
        progress("c0", "one")
        go.wait(5)
        progress("c0", "two")
        return report("succeeded")

    job_id = store.submit(JobForm("deploy", "hello", "staging"), "web:alice").id
    assert store.follow(job_id, 0, 0.05) == ([], None)  # queued: nothing yet, the stream stays open
    running = threading.Thread(target=worker(store, body).run_one)
    running.start()
    lines, final = store.follow(job_id, 0, 5)
    assert [line.endswith("one") for line in lines] == [True] and final is None
    assert store.follow(job_id, 1, 0.05) == ([], None)
    go.set()
    lines, final = store.follow(job_id, 1, 5)
    assert lines and lines[0].endswith("two")
    running.join(5)
    lines, final = store.follow(job_id, 2, 5)
    assert lines == [] and final is not None and final["outcome"] == "succeeded" and final["exitCode"] == 0


def test_cancel_drops_a_queued_job_and_stops_a_running_one_through_its_stop(store) -> None:
    queued = store.submit(JobForm("deploy", "a", "staging"), "web:alice")
    cancelled = store.cancel(queued.id, "web:bob")
    assert cancelled is not None and (cancelled.state, cancelled.outcome) == ("cancelled", "cancelled")
    assert headline(cancelled) == "deploy of a in staging was cancelled before it started"
    assert store.audit()[-1]["outcome"] == "cancelled"

    def waits_for_its_stop(progress, stop: Stop):
        assert poll_until(lambda: True if stop.stopping() else None, 10, interval=0.01), "never stopped"
        progress("", stop.describe())
        raise LockedError("stopped", hint="")  # any refusal: the run's end after its stop

    job_id = store.submit(JobForm("deploy", "b", "staging"), "web:alice").id
    runner = threading.Thread(target=worker(store, waits_for_its_stop).run_one)
    runner.start()
    assert poll_until(lambda: True if store.get(job_id, lines=False).state == "running" else None, 5,
                      interval=0.01)
    assert store.cancel(job_id, "web:bob").cancel == "web:bob"
    runner.join(10)
    job = store.get(job_id)
    assert job is not None and job.state == "finished" and "cancelled by web:bob" in job.lines[0]


def test_a_job_whose_worker_stopped_heart_beating_is_marked_interrupted(store) -> None:
    job_id = store.submit(JobForm("deploy", "hello", "staging"), "web:alice").id
    assert store.claim("gone:1") is not None  # a worker that then dies: no heartbeat ever again
    assert store.reap(60) == []  # not stale yet
    [lost] = poll_until(lambda: store.reap(0.2) or None, 5, interval=0.05)
    assert (lost.id, lost.state, lost.outcome) == (job_id, "interrupted", "interrupted")
    assert "its worker gone:1 stopped (no heartbeat for 0.2s)" in lost.error
    assert store.audit()[-1]["outcome"] == "interrupted"
    assert store.active_for("hello", "staging") is None  # the environment may be pressed again


def test_threads_claiming_together_on_sqlite_never_run_a_job_twice(store) -> None:
    ids = [store.submit(JobForm("check", f"s{n}", "staging"), "web:x").id for n in range(40)]

    def drain(name: str) -> None:
        runner = worker(store, lambda p, s: (p("", "ran"), report("succeeded"))[1], name=name)
        while runner.run_one():
            pass

    threads = [threading.Thread(target=drain, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with store.engine.connect() as db:
        runs = Counter(db.execute(sa.select(job_lines.c.job_id)).scalars())
    assert set(runs) == set(ids) and set(runs.values()) == {1}


def test_the_database_folder_is_the_owners_only(tmp_path) -> None:
    open_database(database.default_url(tmp_path / "state"))
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700


def test_an_old_schema_is_upgraded_keeping_its_jobs_and_a_newer_one_is_refused(tmp_path) -> None:
    upgrades_keeping_jobs_and_refuses_newer(database.default_url(tmp_path))


def upgrades_keeping_jobs_and_refuses_newer(url: str) -> None:
    """From revision 0001 with a job in it to the newest (the job kept, 0002's column usable);
    then a revision this deployer does not know is refused. Run on SQLite here, and on
    PostgreSQL by tests/integration/test_web_store_postgres.py."""
    engine = database.create(url)
    database.upgrade(engine, "0001")
    with engine.begin() as db:
        db.execute(sa.text("INSERT INTO jobs (id, action, service, environment, actor, state, created) "
                           "VALUES ('abc', 'deploy', 'hello', 'staging', 'web:alice', 'finished', 1.0)"))
    store = JobStore(open_database(url))
    assert database.current_revision(store.engine) == "0003"
    old = store.get("abc")
    assert old is not None and (old.state, old.form.source) == ("finished", "")
    promote = store.submit(JobForm("promote", "hello", "production", source="staging"), "web:alice")
    assert store.get(promote.id).form.source == "staging"  # the upgraded table has 0002's column

    with engine.begin() as db:
        db.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaTooNew, match="schema revision 9999, newer than this deployer knows") as refused:
        open_database(url)
    assert refused.value.exit_code == ExitCode.USAGE and "Upgrade deployer" in (refused.value.hint or "")


@pytest.mark.parametrize(("url", "says"), [
    ("mysql://db/deployer", "is not supported"),
    ("sqlite://", "is not supported"),
    ("not a url", "is not a database URL"),
])
def test_an_unsupported_database_is_refused_by_name(url: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        database.parse_url(url)


def test_a_postgresql_url_uses_psycopg_3_and_messages_hide_its_password() -> None:
    url = database.parse_url("postgresql://deployer:hunter2@db.internal:5432/deployer")
    assert url.drivername == "postgresql+psycopg"
    assert "hunter2" not in database.shown(url) and "db.internal" in database.shown(url)
