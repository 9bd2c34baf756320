"""The Jenkins client and executor against the Jenkins stand-in, in process, with small pipelines
of their own (no cluster): authentication, the crumb and its session, TLS with a CA file, a build
streamed and its report read, and an abort the Jenkins way (SIGTERM, then SIGKILL after the grace).

The end-to-end run of the real Jenkinsfile against both clusters is
tests/integration/test_jenkins_executor.py.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jenkins"))
import harness

from deployer.config.models import JenkinsSettings, Service
from deployer.errors import JenkinsError
from deployer.jenkins.client import JenkinsClient
from deployer.jenkins.executor import run_via_jenkins, waiting_approval
from deployer_localplatform.jenkins_standin import JenkinsStandIn

if reason := harness.java_missing_reason():
    pytest.skip(reason, allow_module_level=True)

TOKEN = "11e5b0c0ffee4a1b9d2c3e4f5a6b7c8d"
PARAMETERS = """
    parameters {
        string(name: 'SERVICE', defaultValue: '')
        string(name: 'ENVIRONMENT', defaultValue: 'staging')
        string(name: 'ACTION', defaultValue: 'deploy')
        string(name: 'REVISION', defaultValue: '')
        string(name: 'ACTOR', defaultValue: '')
        string(name: 'REQUEST_ID', defaultValue: '')
    }
