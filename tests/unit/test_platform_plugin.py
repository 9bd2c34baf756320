"""`deployer platform` comes from the development package (localplatform/) through the
deployer.commands entry point; `deployer-platform` is the same group with deployer's global options.

These run where the development package is installed (make install); test_packaging.py covers an
install of deployer alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from deployer_localplatform import cli as platform_cli
from deployer_localplatform.kwok_stages import NEVER_READY_LABEL, NEVER_READY_VALUE, stages_yaml


def test_deployer_lists_and_runs_the_plugin(cli, tmp_path: Path) -> None:
    listing = cli("--help")
    assert listing.exit_code == 0
    assert "platform  Start, stop and inspect the local platform" in listing.stdout

    status = cli("--output", "json", "platform", "status", "--state-dir", str(tmp_path / "state"))
    assert status.exit_code == 0, status.stderr
    assert status.json()["running"] is False and status.json()["components"] == []


def test_deployer_platform_script_takes_leading_global_options(tmp_path: Path, capsys) -> None:
    state = str(tmp_path / "state")
    for argv in (["--output", "json", "status", "--state-dir", state],
                 ["--output=json", "--debug", "status", "--state-dir", state]):
        assert platform_cli.main(argv) == 0
        assert json.loads(capsys.readouterr().out)["stateDir"] == state

    assert platform_cli.main(["--help"]) == 0
    assert "Usage: deployer platform" in capsys.readouterr().out


def test_deployer_platform_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "deployer-platform"
    proc = subprocess.run([str(script), "-o", "json", "status", "--state-dir", str(tmp_path)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["running"] is False


def test_kwok_stages_come_from_the_package_data() -> None:
    stages = stages_yaml()
    names = [line.split(": ")[1] for line in stages.splitlines() if line.startswith("  name: ")]
    assert names == ["node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-never-ready", "pod-complete",
                     "pod-delete"]
    assert "@" not in stages  # every placeholder was filled
    assert f'.metadata.labels["{NEVER_READY_LABEL}"]' in stages and f"'{NEVER_READY_VALUE}'" in stages
    assert stages.count("podIPs:") == 2  # the shared pod IP lines went into both pod stages
