"""The promote decision (deployer.rollout.promotion), from inline release records: which build an
environment takes from the one it is promoted from, and when that is refused."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from deployer.errors import UsageError
from deployer.rollout.promotion import commit_of, promotable, succeeded_in
from deployer.rollout.release import ReleaseRecord, from_configmap, to_configmap

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def rec(cluster: str, revision: int, digest: str, outcome: str = "succeeded", commit: str = "c1",
        rollback_of: int | None = None) -> ReleaseRecord:
    return ReleaseRecord("hello", cluster, "staging", revision, f"reg/{cluster}/hello@{digest}", digest, "sha256:m",
                         "ci", "2025-01-01T00:00:00+00:00", outcome, commit=commit,  # type: ignore[arg-type]
                         rollback_of=rollback_of)


def test_the_release_every_source_cluster_runs_is_promoted_with_its_revisions() -> None:
    chosen = promotable("hello", "staging", "production", {
        "onprem": [rec("onprem", 1, B, commit="c0"), rec("onprem", 2, A)],
        "gke": [rec("gke", 1, A)]})
    assert (chosen.digest, chosen.commit, chosen.source) == (A, "c1", "staging")
    assert chosen.revisions == {"gke": 1, "onprem": 2}
    assert chosen.image == f"reg/gke/hello@{A}"            # copied from a source cluster's registry
    assert chosen.note() == {"environment": "staging", "revisions": {"gke": 1, "onprem": 2}}
    assert chosen.describe() == f"{A} (commit c1) from staging (r1 on gke, r2 on onprem)"


def test_source_clusters_that_run_different_digests_are_refused_naming_both() -> None:
    with pytest.raises(UsageError) as refused:
        promotable("hello", "staging", "production", {"onprem": [rec("onprem", 2, A)], "gke": [rec("gke", 1, B)]})
    assert "its clusters disagree" in refused.value.message
    assert f"gke runs {B} (r1)" in refused.value.message and f"onprem runs {A} (r2)" in refused.value.message
    assert "deployer deploy hello --env staging" in refused.value.hint


@pytest.mark.parametrize("outcome", ["failed", "in-progress", "rolled-back", "removed"])
def test_a_newest_source_release_that_did_not_succeed_is_refused(outcome: str) -> None:
    # An older success does not count: promote ships what the source runs now, successfully.
    with pytest.raises(UsageError) as refused:
        promotable("hello", "staging", "production", {"onprem": [rec("onprem", 1, A), rec("onprem", 2, B, outcome)]})
    assert f"its newest release on onprem, r2, is {outcome}" in refused.value.message
    assert "deployer promote hello --from staging --to production" in refused.value.hint


def test_a_source_cluster_without_a_release_is_refused() -> None:
    with pytest.raises(UsageError, match="cluster gke has no staging release"):
        promotable("hello", "staging", "production", {"onprem": [rec("onprem", 1, A)], "gke": []})


def test_a_rollback_in_the_source_is_promoted_with_the_commit_it_restored() -> None:
    records = [rec("onprem", 1, A, commit="old"), rec("onprem", 2, B, "rolled-back", commit="new"),
               rec("onprem", 3, A, commit="", rollback_of=1)]
    chosen = promotable("hello", "staging", "production", {"onprem": records})
    assert (chosen.digest, chosen.commit, chosen.revisions) == (A, "old", {"onprem": 3})
    assert commit_of(records[2], records) == "old"


def test_the_promote_from_gate_needs_the_commit_to_have_succeeded_on_every_source_cluster() -> None:
    both = {"onprem": [rec("onprem", 1, A), rec("onprem", 2, B, commit="c2")], "gke": [rec("gke", 4, A)]}
    ran = succeeded_in("c1", "staging", both)
    assert ran is not None and (ran.digest, ran.revisions) == (A, {"gke": 4, "onprem": 1})
    assert succeeded_in("never-staged", "staging", both) is None
    half = {"onprem": [rec("onprem", 1, A)], "gke": [rec("gke", 1, A, "failed")]}
    assert succeeded_in("c1", "staging", half) is None
    rolled_back = {"onprem": [rec("onprem", 1, A, "rolled-back")]}
    assert succeeded_in("c1", "staging", rolled_back) is None


def test_every_image_the_source_ran_is_promoted_and_clusters_must_agree_on_each_digest() -> None:
    def with_cache(cluster: str, digest: str) -> ReleaseRecord:
        record = rec(cluster, 1, A)
        return replace(record, images={"": record.image, "cache": f"reg/{cluster}/redis@{digest}"})

    chosen = promotable("hello", "staging", "production", {"onprem": [with_cache("onprem", B)],
                                                           "gke": [with_cache("gke", B)]})
    assert chosen.images == {"": f"reg/gke/hello@{A}", "cache": f"reg/gke/redis@{B}"}
    with pytest.raises(UsageError) as refused:  # same service image, another cache image
        promotable("hello", "staging", "production", {"onprem": [with_cache("onprem", B)],
                                                      "gke": [with_cache("gke", A)]})
    assert f"gke runs {A} (cache {A}) (r1)" in refused.value.message


def test_a_record_written_before_the_images_map_still_reads() -> None:
    record = rec("onprem", 1, A)
    stored = to_configmap(record, "apps")
    summary = json.loads(stored["data"]["record.json"])
    del summary["images"]  # as older deployers wrote it
    stored["data"]["record.json"] = json.dumps(summary)
    old = from_configmap(stored)
    assert (old.images, old.image, old.digest) == ({}, record.image, A)
    assert promotable("hello", "staging", "production", {"onprem": [old]}).images == {}
