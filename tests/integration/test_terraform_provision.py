"""Real Terraform and the real google provider against the GCP stand-in.

The provider is built from its Go module by scripts/build-terraform-provider.sh (minutes, once
per machine; cached under ~/.cache/deployer/terraform-providers) and installed from the
filesystem mirror the script writes. These tests skip only when that build is impossible.
The stand-in runs in process; Terraform acts as a `terraform-admin` account of the stand-in,
whose key file goes through google-auth to the stand-in's token endpoint, as in production.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from deployer.config.loader import Config
from deployer.config.models import Cluster
from deployer.credentials.google import key_file_token
from deployer.errors import ToolError
from deployer.infra import (
    GoogleEndpoints,
    LocalBackend,
    TerraformTools,
    ensure_google_provider,
    find_terraform,
    provision,
)
from deployer.infra.provision import PLAN_FILE
from deployer_localplatform.gcp_standin import AdminClient, GcpStandIn

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROJECT = "tf-project"
VIEWER = "roles/container.clusterViewer"
MEMBER = f"serviceAccount:deployer@{PROJECT}.iam.gserviceaccount.com"


@pytest.fixture(scope="session")
def terraform_tools() -> TerraformTools:
    try:
        cli_config = ensure_google_provider(quiet=True)
    except ToolError as exc:
        pytest.skip(f"the google Terraform provider could not be built: {exc.message}")
    return TerraformTools(binary=find_terraform(), cli_config=cli_config)


@pytest.fixture
def standin(tmp_path: Path):
    with GcpStandIn(tmp_path / "gcp", projects=[PROJECT]) as running:
        yield running


@pytest.fixture
def admin_token(standin: GcpStandIn, tmp_path: Path):
    """The identity Terraform runs as: a stand-in account's key -> google-auth -> access token."""
    key = AdminClient(standin.base_url).create_service_account_with_key(PROJECT, "terraform-admin")
    key_path = tmp_path / "terraform-admin.json"
    key_path.write_text(json.dumps(key))
    key_path.chmod(0o600)
    return key_file_token("test", key_path, via="the test's key file")


def _cluster(project: str = PROJECT, **account) -> Cluster:
    return Cluster.model_validate({
        "name": "tf-gke", "provider": "gke", "environment": "staging",
        "gke": {"project": project, "location": "europe-west1", "cluster": "tf-gke-1",
                "deployerAccount": account},
        "credential": {"type": "serviceAccountKey", "fileEnv": "UNUSED_KEY_FILE"},
        "registry": "127.0.0.1:5000/tf",
    })


@pytest.fixture
def run(terraform_tools: TerraformTools, standin: GcpStandIn, admin_token, tmp_path: Path):
    def run_provision(cluster: Cluster, *, dry_run: bool = False):
        return provision(cluster, Config(root=REPO), dry_run=dry_run, state_root=tmp_path / "state",
                         endpoints=GoogleEndpoints.standin(standin.base_url), tools=terraform_tools,
                         backend=LocalBackend(), google_token=admin_token.token)
    return run_provision


def _state(standin: GcpStandIn) -> dict:
    return AdminClient(standin.base_url).state()


def _bindings(standin: GcpStandIn) -> list[dict]:
    project = next(p for p in _state(standin)["projects"] if p["projectId"] == PROJECT)
    return project["policy"].get("bindings", [])


def _no_secret_on_disk(folder: Path, *secrets: str) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 5_000_000:
            text = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in text, f"{path} holds a secret"


