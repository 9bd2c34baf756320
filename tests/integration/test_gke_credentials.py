"""The GKE credential path end to end: service-account key file -> google-auth -> bearer token ->
kube-apiserver (token webhook answered by the GCP stand-in) -> RBAC bound to the account's email."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from deployer.config.loader import load_config
from deployer.errors import CredentialsError, ExitCode, ForbiddenError
from deployer.kube import access, objects
from deployer.kube.connect import connect
from deployer_localplatform.gcp_standin.client import AdminClient
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def synced(synced_config_dir):
    return load_config(synced_config_dir)


@pytest.fixture
def gke(synced):
    return connect(synced.cluster("local-gke"), synced)


def deployment(name: str, image: str = "example.invalid/web:1") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "apps"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


def test_key_file_authenticates_as_the_account_email(gke, platform) -> None:
    username, groups = access.whoami(gke)
    assert username == platform.cluster("local-gke").service_account_email
    assert username.endswith("@local-project.iam.gserviceaccount.com")
    assert "system:authenticated" in groups


def test_the_bound_role_creates_and_patches_but_never_deletes(gke) -> None:
    created = objects.apply(gke, deployment("gke-cred-web"))
    assert created["metadata"]["generation"] == 1
    patched = objects.apply(gke, deployment("gke-cred-web", image="example.invalid/web:2"))
    assert patched["spec"]["template"]["spec"]["containers"][0]["image"] == "example.invalid/web:2"
    objects.apply(gke, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "gke-cred-web",
                                                                            "namespace": "apps"},
                        "spec": {"selector": {"app": "gke-cred-web"}, "ports": [{"port": 80}]}})
    with pytest.raises(ForbiddenError) as denied:
        gke.request("DELETE", "/api/v1/namespaces/apps/services/gke-cred-web", what="delete Service apps/gke-cred-web")
    assert "deployer@local-project.iam.gserviceaccount.com" in denied.value.message
    with pytest.raises(ForbiddenError):
        gke.get_json("/api/v1/namespaces/kube-system/configmaps", what="list configmaps in kube-system")


def test_a_token_that_expires_during_a_run_is_refreshed(synced, platform) -> None:
    admin = AdminClient(platform.gcp_url)
    email = platform.cluster("local-gke").service_account_email
    admin.set_token_ttl(2)
    try:
        client = connect(synced.cluster("local-gke"), synced)
        before = _tokens(admin, email)
        assert access.whoami(client)[0] == email
        first = _tokens(admin, email) - before
        assert len(first) == 1
        time.sleep(2.5)  # a real expiry: the stand-in's clock is the wall clock here
        assert not (first & _tokens(admin, email, live_only=True))  # the run's token is dead now
        mid = _tokens(admin, email)
        assert access.whoami(client)[0] == email  # the same client, mid-run, carries on
        fresh = _tokens(admin, email, live_only=True) - mid
        assert len(fresh) == 1
    finally:
        admin.set_token_ttl(3600)


def test_revoked_key_is_a_credentials_error_not_a_rollout_failure(synced, platform, tmp_path: Path) -> None:
    admin = AdminClient(platform.gcp_url)
    made = admin.create_service_account_with_key("local-project", "deployer")  # the key file's JSON
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(made))
    key_file.chmod(0o600)

    config_dir = tmp_path / "config"
    (config_dir / "clusters").mkdir(parents=True)
    (config_dir / "charts").symlink_to(REPO / "charts")
    (config_dir / "services").symlink_to(REPO / "examples" / "local" / "services")
    gke_file = yaml.safe_load(platform.cluster("local-gke").cluster_file.read_text())
    gke_file["credential"] = {"type": "serviceAccountKey", "fileEnv": "GKE_TEST_KEY_FILE"}
    (config_dir / "clusters" / "local-gke.yaml").write_text(yaml.safe_dump(gke_file))
    onprem = platform.cluster("local-onprem").cluster_file.read_text()
    (config_dir / "clusters" / "local-onprem.yaml").write_text(onprem)

    config = load_config(config_dir)
    import os

    os.environ["GKE_TEST_KEY_FILE"] = str(key_file)
    try:
        assert access.whoami(connect(config.cluster("local-gke"), config))[0] == made["client_email"]
        admin.revoke_key(made["private_key_id"])
        with pytest.raises(CredentialsError, match="Google refused"):
            access.whoami(connect(config.cluster("local-gke"), config))

        result = run_cli("--config-dir", str(config_dir), "deploy", "hello", "--env", "staging", "--commit", "revoked")
        assert result.exit_code == ExitCode.CREDENTIALS, result.stdout + result.stderr
        assert "local-gke" in result.stdout and "Google refused" in result.stdout
        assert "stopped before writing to any cluster" in result.stdout
        private = made["private_key"].splitlines()[1]
        assert private not in result.stdout + result.stderr
    finally:
        del os.environ["GKE_TEST_KEY_FILE"]


def _tokens(admin: AdminClient, email: str, live_only: bool = False) -> set[tuple[str, str]]:
    return {(t["keyId"], t["expireTime"]) for t in admin.state()["tokens"]
            if t["email"] == email and not (live_only and t["expired"])}
