"""The page's store on a real PostgreSQL server (tests/integration/postgres.py): concurrent claims
by workers in several processes, and the schema's migrations."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
import sqlalchemy as sa

from deployer.web.forms import JobForm
from deployer.web.store.database import open_database
from deployer.web.store.jobs import JobStore
from deployer.web.store.schema import job_lines, jobs
from tests.conftest import REPO
from tests.unit.test_web_store import upgrades_keeping_jobs_and_refuses_newer

pytestmark = pytest.mark.integration


def test_workers_in_two_processes_never_run_the_same_job_twice(postgres_url, tmp_path) -> None:
    store = JobStore(open_database(postgres_url))
    queued = [store.submit(JobForm("deploy", f"svc-{n}", "staging"), "web:alice").id for n in range(150)]
    go = tmp_path / "go"
    claimers = [subprocess.Popen([sys.executable, "-m", "tests.integration.claimer", postgres_url, str(go), "4"],
                                 cwd=REPO, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    go.touch()
    for claimer in claimers:
        _, errors = claimer.communicate(timeout=180)
        assert claimer.returncode == 0, errors

    with store.engine.connect() as db:
        states = dict(db.execute(sa.select(jobs.c.id, jobs.c.state)).all())
        runs = Counter(db.execute(sa.select(job_lines.c.job_id)).scalars())
        workers = Counter(db.execute(sa.select(jobs.c.worker)).scalars())
    assert set(states) == set(queued) and set(states.values()) == {"finished"}
    assert set(runs) == set(queued) and max(runs.values()) == 1  # each job ran exactly once
    by_process = Counter(name.split("-")[0] for name in workers)
    assert len(by_process) == 2 and min(by_process.values()) > 0, workers  # the claims really raced
    ends = [e for e in store.audit() if e["event"] == "end"]
    assert len(ends) == len(queued)


def test_an_old_schema_is_upgraded_and_a_newer_one_refused(postgres_url) -> None:
    upgrades_keeping_jobs_and_refuses_newer(postgres_url)
