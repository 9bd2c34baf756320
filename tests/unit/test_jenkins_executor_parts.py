"""The Jenkins executor's decisions (deployer/jenkins/executor.py) and its configuration: the
service's ``executor``/``jenkinsJob`` and the folder's ``jenkins.yaml``, with file/line/field errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.config.loader import load_jenkins_settings
from deployer.config.models import Service
from deployer.errors import ConfigError, CredentialsError, UsageError
from deployer.jenkins import executor


def hello(**extra) -> Service:
    return Service.model_validate({
        "name": "hello", "namespace": "apps",
        "environments": {"staging": {"clusters": ["dc1"]},
                         "production": {"clusters": ["gke"], "promoteFrom": "staging"}}, **extra})


def test_a_service_runs_locally_unless_it_says_jenkins_and_its_job_defaults_to_deploy_service():
    assert (hello().executor, hello().job_in_jenkins) == ("local", "deploy/hello")
    service = hello(executor="jenkins", jenkinsJob="teams/web/hello-deploy")
    assert (service.executor, service.job_in_jenkins) == ("jenkins", "teams/web/hello-deploy")
    for bad in ({"executor": "ssh"}, {"jenkinsJob": "../x"}, {"jenkinsJob": "a//b"}):
        with pytest.raises(ValueError):
            hello(**bad)


def test_the_build_carries_the_pipelines_parameters_the_actor_and_the_pages_job_id():
    assert executor.build_parameters(hello(), "staging", "deploy", {"REQUEST_ID": "17"}, "web:alice@example.com") == {
        "SERVICE": "hello", "ENVIRONMENT": "staging", "ACTION": "deploy", "REVISION": "",
        "ACTOR": "web:alice@example.com", "REQUEST_ID": "17"}
    assert executor.build_parameters(hello(), "production", "rollback", {"REVISION": "3"}, "bob")["REVISION"] == "3"


@pytest.mark.parametrize(("environment", "action", "parameters", "actor", "says"), [
    ("staging", "check", {}, "bob", "cannot run through Jenkins"),
    ("qa", "deploy", {}, "bob", "no environment 'qa'"),
    ("staging", "deploy", {"SERVICE": "other"}, "bob", "unknown build parameter SERVICE"),
    ("staging", "deploy", {}, " ", "actor"),
])
def test_what_the_pipeline_could_not_run_is_refused_before_jenkins_is_called(environment, action, parameters,
                                                                              actor, says):
    with pytest.raises(UsageError, match=says):
        executor.build_parameters(hello(), environment, action, parameters, actor)


def test_the_report_read_is_the_one_of_the_stage_that_ends_the_build():
    assert executor.report_name(hello(), "staging", "deploy") == "deployer-deploy-staging.json"
    assert executor.report_name(hello(), "production", "deploy") == "deployer-promote-production.json"
    assert executor.report_name(hello(), "production", "rollback") == "deployer-rollback-production.json"


def test_each_clusters_release_is_read_from_the_report():
    report = {"exitCode": 0, "clusters": [
        {"cluster": "dc1", "outcome": "succeeded", "revision": 3, "image": "r/hello@sha256:ab",
         "release": "on the new release r3", "end": {"kind": "new"}, "steps": []}]}
    [dc1] = executor.clusters_of(report)
    assert dc1.to_dict() == {"cluster": "dc1", "outcome": "succeeded", "revision": 3,
                             "release": "on the new release r3", "image": "r/hello@sha256:ab"}


def test_jenkins_yaml_is_optional_and_its_paths_are_relative_to_the_folder(tmp_path: Path):
    assert load_jenkins_settings(tmp_path) is None
    (tmp_path / "jenkins.yaml").write_text("url: https://ci.example/jenkins\nuser: deploy-page\n"
                                           "tokenFile: secrets/jenkins-token\ncaFile: /etc/ssl/ci.pem\n")
    settings = load_jenkins_settings(tmp_path)
    assert settings is not None
    assert (settings.token_file, settings.ca_file) == (str(tmp_path / "secrets/jenkins-token"), "/etc/ssl/ci.pem")
    assert (settings.poll_interval, settings.queue_timeout) == (1.0, 1800.0)


def test_a_bad_jenkins_yaml_names_the_file_line_and_field_and_refuses_a_token_in_it(tmp_path: Path):
    (tmp_path / "jenkins.yaml").write_text("url: ftp://ci.example\nuser: deploy-page\ntokenFile: t\n"
                                           "token: 11d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7\npollInterval: soon\n")
    with pytest.raises(ConfigError) as caught:
        load_jenkins_settings(tmp_path)
    assert caught.value.exit_code == 3
    assert [(p.file, p.line, p.field) for p in caught.value.problems] == [("jenkins.yaml", 4, "token")]
    (tmp_path / "jenkins.yaml").write_text("url: ftp://ci.example\nuser: deploy-page\ntokenFile: t\n"
                                           "pollInterval: soon\n")
    with pytest.raises(ConfigError) as caught:
        load_jenkins_settings(tmp_path)
    assert [(p.file, p.line, p.field) for p in caught.value.problems] == [
        ("jenkins.yaml", 1, "url"), ("jenkins.yaml", 4, "pollInterval")]


def test_a_missing_or_empty_token_file_is_a_credentials_error_naming_the_file_not_a_value(tmp_path: Path):
    (tmp_path / "jenkins.yaml").write_text("url: https://ci.example\nuser: deploy-page\ntokenFile: token\n")
    settings = load_jenkins_settings(tmp_path)
    with pytest.raises(CredentialsError, match="token"):
        executor.client_for(settings)
    (tmp_path / "token").write_text("\n")
    with pytest.raises(CredentialsError, match="is empty"):
        executor.client_for(settings)


def test_the_trigger_exit_code_is_deployers_own_else_the_builds_result():
    def outcome(result: str, code: int | None) -> executor.JenkinsOutcome:
        return executor.JenkinsOutcome(result, "https://ci/job/x/1/", "https://ci/queue/item/1/", exit_code=code)

    assert executor.exit_code(outcome("SUCCESS", 0)) == 0
    assert executor.exit_code(outcome("SUCCESS", None)) == 0
    assert executor.exit_code(outcome("FAILURE", 8)) == 8        # some clusters failed: deployer says so
    assert executor.exit_code(outcome("ABORTED", 143)) == 143
    assert executor.exit_code(outcome("FAILURE", None)) == 7     # failed before deployer wrote a report
    assert executor.exit_code(outcome("ABORTED", None)) == 143
    assert executor.exit_code(outcome("CANCELLED", None)) == 143
    assert executor.exit_code(outcome("FAILURE", 0)) == 7        # deployer succeeded, a later step did not


def test_trigger_without_jenkins_yaml_says_which_file_is_missing(cli):
    result = cli("jenkins", "trigger", "hello", "--env", "staging", "--actor", "alice@example.com")
    assert result.exit_code == 3
    assert "jenkins.yaml: no such file" in result.stderr and "docs/jenkins.md" in result.stderr


def test_trigger_help_teaches_with_examples(cli):
    result = cli("jenkins", "trigger", "--help")
    assert result.exit_code == 0
    assert "deployer jenkins trigger hello --env staging --actor alice@example.com" in result.stdout
