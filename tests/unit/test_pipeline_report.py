"""The report's end states in words: the stories record which release each cluster ends on, and
only the report says it (the same words in text, JSON and on the page)."""

from __future__ import annotations

import pytest

from deployer.pipeline.report import ClusterReport, End, EndState, RunReport, describe_end


@pytest.mark.parametrize(("state", "words"), [
    (EndState(End.NOT_CONTACTED), "not contacted"),
    (EndState(End.UNCHANGED, 3), "unchanged, on r3"),
    (EndState(End.UNCHANGED), "unchanged, on no release"),
    (EndState(End.UNCHANGED, 1, failed_revision=2, reason="r2 failed before any object was written"),
     "unchanged, on r1 (r2 failed before any object was written)"),
    (EndState(End.DRY_RUN, 3), "on r3; dry run, nothing written"),
    (EndState(End.DRY_RUN), "on no release; dry run, nothing written"),
    (EndState(End.CURRENT, 3), "already on r3; nothing to change"),
    (EndState(End.NEW, 4), "on the new release r4"),
    (EndState(End.NEW_FAILED, 4), "on the new release r4, which failed"),
    (EndState(End.NEW_FAILED, 4, reason="left on the new release (onFailure: leave)"),
     "on the new release r4, which failed; left on the new release (onFailure: leave)"),
    (EndState(End.PREVIOUS, 5, rollback_target=3, failed_revision=4), "back on r3's release as r5 (r4 failed)"),
    (EndState(End.PREVIOUS, 5, rollback_target=3), "back on r3's release as r5"),
    (EndState(End.ROLLBACK_FAILED, rollback_target=3, reason="timed out after 60s"),
     "rollback to r3 failed: timed out after 60s"),
    (EndState(End.UNKNOWN, reason="cluster c1: internal error"),
     "rollback failed: cluster c1: internal error; cluster state unknown"),
    (EndState(End.LOST, 1, failed_revision=2, reason="cluster c1: cannot reach the API server"),
     "lost while r2 was being deployed: it runs r2 or r1 (record r2 left in progress); run `deployer status` "
     "once the API server answers (cluster c1: cannot reach the API server)"),
    (EndState(End.LOST, None, failed_revision=1, reason="gone"),
     "lost while r1 was being deployed: it runs r1 or no release (record r1 left in progress); run `deployer "
     "status` once the API server answers (gone)"),
    (None, ""),
])
def test_each_end_state_in_words(state: EndState | None, words: str) -> None:
    assert describe_end(state) == words


def test_text_and_json_say_the_same_and_json_also_carries_the_facts() -> None:
    back = ClusterReport("gke-prod", "rolled-back", revision=5,
                         end=EndState(End.PREVIOUS, 5, rollback_target=3, failed_revision=4))
    new = ClusterReport("dc1", "succeeded", revision=4, end=EndState(End.NEW, 4))
    run = RunReport("deploy", "hello", "production", [back, new])
    assert run.to_text().splitlines() == ["gke-prod  rolled-back  back on r3's release as r5 (r4 failed)",
                                          "dc1       succeeded    on the new release r4"]
    first = run.to_dict()["clusters"][0]
    assert first["release"] == "back on r3's release as r5 (r4 failed)"
    assert first["end"] == {"kind": "previous", "revision": 5, "rollbackTarget": 3, "failedRevision": 4,
                            "reason": None}


def test_a_cluster_that_broke_off_before_its_end_was_known_says_nothing_about_it() -> None:
    report = ClusterReport("dc1", "failed")
    assert report.release == "" and RunReport("deploy", "hello", "staging", [report]).to_dict()[
        "clusters"][0]["end"] is None


def test_a_cluster_rolled_back_for_another_clusters_failure_says_so():
    state = EndState(End.PREVIOUS, 3, rollback_target=1, failed_revision=2,
                     reason="r2 succeeded here and was rolled back because another cluster failed "
                            "(onFailure: rollback-all)")
    assert describe_end(state) == ("back on r1's release as r3 (r2 succeeded here and was rolled back because "
                                   "another cluster failed (onFailure: rollback-all))")
