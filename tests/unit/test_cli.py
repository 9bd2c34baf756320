from __future__ import annotations

import json
import os
import subprocess
import sys

from deployer.errors import ExitCode


def test_help_lists_commands_and_exit_codes(cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("validate", "schema", "clusters"):
        assert command in result.stdout
    assert "partial" in result.stdout and "DEPLOYER_" in result.stdout


def test_unknown_command_is_a_usage_error(cli) -> None:
    result = cli("frobnicate")
    assert result.exit_code == ExitCode.USAGE
    assert "No such command" in result.stderr


def test_bad_option_value_is_a_usage_error(cli) -> None:
    assert cli("--output", "yaml", "validate").exit_code == ExitCode.USAGE


def test_validate_examples(cli) -> None:
    result = cli("validate")
    assert result.exit_code == 0, result.stderr
    assert "3 cluster(s), 1 service(s) are valid" in result.stdout


def test_validate_json(cli) -> None:
    result = cli("--output", "json", "validate")
    assert result.exit_code == 0
    assert result.json() == {"valid": True, "clusters": ["gke-production", "gke-staging", "onprem-dc1"],
                             "services": ["hello"]}


def test_environment_variables_set_options(cli, monkeypatch) -> None:
    monkeypatch.setenv("DEPLOYER_OUTPUT", "json")
    result = cli("clusters", "list", "--provider", "gke")
    assert result.exit_code == 0
    assert [row["name"] for row in result.json()] == ["gke-production", "gke-staging"]


def test_config_dir_without_chart_is_invalid_config(cli, tmp_path) -> None:
    result = cli("--config-dir", str(tmp_path), "validate")
    assert result.exit_code == ExitCode.CONFIG
    assert "chart.yaml" in result.stderr and "chart metadata is missing" in result.stderr


def test_error_json_on_stdout(cli) -> None:
    result = cli("-o", "json", "validate", "tests/data/invalid/clusters/missing-field.yaml")
    assert result.exit_code == ExitCode.CONFIG
    body = result.json()
    assert body["error"] == "ConfigError" and body["exit_code"] == 3
    assert body["problems"][0]["field"] == "registry"


def test_debug_shows_traceback_only_when_asked(cli) -> None:
    plain = cli("validate", "tests/data/invalid/clusters/missing-field.yaml")
    debug = cli("--debug", "validate", "tests/data/invalid/clusters/missing-field.yaml")
    assert "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr
    assert debug.exit_code == plain.exit_code == ExitCode.CONFIG


def test_schema_uses_file_names(cli) -> None:
    result = cli("schema")
    schemas = json.loads(result.stdout)
    assert "adminCredential" in schemas["cluster"]["properties"]
    assert "environments" in schemas["service"]["properties"]
    assert "promoteFrom" in json.dumps(schemas["service"]["$defs"]["Environment"]["properties"])
    assert schemas["cluster"]["additionalProperties"] is False


def test_help_and_validate_do_not_import_sdks(repo) -> None:
    # Start-up stays light: neither the Kubernetes client nor google-auth is imported.
    code = ("import sys; from deployer.cli.main import main; "
            "rc = main(['--help']); rc = rc or main(['validate']); "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'google')); "
            "print('HEAVY', heavy); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "100"})
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout
