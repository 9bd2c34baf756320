"""The Jenkinsfile, executed: stage order, credential bindings, the deployer commands, no secret in Groovy.

The repository's Jenkinsfile and the shared library it loads (jenkins/vars/) run in a small Groovy
runtime of the declarative DSL (tests/jenkins/PipelineHarness.groovy) that records every step;
every scenario runs in one JVM (a few seconds). Only a missing Java skips these tests.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jenkins"))
import harness
from harness import JENKINS_ENV, REPO, scenario, shell_steps

if reason := harness.java_missing_reason():
    pytest.skip(reason, allow_module_level=True)

DEPLOY = r"deployer --output json deploy"
PROMOTE = r"deployer --output json promote"
STAGES = ["Build and test", "Deploy to staging", "Approval", "Promote to production", "Roll back"]

SERVICE_REPO_JENKINSFILE = """\
@Library('deployer') _
deployerPipeline(service: 'hello')
"""

# Pipelines that hand a credential to Groovy: each must be caught.
LEAKS = {
    "leak-gstring": """sh "deployer deploy hello --token ${env.DC1_DEPLOYER_TOKEN}" """,
    "leak-gstring-global": """sh "cat ${GKE_STAGING_KEY_FILE}" """,
    "leak-concat": """sh 'curl -H "Authorization: Bearer ' + env.DC1_DEPLOYER_TOKEN + '" https://k8s' """,
    "leak-echo": """echo env.DC1_DEPLOYER_TOKEN""",
    "gstring-without-secret": """sh "deployer deploy ${params.SERVICE}" """,
    "single-quoted": """sh 'deployer deploy hello --env staging'; sh 'test -s "$GKE_STAGING_KEY_FILE"'""",
}


def leak_jenkinsfile(body: str) -> str:
    return textwrap.dedent("""\
        pipeline {
            agent any
            parameters { string(name: 'SERVICE', defaultValue: 'hello') }
            stages {
                stage('Deploy') {
                    steps {
                        withCredentials([
                            string(credentialsId: 'deployer-onprem-dc1', variable: 'DC1_DEPLOYER_TOKEN'),
                            file(credentialsId: 'deployer-gke-staging', variable: 'GKE_STAGING_KEY_FILE'),
                        ]) {
                            BODY
                        }
                    }
                }
            }
        }
        """).replace("BODY", body)


def write_config(root: Path, clusters: dict[str, dict], environments: dict[str, list[str]]) -> Path:
    """A config dir with a service `svc` and the given clusters' credential stanzas."""
    (root / "clusters").mkdir(parents=True)
    (root / "services").mkdir()
    for name, credential in clusters.items():
        (root / "clusters" / f"{name}.yaml").write_text(yaml.safe_dump({"name": name, "credential": credential}))
    service = {"name": "svc", "environments": {env: {"clusters": names} for env, names in environments.items()}}
    (root / "services" / "svc.yaml").write_text(yaml.safe_dump(service))
    return root


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("jenkins")
    service_repo = tmp / "service-repo.Jenkinsfile"
    service_repo.write_text(SERVICE_REPO_JENKINSFILE)
    approvers = tmp / "approvers.Jenkinsfile"
    approvers.write_text("@Library('deployer') _\ndeployerPipeline(service: 'hello', "
                         "approvers: 'release-managers,alice', approvalTimeout: 2)\n")
    unknown_option = tmp / "unknown-option.Jenkinsfile"
    unknown_option.write_text("@Library('deployer') _\ndeployerPipeline(service: 'hello', agnet: 'linux')\n")
    library = {"deployer": REPO / "jenkins"}

    mixed = write_config(tmp / "mixed", {
        "dc2": {"type": "token", "env": "DC2_TOKEN"},
        "gke-eu": {"type": "serviceAccountKey", "fileEnv": "GKE_EU_KEY_FILE"},
        "gke-us": {"type": "applicationDefault"},
    }, {"staging": ["dc2", "gke-eu", "gke-us"]})
    file_credential = write_config(tmp / "file-credential", {"dc2": {"type": "token", "file": "/etc/dc2.token"}},
                                   {"staging": ["dc2"]})
    shared_variable = write_config(tmp / "shared-variable", {
        "dc2": {"type": "token", "env": "DC_TOKEN"}, "dc3": {"type": "token", "env": "DC_TOKEN"},
    }, {"staging": ["dc2", "dc3"]})

    scenarios = [
        scenario("staging", params={"ENVIRONMENT": "staging"}),
        scenario("production", params={"ENVIRONMENT": "production"}, inputs=["approve"]),
        scenario("production-aborted", params={"ENVIRONMENT": "production"}, inputs=["abort"]),
        scenario("staging-deploy-fails", params={"ENVIRONMENT": "production"}, sh=[{"match": DEPLOY, "exit": 8}]),
        scenario("tests-fail", params={"ENVIRONMENT": "staging"}, sh=[{"match": "^make lint unit", "exit": 2}]),
        scenario("rollback-production", params={"ACTION": "rollback", "ENVIRONMENT": "production", "REVISION": "3"}),
        scenario("rollback-staging", params={"ACTION": "rollback", "ENVIRONMENT": "staging"}),
        scenario("missing-credential", params={"ENVIRONMENT": "production"}, inputs=["approve"],
                 credentials=["deployer-gke-staging"]),
        scenario("bad-service", params={"SERVICE": "../secrets", "ENVIRONMENT": "staging"}),
        scenario("service-repo", jenkinsfile=service_repo, libraries=library, params={"ENVIRONMENT": "production"},
                 inputs=["approve"]),
        scenario("service-repo-rollback", jenkinsfile=service_repo, libraries=library,
                 params={"ACTION": "rollback", "ENVIRONMENT": "production", "REVISION": "3"}),
        scenario("service-repo-rollback-previous", jenkinsfile=service_repo, libraries=library,
                 params={"ACTION": "rollback", "ENVIRONMENT": "staging"}),
        scenario("service-repo-from-the-page", jenkinsfile=service_repo, libraries=library,
                 params={"ENVIRONMENT": "staging", "ACTOR": "web:alice@example.com", "REQUEST_ID": "job-7"}),
        scenario("unknown-option", jenkinsfile=unknown_option, libraries=library),
        # Build 42 waits at its approval; a newer build is approved first and goes on; 42 is approved late.
        scenario("approved-after-a-newer-build", params={"ENVIRONMENT": "production"}, inputs=["approve"],
                 newer_build_approved_first=True),
        scenario("approvers", jenkinsfile=approvers, libraries=library, params={"ENVIRONMENT": "production"},
                 inputs=["approve by mallory", "approve by bob"], groups={"bob": ["release-managers"]}),
        scenario("approvers-only-others", jenkinsfile=approvers, libraries=library,
                 params={"ENVIRONMENT": "production"}, inputs=["approve by mallory", "abort"]),
        scenario("anyone-approves", jenkinsfile=service_repo, libraries=library, params={"ENVIRONMENT": "production"},
                 inputs=["approve by mallory"]),
        scenario("config-dir-from-env", jenkinsfile=service_repo, libraries=library, params={"SERVICE": "svc"},
                 env={"DEPLOYER_CONFIG_DIR": str(mixed)}),
        scenario("file-credential", jenkinsfile=service_repo, libraries=library, params={"SERVICE": "svc"},
                 env={"DEPLOYER_CONFIG_DIR": str(file_credential)}),
        scenario("shared-variable", jenkinsfile=service_repo, libraries=library, params={"SERVICE": "svc"},
                 env={"DEPLOYER_CONFIG_DIR": str(shared_variable)}),
    ]
    for name, body in LEAKS.items():
        path = tmp / f"{name}.Jenkinsfile"
        path.write_text(leak_jenkinsfile(body))
        scenarios.append(scenario(name, jenkinsfile=path))
    return harness.run_scenarios(scenarios)


