"""deployer's rollout verdict for StatefulSets (partitioned and OnDelete), DaemonSets and Jobs on
both local clusters, each checked against kubectl's own `rollout status` (or, for a Job, the
Job's Complete condition): the unit table in tests/unit/test_readiness_kinds.py says what the rules
are; these show them holding against real controllers."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from deployer.errors import ExitCode
from tests.conftest import REPO, run_cli
from tests.integration.kit import CLUSTERS, admin_api

pytestmark = pytest.mark.integration

STATEFULSET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ service.name }}
  namespace: {{ service.namespace }}
spec:
  replicas: 3
  serviceName: {{ service.name }}
  podManagementPolicy: Parallel
  updateStrategy:
    type: {{ values.strategyType }}
{% if values.partition is defined %}
    rollingUpdate:
      partition: {{ values.partition }}
{% endif %}
  selector:
    matchLabels: {app: {{ service.name }}}
  template:
    metadata:
      labels: {app: {{ service.name }}}
    spec:
      containers:
        - name: web
          image: {{ image }}
          env:
            - name: GREETING
              value: {{ values.greeting }}
"""

DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ service.name }}
  namespace: {{ service.namespace }}
spec:
  selector:
    matchLabels: {app: {{ service.name }}}
  template:
    metadata:
      labels: {app: {{ service.name }}}
    spec:
      containers:
        - name: agent
          image: {{ image }}
          env:
            - name: GREETING
              value: {{ values.greeting }}
"""

JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ service.name ~ '-' ~ values.greeting }}
  namespace: {{ service.namespace }}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: once
          image: {{ image }}
"""


@pytest.fixture(scope="module")
def kubectl() -> Path:
    from deployer_localplatform.binaries import ensure_binaries

    return ensure_binaries()["kubectl"]


@pytest.fixture
def config_dir(tmp_path: Path, synced_config_dir: Path, platform, monkeypatch) -> Path:
    (tmp_path / "charts").symlink_to(REPO / "charts")
    (tmp_path / "clusters").symlink_to(synced_config_dir / "clusters")
    (tmp_path / "services").mkdir()
    monkeypatch.setenv("DEPLOYER_BUILDAH_ROOT", str(platform.state_dir / "buildah"))
    return tmp_path


def write_service(folder: Path, name: str, template: str, values: dict) -> None:
    spec = {"name": name, "namespace": "apps", "image": {"name": "web", "context": str(REPO / "apps" / "hello")},
            "manifests": f"{name}-manifests", "values": values,
            "environments": {"staging": {"clusters": list(CLUSTERS)}},
            "rollout": {"timeout": "60s", "onFailure": "rollback-failed"}}
    (folder / "services" / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    (folder / "services" / f"{name}-manifests").mkdir(exist_ok=True)
    (folder / "services" / f"{name}-manifests" / "workload.yaml.j2").write_text(template)


def deploy(folder: Path, name: str, commit: str):
    return run_cli("--config-dir", str(folder), "-o", "json", "deploy", name, "--env", "staging",
                   "--commit", commit)


def kubectl_rollout_status(platform, kubectl: Path, cluster: str, what: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(kubectl), "--kubeconfig", str(platform.cluster(cluster).admin_kubeconfig),
                           "-n", "apps", "rollout", "status", what, "--timeout=60s"],
                          capture_output=True, text=True, timeout=90)


