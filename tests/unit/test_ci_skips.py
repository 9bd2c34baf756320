"""Under CI a skipped test fails the run (tests/conftest.py), so a missing component cannot hide
behind a green build; outside CI a skip stays a skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def _run(tmp_path: Path, ci: str | None, body: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(body)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


SKIPS_IN_A_TEST = ("import pytest\n\ndef test_skips():\n    pytest.skip('java is missing')\n\n"
                   "def test_runs():\n    pass\n")
SKIPS_A_MODULE = ("import pytest\npytest.skip('chromium is missing', allow_module_level=True)\n\n"
                  "def test_x():\n    pass\n")


@pytest.mark.parametrize("ci", ["true", "1"])
def test_a_skip_fails_under_ci_and_names_its_reason(tmp_path, ci):
    result = _run(tmp_path, ci, SKIPS_IN_A_TEST)
    assert result.returncode == 1, result.stdout
    assert "1 failed, 1 passed" in result.stdout
    assert "skipped under CI, where every test must run: Skipped: java is missing" in result.stdout


def test_a_module_level_skip_fails_under_ci(tmp_path):
    result = _run(tmp_path, "true", SKIPS_A_MODULE)
    assert result.returncode != 0
    assert "chromium is missing" in result.stdout


def test_outside_ci_a_skip_stays_a_skip(tmp_path):
    result = _run(tmp_path, None, SKIPS_IN_A_TEST)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped" in result.stdout


def test_an_expected_failure_is_not_turned_into_a_failure(tmp_path):
    body = "import pytest\n\n@pytest.mark.xfail(reason='known', strict=True)\ndef test_x():\n    assert False\n"
    result = _run(tmp_path, "true", body)
    assert result.returncode == 0, result.stdout
    assert "1 xfailed" in result.stdout