def stages(build: dict) -> list[tuple[str, str]]:
    return [(s["name"], s["status"]) for s in build["stages"]]


def steps(build: dict, step: str, stage: str | None = None) -> list[dict]:
    return [s for s in build["steps"] if s["step"] == step and (stage is None or s["stage"] == stage)]


def bindings(build: dict, stage: str) -> list[dict]:
    return [b for s in steps(build, "withCredentials", stage) for b in s["bindings"]]


# --- stage order and flow -------------------------------------------------------------------------

def test_deploy_to_staging_builds_tests_and_deploys_to_staging_only(builds):
    build = builds["staging"]
    assert build["result"] == "SUCCESS", build["error"]
    assert stages(build) == [("Build and test", "success"), ("Deploy to staging", "success"),
                             ("Approval", "skipped"), ("Promote to production", "skipped"), ("Roll back", "skipped")]


def test_deploy_to_production_goes_through_staging_and_an_approval(builds):
    build = builds["production"]
    assert build["result"] == "SUCCESS", build["error"]
    assert stages(build) == [("Build and test", "success"), ("Deploy to staging", "success"),
                             ("Approval", "success"), ("Promote to production", "success"), ("Roll back", "skipped")]
    [question] = steps(build, "input")
    assert question["stage"] == "Approval"
    assert question["message"] == "Promote hello to production?"
    assert question["ok"] == "Promote to production"
    assert [t["unit"] for t in steps(build, "timeout", "Approval")] == ["HOURS"]


