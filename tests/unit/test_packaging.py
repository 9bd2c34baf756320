"""deployer's wheel is the product only: the local platform lives in localplatform/, a development
package, and must never ship to the Jenkins agents that `pip install deployer`.

The wheel is built for real from a copy of the checkout (so no build/ folder lands in it), then
installed alone into a folder and imported from a Python that sees only that folder and deployer's
third-party dependencies: not this checkout, not the development package.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

# Names of what the local platform is made of; none may appear in the product's wheel.
PLATFORM_PARTS = ("localplatform", "gcp_standin", "kwok", "deployer.commands")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", ".state",
        "reports", ".terraform"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                           "--wheel-dir", str(work / "dist"), str(source)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    (built,) = (work / "dist").glob("deployer-*.whl")
    return built


def test_wheel_holds_only_the_product(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    assert {name.split("/")[0] for name in names} == {"deployer", dist_info}
    assert "deployer/cli/main.py" in names and "deployer/procs.py" in names  # it is the real package
    # the page's templates and static files are data, not modules: they ship only if declared
    assert {"deployer/web/templates/base.html", "deployer/web/static/app.js"} <= set(names)
    assert [name for name in names if any(part in name for part in PLATFORM_PARTS)] == []
    assert [line for line in entry_points.splitlines() if any(part in line for part in PLATFORM_PARTS)] == []


def test_install_of_the_wheel_alone_has_no_platform(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--quiet",
                           "--target", str(site), str(wheel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    dependencies = _dependencies_without_deployer(tmp_path / "dependencies")

    code = f"""
import importlib.util, io, json, sys
from contextlib import redirect_stderr, redirect_stdout
sys.path[:0] = [{str(site)!r}, {str(dependencies)!r}]
import deployer
from deployer.cli.main import main
results = {{"deployer": deployer.__file__,
            "missing": [name for name in ("deployer.localplatform", "deployer_localplatform")
                        if importlib.util.find_spec(name) is None]}}
for name, argv in (("help", ["--help"]), ("platform", ["platform", "up"])):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    results[name] = [code, out.getvalue(), err.getvalue()]
print(json.dumps(results))
"""
    # -I -S: no environment variables, no user or venv site-packages, no .pth files (the editable
    # installs of this checkout live there); only the two folders the code puts on sys.path.
    run = subprocess.run([sys.executable, "-I", "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert results["deployer"].startswith(str(site))
    assert results["missing"] == ["deployer.localplatform", "deployer_localplatform"]
    help_code, help_out, _ = results["help"]
    assert help_code == 0 and "validate" in help_out and "platform" not in help_out
    platform_code, _, platform_err = results["platform"]
    assert platform_code == 2
    assert "`deployer platform` is a development command" in platform_err
    assert "pip install -e localplatform" in platform_err


def _dependencies_without_deployer(folder: Path) -> Path:
    """This venv's site-packages minus what deployer and deployer-localplatform installed there.

    Symlinks, not copies: deployer's real third-party dependencies (click, pydantic, ...), already
    installed, without the editable installs of this checkout and their metadata.
    """
    folder.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith(("deployer", "__editable__")):
            (folder / entry.name).symlink_to(entry)
    return folder
