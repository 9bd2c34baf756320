"""The Jenkinsfile's own shell steps, run for real against both local clusters.

The repository's Jenkinsfile is executed in the Groovy pipeline harness (tests/jenkins/), which
records every sh step with the environment the pipeline gave it and the withCredentials bindings
in force. This module runs exactly those scripts with /bin/sh -xe, as Jenkins' sh step does, on a
workspace of its own, with each credential supplied the way Jenkins binds it: the on-prem token as
the text of an environment variable (secret text), the GKE key as an environment variable holding
the path of a file written for the step (secret file). The Jenkins credential store is played by a
dict keyed by the ids the pipeline asked for, so a wrong id or variable fails here.

The cluster files are the platform's, with their deploy credential declared the Jenkins way
(`env:` / `fileEnv:` instead of `file:`), namespaces of this module's own (staging's, and
production's next to it), and the GKE deployer account bound to the deployer role in them (what
`deployer cluster provision` does on real GKE).

Three builds, as a team would run them: deploy to production (staging first, then approval, then
staging's digest promoted), then a new commit deployed to staging, then a rollback of staging to
revision 1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from kubernetes import client

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jenkins"))
import harness

from tests.integration.kit import write_jenkins_cluster_files

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CLUSTERS = ("local-onprem", "local-gke")
# The steps the repository's Jenkinsfile gives through its `setup` and `test` options: installing
# deployer into .venv and the lint + unit suite. `make test` has run both before these tests, and
# `make install` in a scratch workspace would repoint the shared editable install; all other
# steps run as recorded.
NOT_RUN = ("make install", 'make lint unit PYTEST_ARGS="--junitxml=reports/unit-tests.xml"')

if reason := harness.java_missing_reason():
    pytest.skip(reason, allow_module_level=True)


def deployer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / ".venv" / "bin" / "deployer"), *args], capture_output=True, text=True,
                          env=env, check=False, timeout=600)


@pytest.fixture(scope="module")
def namespace() -> str:
    return f"jenkins-{uuid.uuid4().hex[:6]}"


def production_namespace(namespace: str) -> str:
    return f"{namespace}-production"


@pytest.fixture(scope="module")
def jenkins_config(platform, platform_config_dir: Path, namespace: str, tmp_path_factory) -> Path:
    """Config folder: the platform's clusters with Jenkins-style credentials, and the hello service."""
    root = tmp_path_factory.mktemp("jenkins-config")
    (root / "charts").symlink_to(REPO / "charts")
    write_jenkins_cluster_files(platform, platform_config_dir, root, [namespace, production_namespace(namespace)],
                                "jenkins-test")
    (root / "services").mkdir()
    write_service(root, namespace, greeting="hello")
    return root


def write_service(root: Path, namespace: str, *, greeting: str) -> None:
    service = {
        "name": "hello", "namespace": namespace,
        "image": {"name": "hello", "context": str(REPO / "apps" / "hello")},
        "manifests": str(REPO / "services" / "hello" / "manifests"),
        "values": {"port": 8080, "greeting": greeting},
        "environments": {"staging": {"clusters": list(CLUSTERS), "values": {"replicas": 2}},
                         "production": {"clusters": list(CLUSTERS), "namespace": production_namespace(namespace),
                                        "promoteFrom": "staging", "values": {"replicas": 3}}},
        "rollout": {"timeout": "2m", "onFailure": "rollback-failed"},
    }
    (root / "services" / "hello.yaml").write_text(yaml.safe_dump(service, sort_keys=False))


@pytest.fixture(scope="module")
def synced(jenkins_config: Path, platform_config_dir: Path):
    """The platform team's part, before Jenkins deploys: namespaces and RBAC synced (admin credential)."""
    done = deployer("--config-dir", str(jenkins_config), "cluster", "sync", "--all")
    assert done.returncode == 0, done.stderr
    yield
    done = deployer("--config-dir", str(platform_config_dir), "cluster", "sync", "--all", "--prune-namespaces")
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """The agent's workspace: this checkout's library and the deployer `make install` built."""
    ws = tmp_path_factory.mktemp("workspace")
    (ws / "jenkins").symlink_to(REPO / "jenkins")
    (ws / ".venv").symlink_to(REPO / ".venv")
    return ws


@pytest.fixture(scope="module")
def credential_store(platform, tmp_path_factory) -> dict[str, str]:
    """Jenkins' credentials, by id: secret text for on-prem, a secret file (copied, 0600) for GKE."""
    onprem, gke = platform.cluster("local-onprem"), platform.cluster("local-gke")
    key_dir = tmp_path_factory.mktemp("secretFiles")
    key = key_dir / f"{uuid.uuid4()}.json"
    shutil.copyfile(gke.service_account_key_file, key)
    key.chmod(0o600)
    return {"deployer-local-onprem": onprem.user_token_files["jenkins-deployer"].read_text().strip(),
            "deployer-local-gke": str(key)}


@pytest.fixture(scope="module")
def builds(jenkins_config: Path, workspace: Path) -> dict[str, dict]:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    env = {"DEPLOYER_CONFIG_DIR": str(jenkins_config), "GIT_COMMIT": commit}
    return harness.run_scenarios([
        harness.scenario("production", workspace=workspace, env=env, params={"ENVIRONMENT": "production"},
                         inputs=["approve"]),
        harness.scenario("staging", workspace=workspace, env=env, params={"ENVIRONMENT": "staging"}),
        harness.scenario("rollback", workspace=workspace, env=env,
                         params={"ACTION": "rollback", "ENVIRONMENT": "staging", "REVISION": "1"}),
    ])