def test_the_approval_holds_no_agent_and_working_stages_take_one(builds):
    agents = {s["name"]: s["agent"] for s in builds["production"]["stages"]}
    assert agents["Approval"]["kind"] == "none"
    for name in ("Build and test", "Deploy to staging", "Promote to production", "Roll back"):
        assert agents[name] == {"kind": "label", "label": "deployer"}


def test_a_build_approved_after_a_newer_build_passed_the_approval_gives_way(builds):
    build = builds["approved-after-a-newer-build"]
    assert build["result"] == "ABORTED"
    assert "a newer build already passed milestone 2" in build["error"]
    assert [m["ordinal"] for m in steps(builds["production"], "milestone")] == [1, 2]  # not superseded: passes both
    assert stages(build)[2:4] == [("Approval", "aborted"), ("Promote to production", "skipped")]
    assert shell_steps(build, "Promote to production") == []
    # The milestones stand on both sides of the input: the one after it is what a late approval meets.
    approval = [s["step"] for s in build["steps"] if s["stage"] == "Approval"]
    assert approval == ["milestone", "timeout", "input", "inputApproved", "milestone"]


def test_only_the_approvers_may_approve_production_when_set(builds):
    build = builds["approvers"]
    assert build["result"] == "SUCCESS", build["error"]
    [question] = steps(build, "input")
    assert question["submitter"] == "release-managers,alice"
    assert [(s["by"]) for s in steps(build, "inputRefused")] == ["mallory"]
    assert [(s["by"]) for s in steps(build, "inputApproved")] == ["bob"]       # a member of release-managers
    assert [t["time"] for t in steps(build, "timeout", "Approval")] == [2]     # approvalTimeout, in hours

    refused = builds["approvers-only-others"]
    assert refused["result"] == "ABORTED"
    assert stages(refused)[2:4] == [("Approval", "aborted"), ("Promote to production", "skipped")]
    assert shell_steps(refused, "Promote to production") == []


def test_without_approvers_anyone_who_may_build_approves(builds):
    build = builds["anyone-approves"]
    assert build["result"] == "SUCCESS", build["error"]
    [question] = steps(build, "input")
    assert "submitter" not in question
    assert [s["by"] for s in steps(build, "inputApproved")] == ["mallory"]
    assert [t["time"] for t in steps(build, "timeout", "Approval")] == [24]    # the default approvalTimeout


def test_an_aborted_approval_deploys_nothing_to_production(builds):
    build = builds["production-aborted"]
    assert build["result"] == "ABORTED"
    assert stages(build)[2:4] == [("Approval", "aborted"), ("Promote to production", "skipped")]
    assert shell_steps(build, "Promote to production") == []