"""
DEPLOYS = "pipeline {\n    agent any\n" + PARAMETERS + """
    stages {
        stage('Deploy to staging') {
            steps {
                sh(label: 'deploy', script: '''
echo "deploying $SERVICE for $ACTOR ($REQUEST_ID)"
printf '{"exitCode": 0, "clusters": [{"cluster": "dc1", "outcome": "succeeded", "revision": 4, "release": "on r4"}]}' \\
  > deployer-deploy-staging.json
''')
            }
            post { always { archiveArtifacts(artifacts: 'deployer-deploy-staging.json', allowEmptyArchive: true) } }
        }
    }
}
"""
# A step that ignores SIGTERM (its sleep dies of it; `|| true` keeps sh -e going), so only the SIGKILL
# after the grace ends it.
HANGS = "pipeline {\n    agent any\n" + PARAMETERS + """
    stages {
        stage('Deploy to staging') {
            steps {
                sh(label: 'deploy', script: '''
trap 'echo TERM received, ignored' TERM
echo waiting
while :; do sleep 0.1 || true; done
''')
            }
        }
    }
}
"""
# A production input as deployerPipeline.approve asks it, then a step that runs only once approved.
APPROVES = "pipeline {\n    agent any\n" + PARAMETERS + """
    stages {
        stage('Approve') {
            steps {
                input(message: 'Promote approves to production?', ok: 'Promote to production')
            }
        }
        stage('Deploy to production') {
            steps {
                sh(label: 'deploy', script: 'echo promoted after approval')
            }
        }
    }
}
"""


def service(name: str) -> Service:
    return Service.model_validate({"name": name, "namespace": "apps", "executor": "jenkins",
                                   "environments": {"staging": {"clusters": ["dc1"]}}})


@pytest.fixture(scope="module")
def standin(tmp_path_factory, tls) -> Iterator[JenkinsStandIn]:
    home = tmp_path_factory.mktemp("jenkins-home")
    jobs = {}
    for name, text in (("deploys", DEPLOYS), ("hangs", HANGS), ("approves", APPROVES)):
        workspace = home / "workspaces" / name
        workspace.mkdir(parents=True)
        (workspace / "Jenkinsfile").write_text(text)
        jobs[f"deploy/{name}"] = {"jenkinsfile": str(workspace / "Jenkinsfile"), "workspace": str(workspace),
                                  "agentEnv": {"PATH": "/usr/bin:/bin"}, "waitForInput": name == "approves"}
    config = {"users": {"deploy-page": TOKEN}, "jobs": jobs, "quietPeriod": 0.2, "softKillWaitSeconds": 1}
    server = JenkinsStandIn(config, home, tls=(tls[1], tls[2]))
    server.start()
    yield server
    server.stop()


def settings(standin: JenkinsStandIn, ca: Path, tmp_path: Path) -> JenkinsSettings:
    (tmp_path / "token").write_text(TOKEN)
    return JenkinsSettings(url=standin.jenkins.base, user="deploy-page", token_file=str(tmp_path / "token"),
                           ca_file=str(ca), poll_interval=0.1)


def test_every_call_needs_the_user_and_its_api_token(standin, tls):
    with JenkinsClient(standin.jenkins.base, "deploy-page", "not-the-token-0000", ca_file=str(tls[0])) as jenkins:
        with pytest.raises(JenkinsError) as caught:
            jenkins.trigger("deploy/deploys", {"SERVICE": "deploys"})
    assert caught.value.status == 401 and "not-the-token-0000" not in str(caught.value)
    assert "API token" in caught.value.hint


def test_a_post_needs_the_crumb_of_its_own_web_session(standin, tls):
    url = standin.jenkins.base + "job/deploy/job/deploys/buildWithParameters"
    # verify on every call: requests lets REQUESTS_CA_BUNDLE override a session's own.
    call = {"auth": ("deploy-page", TOKEN), "verify": str(tls[0]), "allow_redirects": False}
    first, second = requests.Session(), requests.Session()
    crumb = first.get(standin.jenkins.base + "crumbIssuer/api/json", **call).json()
    assert crumb["crumbRequestField"] == "Jenkins-Crumb"
    second.get(standin.jenkins.base + "crumbIssuer/api/json", **call)
    header = {"Jenkins-Crumb": crumb["crumb"]}
    assert requests.post(url, **call).status_code == 403   # no crumb
    assert requests.post(url, headers=header, **call).status_code == 403   # no session
    assert second.post(url, headers=header, **call).status_code == 403   # another session's crumb
    # delay: a quiet period of an hour, so the item is still queued when it is cancelled below.
    accepted = first.post(url + "?delay=3600sec", headers=header, data={"SERVICE": "deploys"}, **call)
    assert accepted.status_code == 201 and "/queue/item/" in accepted.headers["Location"]
    item = accepted.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    cancelled = first.post(standin.jenkins.base + f"queue/cancelItem?id={item}", headers=header, **call)
    assert cancelled.status_code == 302
    left = first.get(accepted.headers["Location"] + "api/json", **call).json()
    assert (left["_class"], left["cancelled"], left["executable"]) == ("hudson.model.Queue$LeftItem", True, None)


def test_tls_is_checked_against_the_ca_file(standin, tls):
    with JenkinsClient(standin.jenkins.base, "deploy-page", TOKEN) as jenkins:   # the system's CAs only
        with pytest.raises(JenkinsError, match="TLS certificate was not accepted") as caught:
            jenkins.queue_item(standin.jenkins.base + "queue/item/999/")
    assert "caFile" in caught.value.hint
    with JenkinsClient(standin.jenkins.base, "deploy-page", TOKEN, ca_file=str(tls[0])) as jenkins:
        with pytest.raises(JenkinsError) as caught:   # past TLS: Jenkins itself answers
            jenkins.queue_item(standin.jenkins.base + "queue/item/999/")
    assert caught.value.status == 404


def test_a_build_is_followed_to_its_report_and_its_console_streamed(standin, tls, tmp_path):
    lines: list[str] = []
    outcome = run_via_jenkins(settings(standin, tls[0], tmp_path), service("deploys"), "staging", "deploy",
                              {"REQUEST_ID": "job-9"}, "web:bob@example.com", lines.append, threading.Event())
    assert (outcome.result, outcome.exit_code, outcome.report_name) == ("SUCCESS", 0,
                                                                        "deployer-deploy-staging.json")
    assert [(c.cluster, c.outcome, c.revision) for c in outcome.clusters] == [("dc1", "succeeded", 4)]
    assert "deploying deploys for web:bob@example.com (job-9)" in lines
    assert lines.index("Started by user deploy-page") < lines.index("Finished: SUCCESS")
    assert lines[0].startswith("jenkins: queued a build of deploy/deploys")


def test_an_abort_sends_sigterm_and_kills_what_ignores_it_after_the_grace(standin, tls, tmp_path):
    stop = threading.Event()
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        if line == "waiting":
            stop.set()

    outcome = run_via_jenkins(settings(standin, tls[0], tmp_path), service("hangs"), "staging", "deploy", {},
                              "web:bob@example.com", progress, stop)
    assert (outcome.result, outcome.stop_requested, outcome.report_name) == ("ABORTED", True, None)
    after = lines[lines.index("waiting"):]
    assert "Aborted by deploy-page" in after and "Sending interrupt signal to process" in after
    assert "TERM received, ignored" in after
    assert "After 1 s the process is still running: killing it" in after
    assert after[-2:] == ["Finished: ABORTED", "jenkins: build finished: ABORTED"]


def test_a_build_stopped_while_queued_is_cancelled_and_never_runs(standin, tls, tmp_path):
    stop = threading.Event()
    stop.set()   # the page's job was cancelled before Jenkins started the build
    outcome = run_via_jenkins(settings(standin, tls[0], tmp_path), service("deploys"), "staging", "deploy", {},
                              "web:bob@example.com", lambda line: None, stop)
    assert (outcome.result, outcome.build_url) == ("CANCELLED", None)
    with JenkinsClient(standin.jenkins.base, "deploy-page", TOKEN, ca_file=str(tls[0])) as jenkins:
        assert jenkins.queue_item(outcome.queue_url).status == "cancelled"


@pytest.mark.parametrize("proceed", [True, False])
def test_a_build_waits_at_its_input_until_it_is_approved_or_aborted(standin, tls, tmp_path, proceed):
    lines: list[str] = []
    seen: list[tuple] = []
    client = JenkinsClient(standin.jenkins.base, "deploy-page", TOKEN, ca_file=str(tls[0]))

    def progress(line: str) -> None:
        lines.append(line)
        waiting = waiting_approval(lines)
        if waiting is not None and not seen:   # the build waits: what Jenkins lists, then the answer
            build_url = waiting[0].removesuffix("input/")
            seen.append(client.pending_inputs(build_url))
            with pytest.raises(JenkinsError, match="404"):
                client.answer_input(build_url, "NotTheInput", proceed=True)
            client.answer_input(build_url, waiting[1], proceed=proceed)

    with client:
        outcome = run_via_jenkins(settings(standin, tls[0], tmp_path), service("approves"), "staging", "deploy",
                                  {}, "web:bob@example.com", progress, threading.Event())
    [[pending]] = seen
    assert (pending.message, pending.proceed_text) == ("Promote approves to production?", "Promote to production")
    assert pending.approve_url == f"{outcome.build_url}input/" and pending.id[0].isupper()
    assert "Input requested" in lines
    if proceed:
        assert outcome.result == "SUCCESS" and "Approved by deploy-page" in lines
        assert lines.index("Approved by deploy-page") < lines.index("promoted after approval")
    else:
        assert outcome.result == "ABORTED" and "Rejected by deploy-page" in lines
        assert "promoted after approval" not in lines
    assert waiting_approval(lines) is None
