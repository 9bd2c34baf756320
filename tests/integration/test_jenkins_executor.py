"""The Jenkins executor, end to end: ``run_via_jenkins`` -> the Jenkins stand-in's remote API ->
the repository's real Jenkinsfile (the pipeline harness) -> its real shell steps with the clusters'
credentials bound the Jenkins way -> deployer -> both local clusters.

The stand-in runs as a process of its own, as the Jenkins controller would, holding the Jenkins
credentials (the on-prem token as secret text, the GKE key as a secret file). The caller of the
executor holds a Jenkins API token only: the deploy runs as an unprivileged user through
``deployer jenkins trigger`` (the executor's CLI), and that process's environment and every file
that user can read in the places the platform, the stand-in and the tests write are checked for
every token and key the platform issued.

Two builds of one service: a deploy to staging (r1 on both clusters; the console streams while the
build runs; each cluster's release read back from the archived report; the actor in the release
records is the page's user with the build URL), then a deploy whose pods never become ready, aborted
while it waits: Jenkins interrupts the sh step (SIGTERM), deployer rolls the clusters back within
its grace period, and every cluster ends on r1's release with no record left in progress.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jenkins"))
import harness

from deployer.config.loader import load_config, load_jenkins_settings
from deployer.jenkins.client import JenkinsClient
from deployer.jenkins.executor import run_via_jenkins
from deployer.polling import poll_until
from tests.integration.kit import CLUSTERS, WEB_DEPLOYMENT, admin_api, platform_secrets, write_jenkins_cluster_files

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# As in test_jenkins_steps.py: the Jenkinsfile's `setup` (make install) and `test` (lint and the unit
# suite) are recorded but not run: `make test` ran both, and `make install` in a scratch workspace
# would repoint the shared editable install.
NOT_RUN = ["make install", 'make lint unit PYTEST_ARGS="--junitxml=reports/unit-tests.xml"']
ACTOR = "web:alice@example.com"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
# The unprivileged caller cannot run this checkout's .venv interpreter (it may live under /root, as
# pyenv's does): it runs Debian's python3 of the same minor version with the venv's packages and the
# checkout on PYTHONPATH, which it can read.
SITE_PACKAGES = next((REPO / ".venv" / "lib").glob("python3.*/site-packages"))
CALLER_PYTHON = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"

if reason := harness.java_missing_reason():
    pytest.skip(reason, allow_module_level=True)
if os.geteuid() != 0:
    pytest.skip("the caller runs as another user (nobody) to prove which files it can read: run as root",
                allow_module_level=True)


@pytest.fixture(scope="module")
def name() -> str:
    return f"jx-{uuid.uuid4().hex[:6]}"


def write_service(folder: Path, name: str, never_ready_on: list[str], production_group: str | None = None) -> None:
    """``production_group``: also a production environment (namespace ``<name>-prod``, promoted from
    staging) that only that group may deploy."""
    environments: dict = {"staging": {"clusters": list(CLUSTERS)}}
    if production_group is not None:
        environments["production"] = {"clusters": list(CLUSTERS), "namespace": f"{name}-prod",
                                      "promoteFrom": "staging",
                                      "access": {a: [production_group] for a in ("deploy", "promote", "rollback")}}
    (folder / "services" / f"{name}.yaml").write_text(yaml.safe_dump({
        "name": name, "namespace": name, "manifests": "manifests",
        "image": {"name": "web", "context": str(REPO / "apps" / "hello")},
        "values": {"neverReadyOn": never_ready_on},
        "environments": environments,
        "rollout": {"timeout": "3m", "onFailure": "rollback-failed"},
        "executor": "jenkins",
    }))


@pytest.fixture(scope="module")
def jenkins_config(platform, platform_config_dir: Path, name: str, tmp_path_factory) -> Path:
    """What the Jenkins agent deploys from: Jenkins-style cluster files and the service."""
    root = tmp_path_factory.mktemp("jenkins-agent-config")
    (root / "charts").symlink_to(REPO / "charts")
    write_jenkins_cluster_files(platform, platform_config_dir, root, [name, f"{name}-prod"], "jenkins-executor-test")
    (root / "services" / "manifests").mkdir(parents=True)
    (root / "services" / "manifests" / "deployment.yaml.j2").write_text(WEB_DEPLOYMENT)
    write_service(root, name, never_ready_on=[])
    return root


@pytest.fixture(scope="module")
def synced(jenkins_config: Path, platform_config_dir: Path) -> Iterator[None]:
    """The platform team's part: the service's namespace and RBAC synced (admin credential)."""
    deployer = str(REPO / ".venv" / "bin" / "deployer")
    done = subprocess.run([deployer, "--config-dir", str(jenkins_config), "cluster", "sync", "--all"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    yield
    done = subprocess.run([deployer, "--config-dir", str(platform_config_dir), "cluster", "sync", "--all",
                           "--prune-namespaces"], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def standin(platform, jenkins_config: Path, synced, name: str, tmp_path_factory) -> Iterator[tuple[str, str, Path]]:
    """The Jenkins stand-in as its own process: the job deploy/<name> runs the repository's
    Jenkinsfile; its credential store holds the clusters' deploy credentials. Yields its URL, the
    API token of the page's Jenkins user, and its state folder."""
    home = tmp_path_factory.mktemp("jenkins-home")
    home.chmod(0o700)
    workspace = home / "workspace"
    workspace.mkdir()
    (workspace / "jenkins").symlink_to(REPO / "jenkins")
    (workspace / ".venv").symlink_to(REPO / ".venv")
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    token = uuid.uuid4().hex
    onprem, gke = platform.cluster("local-onprem"), platform.cluster("local-gke")
    agent_env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYER_")}
    config = {
        "users": {"deploy-page": token},
        "jobs": {f"deploy/{name}": {
            "jenkinsfile": str(REPO / "Jenkinsfile"), "workspace": str(workspace),
            "env": {"DEPLOYER_CONFIG_DIR": str(jenkins_config), "GIT_COMMIT": commit}, "agentEnv": agent_env,
            "notRun": NOT_RUN,
            # A production deploy pauses at its approval until it is approved over the remote API.
            "waitForInput": True}},
        "credentials": {
            "deployer-local-onprem": {"kind": "string",
                                      "secret": onprem.user_token_files["jenkins-deployer"].read_text().strip()},
            "deployer-local-gke": {"kind": "file", "secret": gke.service_account_key_file.read_text(),
                                   "fileName": "key.json"}},
        "quietPeriod": 0.5, "executors": 2,
        # Jenkins' default (hudson.util.ProcessTree.softKillWaitSeconds): deployer's default --grace-period
        # of 4 s fits inside it (docs/jenkins.md).
        "softKillWaitSeconds": 5,
    }
    config_file = home / "config.json"
    config_file.write_text(json.dumps(config))
    config_file.chmod(0o600)
    port_file = home / "port"
    with open(home / "standin.log", "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "deployer_localplatform.jenkins_standin", "--config",
                                    str(config_file), "--state-dir", str(home), "--port-file", str(port_file)],
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        port = poll_until(lambda: port_file.read_text().strip() if port_file.exists() else None, 30,
                          interval=0.05, cancelled=lambda: process.poll() is not None)
        assert port, (home / "standin.log").read_text()
        yield f"http://127.0.0.1:{port}/", token, home
    finally:
        process.terminate()
        process.wait(timeout=90)


