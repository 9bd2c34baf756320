"""`deployer cluster provision` end to end on the local platform: real Terraform and the real
google provider against the GCP stand-in, then the RBAC binding synced and verified on local-gke."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from deployer.errors import ExitCode, ToolError
from deployer_localplatform.gcp_standin.client import AdminClient
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def provision_env(platform, tmp_path: Path, monkeypatch) -> Path:
    from deployer.infra.tools import ensure_google_provider

    try:
        monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(ensure_google_provider(quiet=True)))
    except ToolError as exc:
        pytest.skip(f"the google Terraform provider could not be built: {exc.message}")
    # Terraform acts as a platform admin: a stand-in account's key, found as application default
    # credentials (local-gke's adminCredential is a Kubernetes token, which is no Google identity).
    key = AdminClient(platform.gcp_url).create_service_account_with_key("local-project", "platform-admin")
    key_file = tmp_path / "platform-admin.json"
    key_file.write_text(json.dumps(key))
    key_file.chmod(0o600)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv("DEPLOYER_TERRAFORM_STATE", str(tmp_path / "terraform"))

    config = tmp_path / "config"
    (config / "clusters").mkdir(parents=True)
    (config / "charts").symlink_to(REPO / "charts")
    gke = yaml.safe_load(platform.cluster("local-gke").cluster_file.read_text())
    gke["gke"]["googleApiEndpoint"] = platform.gcp_url
    (config / "clusters" / "local-gke.yaml").write_text(yaml.safe_dump(gke))
    return config


def test_provision_makes_one_minimal_binding_and_is_idempotent(provision_env: Path, platform) -> None:
    first = run_cli("--config-dir", str(provision_env), "-o", "json", "cluster", "provision", "local-gke")
    assert first.exit_code == 0, first.stdout + first.stderr
    body = first.json()
    result = body["clusters"][0]
    assert result["email"] == "deployer@local-project.iam.gserviceaccount.com"
    assert result["applied"] is True
    assert body["verify"]["ok"] is True

    policy = next(p["policy"] for p in AdminClient(platform.gcp_url).state()["projects"]
                  if p["projectId"] == "local-project")
    granted = [(b["role"], m) for b in policy["bindings"] for m in b["members"]
               if m == "serviceAccount:deployer@local-project.iam.gserviceaccount.com"]
    assert [role for role, _member in granted] == ["roles/container.clusterViewer"]

    again = run_cli("--config-dir", str(provision_env), "--detailed-exitcode", "cluster", "provision", "local-gke")
    assert again.exit_code == ExitCode.OK, again.stdout + again.stderr
    assert "no changes" in again.stdout
    assert "every identity has exactly the access the chart grants" in again.stdout


def test_provision_dry_run_changes_nothing(provision_env: Path, platform) -> None:
    before = AdminClient(platform.gcp_url).state()["projects"]
    result = run_cli("--config-dir", str(provision_env), "cluster", "provision", "local-gke", "--dry-run")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "dry run" in result.stdout
    assert AdminClient(platform.gcp_url).state()["projects"] == before


def test_provision_refuses_an_onprem_cluster(provision_env: Path, platform) -> None:
    (provision_env / "clusters" / "local-onprem.yaml").write_text(
        platform.cluster("local-onprem").cluster_file.read_text())
    result = run_cli("--config-dir", str(provision_env), "cluster", "provision", "local-onprem")
    assert result.exit_code == ExitCode.USAGE
    assert "not a GKE cluster" in result.stderr
