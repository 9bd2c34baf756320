"""What the page tests share: a service whose build context is the test's own git repository (so
its commits and the commits between two releases are real), on both local clusters."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import yaml

from tests.conftest import REPO, run_cli
from tests.integration.kit import CLUSTERS, WEB_DEPLOYMENT

PRODUCTION_GROUP = "payments-oncall"
"""The one group whose members may deploy, promote and roll back the service's production (staging
names none: every signed-in user may act on it)."""


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "Dev One", "GIT_AUTHOR_EMAIL": "dev@example.com", "GIT_COMMITTER_NAME": "Dev One",
           "GIT_COMMITTER_EMAIL": "dev@example.com", "HOME": str(repo.parent), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def make_git_service(tmp_path: Path, synced_config_dir: Path, platform, monkeypatch) -> tuple[Path, str, Path]:
    """A config folder with the platform's clusters and one service whose build context is the
    test's own git repository; staging and production on both clusters, production promoted from
    staging."""
    folder = tmp_path / "config"
    (folder / "services" / "manifests").mkdir(parents=True)
    (folder / "charts").symlink_to(REPO / "charts")
    (folder / "clusters").symlink_to(synced_config_dir / "clusters")
    (folder / "services" / "manifests" / "deployment.yaml.j2").write_text(WEB_DEPLOYMENT)
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "apps" / "hello", repo / "hello")
    git(repo, "init", "-q")
    name = f"pages-{uuid.uuid4().hex[:6]}"
    (folder / "services" / f"{name}.yaml").write_text(yaml.safe_dump({
        "name": name, "namespace": "apps", "manifests": "manifests",
        "image": {"name": "web", "context": str(repo / "hello")},
        "values": {"neverReadyOn": []},
        "environments": {"staging": {"clusters": list(CLUSTERS)},
                         "production": {"clusters": list(CLUSTERS), "namespace": "apps-production",
                                        "promoteFrom": "staging",
                                        "access": {action: [PRODUCTION_GROUP]
                                                   for action in ("deploy", "promote", "rollback")}}},
        "rollout": {"timeout": "60s"},
    }))
    monkeypatch.setenv("DEPLOYER_BUILDAH_ROOT", str(platform.state_dir / "buildah"))
    monkeypatch.delenv("DEPLOYER_COMMIT", raising=False)
    return folder, name, repo


def commit_change(repo: Path, greeting: str, subject: str) -> str:
    (repo / "hello" / "greeting.txt").write_text(greeting)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", subject)
    return git(repo, "log", "-1", "--format=%H", "--", "hello")[:12]


def cli(folder: Path, *args: str) -> None:
    result = run_cli("--config-dir", str(folder), *args)
    assert result.exit_code == 0, result.stdout + result.stderr