def agent_env(workspace: Path) -> dict[str, str]:
    """The agent's own environment (none of deployer's settings) plus what Jenkins sets for a build."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYER_")}
    return {**base, **harness.JENKINS_ENV, "WORKSPACE": str(workspace)}


def run_build(record: dict, workspace: Path, secrets: dict[str, str]) -> list[harness.ShellStep]:
    """Run every shell step of a recorded build, in order; return the ones that ran."""
    assert record["result"] == "SUCCESS", record["error"]
    assert record["violations"] == []
    ran = []
    for step in harness.shell_steps(record):
        if step.script in NOT_RUN:
            continue
        done = harness.run_shell_step(step, cwd=workspace, base_env=agent_env(workspace), secrets=secrets)
        output = done.stdout + done.stderr
        for secret in secrets.values():
            assert secret not in output, f"a credential's value appears in the output of step {step.label}"
        assert done.returncode == 0, f"{step.stage} / {step.label} exited {done.returncode}:\n{output[-4000:]}"
        ran.append(step)
    return ran


def deployment(admin_client, platform, name: str, namespace: str) -> client.V1Deployment:
    return client.AppsV1Api(admin_client(platform.cluster(name))).read_namespaced_deployment("hello", namespace)


def greeting(dep: client.V1Deployment) -> str:
    [container] = dep.spec.template.spec.containers
    return next(e.value for e in container.env if e.name == "GREETING")


def read_report(workspace: Path, name: str) -> tuple[dict, ET.Element]:
    report = json.loads((workspace / f"{name}.json").read_text())
    junit = ET.parse(workspace / f"{name}.junit.xml").getroot()
    return report, junit


def test_the_bindings_are_the_ones_the_cluster_files_name(builds):
    for name in ("production", "staging", "rollback"):
        for step in harness.shell_steps(builds[name]):
            if step.credentials:
                assert sorted((b["credentialsId"], b["kind"], b["variable"]) for b in step.credentials) == [
                    ("deployer-local-gke", "file", "LOCAL_GKE_KEY_FILE"),
                    ("deployer-local-onprem", "string", "LOCAL_ONPREM_DEPLOYER_TOKEN")]


@pytest.fixture(scope="module")
def production_build(builds, synced, workspace, credential_store) -> list[harness.ShellStep]:
    """Build 1: deploy to production (Build and test, staging, approval, production)."""
    return run_build(builds["production"], workspace, credential_store)


def test_deploy_to_production_through_staging(production_build, workspace, platform, namespace, admin_client):
    assert [(s.stage, s.label) for s in production_build] == [
        ("Build and test", "deployer validate"),
        ("Deploy to staging", "deployer deploy"),
        ("Promote to production", "deployer promote")]
    for report_name in ("deployer-deploy-staging", "deployer-promote-production"):
        report, junit = read_report(workspace, report_name)
        assert report["exitCode"] == 0
        assert {c["cluster"]: c["outcome"] for c in report["clusters"]} == dict.fromkeys(CLUSTERS, "succeeded")
        assert junit.get("failures") == "0" and int(junit.get("tests")) >= 2
        assert {case.get("classname") for case in junit.iter("testcase")} == set(CLUSTERS)
    digests = set()
    for name in CLUSTERS:
        staging = deployment(admin_client, platform, name, namespace)
        production = deployment(admin_client, platform, name, production_namespace(namespace))
        assert (staging.spec.replicas, production.spec.replicas) == (2, 3)   # each environment's values
        digests |= {dep.spec.template.spec.containers[0].image.split("@")[1] for dep in (staging, production)}
    assert len(digests) == 1 and next(iter(digests)).startswith("sha256:")   # production runs staging's build


def test_the_release_actor_is_the_build_url(builds, production_build, workspace, credential_store):
    # Read as Jenkins would: with the same bound credentials as the deploy step.
    step = next(s for s in harness.shell_steps(builds["production"], "Promote to production") if s.credentials)
    env = step.environ(agent_env(workspace))
    for binding in step.credentials:
        env[binding["variable"]] = credential_store[binding["credentialsId"]]
    done = deployer("--output", "json", "history", "hello", env=env)
    assert done.returncode == 0, done.stderr
    for name, releases in json.loads(done.stdout).items():
        assert releases, name
        assert {r["actor"] for r in releases} == {harness.JENKINS_ENV["BUILD_URL"]}, name


def test_a_new_commit_to_staging_then_a_rollback_to_revision_1(builds, production_build, workspace, credential_store,
                                                               platform, namespace, jenkins_config, admin_client):
    write_service(jenkins_config, namespace, greeting="hello again")   # the new commit
    ran = run_build(builds["staging"], workspace, credential_store)
    assert [s.stage for s in ran] == ["Build and test", "Deploy to staging"]
    for name in CLUSTERS:
        dep = deployment(admin_client, platform, name, namespace)
        assert (greeting(dep), dep.spec.replicas) == ("hello again", 2)

    ran = run_build(builds["rollback"], workspace, credential_store)
    assert [(s.stage, s.label) for s in ran] == [("Roll back", "deployer rollback")]
    report, junit = read_report(workspace, "deployer-rollback-staging")
    assert report["action"] == "rollback" and report["exitCode"] == 0
    assert junit.get("failures") == "0"
    for name in CLUSTERS:
        dep = deployment(admin_client, platform, name, namespace)
        assert (greeting(dep), dep.spec.replicas) == ("hello", 2)   # revision 1: the first staging deploy