def test_a_failed_staging_deploy_publishes_its_report_and_stops_before_production(builds):
    build = builds["staging-deploy-fails"]
    assert build["result"] == "FAILURE"
    assert "exit code 8" in build["error"]
    assert stages(build)[1:4] == [("Deploy to staging", "failed"), ("Approval", "skipped"),
                                  ("Promote to production", "skipped")]
    assert [a["artifacts"] for a in steps(build, "archiveArtifacts", "Deploy to staging")] == [
        "deployer-deploy-staging.json, deployer-deploy-staging.junit.xml"]
    assert [j["testResults"] for j in steps(build, "junit", "Deploy to staging")] == [
        "deployer-deploy-staging.junit.xml"]
    assert steps(build, "input") == []


def test_failing_tests_stop_the_deploy_and_are_still_published(builds):
    build = builds["tests-fail"]
    assert build["result"] == "FAILURE"
    assert stages(build)[:2] == [("Build and test", "failed"), ("Deploy to staging", "skipped")]
    assert [j["testResults"] for j in steps(build, "junit", "Build and test")] == ["reports/unit-tests.xml"]
    assert steps(build, "withCredentials") == []


def test_rollback_runs_only_the_rollback_stage_without_approval(builds):
    for name in ("rollback-production", "rollback-staging"):
        build = builds[name]
        assert build["result"] == "SUCCESS", build["error"]
        assert [n for n, status in stages(build) if status != "skipped"] == ["Roll back"]
        assert steps(build, "input") == []


def test_parameters_are_the_ones_the_deploy_page_passes(builds):
    params = {p["name"]: p for p in builds["staging"]["parameters"]}
    assert list(params) == ["SERVICE", "ENVIRONMENT", "ACTION", "REVISION", "ACTOR", "REQUEST_ID"]
    assert params["SERVICE"]["defaultValue"] == "hello"
    assert params["ENVIRONMENT"]["choices"] == ["staging", "production"]
    assert params["ACTION"]["choices"] == ["deploy", "rollback"]
    assert params["REVISION"]["defaultValue"] == ""
    assert params["ACTOR"]["defaultValue"] == "" and params["REQUEST_ID"]["defaultValue"] == ""


# --- the commands each stage runs -------------------------------------------------------------------

def test_build_and_test_installs_deployer_validates_and_runs_the_unit_tests(builds):
    build = builds["staging"]
    assert [s.script for s in shell_steps(build, "Build and test")] == [
        "make install", "deployer validate", 'make lint unit PYTEST_ARGS="--junitxml=reports/unit-tests.xml"']
    for step in shell_steps(build):
        assert step.env["PATH+DEPLOYER"] == f"{REPO}/.venv/bin"   # the deployer `make install` built
        assert step.env["DEPLOYER_COMMIT"] == JENKINS_ENV["GIT_COMMIT"]
        assert step.env["DEPLOYER_CONFIG_DIR"] == "."


def test_staging_builds_and_deploys_and_production_is_promoted_never_built(builds):
    build = builds["production"]
    [deploy] = [s for s in shell_steps(build, "Deploy to staging") if DEPLOY in s.script]
    assert (deploy.env["DEPLOY_ENVIRONMENT"], deploy.env["DEPLOY_REPORT"]) == ("staging", "deployer-deploy-staging")
    assert deploy.env["SERVICE"] == "hello"
    production = [s for s in shell_steps(build, "Promote to production") if "deployer " in s.script]
    assert [s.label for s in production] == ["deployer promote"]
    assert DEPLOY not in production[0].script and PROMOTE in production[0].script
    assert production[0].env["DEPLOY_SOURCE"] == "staging"
    assert production[0].env["DEPLOY_ENVIRONMENT"] == "production"
    assert production[0].env["DEPLOY_REPORT"] == "deployer-promote-production"
    [rollback] = shell_steps(builds["rollback-production"], "Roll back")[1:]
    assert "deployer --output json rollback" in rollback.script
    assert rollback.env["DEPLOY_ENVIRONMENT"] == "production"
    assert rollback.env["REVISION"] == "3"


