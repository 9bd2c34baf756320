from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def run_cli(*args: str, env: dict[str, str] | None = None, monkeypatch=None) -> CliResult:
    """Run deployer's real entry point in process, as the console script would."""
    from deployer.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def cli(monkeypatch):
    monkeypatch.chdir(REPO)
    return run_cli
