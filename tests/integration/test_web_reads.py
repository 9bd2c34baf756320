"""What the service, promote and overview pages read, against the real local platform: release
records from both API servers, promote's own choice of release, real `git log` between two
releases (the service's build context is a git repository made by the test), and the web
process's one shared App reused across page loads."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from deployer.web import reads
from deployer.web.shared_app import SharedApp
from tests.conftest import REPO, run_cli
from tests.integration.kit import CLUSTERS, WEB_DEPLOYMENT

pytestmark = pytest.mark.integration


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "Dev One", "GIT_AUTHOR_EMAIL": "dev@example.com", "GIT_COMMITTER_NAME": "Dev One",
           "GIT_COMMITTER_EMAIL": "dev@example.com", "HOME": str(repo.parent), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def commit_change(repo: Path, greeting: str, subject: str) -> str:
    (repo / "hello" / "greeting.txt").write_text(greeting)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", subject)
    return git(repo, "log", "-1", "--format=%H", "--", "hello")[:12]


@pytest.fixture
def setup(tmp_path: Path, synced_config_dir: Path, platform, monkeypatch) -> tuple[Path, str, Path]:
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
                                        "promoteFrom": "staging"}},
        "rollout": {"timeout": "60s"},
    }))
    monkeypatch.setenv("DEPLOYER_BUILDAH_ROOT", str(platform.state_dir / "buildah"))
    monkeypatch.delenv("DEPLOYER_COMMIT", raising=False)
    return folder, name, repo


def cli(folder: Path, *args: str) -> None:
    result = run_cli("--config-dir", str(folder), *args)
    assert result.exit_code == 0, result.stdout + result.stderr


def test_history_promote_preview_and_commits_between_read_from_the_clusters(setup) -> None:
    folder, name, repo = setup
    first = commit_change(repo, "hello one\n", "first greeting")
    cli(folder, "deploy", name, "--env", "staging")
    shared = SharedApp(folder)
    try:
        with shared.use() as app:
            before = reads.promote_page(app, name, "staging", "production")
        assert before.refusal is None and before.ships is not None and before.ships.commit == first
        assert [t.revision for t in before.runs_now] == [None, None]
        assert "runs no release yet" in before.commits.unavailable
        staging_digest = before.ships.digest

        cli(folder, "promote", name, "--from", "staging", "--to", "production")
        second = commit_change(repo, "hello two\n", "second greeting")
        git(repo, "commit", "-q", "--allow-empty", "-m", "outside the service's folder")  # not listed: not its folder
        cli(folder, "deploy", name, "--env", "staging")

        with shared.use() as app:
            preview = reads.promote_page(app, name, "staging", "production")
            history = reads.service_page(app, name)
            clients = dict(app._clients)
        with shared.use() as again:
            reads.overview(again, [])
            assert again is app and again._clients == clients  # one client per cluster, reused by the next load
    finally:
        shared.close()

    assert preview.ships is not None and preview.ships.commit == second and preview.ships.digest != staging_digest
    assert preview.ships.source_revisions == {c: 2 for c in CLUSTERS}
    assert [(t.revision, t.commit, t.digest) for t in preview.runs_now] == [(1, first, staging_digest)] * 2
    assert (preview.commits.old, preview.commits.new) == (first, second)
    assert [c.subject for c in preview.commits.commits] == ["second greeting"]
    assert preview.to_dict()["commits"]["available"] is True

    envs = {e.name: e for e in history.environments}
    staging, production = envs["staging"], envs["production"]
    assert staging.rollback_revisions == [1]  # r2 runs on both clusters
    for cluster in production.clusters:
        [r1] = cluster.releases
        assert (r1.revision, r1.outcome, r1.commit, r1.digest, r1.current) == (1, "succeeded", first,
                                                                               staging_digest, True)
        assert r1.seconds is not None and 0 < r1.seconds < 120 and "promoted from staging" in r1.note
    for cluster in staging.clusters:
        assert [(r.revision, r.commit, r.can_roll_back_to) for r in cluster.releases] == [
            (2, second, False), (1, first, True)]


def test_a_promotion_staging_cannot_give_is_previewed_with_the_story_s_refusal(setup) -> None:
    folder, name, repo = setup
    commit_change(repo, "hello\n", "greeting")
    shared = SharedApp(folder)
    try:
        with shared.use() as app:
            preview = reads.promote_page(app, name, "staging", "production")
    finally:
        shared.close()
    assert preview.ships is None and preview.refusal is not None
    assert preview.refusal[0].startswith(f"cannot promote {name} from staging: cluster ")
    assert "has no staging release" in preview.refusal[0]
    assert preview.commits.unavailable == "nothing would ship"