def _run_with_fake_deployer(step, tmp_path, jenkins_env: dict[str, str] = JENKINS_ENV) -> dict:
    """Run a recorded sh step with a `deployer` that records its arguments and which credential
    variables it was given, to see the exact command line the shell builds; ``jenkins_env`` is
    what Jenkins puts in the agent's environment."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "calls.jsonl"
    fake = bin_dir / "deployer"
    fake.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os, sys
        credentials = sorted(k for k in os.environ if k.endswith(("_TOKEN", "_KEY_FILE")))
        with open({str(calls)!r}, "a") as f:
            f.write(json.dumps({{"argv": sys.argv[1:], "env": credentials}}) + "\\n")
        """))
    fake.chmod(0o755)
    secrets = {b["credentialsId"]: f"value-of-{b['credentialsId']}" for b in step.credentials}
    done = harness.run_shell_step(step, cwd=tmp_path, base_env={"PATH": f"{bin_dir}:/usr/bin:/bin", **jenkins_env},
                                  secrets=secrets)
    assert done.returncode == 0, done.stderr
    assert not any(value in done.stderr for value in secrets.values())   # sh -x shows commands, not secrets
    return json.loads(calls.read_text().splitlines()[-1])


def test_the_deploy_command_line_is_the_cli_contract(builds, tmp_path):
    build = builds["service-repo"]
    [staging] = shell_steps(build, "Deploy to staging")
    call = _run_with_fake_deployer(staging, tmp_path)
    assert call["argv"] == ["--output", "json", "deploy", "hello", "--env", "staging",
                            "--report", "deployer-deploy-staging.json", "--junit", "deployer-deploy-staging.junit.xml",
                            "--wait-for-lock", "10m", "--actor", JENKINS_ENV["BUILD_URL"]]
    assert call["env"] == ["GKE_STAGING_KEY_FILE"]
    [production] = shell_steps(build, "Promote to production")
    call = _run_with_fake_deployer(production, tmp_path)
    # The digest staging runs, and only if staging runs this build's commit: no build in production.
    assert call["argv"] == ["--output", "json", "promote", "hello", "--from", "staging", "--to", "production",
                            "--commit", JENKINS_ENV["GIT_COMMIT"],
                            "--report", "deployer-promote-production.json",
                            "--junit", "deployer-promote-production.junit.xml",
                            "--wait-for-lock", "10m", "--actor", JENKINS_ENV["BUILD_URL"]]
    assert call["env"] == ["DC1_DEPLOYER_TOKEN", "GKE_STAGING_KEY_FILE"]


def test_without_a_jenkins_url_the_actor_is_job_name_and_build_number(builds, tmp_path):
    # BUILD_URL is empty when Jenkins has no URL configured (Manage Jenkins -> System -> Jenkins URL).
    for jenkins_env in ({k: v for k, v in JENKINS_ENV.items() if k != "BUILD_URL"}, {**JENKINS_ENV, "BUILD_URL": ""}):
        for build, stage in (("service-repo", "Deploy to staging"), ("service-repo-rollback", "Roll back")):
            [step] = shell_steps(builds[build], stage)
            argv = _run_with_fake_deployer(step, tmp_path, jenkins_env)["argv"]
            assert argv[argv.index("--actor") + 1] == "hello#42"


def test_a_build_the_page_started_records_its_user_with_the_build_url(builds, tmp_path):
    # The deploy page's user comes in as the ACTOR parameter; the lock and release records name
    # both who asked and the build that did it.
    [step] = shell_steps(builds["service-repo-from-the-page"], "Deploy to staging")
    argv = _run_with_fake_deployer(step, tmp_path)["argv"]
    assert argv[argv.index("--actor") + 1] == f"web:alice@example.com via {JENKINS_ENV['BUILD_URL']}"
    assert step.env["REQUEST_ID"] == "job-7"


