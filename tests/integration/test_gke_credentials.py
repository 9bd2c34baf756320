"""The GKE credential path end to end: service-account key file -> google-auth -> bearer token ->
kube-apiserver (token webhook answered by the GCP stand-in) -> RBAC bound to the account's email."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from deployer.app import connect, look_up_control_plane
from deployer.config.loader import load_config
from deployer.credentials import bearer_source
from deployer.credentials.google import GoogleToken, key_file_token
from deployer.errors import CredentialsError, ExitCode, ForbiddenError
from deployer.kube import access, objects
from deployer.kube.client import ClientOptions, KubeClient
from deployer.kube.endpoint import endpoint_of
from deployer.polling import poll_until
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
    # A name of its own: the role cannot delete what an earlier run on the same platform made.
    name = f"gke-cred-{uuid.uuid4().hex[:6]}"
    created = objects.apply(gke, deployment(name))
    assert created["metadata"]["generation"] == 1
    patched = objects.apply(gke, deployment(name, image="example.invalid/web:2"))
    assert patched["spec"]["template"]["spec"]["containers"][0]["image"] == "example.invalid/web:2"
    objects.apply(gke, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "apps"},
                        "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}})
    with pytest.raises(ForbiddenError) as denied:
        gke.request("DELETE", f"/api/v1/namespaces/apps/services/{name}", what=f"delete Service apps/{name}")
    assert "deployer@local-project.iam.gserviceaccount.com" in denied.value.message
    with pytest.raises(ForbiddenError):
        gke.get_json("/api/v1/namespaces/kube-system/configmaps", what="list configmaps in kube-system")


class Clock:
    """What the token source believes the time is (google-auth's naive UTC); the stand-in and the
    API server keep the real time."""

    def __init__(self) -> None:
        self.at = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def __call__(self) -> dt.datetime:
        return self.at


def _key_file_client(synced, clock: Clock, margin: dt.timedelta) -> tuple[KubeClient, GoogleToken]:
    cluster = synced.cluster("local-gke")
    source = key_file_token(cluster.name, Path(cluster.credential.file), via="test key", now=clock, margin=margin)
    # found by name with a token source of its own, so the one under test starts with no token
    endpoint = endpoint_of(cluster, synced, look_up_control_plane(cluster, synced, bearer_source(cluster, synced)))
    return KubeClient(endpoint, source, ClientOptions(), identity="the test key"), source


def test_a_token_is_reused_until_its_refresh_margin_then_replaced(synced, platform) -> None:
    admin = AdminClient(platform.gcp_url)
    email = platform.cluster("local-gke").service_account_email
    clock = Clock()
    client, source = _key_file_client(synced, clock, margin=dt.timedelta(seconds=60))
    before = len(_tokens(admin, email))
    assert access.whoami(client)[0] == email
    assert access.whoami(client)[0] == email
    first = source.token()
    assert len(_tokens(admin, email)) == before + 1  # refresh-always would have fetched one per request

    expires = _tokens(admin, email)[-1]["expireTime"]
    clock.at = dt.datetime.fromisoformat(expires.replace("Z", "")) - dt.timedelta(seconds=30)  # inside the margin
    assert access.whoami(client)[0] == email
    assert len(_tokens(admin, email)) == before + 2
    assert source.token() != first


def test_a_token_that_expires_mid_run_is_refreshed_after_the_401(synced, platform) -> None:
    admin = AdminClient(platform.gcp_url)
    email = platform.cluster("local-gke").service_account_email
    clock = Clock()  # frozen: the source never sees its token near expiry, only the API server's 401 can tell
    admin.set_token_ttl(2)
    try:
        client, source = _key_file_client(synced, clock, margin=dt.timedelta(0))
        assert access.whoami(client)[0] == email
        stale = source.token()

        # Wait, as a bounded poll, until the API server itself refuses that token (its webhook
        # cache holds a good answer for up to 5 s after the stand-in lets the token expire).
        def refused() -> bool | None:
            answer = requests.post(f"{platform.cluster('local-gke').server}/apis/authentication.k8s.io/v1/"
                                   "selfsubjectreviews", json={"apiVersion": "authentication.k8s.io/v1",
                                                               "kind": "SelfSubjectReview"},
                                   headers={"Authorization": f"Bearer {stale}"},
                                   verify=str(platform.cluster("local-gke").ca_file), timeout=10)
            return True if answer.status_code == 401 else None

        assert poll_until(refused, 30, interval=0.5), "the API server kept accepting an expired token"
        # The same client carries on. Its clock is frozen and its margin zero, so it cannot have
        # refreshed ahead of expiry: only the API server's 401 can have made it fetch a new token.
        assert access.whoami(client)[0] == email
        assert source.token() != stale
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


def _tokens(admin: AdminClient, email: str) -> list[dict]:
    """The live access tokens the stand-in has issued to ``email``, one entry per token (two issued
    in the same second are still two). The stand-in forgets expired tokens when it issues one, so
    only live ones can be counted."""
    return [t for t in admin.state()["tokens"] if t["email"] == email and not t["expired"]]
