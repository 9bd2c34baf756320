"""The DORA figures of a scripted production history match the values worked out by hand below,
and the charts drawn from them parse as SVG with a label on every bar and point."""

from __future__ import annotations

import datetime as dt
from xml.etree import ElementTree as ET

from deployer.observe import charts
from deployer.observe.dora import Release, deploys, figures
from deployer.rollout.release import ReleaseRecord

SVG = "{http://www.w3.org/2000/svg}"


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC)


COMMITS = {"c1": at(2, 8), "c2": at(3, 10), "c3": at(3, 9), "c4": at(4, 9), "c5": at(4, 13)}
"""c6 is deployed with no known commit time."""


def history() -> list[Release]:
    prod = "production"

    def rel(cluster: str, when: dt.datetime, outcome: str, digest: str, commit: str, *, rollback: bool = False,
            env: str = prod) -> Release:
        return Release(env, cluster, when, outcome, digest, commit, rollback)

    return [
        rel("a", at(1, 23), "succeeded", "d0", "c0"),                  # the day before the period
        rel("a", at(2, 10), "succeeded", "d1", "c1"),                  # 1: ok, lead time 2 h
        rel("b", at(2, 10, 2), "succeeded", "d1", "c1"),
        rel("a", at(3, 12), "succeeded", "d2", "c2"),                  # 2: failed on b, rolled back there
        rel("b", at(3, 12, 1), "rolled-back", "d2", "c2"),
        rel("b", at(3, 12, 10), "succeeded", "d1", "c1", rollback=True),  # restores 2 after 10 min
        rel("a", at(3, 15), "succeeded", "d3", "c3"),                  # 3: ok, lead time 6 h
        rel("b", at(3, 15, 1), "succeeded", "d3", "c3"),
        rel("a", at(3, 16), "succeeded", "s9", "c9", env="staging"),   # another environment
        rel("a", at(4, 11), "failed", "d4", "c4"),                     # 4: failed, left (onFailure: leave)
        rel("b", at(4, 11, 1), "failed", "d4", "c4"),
        rel("a", at(4, 14), "succeeded", "d5", "c5"),                  # 5: ok, lead time 1 h; restores 4 after 3 h
        rel("b", at(4, 14, 1), "succeeded", "d5", "c5"),
        rel("a", at(5, 9), "failed", "d6", "c6"),                      # 6: failed, nothing restored it yet
        rel("b", at(5, 9, 30), "in-progress", "d7", "c7"),             # still running: no outcome yet
    ]


def test_figures_of_a_scripted_history_match_the_hand_computed_values() -> None:
    found = figures(history(), "production", dt.date(2026, 11, 2), dt.date(2026, 11, 5), COMMITS)
    assert [(d.date.day, d.succeeded, d.failed) for d in found.days] == [(2, 1, 0), (3, 1, 1), (4, 1, 1), (5, 0, 1)]
    assert (found.deploys, found.failures) == (6, 3)  # deploys 1 to 6; 2, 4 and 6 failed
    assert found.change_failure_rate == 3 / 6
    assert [s for _, s in found.lead_times] == [2 * 3600, 6 * 3600, 1 * 3600]
    assert found.lead_time_median == 2 * 3600
    assert [s for _, s in found.restores] == [10 * 60, 3 * 3600]
    assert found.time_to_restore_median == (10 * 60 + 3 * 3600) / 2
    assert found.unrestored == 1
    assert found.unknown_commits == []
    assert found.to_dict()["changeFailureRate"] == 0.5


def test_one_run_over_two_clusters_is_one_deploy_and_a_rollback_is_no_deploy() -> None:
    runs = deploys(history(), "production")
    assert [(r.time, r.clusters, r.failed, r.rollback) for r in runs][1:4] == [
        (at(2, 10), ("a", "b"), False, False), (at(3, 12), ("a", "b"), True, False),
        (at(3, 12, 10), ("b",), False, True)]


def test_a_commit_without_a_known_time_is_named_and_has_no_lead_time() -> None:
    found = figures(history(), "production", dt.date(2026, 11, 2), dt.date(2026, 11, 5),
                    {k: v for k, v in COMMITS.items() if k != "c3"})
    assert found.unknown_commits == ["c3"] and len(found.lead_times) == 2


def test_records_become_releases_with_their_rollback_and_time() -> None:
    record = ReleaseRecord("web", "gke", "production", 3, "r/web@sha256:1", "sha256:1", "h", "me",
                           "2026-11-03T12:10:00+00:00", "succeeded", rollback_of=1, commit="c1")
    assert Release.of(record) == Release("production", "gke", at(3, 12, 10), "succeeded", "sha256:1", "c1", True)


def texts(svg: str, cls: str) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == cls]


def test_the_charts_parse_and_label_every_bar_and_point_with_value_and_unit() -> None:
    found = figures(history(), "production", dt.date(2026, 11, 2), dt.date(2026, 11, 5), COMMITS)
    per_day = charts.deploys_per_day(found)
    root = ET.fromstring(per_day)
    assert root.tag == f"{SVG}svg"
    assert texts(per_day, "chart-title") == ["Deploys per day to production (count of deploys, UTC days)"]
    assert texts(per_day, "bar-label") == ["1 ok", "1 ok", "1 failed", "1 ok", "1 failed", "1 failed"]
    assert texts(per_day, "x-label") == ["Nov 02", "Nov 03", "Nov 04", "Nov 05"]
    assert len(list(root.iter(f"{SVG}rect"))) == 6  # one per non-empty segment

    lead = charts.lead_time(found)
    assert texts(lead, "chart-title") == ["Lead time, commit to production (hours, per deploy)"]
    assert texts(lead, "point-label") == ["2 h", "6 h", "1 h"]
    assert texts(lead, "median-label") == ["median 2 h"]

    restore = charts.time_to_restore(found)
    assert texts(restore, "point-label") == ["10 min", "180 min"]
    assert texts(restore, "median-label") == ["median 95 min"]

    rate = charts.change_failure_rate(found)
    assert texts(rate, "chart-title") == ["Change failure rate of production: 50% (deploys that failed)"]
    assert texts(rate, "bar-label") == ["3 ok", "3 failed"]


def test_text_in_a_chart_is_escaped() -> None:
    svg = charts.bar_chart("a <b> & c", [charts.Bar("<x>", (charts.Segment("ok", 1, charts.OK),))])
    assert "&lt;b&gt; &amp; c" in svg
    assert texts(svg, "x-label") == ["<x>"]
