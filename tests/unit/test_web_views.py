"""The pages' view models (history, promote preview, overview), the commits between two releases
(real git in a temporary repository) and the web process's shared App, from inline records."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deployer.config.loader import load_config
from deployer.errors import DeployerError, UsageError
from deployer.pipeline.history import ClusterHistory
from deployer.pipeline.status import ReleaseStatus
from deployer.rollout.drift import Finding
from deployer.rollout.promotion import promotable
from deployer.rollout.release import ReleaseRecord
from deployer.web.reads import commits_between
from deployer.web.shared_app import SharedApp
from deployer.web.views.common import RunningJob, duration_text, seconds_between
from deployer.web.views.history import rollback_revisions, service_history
from deployer.web.views.overview import service_card
from deployer.web.views.promote import (
    CommitLog,
    TargetRelease,
    commit_range,
    promote_preview,
    shipment,
    target_releases,
)

REPO = Path(__file__).resolve().parents[2]
CONFIG = load_config(REPO)  # hello: staging on gke-staging; production on onprem-dc1 and gke-production


def rec(cluster: str, revision: int, outcome: str = "succeeded", *, env: str = "production", digest: str = "",
        commit: str = "", mhash: str = "m", rollback_of: int | None = None, finished: str = "",
        time: str = "2026-11-29T10:00:00+00:00", images: dict[str, str] | None = None) -> ReleaseRecord:
    digest = digest or f"sha256:{revision:064x}"
    return ReleaseRecord("hello", cluster, env, revision, f"reg.{cluster}/hello@{digest}", digest, mhash, "alice",
                         time, outcome, rollback_of=rollback_of, commit=commit, finished=finished,  # type: ignore[arg-type]
                         images=images or {})


# --- history and the roll-back-to-this-release button -------------------------------------------

def test_a_release_every_cluster_ran_alike_is_offered_unless_every_cluster_runs_it() -> None:
    both = {c: [rec(c, 1), rec(c, 2), rec(c, 3)] for c in ("a", "b")}
    assert rollback_revisions(both) == [2, 1]  # r3 is what both run
    back = {c: [rec(c, 1), rec(c, 2), rec(c, 3, rollback_of=1, digest=f"sha256:{1:064x}")] for c in ("a", "b")}
    assert rollback_revisions(back) == [2]  # r1's build runs again as r3
    uneven = {"a": [rec("a", 1), rec("a", 2)], "b": [rec("b", 1), rec("b", 2), rec("b", 3, rollback_of=1,
                                                                                  digest=f"sha256:{1:064x}")]}
    assert rollback_revisions(uneven) == [2, 1]  # a runs r2, b r1's build: each is a change somewhere

    split = {"a": [rec("a", 1), rec("a", 2), rec("a", 3, "failed")], "b": [rec("b", 1), rec("b", 2)]}
    assert rollback_revisions(split) == [1]  # r3 failed; r2 runs on both (a's r3 failed: r2 is its current)


def test_a_release_missing_failed_or_different_on_one_cluster_is_not_offered() -> None:
    missing = {"a": [rec("a", 1), rec("a", 2), rec("a", 3)], "b": [rec("b", 2), rec("b", 3)]}
    assert rollback_revisions(missing) == [2]
    failed = {"a": [rec("a", 1), rec("a", 2)], "b": [rec("b", 1, "rolled-back"), rec("b", 2)]}
    assert rollback_revisions(failed) == []
    other_build = {"a": [rec("a", 1), rec("a", 2)], "b": [rec("b", 1, digest="sha256:" + "f" * 64), rec("b", 2)]}
    assert rollback_revisions(other_build) == []
    other_sidecar = {"a": [rec("a", 1, images={"side": "r/s@sha256:1"}), rec("a", 2)],
                     "b": [rec("b", 1, images={"side": "r/s@sha256:2"}), rec("b", 2)]}
    assert rollback_revisions(other_sidecar) == []
    # each cluster's manifests name its own registry: only the digests must agree
    own_registries = {"a": [rec("a", 1, mhash="x"), rec("a", 2)], "b": [rec("b", 1, mhash="y"), rec("b", 2)]}
    assert rollback_revisions(own_registries) == [1]
    assert rollback_revisions({}) == []


def test_the_service_page_lists_every_release_newest_first_with_commit_duration_and_outcome() -> None:
    prod = {c: [rec(c, 1, commit="aaaaaaaaaaaa", finished="2026-11-29T10:01:05+00:00"),
                rec(c, 2, "rolled-back", commit="bbbbbbbbbbbb"),
                rec(c, 3, rollback_of=1, digest=f"sha256:{1:064x}")] for c in ("onprem-dc1", "gke-production")}
    found = [ClusterHistory("gke-production", prod["gke-production"]),
             ClusterHistory("onprem-dc1", prod["onprem-dc1"]),
             ClusterHistory("gke-staging", error=DeployerError("cluster gke-staging: connection refused"))]
    view = service_history(CONFIG, "hello", found)
    staging, production = view.environments
    assert (staging.name, staging.production, production.name, production.production) == (
        "staging", False, "production", True)
    assert staging.clusters[0].error == "cluster gke-staging: connection refused" and staging.rollback_revisions == []
    dc1 = production.clusters[0]
    assert [c.cluster for c in production.clusters] == ["onprem-dc1", "gke-production"]
    assert [r.revision for r in dc1.releases] == [3, 2, 1]
    r3, r2, r1 = dc1.releases
    assert r3.commit == "aaaaaaaaaaaa" and r3.current and r3.note == "rollback to r1"  # the restored build's commit
    assert (r2.outcome, r2.current, r2.can_roll_back_to) == ("rolled-back", False, False)
    assert (r1.seconds, r1.duration_text, r1.started_text) == (65.0, "1m 05s", "2026-11-29 10:00:00")
    assert r3.duration_text == "" and r3.to_dict()["durationSeconds"] is None  # never settled in this data
    # r1 is the build r3 (a rollback to it) runs on both clusters: returning to it would change nothing
    assert production.rollback_revisions == [] and not r1.can_roll_back_to
    assert view.to_dict()["environments"][1]["clusters"][0]["releases"][2]["canRollBackTo"] is False


def test_no_rollback_is_offered_while_a_cluster_of_the_environment_is_unreadable() -> None:
    found = [ClusterHistory("onprem-dc1", [rec("onprem-dc1", 1), rec("onprem-dc1", 2)]),
             ClusterHistory("gke-production", error=DeployerError("unreadable"))]
    production = service_history(CONFIG, "hello", found).environments[1]
    assert production.rollback_revisions == [] and not any(r.can_roll_back_to for r in production.clusters[0].releases)


def test_durations_read_as_people_say_them() -> None:
    assert seconds_between("2026-11-29T10:00:00+00:00", "2026-11-29T10:00:42.4+00:00") == pytest.approx(42.4)
    assert seconds_between("2026-11-29T10:00:00+00:00", "") is None
    assert seconds_between("2026-11-29T10:00:00", "2026-11-29T10:00:01+00:00") is None
    assert [duration_text(s) for s in (None, 0.4, 42, 185, 3725)] == ["", "0s", "42s", "3m 05s", "1h 02m"]


# --- promote preview ------------------------------------------------------------------------------

def test_the_preview_ships_what_deployer_promote_would_choose_and_shows_what_the_target_runs() -> None:
    images = {"": "reg/hello@sha256:" + "4" * 64, "sidecar": "reg/side@sha256:" + "5" * 64}
    staging = {"gke-staging": [rec("gke-staging", 4, env="staging", commit="cccccccccccc", images=images,
                                   digest="sha256:" + "4" * 64)]}
    chosen = promotable("hello", "staging", "production", staging)
    production = [ClusterHistory("onprem-dc1", [rec("onprem-dc1", 1, commit="aaaaaaaaaaaa"),
                                                rec("onprem-dc1", 2, "failed", commit="bbbbbbbbbbbb")]),
                  ClusterHistory("gke-production", [])]
    runs_now = target_releases(production, "production", ["onprem-dc1", "gke-production"])
    assert runs_now == [TargetRelease("onprem-dc1", 1, "aaaaaaaaaaaa", f"sha256:{1:064x}"),
                        TargetRelease("gke-production")]
    preview = promote_preview("hello", "staging", "production", True, chosen, runs_now, CommitLog(unavailable="x"))
    assert preview.ships is not None and preview.refusal is None and not preview.already_running
    assert preview.ships.commit == "cccccccccccc" and preview.ships.source_revisions == {"gke-staging": 4}
    assert [(i.name, i.digest) for i in preview.ships.images] == [("", "sha256:" + "4" * 64),
                                                                  ("sidecar", "sha256:" + "5" * 64)]
    data = preview.to_dict()
    assert data["ships"]["digest"] == "sha256:" + "4" * 64 and data["runsNow"][1] == {
        "cluster": "gke-production", "revision": None, "commit": None, "digest": None}


def test_a_promotion_the_story_refuses_is_shown_with_its_reason_and_ships_nothing() -> None:
    staging = {"gke-staging": [rec("gke-staging", 4, "failed", env="staging")]}
    with pytest.raises(UsageError) as refused:
        promotable("hello", "staging", "production", staging)
    preview = promote_preview("hello", "staging", "production", True, refused.value, [], CommitLog(unavailable="x"))
    assert preview.ships is None and preview.refusal is not None
    assert "r4, is failed" in preview.refusal[0] and "deployer rollback hello --env staging" in preview.refusal[1]
    assert preview.to_dict()["refused"]["error"] == refused.value.message


def test_the_commit_range_is_the_targets_one_commit_to_the_one_that_ships() -> None:
    chosen = promotable("hello", "staging", "production",
                        {"s": [rec("s", 2, env="staging", commit="cccccccccccc")]})
    ships = shipment(chosen)
    one = [TargetRelease("a", 1, "aaaaaaaaaaaa", "d"), TargetRelease("b", 3, "aaaaaaaaaaaa", "d")]
    assert commit_range(one, ships) == ("aaaaaaaaaaaa", "cccccccccccc")
    assert "nothing would ship" in str(commit_range(one, None))
    assert "runs no release" in str(commit_range([TargetRelease("a")], ships))
    split = [TargetRelease("a", 1, "aaaaaaaaaaaa", "d"), TargetRelease("b", 1, "bbbbbbbbbbbb", "d")]
    assert "different commits (aaaaaaaaaaaa, bbbbbbbbbbbb)" in str(commit_range(split, ships))
    dirty = shipment(promotable("hello", "staging", "production",
                                {"s": [rec("s", 2, env="staging", commit="cccccccccccc-dirtyabcd1234")]}))
    assert "names no git commit" in str(commit_range(one, dirty))


def test_the_commits_between_two_releases_come_from_git_or_say_why_not(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                              env={"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "d@x", "GIT_COMMITTER_NAME": "Dev",
                                   "GIT_COMMITTER_EMAIL": "d@x", "HOME": str(tmp_path)}).stdout.strip()

    git("init", "-q")
    shas = []
    for n, where in enumerate(["app/a", "app/b", "elsewhere", "app/c"]):
        (repo / where).write_text(str(n))
        git("add", "-A")
        git("commit", "-qm", f"change {n}")
        shas.append(git("rev-parse", "HEAD")[:12])
    log = commits_between(repo / "app", shas[0], shas[3])
    assert log.unavailable == "" and [c.subject for c in log.commits] == ["change 3", "change 1"]
    assert log.commits[0].author == "Dev" and log.commits[0].sha.startswith(shas[3])
    unknown = commits_between(repo / "app", "0123456789ab", shas[3])
    assert "commit 0123456789ab is not in the repository" in unknown.unavailable and unknown.commits == []
    (tmp_path / "plain").mkdir()
    assert "not in a git repository" in commits_between(tmp_path / "plain", shas[0], shas[3]).unavailable
    assert "does not exist here" in commits_between(tmp_path / "gone", shas[0], shas[3]).unavailable


# --- overview -------------------------------------------------------------------------------------

def test_the_overview_card_shows_each_clusters_release_drift_and_the_job_in_progress() -> None:
    now = rec("onprem-dc1", 2, commit="aaaaaaaaaaaa")
    found = [ReleaseStatus("onprem-dc1", "production", "payments", now, rec("onprem-dc1", 3, "failed"),
                           [Finding("image", "Deployment payments/hello", "runs sha256:beef, not r3's")]),
             ReleaseStatus("gke-production", "production", "payments", error=DeployerError("refused")),
             ReleaseStatus("gke-staging", "staging", "payments")]
    job = RunningJob("ab12", "deploy", "hello", "production", "web:bob", "deploying hello in production")
    card = service_card(CONFIG, "hello", found, [job])
    staging, production = card.environments
    assert staging.clusters[0].revision is None and staging.clusters[0].notes == ["never deployed"]
    assert staging.job is None and production.job == job and production.promote_from == "staging"
    dc1, gke = production.clusters
    assert (dc1.revision, dc1.commit, dc1.drift, dc1.notes) == (2, "aaaaaaaaaaaa", True, ["latest r3 failed"])
    assert gke.error == "refused" and production.drift and production.production
    data = card.to_dict()
    assert data["url"] == "/services/hello" and data["environments"][1]["job"]["url"] == "/jobs/ab12"
    unread = service_card(CONFIG, "hello", DeployerError("service file gone"), [])
    assert unread.error == "service file gone" and unread.environments[0].clusters[0].error == "service file gone"


# --- the web process's one App --------------------------------------------------------------------

class Counting:
    def __init__(self) -> None:
        self.made: list[object] = []
        self.closed: list[object] = []

    def make(self, config):  # type: ignore[no-untyped-def]
        from deployer.app import App

        counter = self

        class Tracked(App):
            def close(self) -> None:
                counter.closed.append(self)
                super().close()

        app = Tracked(config)
        self.made.append(app)
        return app


def config_folder(tmp_path: Path) -> Path:
    (tmp_path / "clusters").mkdir()
    (tmp_path / "charts").symlink_to(REPO / "charts")
    (tmp_path / "clusters" / "onprem-dc1.yaml").write_text((REPO / "clusters" / "onprem-dc1.yaml").read_text())
    (tmp_path / "clusters" / "certs").symlink_to(REPO / "clusters" / "certs")
    return tmp_path


def test_page_loads_share_one_app_until_the_folder_changes_and_the_old_one_is_closed(tmp_path: Path) -> None:
    folder = config_folder(tmp_path)
    counting = Counting()
    shared = SharedApp(folder, make=counting.make)
    with shared.use() as first:
        pass
    with shared.use() as again:
        assert again is first
    assert counting.closed == []
    (folder / "clusters" / "onprem-dc1.yaml").write_text(
        (folder / "clusters" / "onprem-dc1.yaml").read_text() + "\n# edited\n")
    with shared.use() as fresh:
        assert fresh is not first and counting.closed == [first]
    shared.close()
    assert counting.closed == [first, fresh] and len(counting.made) == 2


def test_an_app_replaced_while_a_request_uses_it_is_closed_when_that_request_ends(tmp_path: Path) -> None:
    folder = config_folder(tmp_path)
    counting = Counting()
    shared = SharedApp(folder, make=counting.make)
    with shared.use() as busy:
        (folder / "clusters" / "extra.txt").write_text("a new file")
        with shared.use() as fresh:
            assert fresh is not busy
        assert counting.closed == []  # still in use by the outer request
    assert counting.closed == [busy]
    shared.close()
    assert counting.closed == [busy, fresh]


# --- the routes' refusals (no cluster is asked) -----------------------------------------------------

def test_the_pages_answer_an_unknown_service_404_and_a_bad_promotion_400(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from deployer.web.asgi import create_app
    from deployer.web.context import WebContext

    ctx = WebContext(REPO, tmp_path / "state")
    try:
        with TestClient(create_app(ctx), base_url="http://127.0.0.1") as client:
            unknown = client.get("/api/services/nope")
            assert unknown.status_code == 404 and "no service named 'nope'" in unknown.json()["error"]
            assert client.get("/services/nope").status_code == 404
            assert client.get("/services/nope/promote?from=staging&to=production").status_code == 404
            bare = client.get("/api/services/hello/promote")
            assert bare.status_code == 400 and "?from=SOURCE&to=TARGET" in bare.json()["error"]
            itself = client.get("/api/services/hello/promote?from=staging&to=staging")
            assert itself.status_code == 400 and "to itself" in itself.json()["error"]
    finally:
        ctx.close()
