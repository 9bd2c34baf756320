"""What the service, promote and overview pages read, against the real local platform: release
records from both API servers, promote's own choice of release, real `git log` between two
releases (the service's build context is a git repository made by the test), and the web
process's one shared App reused across page loads."""

from __future__ import annotations

import pytest

from deployer.web import reads
from deployer.web.shared_app import SharedApp
from tests.integration.kit import CLUSTERS
from tests.integration.pages_kit import cli, commit_change, git

pytestmark = pytest.mark.integration


def test_history_promote_preview_and_commits_between_read_from_the_clusters(git_service) -> None:
    folder, name, repo = git_service
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


def test_a_promotion_staging_cannot_give_is_previewed_with_the_story_s_refusal(git_service) -> None:
    folder, name, repo = git_service
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