def test_the_rollback_command_line_passes_the_revision_only_when_given(builds, tmp_path):
    [to_three] = shell_steps(builds["service-repo-rollback"], "Roll back")
    assert _run_with_fake_deployer(to_three, tmp_path)["argv"] == [
        "--output", "json", "rollback", "hello", "--env", "production", "--to", "3",
        "--report", "deployer-rollback-production.json", "--junit", "deployer-rollback-production.junit.xml",
        "--wait-for-lock", "10m", "--actor", JENKINS_ENV["BUILD_URL"]]
    [previous] = shell_steps(builds["service-repo-rollback-previous"], "Roll back")
    argv = _run_with_fake_deployer(previous, tmp_path)["argv"]
    assert argv[:6] == ["--output", "json", "rollback", "hello", "--env", "staging"]
    assert "--to" not in argv


def test_reports_of_every_deploy_and_rollback_are_archived_and_published(builds):
    for name, stage, report in (("production", "Deploy to staging", "deployer-deploy-staging"),
                                ("production", "Promote to production", "deployer-promote-production"),
                                ("rollback-production", "Roll back", "deployer-rollback-production")):
        build = builds[name]
        [archived] = steps(build, "archiveArtifacts", stage)
        assert archived["artifacts"] == f"{report}.json, {report}.junit.xml"
        assert archived["allowEmptyArchive"] is True
        [published] = steps(build, "junit", stage)
        assert published == {**published, "testResults": f"{report}.junit.xml", "allowEmptyResults": True}


# --- credentials ------------------------------------------------------------------------------------

def expected_bindings(config: Path, service: str, environment: str) -> list[dict]:
    """The convention, independently of the Groovy: deployer-<cluster> bound to the variable the
    cluster file's credential names; secret text for a token, secret file for a key file."""
    targets = yaml.safe_load((config / "services" / f"{service}.yaml").read_text())["environments"][environment]
    out = []
    for cluster in targets["clusters"]:
        credential = yaml.safe_load((config / "clusters" / f"{cluster}.yaml").read_text())["credential"]
        if credential.get("env"):
            out.append({"kind": "string", "credentialsId": f"deployer-{cluster}", "variable": credential["env"]})
        elif credential.get("fileEnv"):
            out.append({"kind": "file", "credentialsId": f"deployer-{cluster}", "variable": credential["fileEnv"]})
    return out


def test_each_deploy_stage_binds_exactly_its_clusters_credentials(builds):
    build = builds["production"]
    assert bindings(build, "Deploy to staging") == [
        {"kind": "file", "credentialsId": "deployer-gke-staging", "variable": "GKE_STAGING_KEY_FILE"}]
    # The promotion reads staging's releases and deploys to production's clusters: both are bound.
    # gke-production authenticates as the agent's own Google identity: nothing to bind.
    assert bindings(build, "Promote to production") == [
        {"kind": "file", "credentialsId": "deployer-gke-staging", "variable": "GKE_STAGING_KEY_FILE"},
        {"kind": "string", "credentialsId": "deployer-onprem-dc1", "variable": "DC1_DEPLOYER_TOKEN"}]
    assert bindings(build, "Deploy to staging") == expected_bindings(REPO, "hello", "staging")
    assert bindings(build, "Promote to production") == (expected_bindings(REPO, "hello", "staging")
                                                        + expected_bindings(REPO, "hello", "production"))
    assert bindings(builds["rollback-production"], "Roll back") == expected_bindings(REPO, "hello", "production")


def test_credentials_are_bound_only_around_the_deployer_command(builds):
    for name in ("production", "rollback-staging", "service-repo"):
        for step in shell_steps(builds[name]):
            if step.credentials:
                assert step.script.count("deployer ") == 1 and step.label in ("deployer deploy", "deployer promote",
                                                                              "deployer rollback")
            else:
                assert "deployer --output json" not in step.script
    assert bindings(builds["production"], "Build and test") == []
    assert bindings(builds["production"], "Approval") == []


