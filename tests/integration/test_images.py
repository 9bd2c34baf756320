"""Images on the local platform, with real buildah, skopeo and registry: each cluster runs the
image from its own registry, pinned by digest, and `deployer status` says so; an image that cannot
be built or a registry that cannot be reached makes `deployer deploy` exit 5 (an outside tool
failed), naming what failed, with nothing written to any cluster."""

from __future__ import annotations

import json
import socket
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from deployer.errors import ExitCode
from tests.conftest import REPO, run_cli
from tests.integration.kit import WEB_DEPLOYMENT, admin_api

pytestmark = pytest.mark.integration

def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def folder(tmp_path: Path, synced_config_dir: Path, platform, monkeypatch) -> Path:
    config = tmp_path / "config"
    (config / "clusters").mkdir(parents=True)
    (config / "services" / "manifests").mkdir(parents=True)
    (config / "charts").symlink_to(REPO / "charts")
    for cluster_file in (synced_config_dir / "clusters").glob("*.yaml"):
        (config / "clusters" / cluster_file.name).write_text(cluster_file.read_text())
    (config / "services" / "manifests" / "deployment.yaml.j2").write_text(WEB_DEPLOYMENT)
    monkeypatch.setenv("DEPLOYER_BUILDAH_ROOT", str(platform.state_dir / "buildah"))
    return config


def write_service(config: Path, name: str, context: Path) -> None:
    (config / "services" / f"{name}.yaml").write_text(yaml.safe_dump({
        "name": name, "namespace": "apps", "manifests": "manifests",
        "image": {"name": "web", "context": str(context)},
        "environments": {"staging": {"clusters": ["local-onprem", "local-gke"]}},
    }))


def deploy(config: Path, name: str):
    return run_cli("--config-dir", str(config), "deploy", name, "--env", "staging", "--commit", uuid.uuid4().hex[:8])


def live_deployment(platform, cluster: str, name: str):
    """The service's Deployment on ``cluster``, read with the admin token."""
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        return client.AppsV1Api(api).read_namespaced_deployment(name, "apps")


def nothing_written(config: Path, platform, name: str) -> None:
    """No release record and no Deployment of the service on either cluster."""
    from kubernetes.client.exceptions import ApiException

    history = run_cli("--config-dir", str(config), "-o", "json", "history", name, "--env", "staging")
    assert history.exit_code == 0, history.stdout + history.stderr
    assert all(records == [] for records in history.json().values()), history.stdout
    for cluster in ("local-onprem", "local-gke"):
        with pytest.raises(ApiException) as missing:
            live_deployment(platform, cluster, name)
        assert missing.value.status == 404


def test_each_cluster_runs_the_image_from_its_own_registry_by_digest(folder, platform) -> None:
    name = f"img-{uuid.uuid4().hex[:6]}"
    write_service(folder, name, REPO / "apps" / "hello")
    deployed = deploy(folder, name)
    assert deployed.exit_code == 0, deployed.stdout + deployed.stderr
    status = run_cli("--config-dir", str(folder), "-o", "json", "status", name, "--env", "staging")
    assert status.exit_code == 0, status.stdout + status.stderr

    digests = set()
    for cluster in ("local-onprem", "local-gke"):
        image = live_deployment(platform, cluster, name).spec.template.spec.containers[0].image
        repository, digest = image.split("@")
        assert repository == f"{platform.cluster(cluster).registry}/web", image   # its own registry
        digests.add(digest)
        # Pushed there: the cluster's own registry serves exactly that manifest.
        raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{image}"],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        assert json.loads(raw)["schemaVersion"] == 2
        release = status.json()[cluster]["staging"]
        assert (release["current"]["revision"], release["current"]["image"]) == (1, image)
        assert release["drift"] is False   # read from the cluster: it runs what the record says
    assert len(digests) == 1 and next(iter(digests)).startswith("sha256:")   # built once


def test_a_registry_that_refuses_connections_is_exit_5_naming_it(folder, platform) -> None:
    port = closed_port()
    cluster_file = folder / "clusters" / "local-onprem.yaml"
    cluster = yaml.safe_load(cluster_file.read_text())
    cluster["registry"] = f"127.0.0.1:{port}/onprem"
    cluster_file.write_text(yaml.safe_dump(cluster))
    name = f"img-{uuid.uuid4().hex[:6]}"
    write_service(folder, name, REPO / "apps" / "hello")

    result = deploy(folder, name)
    assert result.exit_code == ExitCode.TOOL, result.stdout + result.stderr
    assert f"deployer: error: inspect 127.0.0.1:{port}/onprem/web:" in result.stderr
    assert "connection refused" in result.stderr and "hint:" in result.stderr
    nothing_written(folder, platform, name)


def test_an_image_that_fails_to_build_is_exit_5_with_buildahs_error(folder, platform, tmp_path) -> None:
    context = tmp_path / "broken-image"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY no-such-file.txt /greeting.txt\n")
    name = f"img-{uuid.uuid4().hex[:6]}"
    write_service(folder, name, context)

    result = deploy(folder, name)
    assert result.exit_code == ExitCode.TOOL, result.stdout + result.stderr
    assert "deployer: error: build localhost/deployer/web:" in result.stderr
    assert "buildah exited with" in result.stderr and "no-such-file.txt" in result.stderr
    nothing_written(folder, platform, name)
