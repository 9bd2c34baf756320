"""deployer.infra.provision's story around Terraform, with Terraform replaced by a recorder of its
command lines: one provision per cluster at a time (.provision.lock), the plan file removed
whatever happens, and a fresh Google token handed to every Terraform command.

What Terraform itself does with these commands is in tests/integration/test_terraform_provision.py.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest

from deployer.config.loader import Config
from deployer.config.models import Cluster
from deployer.errors import ExitCode, LockedError, ToolError
from deployer.infra.provision import LOCK_FILE, PLAN_FILE, provision
from deployer.infra.terraform import TOKEN_ENV, TerraformTools

REPO = Path(__file__).resolve().parents[2]
GKE = Cluster.model_validate({
    "name": "gke-staging", "provider": "gke", "environment": "staging",
    "gke": {"project": "acme-staging", "location": "europe-west1", "cluster": "staging-1"},
    "credential": {"type": "serviceAccountKey", "fileEnv": "KEY_FILE"},
    "registry": "europe-west1-docker.pkg.dev/acme-staging/services",
})
CONFIG = Config(root=REPO, clusters={GKE.name: GKE})
PLAN_JSON = json.dumps({"resource_changes": [
    {"address": "module.deployer_account.google_service_account.deployer", "change": {"actions": ["create"]}}]})
OUTPUTS = json.dumps({"service_account_email": {"value": "deployer@acme-staging.iam.gserviceaccount.com"},
                      "service_account_name": {"value": "projects/acme-staging/serviceAccounts/deployer@x"},
                      "service_account_unique_id": {"value": "1"},
                      "project_role": {"value": "roles/container.clusterViewer"},
                      "key_name": {"value": None}})


class FakeTerraform:
    """Stands in for subprocess.run under deployer.infra.terraform: answers each subcommand as a
    first provision's Terraform would (plan writes its plan file), records every call, and fails
    or holds the subcommands a test names."""

    def __init__(self, *, fail: str | None = None, error: str = "") -> None:
        self.fail, self.error = fail, error
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.hold: str | None = None
        self.entered = threading.Event()
        self.release = threading.Event()
        self.plan_files_seen: list[Path] = []

    def __call__(self, argv, **kwargs):
        command = argv[1]
        self.calls.append((command, kwargs["env"]))
        if command == self.hold:
            self.entered.set()
            assert self.release.wait(30), "the test never released the held command"
        if command == "plan":
            plan_file = Path(next(a for a in argv if a.startswith("-out=")).removeprefix("-out="))
            plan_file.write_text("prior state and variables")
            self.plan_files_seen.append(plan_file)
        if command == self.fail:
            return subprocess.CompletedProcess(argv, 1, "", self.error or f"Error: {command} went wrong\n")
        answer = {"plan": (2, "Plan: 1 to add", ""), "show": (0, PLAN_JSON, ""), "output": (0, OUTPUTS, ""),
                  "state": (1, "", "No state file was found!"),
                  "import": (1, "", "Error: Cannot import non-existent remote object")}.get(command, (0, "", ""))
        return subprocess.CompletedProcess(argv, *answer)

    def commands(self) -> list[str]:
        return [command for command, _ in self.calls]


@pytest.fixture
def terraform(monkeypatch) -> FakeTerraform:
    fake = FakeTerraform()
    monkeypatch.setattr("deployer.infra.terraform.subprocess.run", fake)
    return fake


def run(state_root: Path, **kwargs):
    return provision(GKE, CONFIG, state_root=state_root, tools=TerraformTools("/opt/terraform"),
                     google_token=kwargs.pop("google_token", lambda: "ya29.token"), **kwargs)


def test_a_first_provision_plans_applies_and_removes_its_plan_file(terraform, tmp_path) -> None:
    result = run(tmp_path)
    assert terraform.commands() == ["init", "state", "import", "plan", "show", "apply", "output"]
    assert result.applied and result.email == "deployer@acme-staging.iam.gserviceaccount.com"
    assert terraform.plan_files_seen == [tmp_path / GKE.name / PLAN_FILE]
    assert not (tmp_path / GKE.name / PLAN_FILE).exists()


@pytest.mark.parametrize("failing", ["apply", "show"])
def test_the_plan_file_is_removed_when_a_command_after_the_plan_fails(monkeypatch, tmp_path, failing) -> None:
    fake = FakeTerraform(fail=failing)
    monkeypatch.setattr("deployer.infra.terraform.subprocess.run", fake)
    with pytest.raises(ToolError, match=f"terraform {failing} failed"):
        run(tmp_path)
    [plan_file] = fake.plan_files_seen
    assert fake.commands()[-1] == failing
    assert not plan_file.exists()


def test_an_account_that_appears_before_the_apply_gets_the_exact_import_command(monkeypatch, tmp_path) -> None:
    fake = FakeTerraform(fail="apply", error=(
        "Error: Error creating service account: googleapi: Error 409: Service account deployer already exists "
        "within project projects/acme-staging., alreadyExists\n"))
    monkeypatch.setattr("deployer.infra.terraform.subprocess.run", fake)
    with pytest.raises(ToolError) as failed:
        run(tmp_path)
    assert "Error 409" in failed.value.message
    assert (f"cd {tmp_path / GKE.name} && terraform import module.deployer_account.google_service_account.deployer "
            "projects/acme-staging/serviceAccounts/deployer@acme-staging.iam.gserviceaccount.com") in failed.value.hint


def test_a_fresh_google_token_is_fetched_before_each_terraform_command(terraform, tmp_path) -> None:
    issued: list[str] = []

    def token() -> str:
        issued.append(f"ya29.token-{len(issued) + 1}")
        return issued[-1]

    run(tmp_path, google_token=token)
    handed = [env[TOKEN_ENV] for _, env in terraform.calls]
    # One token per command, in order: a run that fetched once (or cached) would repeat a token.
    assert handed == issued and len(set(handed)) == len(terraform.calls) == 7


def test_a_second_provision_of_the_same_cluster_is_refused_while_the_first_runs(terraform, tmp_path) -> None:
    terraform.hold = "plan"
    first: dict[str, object] = {}
    thread = threading.Thread(target=lambda: first.setdefault("result", run(tmp_path)))
    thread.start()
    try:
        assert terraform.entered.wait(30), "the first provision never reached terraform plan"
        commands_before = len(terraform.calls)
        with pytest.raises(LockedError) as refused:
            run(tmp_path)
        assert refused.value.exit_code == ExitCode.LOCKED
        assert str(tmp_path / GKE.name) in refused.value.message and "another provision" in refused.value.message
        assert len(terraform.calls) == commands_before  # the refused one ran no Terraform command
    finally:
        terraform.release.set()
        thread.join(30)
    assert first["result"].applied  # type: ignore[attr-defined]
    assert (tmp_path / GKE.name / LOCK_FILE).exists()
    terraform.hold = None
    assert run(tmp_path).cluster == GKE.name  # the lock went with the first run


def test_provisions_of_different_clusters_do_not_share_a_lock(terraform, tmp_path) -> None:
    other = GKE.model_copy(update={"name": "gke-production"})
    terraform.hold = "plan"
    thread = threading.Thread(target=lambda: run(tmp_path))
    thread.start()
    try:
        assert terraform.entered.wait(30)
        terraform.hold = None
        done = provision(other, Config(root=REPO, clusters={other.name: other}), state_root=tmp_path,
                         tools=TerraformTools("/opt/terraform"), google_token=lambda: "ya29.token")
        assert done.cluster == "gke-production"
    finally:
        terraform.release.set()
        thread.join(30)