@pytest.fixture(scope="module")
def caller_config(jenkins_config: Path, standin, name: str) -> Iterator[Path]:
    """The deploy page's side, readable by the unprivileged caller: the service and cluster files
    (which name credentials, never hold them), jenkins.yaml and the Jenkins API token."""
    url, token, _ = standin
    root = Path(tempfile.mkdtemp(prefix="jenkins-caller-"))
    try:
        root.chmod(0o755)
        # The cluster files name their credentials (never hold them) and their API servers' CA
        # certificates, which are public: the page's copy carries its own copy of each.
        (root / "clusters").mkdir()
        for path in (jenkins_config / "clusters").glob("*.yaml"):
            doc = yaml.safe_load(path.read_text())
            if doc.get("ca", {}).get("file"):
                shutil.copyfile(doc["ca"]["file"], root / "clusters" / f"{path.stem}-ca.crt")
                doc["ca"]["file"] = str(root / "clusters" / f"{path.stem}-ca.crt")
            (root / "clusters" / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
        shutil.copytree(jenkins_config / "services", root / "services")
        (root / "charts").symlink_to(REPO / "charts")
        (root / "jenkins.yaml").write_text(f"url: {url}\nuser: deploy-page\ntokenFile: jenkins-token\n"
                                           "pollInterval: 0.2\n")
        (root / "jenkins-token").write_text(token + "\n")
        for path in root.rglob("*"):
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        yield root
    finally:
        shutil.rmtree(root)


def release_records(platform, cluster: str, namespace: str, service: str) -> list[dict]:
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        maps = client.CoreV1Api(api).list_namespaced_config_map(
            namespace, label_selector=f"deployer.io/record=release,deployer.io/service={service}").items
    return sorted((json.loads(cm.data["record.json"]) for cm in maps), key=lambda r: r["revision"])


def live_pod_labels(platform, cluster: str, namespace: str, service: str) -> dict[str, str]:
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        live = client.AppsV1Api(api).read_namespaced_deployment(service, namespace)
    return dict(live.spec.template.metadata.labels or {})


# What the unprivileged caller reads back: every readable file under these roots (large files and
# unreadable folders skipped), searched for each secret. Run as that user after the deploy.
READABLE_SCAN = """
import json, os, sys
roots, secrets = json.loads(sys.argv[1]), json.loads(sys.argv[2])
read, found = 0, []
for root in roots:
    for folder, dirs, files in os.walk(root, onerror=lambda e: None):
        for f in files:
            path = os.path.join(folder, f)
            try:
                if not os.path.isfile(path) or os.path.getsize(path) > 4 << 20:
                    continue
                data = open(path, "rb").read()
            except OSError:
                continue
            read += 1
            found += [path for s in secrets if s.encode() in data]
print(json.dumps({"read": read, "found": found}))
"""


def test_a_deploy_through_jenkins_reaches_both_clusters_from_a_caller_without_cluster_credentials(
        platform, standin, caller_config: Path, name: str, tmp_path_factory):
    url, token, home = standin
    secrets = platform_secrets(platform)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(caller_config), "LANG": "C.UTF-8",
           "PYTHONPATH": f"{SITE_PACKAGES}:{REPO}"}
    process = subprocess.Popen(
        [*NOBODY, CALLER_PYTHON, "-m", "deployer", "--config-dir", str(caller_config), "--output", "json",
         "jenkins", "trigger", name, "--env", "staging", "--actor", ACTOR, "--request-id", "job-1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []   # (when it arrived, the console line)
    assert process.stderr is not None and process.stdout is not None
    for line in process.stderr:
        lines.append((time.time(), line.rstrip("\n")))
        if len(lines) == 1:   # the caller is running: what it was started with
            environ = Path(f"/proc/{process.pid}/environ").read_bytes()
    stdout = process.stdout.read()
    process.wait(timeout=60)
    assert process.returncode == 0, "\n".join(line for _, line in lines)[-6000:]
    for secret in secrets:
        assert secret.encode() not in environ
        assert secret not in stdout and all(secret not in line for _, line in lines)

    outcome = json.loads(stdout)
    assert (outcome["result"], outcome["exitCode"], outcome["report"]) == ("SUCCESS", 0, "deployer-deploy-staging.json")
    assert {c["cluster"]: (c["outcome"], c["revision"]) for c in outcome["clusters"]} == \
        dict.fromkeys(CLUSTERS, ("succeeded", 1))
    build_url = outcome["buildUrl"]
    assert build_url.startswith(url + f"job/deploy/job/{name}/")

    # The console streamed: the deploy's own lines reached the caller while the build still ran.
    with JenkinsClient(url, "deploy-page", token) as jenkins:
        build = jenkins.build(build_url)
    ended = (build.timestamp_ms + build.duration_ms) / 1000
    deploy_lines = [at for at, line in lines if "[local-gke]" in line or "[local-onprem]" in line]
    assert deploy_lines and min(deploy_lines) < ended - 0.5, "no deploy line arrived before the build ended"
    assert any(line.startswith("+ deployer --output json deploy") for _, line in lines)
    assert any(line == "Masking supported pattern matches of $LOCAL_ONPREM_DEPLOYER_TOKEN" for _, line in lines)

    for cluster in CLUSTERS:
        [record] = release_records(platform, cluster, name, name)
        assert record["actor"] == f"{ACTOR} via {build_url}"

    # Nothing the caller's user can read holds a cluster credential: not the platform's files, not
    # Jenkins' home (its credential store), not the tests' folders.
    roots = [str(platform.state_dir), str(home), str(caller_config), str(tmp_path_factory.getbasetemp())]
    scan = subprocess.run([*NOBODY, CALLER_PYTHON, "-c", READABLE_SCAN, json.dumps(roots), json.dumps(secrets)],
                          capture_output=True, text=True, timeout=300, check=True, env=env)
    result = json.loads(scan.stdout)
    assert result["found"] == [] and result["read"] >= 5   # it did read: its own files under caller_config


def test_aborting_the_build_stops_the_deploy_and_every_cluster_ends_on_a_known_release(
        platform, standin, caller_config: Path, jenkins_config: Path, name: str):
    # The new release's pods never become ready, so the deploy is still waiting when it is aborted.
    for folder in (jenkins_config, caller_config):
        write_service(folder, name, never_ready_on=list(CLUSTERS))
    settings = load_jenkins_settings(caller_config)
    service = load_config(caller_config).service(name)
    stop = threading.Event()
    lines: list[str] = []
    waiting: set[str] = set()

    def progress(line: str) -> None:
        lines.append(line)
        for cluster in CLUSTERS:
            if f"[{cluster}] Deployment {name}/{name}: " in line:   # its rollout wait reporting
                waiting.add(cluster)
        if waiting == set(CLUSTERS):
            stop.set()

    outcome = run_via_jenkins(settings, service, "staging", "deploy", {"REQUEST_ID": "job-2"}, ACTOR, progress,
                              stop)
    assert stop.is_set(), "\n".join(lines[-80:])
    assert (outcome.result, outcome.stop_requested) == ("ABORTED", True)
    assert outcome.exit_code == 143, "\n".join(lines[-80:])   # deployer's SIGTERM exit: settled, then stopped
    assert "Sending interrupt signal to process" in lines
    for cluster in CLUSTERS:
        records = release_records(platform, cluster, name, name)
        assert all(r["outcome"] != "in-progress" for r in records), records
        # Back on r1's objects: the never-ready label is gone from the live template.
        assert "deployer.test/never-ready" not in live_pod_labels(platform, cluster, name, name)
    assert {c.cluster: c.outcome for c in outcome.clusters} == dict.fromkeys(CLUSTERS, "rolled-back"), \
        [c.to_dict() for c in outcome.clusters]