def test_provision_creates_the_account_and_its_single_binding_then_changes_nothing(run, standin, admin_token):
    first = run(_cluster())
    assert first.applied and not first.dry_run
    assert (first.plan.add, first.plan.change, first.plan.destroy) == (2, 0, 0)
    assert {r.address for r in first.plan.resources} == {
        "module.deployer_account.google_service_account.deployer",
        "module.deployer_account.google_project_iam_member.cluster_viewer"}
    assert first.email == f"deployer@{PROJECT}.iam.gserviceaccount.com" == first.expected_email
    assert first.outputs.project_role == VIEWER and first.outputs.key_name is None

    accounts = {a["email"]: a for a in _state(standin)["serviceAccounts"]}
    assert accounts[first.email]["displayName"] == "deployer (tf-gke-1)"
    assert first.outputs.service_account_unique_id == accounts[first.email]["uniqueId"]
    # Exactly one binding of the deployer account, and no key for it.
    assert [b for b in _bindings(standin) if MEMBER in b["members"]] == [{"role": VIEWER, "members": [MEMBER]}]
    assert not [k for k in _state(standin)["keys"] if first.email in k["name"]]

    second = run(_cluster())
    assert not second.plan.has_changes and not second.applied
    assert second.plan.describe() == "no changes"
    assert second.outputs == first.outputs
    assert _bindings(standin) == [{"role": VIEWER, "members": [MEMBER]}]

    # Nothing secret stays behind: no plan file, no token in the working folder.
    assert not (first.workdir / PLAN_FILE).exists()
    _no_secret_on_disk(first.workdir, admin_token.token())


def test_dry_run_plans_and_changes_nothing(run, standin):
    result = run(_cluster(), dry_run=True)
    assert result.dry_run and not result.applied
    assert result.plan.add == 2 and result.outputs is None
    assert result.email == f"deployer@{PROJECT}.iam.gserviceaccount.com"
    assert [a["email"] for a in _state(standin)["serviceAccounts"]] == [
        f"terraform-admin@{PROJECT}.iam.gserviceaccount.com"]
    assert _bindings(standin) == []


def test_a_binding_removed_out_of_band_comes_back(run, standin, admin_token):
    run(_cluster())
    base = f"{standin.base_url}/v1/projects/{PROJECT}"
    headers = {"Authorization": f"Bearer {admin_token.token()}"}
    policy = requests.post(f"{base}:getIamPolicy", json={}, headers=headers, timeout=10).json()
    policy["bindings"] = []
    assert requests.post(f"{base}:setIamPolicy", json={"policy": policy}, headers=headers, timeout=10).ok

    again = run(_cluster())
    assert again.applied and [(r.address, r.action) for r in again.plan.resources] == [
        ("module.deployer_account.google_project_iam_member.cluster_viewer", "create")]
    assert _bindings(standin) == [{"role": VIEWER, "members": [MEMBER]}]


def test_unknown_project_fails_with_the_providers_error_and_nothing_secret(run, standin, admin_token):
    with pytest.raises(ToolError) as caught:
        run(_cluster(project="no-such-project"))
    error = caught.value
    assert error.message.startswith("cluster tf-gke: terraform apply failed (exit 1):")
    assert "Error creating service account: googleapi: Error 404: Requested entity was not found." in error.message
    assert "module.deployer_account.google_service_account.deployer" in error.message
    assert "no-such-project" in error.hint
    token = admin_token.token()
    for text in (error.message, error.hint, str(error)):
        assert token not in text and "PRIVATE KEY" not in text
    assert all(a["email"].startswith("terraform-admin@") for a in _state(standin)["serviceAccounts"])


def test_create_key_is_opt_in_and_warns_that_the_key_is_in_state(run, standin):
    result = run(_cluster(createKey=True))
    assert result.plan.add == 3
    assert any("private key" in w and "stored in this Terraform state" in w for w in result.warnings)
    assert result.outputs.key_name and result.outputs.key_name.startswith(
        f"projects/{PROJECT}/serviceAccounts/deployer@{PROJECT}.iam.gserviceaccount.com/keys/")
    assert result.outputs.sensitive == ("key_file",)
    assert "PRIVATE" not in json.dumps(result.to_dict())
    assert [k for k in _state(standin)["keys"] if k["name"] == result.outputs.key_name]


def test_an_account_outside_the_state_is_adopted_not_duplicated(run, standin):
    AdminClient(standin.base_url).create_service_account_with_key(PROJECT, "deployer")  # made by hand
    adopted = run(_cluster())
    # Imported into the state (said in the result), then only brought to the module's settings.
    assert adopted.adopted is True
    assert [(r.address, r.action) for r in adopted.plan.resources] == [
        ("module.deployer_account.google_project_iam_member.cluster_viewer", "create"),
        ("module.deployer_account.google_service_account.deployer", "update")]
    assert _bindings(standin) == [{"role": VIEWER, "members": [MEMBER]}]
    again = run(_cluster())
    assert again.adopted is False and not again.plan.has_changes
