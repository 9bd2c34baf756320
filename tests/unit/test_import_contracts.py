"""The import contracts in pyproject.toml (run by `make lint`) hold for the tree, and they catch a
wrong import: a copy of the package with one forbidden import added fails them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")



def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # --no-cache: the copy and the tree must not share import-linter's cache of import graphs.
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(root / "pyproject.toml")], cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=300)


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(REPO / "deployer", root / "deployer", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_tree_keeps_every_contract():
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("module", "forbidden", "contract"), [
    ("deployer/plan/order.py", "import deployer.kube.objects", "Pure parts"),
    ("deployer/kube/resources.py", "import deployer.credentials", "kube is the door to the API"),
    ("deployer/kube/client.py", "import kubernetes", "deployer speaks to the Kubernetes API itself"),
    ("deployer/rollout/policy.py", "import click", "Only cli parses command lines"),
    ("deployer/gates/prometheus.py", "import deployer.kube.client", "Gates ask outside systems"),
    ("deployer/jenkins/executor.py", "import deployer.credentials.static",
     "The Jenkins executor holds a Jenkins token"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, forbidden, contract):
    root = _copy(tmp_path)
    target = root / module
    target.write_text(target.read_text() + f"\n{forbidden}  # the wrong import under test\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
