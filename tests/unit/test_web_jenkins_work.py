"""The page's Jenkins executor, its pure parts: the build's parameters per press, the build URL read
from the live log, a finished build as a job's outcome, and the build URL in the audit trail."""

from __future__ import annotations

import pytest

from deployer.errors import UsageError
from deployer.jenkins.executor import ClusterRelease, JenkinsOutcome, approval_line
from deployer.jenkins.responses import PendingInput
from deployer.web.audit import entry
from deployer.web.forms import JobForm
from deployer.web.jenkins_work import JenkinsReport, approval_of, build_url_of, jenkins_parameters
from deployer.web.jobs import Job, outcome_of

BUILD = "https://jenkins.example.com/job/deploy/job/hello/42/"


def test_a_deploy_and_a_rollback_carry_the_job_id_and_the_revision() -> None:
    assert jenkins_parameters(JobForm("deploy", "hello", "staging"), "j1") == ("deploy", {"REQUEST_ID": "j1"})
    assert jenkins_parameters(JobForm("rollback", "hello", "staging", revision=3), "j2") == \
        ("rollback", {"REQUEST_ID": "j2", "REVISION": "3"})
    assert jenkins_parameters(JobForm("rollback", "hello", "staging"), "j3") == ("rollback", {"REQUEST_ID": "j3"})


@pytest.mark.parametrize("action", ["check", "promote"])
def test_actions_the_pipeline_has_no_build_for_are_refused_with_a_hint(action: str) -> None:
    with pytest.raises(UsageError, match=f"runs through Jenkins, whose pipeline has no '{action}'") as raised:
        jenkins_parameters(JobForm(action, "hello", "production", source="staging"), "j1")
    assert "Deploy" in (raised.value.hint or "")


def test_the_build_url_is_read_from_the_line_the_executor_writes_once_the_build_started() -> None:
    assert build_url_of(["  0.1s jenkins: queued a build of deploy/hello (http://j/queue/item/7/)"]) is None
    assert build_url_of(["  0.1s jenkins: queued a build", f"  2.3s jenkins: build {BUILD}", "  2.4s + make"]) == BUILD


def test_a_finished_build_is_the_jobs_outcome_with_each_clusters_release() -> None:
    outcome = JenkinsOutcome("SUCCESS", BUILD, "https://jenkins.example.com/queue/item/7/",
                             "deployer-deploy-staging.json", 0,
                             (ClusterRelease("onprem", "succeeded", 2, "on the new release r2"),))
    report = JenkinsReport(outcome)
    assert report.exit_code() == 0 and outcome_of(report.exit_code()) == "succeeded"
    assert report.to_text() == f"jenkins build SUCCESS: {BUILD}\nonprem: succeeded, on the new release r2"
    assert report.to_dict()["buildUrl"] == BUILD and report.to_dict()["executor"] == "jenkins"
    aborted = JenkinsReport(JenkinsOutcome("ABORTED", BUILD, "q", None, None, (), True))
    assert aborted.exit_code() == 143 and outcome_of(aborted.exit_code()) == "failed"
    cancelled = JenkinsReport(JenkinsOutcome("CANCELLED", None, "https://jenkins.example.com/queue/item/8/"))
    assert cancelled.exit_code() == 143 and "queue/item/8" in cancelled.to_text()


def test_the_audit_trails_end_entry_names_the_build() -> None:
    job = Job("j1", JobForm("deploy", "hello", "staging"), "web:alice", 1.0, finished=2.0, exit_code=0,
              result={"executor": "jenkins", "buildUrl": BUILD}, state="finished")
    assert entry(job, "end")["buildUrl"] == BUILD
    assert "buildUrl" not in entry(Job("j2", JobForm("deploy", "hello", "staging"), "web:alice", 1.0,
                                       finished=2.0, exit_code=0, result={}, state="finished"), "end")


def test_the_job_waits_for_approval_from_the_executors_line_until_jenkins_says_it_was_answered() -> None:
    pending = PendingInput("C7b", "Promote hello to production?", "Promote to production", BUILD + "input/")
    line = "  9.1s " + approval_line(pending)
    assert approval_of(["  0.1s jenkins: queued a build", "  9.0s Input requested", line]) == (BUILD + "input/", "C7b")
    for answer in ("  20.0s Approved by deploy-page", "  20.0s Rejected by deploy-page",
                   "  20.0s jenkins: build finished: ABORTED"):
        assert approval_of([line, answer]) is None
    assert approval_of(["  1.0s Input requested"]) is None   # Jenkins' pending inputs not read yet
