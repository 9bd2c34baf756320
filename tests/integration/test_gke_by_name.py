"""GKE clusters by name, end to end: a cluster file with only ``gke: {project, location, cluster}``
is found through the GCP stand-in's GKE API (clusters.get) with the cluster's own Google
credential, then deployed to; and the impersonation credential (application default credentials
impersonating the deployer account through IAM Credentials' generateAccessToken) deploys like a
key file does. The stand-in checks permissions as Google does and counts the requests it serves."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml

from deployer.app import App, connect
from deployer.config.loader import load_config
from deployer.errors import ExitCode
from deployer.kube import access
from deployer_localplatform.gcp_standin.client import AdminClient
from deployer_localplatform.topology import GCP_PROJECT, GKE_LOCATION
from tests.conftest import REPO, run_cli
from tests.integration.kit import WEB_DEPLOYMENT, admin_api

pytestmark = pytest.mark.integration

DEPLOYER_EMAIL = f"deployer@{GCP_PROJECT}.iam.gserviceaccount.com"


def lookup_path(cluster: str = "local-gke") -> str:
    return f"GET /v1/projects/{GCP_PROJECT}/locations/{GKE_LOCATION}/clusters/{cluster}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def gke_dir(tmp_path: Path, synced_config_dir: Path, platform, monkeypatch) -> Path:
    """A config folder holding only local-gke's cluster file (as the platform wrote it: found by
    name) and one fresh service deployed to it; ``edit(gke_file)`` changes the cluster file."""
    (tmp_path / "charts").symlink_to(REPO / "charts")
    (tmp_path / "clusters").mkdir()
    (tmp_path / "services").mkdir()
    monkeypatch.setenv("DEPLOYER_BUILDAH_ROOT", str(platform.state_dir / "buildah"))
    write_cluster(tmp_path, yaml.safe_load((synced_config_dir / "clusters" / "local-gke.yaml").read_text()))
    name = unique("byname")
    service = {"name": name, "namespace": "apps", "image": {"name": "web", "context": str(REPO / "apps" / "hello")},
               "manifests": "manifests", "environments": {"staging": {"clusters": ["local-gke"]}},
               "rollout": {"timeout": "60s", "onFailure": "leave"}}
    (tmp_path / "services" / f"{name}.yaml").write_text(yaml.safe_dump(service))
    (tmp_path / "services" / "manifests").mkdir()
    (tmp_path / "services" / "manifests" / "deployment.yaml.j2").write_text(WEB_DEPLOYMENT)
    return tmp_path


def write_cluster(folder: Path, document: dict) -> None:
    (folder / "clusters" / "local-gke.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def gke_file(folder: Path) -> dict:
    return yaml.safe_load((folder / "clusters" / "local-gke.yaml").read_text())


def service_name(folder: Path) -> str:
    return next((folder / "services").glob("*.yaml")).stem


def deploy(folder: Path):
    return run_cli("--config-dir", str(folder), "-o", "json", "deploy", service_name(folder), "--env", "staging",
                   "--commit", unique("c"))


def live_deployment(platform, name: str) -> dict | None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    with admin_api(platform.cluster("local-gke")) as api:
        try:
            return api.sanitize_for_serialization(client.AppsV1Api(api).read_namespaced_deployment(name, "apps"))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise


def key_file_for(platform, tmp_path: Path, account_id: str) -> tuple[Path, dict]:
    """A new key of a stand-in service account (created unless it exists) in a 0600 file."""
    key = AdminClient(platform.gcp_url).create_service_account_with_key(GCP_PROJECT, account_id)
    path = tmp_path / f"{account_id}.json"
    path.write_text(json.dumps(key))
    path.chmod(0o600)
    return path, key


def test_the_platforms_gke_file_names_no_server_and_deploys_by_name(gke_dir: Path, platform) -> None:
    document = gke_file(gke_dir)
    assert "server" not in document and "ca" not in document
    assert document["gke"] == {"project": GCP_PROJECT, "location": GKE_LOCATION, "cluster": "local-gke",
                               "googleApiEndpoint": platform.gcp_url}
    before = AdminClient(platform.gcp_url).requests().get(lookup_path(), 0)

    result = deploy(gke_dir)

    assert result.exit_code == 0, result.stdout + result.stderr
    assert [c["outcome"] for c in result.json()["clusters"]] == ["succeeded"]
    live = live_deployment(platform, service_name(gke_dir))
    assert live is not None and live["status"]["availableReplicas"] == 1
    # one lookup for the whole run, though the run builds more than one request to the cluster
    assert AdminClient(platform.gcp_url).requests().get(lookup_path(), 0) == before + 1


def test_one_lookup_per_cluster_per_run_whichever_credential_asks(gke_dir: Path, platform) -> None:
    config = load_config(gke_dir)
    gke = config.cluster("local-gke")
    admin = AdminClient(platform.gcp_url)
    before = admin.requests().get(lookup_path(), 0)
    with App(config) as app:
        deploy_client, admin_client = app.client(gke), app.admin_client(gke)
        assert deploy_client is not admin_client  # two credentials, two clients
        assert access.whoami(deploy_client)[0] == DEPLOYER_EMAIL
        assert access.whoami(admin_client)[0] == f"platform-admin@{GCP_PROJECT}.iam.gserviceaccount.com"
        assert deploy_client.endpoint.server == platform.cluster("local-gke").server
    assert admin.requests().get(lookup_path(), 0) == before + 1
    # a client built outside a run (no App) looks the cluster up itself
    assert access.whoami(connect(gke, config))[0] == DEPLOYER_EMAIL
    assert admin.requests().get(lookup_path(), 0) == before + 2


def test_a_cluster_that_does_not_exist_is_a_config_error_naming_it_and_nothing_is_written(
        gke_dir: Path, platform) -> None:
    document = gke_file(gke_dir)
    document["gke"]["cluster"] = "no-such-cluster"
    write_cluster(gke_dir, document)
    before = AdminClient(platform.gcp_url).requests().get(lookup_path("no-such-cluster"), 0)

    result = deploy(gke_dir)

    assert result.exit_code == ExitCode.CONFIG, result.stdout + result.stderr
    said = result.stdout + result.stderr
    assert "'no-such-cluster'" in said and f"'{GCP_PROJECT}'" in said and f"'{GKE_LOCATION}'" in said
    assert "does not exist" in said
    line = next(i for i, text in enumerate((gke_dir / "clusters" / "local-gke.yaml").read_text().splitlines(), 1)
                if "no-such-cluster" in text)
    assert f"local-gke.yaml:{line}:" in said and "gke.cluster" in said
    assert AdminClient(platform.gcp_url).requests().get(lookup_path("no-such-cluster"), 0) == before + 1
    assert live_deployment(platform, service_name(gke_dir)) is None


def test_a_credential_that_may_not_read_the_cluster_exits_4(gke_dir: Path, platform, tmp_path: Path) -> None:
    key_path, key = key_file_for(platform, tmp_path, "no-viewer")  # an account with no project role
    document = gke_file(gke_dir)
    document["credential"] = {"type": "serviceAccountKey", "file": str(key_path)}
    write_cluster(gke_dir, document)

    result = deploy(gke_dir)

    assert result.exit_code == ExitCode.CREDENTIALS, result.stdout + result.stderr
    said = result.stdout + result.stderr
    assert "container.clusters.get" in said and "HTTP 403" in said
    assert "roles/container.clusterViewer" in said
    assert key["private_key"].splitlines()[1] not in said
    assert live_deployment(platform, service_name(gke_dir)) is None


def test_an_unreachable_gke_api_is_a_clear_error(gke_dir: Path, platform) -> None:
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    document = gke_file(gke_dir)
    document["gke"]["googleApiEndpoint"] = f"http://127.0.0.1:{port}"
    document["credential"] = {"type": "serviceAccountKey",
                              "file": str(platform.cluster("local-gke").service_account_key_file)}
    write_cluster(gke_dir, document)

    result = deploy(gke_dir)

    assert result.exit_code == ExitCode.API_REJECTED, result.stdout + result.stderr
    assert f"cannot reach the GKE API at http://127.0.0.1:{port}" in result.stdout + result.stderr
    assert live_deployment(platform, service_name(gke_dir)) is None


def test_impersonation_mints_the_deployer_token_through_generate_access_token_and_deploys(
        gke_dir: Path, platform, tmp_path: Path, monkeypatch) -> None:
    admin = AdminClient(platform.gcp_url)
    source_key, _ = key_file_for(platform, tmp_path, "jenkins-ci")
    admin.grant(GCP_PROJECT, "roles/iam.serviceAccountTokenCreator",
                f"serviceAccount:jenkins-ci@{GCP_PROJECT}.iam.gserviceaccount.com")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(source_key))  # what ADC finds, as on a CI agent
    document = gke_file(gke_dir)
    document["credential"] = {"type": "applicationDefault", "impersonate": DEPLOYER_EMAIL}
    write_cluster(gke_dir, document)
    mint = f"POST /v1/projects/-/serviceAccounts/{DEPLOYER_EMAIL}:generateAccessToken"
    before = admin.requests().get(mint, 0)

    config = load_config(gke_dir)
    assert access.whoami(connect(config.cluster("local-gke"), config))[0] == DEPLOYER_EMAIL
    result = deploy(gke_dir)

    assert result.exit_code == 0, result.stdout + result.stderr
    assert live_deployment(platform, service_name(gke_dir)) is not None
    assert admin.requests().get(mint, 0) == before + 2  # one per run: the whoami above, the deploy


def test_impersonation_without_the_token_creator_grant_exits_4(gke_dir: Path, platform, tmp_path: Path,
                                                                 monkeypatch) -> None:
    source_key, key = key_file_for(platform, tmp_path, "jenkins-nogrant")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(source_key))
    document = gke_file(gke_dir)
    document["credential"] = {"type": "applicationDefault", "impersonate": DEPLOYER_EMAIL}
    write_cluster(gke_dir, document)

    result = deploy(gke_dir)

    assert result.exit_code == ExitCode.CREDENTIALS, result.stdout + result.stderr
    said = result.stdout + result.stderr
    assert f"application default credentials impersonating {DEPLOYER_EMAIL}" in said
    assert "Permission 'iam.serviceAccounts.getAccessToken' denied" in said
    assert "roles/iam.serviceAccountTokenCreator" in said
    assert key["private_key"].splitlines()[1] not in said
    assert live_deployment(platform, service_name(gke_dir)) is None
