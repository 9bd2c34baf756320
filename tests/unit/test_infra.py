"""deployer/infra's pure parts from inline data: plan summaries, outputs, Terraform's diagnostics,
the run environment, the per-cluster folder, and the command lines python-terraform builds.
Real Terraform runs are in tests/integration/test_terraform_provision.py."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from deployer.config.models import Cluster
from deployer.errors import ToolError, UsageError
from deployer.infra import workspace
from deployer.infra.summary import (
    OutputsMissing,
    error_lines,
    parse_outputs,
    summarize_plan,
    warning_headlines,
)
from deployer.infra.terraform import TerraformRunner, TerraformTools, terraform_env

GKE = {
    "name": "gke-staging", "provider": "gke", "environment": "staging",
    "gke": {"project": "acme-staging", "location": "europe-west1", "cluster": "staging-1",
            "deployerAccount": {"accountId": "deployer-stg"}},
    "credential": {"type": "serviceAccountKey", "fileEnv": "KEY_FILE"},
    "registry": "europe-west1-docker.pkg.dev/acme-staging/services",
}
ONPREM = {
    "name": "dc1", "provider": "onprem", "environment": "staging", "server": "https://10.0.0.1:6443",
    "ca": {"inline": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"},
    "credential": {"type": "token", "env": "TOKEN"}, "registry": "registry.local:5000/x",
}


def _rc(address: str, *actions: str) -> dict:
    return {"address": address, "change": {"actions": list(actions)}}


# --- plan summary ---------------------------------------------------------------------------------

def test_plan_summary_counts_like_terraform() -> None:
    plan = {"resource_changes": [
        _rc("google_service_account.a", "create"),
        _rc("google_project_iam_member.b", "update"),
        _rc("google_service_account_key.c", "delete", "create"),
        _rc("google_service_account_key.d", "delete"),
        _rc("google_service_account.e", "no-op"),
        _rc("data.google_project.p", "read"),
    ], "output_changes": {"email": {"actions": ["create"]}, "same": {"actions": ["no-op"]}}}
    summary = summarize_plan(plan)
    assert (summary.add, summary.change, summary.destroy) == (2, 1, 2)
    assert [(r.address, r.action) for r in summary.resources] == [
        ("google_project_iam_member.b", "update"), ("google_service_account.a", "create"),
        ("google_service_account_key.c", "replace"), ("google_service_account_key.d", "delete")]
    assert summary.outputs_changed == ("email",)
    assert summary.has_changes
    assert summary.describe() == "2 to add, 1 to change, 2 to destroy"


def test_no_changes_and_output_only_changes() -> None:
    assert not summarize_plan({"resource_changes": [_rc("a.b", "no-op")]}).has_changes
    assert summarize_plan({}).describe() == "no changes"
    outputs_only = summarize_plan({"output_changes": {"x": {"actions": ["update"]}}})
    assert outputs_only.has_changes and outputs_only.describe() == "only outputs change"


# --- outputs --------------------------------------------------------------------------------------

OUTPUT_JSON = {
    "service_account_email": {"value": "deployer@p.iam.gserviceaccount.com", "type": "string", "sensitive": False},
    "service_account_name": {"value": "projects/p/serviceAccounts/deployer@p.iam.gserviceaccount.com",
                             "sensitive": False},
    "service_account_unique_id": {"value": "1234", "sensitive": False},
    "project_role": {"value": "roles/container.clusterViewer", "sensitive": False},
    "key_name": {"value": None, "sensitive": False},
    "key_file": {"value": '{"private_key": ' + '"-----BEGIN ' + 'PRIVATE KEY-----"}', "sensitive": True},
}


def test_outputs_keep_no_sensitive_value() -> None:
    outputs = parse_outputs(OUTPUT_JSON)
    assert outputs.service_account_email == "deployer@p.iam.gserviceaccount.com"
    assert outputs.member == "serviceAccount:deployer@p.iam.gserviceaccount.com"
    assert outputs.key_name is None
    assert outputs.sensitive == ("key_file",)
    assert "PRIVATE" not in json.dumps(outputs.to_dict()) and "PRIVATE" not in repr(outputs)


def test_outputs_of_an_empty_state_are_missing() -> None:
    with pytest.raises(OutputsMissing, match="service_account_email"):
        parse_outputs({"project_role": {"value": "roles/container.clusterViewer"}})


# --- Terraform's diagnostics ----------------------------------------------------------------------

APPLY_ERROR = """\
module.deployer_account.google_service_account.deployer: Creating...

