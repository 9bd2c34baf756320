"""The commit a deploy is named by, for a service that builds no image: the last commit of the
manifests the environment deploys (its source's folder, or a packaged chart), never of a folder the
service does not use."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from deployer.app import App
from deployer.config.loader import load_config
from deployer.errors import ToolError

REPO = Path(__file__).resolve().parents[2]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DEPLOYER_COMMIT", raising=False)
    root = tmp_path / "config"
    shutil.copytree(REPO / "clusters", root / "clusters")
    (root / "charts").symlink_to(REPO / "charts")
    (root / "services" / "plain" / "deploy").mkdir(parents=True)
    (root / "services" / "plain" / "staging").mkdir(parents=True)
    (root / "services" / "plain" / "deploy" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {a: b}\n")
    (root / "services" / "plain" / "staging" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {a: staging}\n")
    (root / "services" / "plain.yaml").write_text(
        "name: plain\nnamespace: payments\nsource: {yaml: plain/deploy}\n"
        "environments:\n  staging:\n    clusters: [gke-staging]\n    source: {yaml: plain/staging}\n"
        "  production:\n    clusters: [onprem-dc1]\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "first")
    return root


def test_a_service_without_an_image_is_named_by_the_commit_of_the_source_its_environment_deploys(root: Path) -> None:
    first = _git(root, "rev-parse", "HEAD")[:12]
    (root / "services" / "plain" / "staging" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {a: staging-2}\n")
    _git(root, "commit", "-qam", "staging only")
    second = _git(root, "rev-parse", "HEAD")[:12]
    app = App(load_config(root))
    service = app.config.services["plain"]
    assert app.image_commit(service, None, "production") == first  # plain/deploy did not change
    assert app.image_commit(service, None, "staging") == second
    assert app.image_commit(service, "abc123", "staging") == "abc123"


def test_outside_git_the_error_says_to_pass_a_commit(root: Path) -> None:
    shutil.rmtree(root / ".git")
    app = App(load_config(root))
    with pytest.raises(ToolError) as caught:
        app.image_commit(app.config.services["plain"], None, "production")
    assert "plain/deploy" in str(caught.value) and "--commit" in (caught.value.hint or "")


def test_a_packaged_chart_is_named_by_its_own_last_commit_and_dirty_when_changed(root: Path) -> None:
    from deployer.images.publish import source_commit

    chart = root / "services" / "app-1.0.0.tgz"
    chart.write_bytes(b"packaged chart, version 1")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "chart")
    committed = _git(root, "rev-parse", "HEAD")[:12]
    (root / "services" / "plain" / "deploy" / "cm.yaml").write_text("changed: elsewhere\n")
    assert source_commit(chart) == committed  # a change beside it is not the chart's
    chart.write_bytes(b"packaged chart, version 2")
    assert source_commit(chart).startswith(f"{committed}-dirty")
