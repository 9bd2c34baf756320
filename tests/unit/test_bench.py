"""The benchmark's pure parts (bench/stats.py, bench/workload.py): the medians, ratios and tables
that `make bench` writes into docs/benchmarks.md must be right, whatever the figures."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import yaml

from bench import workload
from bench.stats import Case, bar_chart, fanout_cpu_table, fanout_table, floor_table, line_chart, markdown_table, ratio


def _case() -> Case:
    case = Case("sync-idle", "no change", ">= 10x kubectl")
    for seconds in (0.9, 0.5, 0.7):
        case.add("deployer", seconds)
    for seconds in (2.0, 3.5, 2.8):
        case.add("kubectl", seconds)
    case.load += [3.0, 4.5]
    return case


def test_median_is_the_middle_round_and_ratio_is_peer_over_deployer() -> None:
    case = _case()
    assert case.median("deployer") == 0.7
    assert case.median("kubectl") == 2.8
    assert case.ratio("kubectl") == 2.8 / 0.7
    assert case.median("helm") is None and case.ratio("helm") is None


def test_ratio_refuses_what_it_cannot_divide() -> None:
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 1.0) is None
    assert ratio(3.0, 1.5) == 2.0


def test_markdown_table_shows_medians_ratios_target_rounds_and_load() -> None:
    table = markdown_table([_case()], ("kubectl", "helm")).splitlines()
    assert table[0] == "| case | deployer | kubectl | ratio | helm | ratio | target | runs | load avg |"
    assert table[1] == "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    assert table[2] == "| no change | 700 ms | 2.80 s | 4.0x | - | - | >= 10x kubectl | 3 | 3.0-4.5 |"


def test_floor_table_gives_each_run_as_a_speed_up_over_kubectl() -> None:
    case = Case("sync-idle", "B2")
    for tool, seconds in (("deployer", 1.0), ("floor", 0.5), ("floor + pydantic + click", 0.8), ("kubectl", 6.0)):
        case.add(tool, seconds)
    rows = floor_table(case).splitlines()
    assert rows[0] == "| run | median | kubectl / run |"
    assert rows[2:] == ["| deployer | 1.00 s | 6.0x |", "| floor + pydantic + click | 800 ms | 7.5x |",
                        "| floor | 500 ms | 12.0x |", "| kubectl | 6.00 s | 1.0x |"]


def test_fanout_table_shows_growth_over_the_smallest_count() -> None:
    one, ten = Case("f1", "1"), Case("f10", "10")
    one.add("sync", 1.0)
    ten.add("sync", 1.5)
    ten.load.append(2.0)
    rows = fanout_table({10: ten, 1: one}, ("sync",)).splitlines()
    assert rows[2] == "| 1 | 1.00 s (1.0x) | - |"
    assert rows[3] == "| 10 | 1.50 s (1.5x) | 2.0 |"


def test_charts_are_well_formed_svg_with_one_bar_or_point_per_median() -> None:
    bars = ET.fromstring(bar_chart([_case()], ("deployer", "kubectl", "helm"), "t"))
    rects = [r for r in bars.iter("{http://www.w3.org/2000/svg}rect") if r.get("class") == "bar"]
    assert len(rects) == 2  # deployer and kubectl measured; helm absent draws nothing
    one, two = Case("f1", "1"), Case("f2", "2")
    one.add("sync", 1.0)
    two.add("sync", 1.2)
    lines = ET.fromstring(line_chart({1: one, 2: two}, ("sync",), "t"))
    assert len(list(lines.iter("{http://www.w3.org/2000/svg}circle"))) == 2


def test_peers_get_the_objects_deployers_template_renders() -> None:
    import jinja2

    rendered = jinja2.Environment().from_string(workload.SERVICE_TEMPLATE).render(
        service={"name": "s", "namespace": workload.DEPLOY_NAMESPACE}, values={"apps": 3, "neverReady": True},
        image="reg/web@sha256:abc")
    assert [d for d in yaml.safe_load_all(rendered) if d] == workload.service_objects(
        "s", "reg/web@sha256:abc", apps=3, never_ready=True)


def test_bench_cluster_file_has_the_deploy_namespace_and_99_namespaces() -> None:
    doc = workload.cluster_file({"name": "c", "provider": "onprem"}, 99)
    names = [n["name"] for n in doc["namespaces"]]
    assert names[0] == workload.DEPLOY_NAMESPACE and len(names) == 99 and len(set(names)) == 99
    assert {a["role"] for a in doc["access"]} == {"viewer", "namespace-admin", "deployer"}


def test_the_platform_adds_bench_clusters_only_when_asked(tmp_path) -> None:
    from deployer_localplatform.platform import Platform, PortPlan
    from deployer_localplatform.topology import CLUSTERS

    assert Platform(tmp_path).clusters == CLUSTERS
    with_three = Platform(tmp_path, extra_bench_clusters=3).clusters
    assert [c.name for c in with_three] == ["local-onprem", "local-gke", "bench-1", "bench-2", "bench-3"]
    assert with_three[:2] == CLUSTERS and len({c.etcd_prefix for c in with_three}) == 5
    ports = PortPlan.allocate(with_three)
    every = [p for roles in ports.cluster.values() for p in roles.values()]
    assert len(every) == 20 and len(set(every) | {ports.etcd, ports.etcd_peer, ports.registry}) == 23


def test_fanout_cpu_table_gives_the_floor_the_cpu_sets_on_the_cores() -> None:
    ten = Case("fanout-10", "10 clusters")
    ten.add("sync cold", 30.0)
    ten.cpu["sync cold"] = [(4.0, 50.0, 60.5)]
    ten.add("sync no change", 3.0)  # no CPU recorded: no row
    rows = fanout_cpu_table({10: ten}, ("sync cold", "sync no change"), cores=2).splitlines()
    assert len(rows) == 3
    # (4 + 50) CPU seconds on 2 cores need 27 s at the least: 90% of the 30 s measured.
    assert rows[2] == "| 10 | sync cold | 30.00 s | 4.0 s | 50.0 s | 27.00 s | 90% | 6.5 s |"


def test_processes_cpu_reads_proc_and_counts_a_gone_process_as_nothing() -> None:
    import os

    from bench.suite import machine_busy_cpu, processes_cpu

    mine = processes_cpu([os.getpid()])
    assert mine > 0
    assert processes_cpu([os.getpid(), 2**22 + 12345]) >= mine
    assert machine_busy_cpu() >= mine  # the whole machine has used at least what this process has