Error: Error creating service account: googleapi: Error 404: Requested entity was not found., notFound

  with module.deployer_account.google_service_account.deployer,
  on modules/gke-deployer/main.tf line 12, in resource "google_service_account" "deployer":
  12: resource "google_service_account" "deployer" {

"""

FRAMED_ERROR = """\
\u2577
\u2502 Error: Invalid value for variable
\u2502
\u2502   on terraform.tfvars.json line 2:
\u2502    2:   "account_id": "X",
\u2502     \u251c\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500
\u2502     \u2502 var.account_id is "X"
\u2502
\u2502 The account_id must be 6 to 30 characters.
\u2575
"""

CHECK_WARNING = """\
Plan: 3 to add, 0 to change, 0 to destroy.

Warning: Check block assertion failed

  on modules/gke-deployer/main.tf line 32, in check "private_key_in_state":
  32:     condition     = !var.create_key
    \u251c\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500
    \u2502 var.create_key is true

create_key is on: the private key of
deployer@p.iam.gserviceaccount.com is stored in this Terraform
state.

More text.
"""


def test_error_lines_are_terraforms_diagnostic_without_source_excerpt() -> None:
    lines = error_lines(APPLY_ERROR)
    assert lines[0] == ("Error: Error creating service account: googleapi: Error 404: Requested entity was "
                        "not found., notFound")
    assert "  with module.deployer_account.google_service_account.deployer," in lines
    assert not any("12: resource" in line for line in lines)
    assert "Creating..." not in "\n".join(lines)


def test_framed_diagnostics_are_unframed() -> None:
    lines = error_lines(FRAMED_ERROR)
    assert lines[0] == "Error: Invalid value for variable"
    assert "The account_id must be 6 to 30 characters." in lines
    assert not any(line.startswith(("\u2502", "\u2577", "\u2575")) for line in lines)
    assert not any(line.strip().startswith("\u251c") for line in lines)
    assert '    \u2502 var.account_id is "X"' in lines


def test_error_lines_fall_back_to_the_last_lines() -> None:
    assert error_lines("one\n\ntwo\nthree\n") == ["one", "two", "three"]
    assert error_lines("") == ["(Terraform printed nothing)"]


def test_warning_headline_is_summary_and_first_paragraph() -> None:
    assert warning_headlines(CHECK_WARNING, CHECK_WARNING) == (
        "Check block assertion failed: create_key is on: the private key of deployer@p.iam.gserviceaccount.com "
        "is stored in this Terraform state.",)


# --- the run's environment ------------------------------------------------------------------------

def test_environment_drops_what_would_change_the_run_and_adds_deployers() -> None:
    base = {"PATH": "/usr/bin", "TF_LOG": "DEBUG", "TF_LOG_PROVIDER": "TRACE", "TF_CLI_ARGS_apply": "-auto-approve",
            "TF_VAR_project": "other", "GOOGLE_CREDENTIALS": "{...}", "GOOGLE_OAUTH_ACCESS_TOKEN": "old",
            "TF_CLI_CONFIG_FILE": "/home/me/.terraformrc"}
    env = terraform_env(base, TerraformTools("terraform", Path("/cache/terraform.rc")), "ya29.fresh-token")
    assert env == {"PATH": "/usr/bin", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1",
                   "TF_CLI_CONFIG_FILE": "/cache/terraform.rc", "GOOGLE_OAUTH_ACCESS_TOKEN": "ya29.fresh-token"}
    kept = terraform_env(base, TerraformTools("terraform"), None)
    assert kept["TF_CLI_CONFIG_FILE"] == "/home/me/.terraformrc" and "GOOGLE_OAUTH_ACCESS_TOKEN" not in kept


# --- the command lines, and how exit codes are read ----------------------------------------------

class _Recorder:
    """Stands in for subprocess.run: records argv and answers per subcommand."""

    def __init__(self, answers: dict[str, tuple[int, str, str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[list[str], dict]] = []

    def __call__(self, argv, **kwargs):
        self.calls.append((list(argv), kwargs))
        code, out, err = self.answers.get(argv[1], (0, "", ""))
        return subprocess.CompletedProcess(argv, code, out, err)


PLAN_JSON = json.dumps({"resource_changes": [_rc("google_service_account.deployer", "create")]})


def test_command_lines_suit_terraform_1(monkeypatch, tmp_path) -> None:
    record = _Recorder({"plan": (2, "Plan: 1 to add", ""), "show": (0, PLAN_JSON, "")})
    monkeypatch.setattr("deployer.infra.terraform.subprocess.run", record)
    runner = TerraformRunner(tmp_path, TerraformTools("/opt/tf"), what="cluster c", access_token=lambda: "tok-123456",
                             base_env={"PATH": "/bin"})
    runner.init()
    summary = runner.plan(tmp_path / "p.tfplan")
    runner.apply(tmp_path / "p.tfplan")
    argvs = [argv for argv, _ in record.calls]
    assert [a[:2] for a in argvs] == [["/opt/tf", "init"], ["/opt/tf", "plan"], ["/opt/tf", "show"],
                                      ["/opt/tf", "apply"]]
    init, plan, show, apply = argvs
    for argv in argvs:
        assert not any(a.startswith(("-var-file", "-var=", "-state")) for a in argv), argv
        assert "-no-color" in argv
    assert {"-reconfigure", "-backend=true", "-input=false"} <= set(init)
    assert {"-detailed-exitcode", f"-out={tmp_path / 'p.tfplan'}", "-lock-timeout=120s"} <= set(plan)
    assert show[-1] == str(tmp_path / "p.tfplan") and "-json" in show
    assert apply[-1] == str(tmp_path / "p.tfplan") and "-input=false" in apply
    assert summary.add == 1
    for _, kwargs in record.calls:
        assert kwargs["cwd"] == str(tmp_path)
        assert kwargs["env"]["GOOGLE_OAUTH_ACCESS_TOKEN"] == "tok-123456"
        assert kwargs["stdin"] == subprocess.DEVNULL and kwargs["timeout"] > 0


def test_failure_shows_terraforms_error_scrubbed(monkeypatch, tmp_path) -> None:
    leaked = APPLY_ERROR.replace("notFound", "notFound (Authorization: Bearer tok-123456)")
    record = _Recorder({"apply": (1, "", leaked)})
    monkeypatch.setattr("deployer.infra.terraform.subprocess.run", record)
    runner = TerraformRunner(tmp_path, TerraformTools("terraform"), what="cluster c", access_token=lambda: "tok-123456",
                             api_hint="Check project p.")
    with pytest.raises(ToolError) as caught:
        runner.apply(tmp_path / "p.tfplan")
    message = caught.value.message
    assert message.startswith("cluster c: terraform apply failed (exit 1):\n    Error: Error creating service account")
    assert "tok-123456" not in message and "[redacted]" in message
    assert caught.value.hint.startswith("Check project p.")


def test_plan_exit_1_is_a_failure_and_exit_0_with_changes_is_refused(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("deployer.infra.terraform.subprocess.run", _Recorder({"plan": (1, "", "Error: boom\n")}))
    runner = TerraformRunner(tmp_path, TerraformTools("terraform"), what="cluster c")
    with pytest.raises(ToolError, match="terraform plan failed"):
        runner.plan(tmp_path / "p")
    monkeypatch.setattr("deployer.infra.terraform.subprocess.run",
                        _Recorder({"plan": (0, "", ""), "show": (0, PLAN_JSON, "")}))
    with pytest.raises(ToolError, match="exited 0"):
        runner.plan(tmp_path / "p")


def test_missing_binary_and_timeout_are_tool_errors(tmp_path, monkeypatch) -> None:
    runner = TerraformRunner(tmp_path, TerraformTools(str(tmp_path / "no-terraform")), what="cluster c")
    with pytest.raises(ToolError, match="is not installed"):
        runner.init()

    def slow(argv, **kwargs):
        raise subprocess.TimeoutExpired(argv, kwargs["timeout"])

    monkeypatch.setattr("deployer.infra.terraform.subprocess.run", slow)
    with pytest.raises(ToolError, match="did not finish within"):
        TerraformRunner(tmp_path, TerraformTools("terraform"), what="cluster c", timeout=5).init()


# --- the per-cluster folder -----------------------------------------------------------------------

def test_variables_and_email_come_from_the_cluster_file() -> None:
    cluster = Cluster.model_validate(GKE)
    assert workspace.variables(cluster, workspace.GoogleEndpoints.standin("http://127.0.0.1:5000/")) == {
        "project": "acme-staging", "location": "europe-west1", "cluster": "staging-1",
        "account_id": "deployer-stg", "create_key": False,
        "google_endpoints": {"iam": "http://127.0.0.1:5000/v1/", "resource_manager": "http://127.0.0.1:5000/v1/"}}
    assert workspace.variables(cluster, None)["google_endpoints"] == {}
    assert workspace.expected_email(cluster) == "deployer-stg@acme-staging.iam.gserviceaccount.com"


def test_onprem_clusters_are_not_provisioned() -> None:
    with pytest.raises(UsageError, match="only GKE clusters"):
        workspace.expected_email(Cluster.model_validate(ONPREM))


def test_backends() -> None:
    assert workspace.backend_from_url(None) == workspace.LocalBackend()
    assert workspace.backend_from_url("local").block("c") == {"local": {"path": "terraform.tfstate"}}
    gcs = workspace.backend_from_url("gs://tf-state/platform/")
    assert gcs.block("gke-staging") == {"gcs": {"bucket": "tf-state", "prefix": "platform/gke-staging"}}
    assert workspace.backend_from_url("gs://tf-state").block("c")["gcs"]["prefix"] == "deployer/terraform/c"
    with pytest.raises(ToolError, match="unknown Terraform state backend"):
        workspace.backend_from_url("s3://bucket")


def test_prepare_writes_a_private_self_contained_folder(tmp_path) -> None:
    workdir = tmp_path / "state" / "gke-staging"
    workdir.mkdir(parents=True)
    (workdir / "stale.tf").write_text("resource x y {}")
    (workdir / "terraform.tfstate").write_text("{}")
    cluster = Cluster.model_validate(GKE)
    workspace.prepare(workdir, cluster, templates=workspace.template_dir(), backend=workspace.LocalBackend(),
                      endpoints=None)
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    assert not (workdir / "stale.tf").exists() and (workdir / "terraform.tfstate").read_text() == "{}"
    assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= {p.name for p in workdir.glob("*.tf")}
    assert (workdir / "modules" / "gke-deployer" / "main.tf").is_file()
    assert json.loads((workdir / "backend.tf.json").read_text()) == {
        "terraform": {"backend": {"local": {"path": "terraform.tfstate"}}}}
    assert json.loads((workdir / "terraform.tfvars.json").read_text())["account_id"] == "deployer-stg"


def test_the_module_grants_exactly_one_role_and_no_key_by_default() -> None:
    module = workspace.template_dir() / "modules" / "gke-deployer"
    main, variables = (module / "main.tf").read_text(), (module / "variables.tf").read_text()
    assert main.count('project_role = "roles/container.clusterViewer"') == 1
    assert main.count("resource \"google_project_iam_member\"") == 1
    assert "count              = var.create_key ? 1 : 0" in main
    assert 'variable "create_key"' in variables and "default     = false" in variables.split('variable "create_key"')[1]