def outcomes(result) -> dict[str, str]:
    return {c["cluster"]: c["outcome"] for c in result.json()["clusters"]}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_a_partitioned_statefulset_update_is_done_when_the_pods_above_the_partition_are_updated(
        config_dir, platform, kubectl) -> None:
    # kubectl: "partitioned roll out complete" once the pods at or above the partition run the new
    # revision; currentRevision never reaches updateRevision, and waiting for it would roll back a
    # good rollout.
    name = unique("sts")
    strategy = {"strategyType": "RollingUpdate", "partition": 2}
    write_service(config_dir, name, STATEFULSET, {**strategy, "greeting": "one"})
    first = deploy(config_dir, name, unique("c"))
    assert first.exit_code == ExitCode.OK, first.stdout + first.stderr

    write_service(config_dir, name, STATEFULSET, {**strategy, "greeting": "two"})
    second = deploy(config_dir, name, unique("c"))

    assert second.exit_code == ExitCode.OK, second.stdout + second.stderr
    assert outcomes(second) == {c: "succeeded" for c in CLUSTERS}
    for cluster in CLUSTERS:
        verdict = kubectl_rollout_status(platform, kubectl, cluster, f"statefulset/{name}")
        assert verdict.returncode == 0, verdict.stdout + verdict.stderr
        assert "partitioned roll out complete" in verdict.stdout
        from kubernetes import client

        with admin_api(platform.cluster(cluster)) as api:
            live = client.AppsV1Api(api).read_namespaced_stateful_set(name, "apps")
            assert live.status.update_revision != live.status.current_revision  # partitioned: both exist
            pods = client.CoreV1Api(api).list_namespaced_pod("apps", label_selector=f"app={name}").items
            revisions = {p.metadata.name: p.metadata.labels["controller-revision-hash"] for p in pods}
        assert revisions[f"{name}-2"] == live.status.update_revision
        assert revisions[f"{name}-0"] == revisions[f"{name}-1"] == live.status.current_revision


def test_an_ondelete_statefulset_is_refused_as_kubectl_refuses_it(config_dir, platform, kubectl) -> None:
    # kubectl: "rollout status is only available for RollingUpdate strategy type"; with OnDelete
    # the new template reaches a pod only when someone deletes it, so "ready" would be a lie.
    name = unique("ondel")
    write_service(config_dir, name, STATEFULSET, {"strategyType": "OnDelete", "greeting": "one"})

    result = deploy(config_dir, name, unique("c"))

    assert result.exit_code == ExitCode.FAILED, result.stdout + result.stderr
    assert "OnDelete" in result.stdout
    for cluster in CLUSTERS:
        verdict = kubectl_rollout_status(platform, kubectl, cluster, f"statefulset/{name}")
        assert verdict.returncode != 0 and "only available for RollingUpdate" in verdict.stderr


def test_a_daemonset_update_is_done_when_kubectl_says_so(config_dir, platform, kubectl) -> None:
    name = unique("ds")
    write_service(config_dir, name, DAEMONSET, {"greeting": "one"})
    first = deploy(config_dir, name, unique("c"))
    assert first.exit_code == ExitCode.OK, first.stdout + first.stderr

    write_service(config_dir, name, DAEMONSET, {"greeting": "two"})
    second = deploy(config_dir, name, unique("c"))

    assert second.exit_code == ExitCode.OK, second.stdout + second.stderr
    assert outcomes(second) == {c: "succeeded" for c in CLUSTERS}
    for cluster in CLUSTERS:
        verdict = kubectl_rollout_status(platform, kubectl, cluster, f"daemonset/{name}")
        assert verdict.returncode == 0 and "successfully rolled out" in verdict.stdout, verdict.stderr
        from kubernetes import client

        with admin_api(platform.cluster(cluster)) as api:
            live = client.AppsV1Api(api).read_namespaced_daemon_set(name, "apps")
        assert live.status.updated_number_scheduled == live.status.desired_number_scheduled >= 1
        assert live.status.number_available == live.status.desired_number_scheduled


def test_a_job_is_done_when_it_completes(config_dir, platform) -> None:
    name = unique("job")
    write_service(config_dir, name, JOB, {"greeting": "one"})

    result = deploy(config_dir, name, unique("c"))

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    from kubernetes import client

    for cluster in CLUSTERS:
        with admin_api(platform.cluster(cluster)) as api:
            job = client.BatchV1Api(api).read_namespaced_job(f"{name}-one", "apps")
        conditions = {c.type: c.status for c in job.status.conditions or []}
        assert conditions.get("Complete") == "True", (cluster, conditions)
        assert job.status.succeeded == 1