def test_bindings_follow_the_cluster_files_of_the_config_dir(builds):
    build = builds["config-dir-from-env"]
    assert build["result"] == "SUCCESS", build["error"]
    assert bindings(build, "Deploy to staging") == [
        {"kind": "string", "credentialsId": "deployer-dc2", "variable": "DC2_TOKEN"},
        {"kind": "file", "credentialsId": "deployer-gke-eu", "variable": "GKE_EU_KEY_FILE"}]
    [deploy] = shell_steps(build, "Deploy to staging")
    assert deploy.env["DEPLOYER_CONFIG_DIR"].endswith("/mixed")


def test_a_credential_jenkins_cannot_bind_is_refused_with_a_hint(builds):
    build = builds["file-credential"]
    assert build["result"] == "FAILURE"
    assert "clusters/dc2.yaml reads its credential from file /etc/dc2.token" in build["error"]
    assert "deployer-dc2" in build["error"]
    assert steps(build, "withCredentials") == []


def test_two_clusters_sharing_one_variable_are_refused(builds):
    build = builds["shared-variable"]
    assert build["result"] == "FAILURE"
    assert "clusters dc2 and dc3 both read their credential from $DC_TOKEN" in build["error"]


def test_a_missing_jenkins_credential_fails_the_stage_that_needs_it(builds):
    build = builds["missing-credential"]
    assert build["result"] == "FAILURE"
    assert build["error"] == "Could not find credentials entry with ID 'deployer-onprem-dc1'"
    assert stages(build)[3] == ("Promote to production", "failed")
    assert shell_steps(build, "Promote to production")[-1].script == "make install"   # no deploy ran


def test_a_service_name_that_is_not_a_name_is_refused_before_any_credential(builds):
    build = builds["bad-service"]
    assert build["result"] == "FAILURE"
    assert "SERVICE must be a service name" in build["error"]
    assert steps(build, "withCredentials") == []


# --- no credential through Groovy --------------------------------------------------------------------

def test_no_shell_step_of_the_pipeline_is_a_groovy_gstring(builds):
    own = [name for name in builds if name not in LEAKS]
    for name in own:
        assert builds[name]["violations"] == [], name
        assert [s["script"] for s in steps(builds[name], "sh") if s["gstring"]] == [], name


def test_the_harness_catches_a_credential_handed_to_groovy(builds):
    def kinds(name):
        return sorted({v["kind"] for v in builds[name]["violations"]})

    assert kinds("leak-gstring") == ["gstring-in-withCredentials", "gstring-interpolates-credential",
                                     "secret-in-arguments"]
    assert kinds("leak-gstring-global") == kinds("leak-gstring")
    assert kinds("leak-concat") == ["secret-in-arguments"]          # a String, yet it carries the token
    assert kinds("leak-echo") == ["secret-in-arguments"]
    assert kinds("gstring-without-secret") == ["gstring-in-withCredentials"]
    assert kinds("single-quoted") == []
    [leak] = [v for v in builds["leak-concat"]["violations"]]
    assert leak["stage"] == "Deploy" and leak["step"] == "sh"
    assert "credential deployer-onprem-dc1 ($DC1_DEPLOYER_TOKEN)" in leak["message"]


# --- one pipeline, many repositories -------------------------------------------------------------------

def test_the_repository_jenkinsfile_reuses_the_shared_library(builds):
    text = (REPO / "Jenkinsfile").read_text()
    assert "stage(" not in text and "deployerPipeline(" in text
    [loaded] = steps(builds["staging"], "library")
    assert loaded["retriever"] == {"retriever": "legacySCM", "scm": "scm", "libraryPath": "jenkins/"}


def test_a_service_repository_needs_two_lines(builds):
    build = builds["service-repo"]
    assert build["result"] == "SUCCESS", build["error"]
    assert stages(build) == stages(builds["production"])
    assert [s.script for s in shell_steps(build, "Build and test")] == ["deployer validate"]


def test_an_unknown_option_is_an_error_that_lists_the_options(builds):
    build = builds["unknown-option"]
    assert build["result"] == "FAILURE"
    assert "unknown option agnet" in build["error"] and "agent" in build["error"]
    assert build["stages"] == []
