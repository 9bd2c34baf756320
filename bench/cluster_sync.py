"""Benchmark: `deployer cluster sync` against `kubectl apply --server-side` of the same objects.

A cluster file per local cluster that renders about 500 objects (99 namespaces, each with three
role bindings and a resource quota, plus the chart's three cluster roles), on the two clusters of
the local platform. Per round, from a clean cluster each time:

- deployer cold:     `deployer cluster sync --all` (both clusters, in parallel)
- deployer no-change: the same command again, three times
- kubectl cold:      `kubectl apply --server-side -f` of the rendered objects, to one cluster and
                     then the other (as a pipeline applying cluster by cluster would)
- kubectl no-change: the same applies again, three times

Every cold measurement runs on new clusters (the platform restarted from a clean slate). Each
measurement is the wall time of the real command as a process (Python start-up and imports
included for deployer; kubectl with a warm discovery cache); the library rows time the same sync
called in-process, as the web page calls it. Medians over the rounds are printed as JSON and as
the Markdown table of docs/benchmarks.md.

    .venv/bin/python bench/cluster_sync.py [--rounds 5] [--namespaces 99] [--state DIR]

This is a benchmark, not a test: it asserts nothing, and the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deployer.config.loader import load_config  # noqa: E402
from deployer.pipeline.cluster_sync import sync  # noqa: E402
from deployer_localplatform.platform import Platform  # noqa: E402

LABEL = ("bench", "cluster-sync")
CLUSTERS = ("local-onprem", "local-gke")
DEPLOYER = str(Path(sys.executable).parent / "deployer")


def cluster_file(platform_file: Path, namespaces: int) -> dict[str, Any]:
    """The platform's cluster file with ``namespaces`` namespaces, each granting three roles."""
    doc = yaml.safe_load(platform_file.read_text())
    names = [f"bench-{i:03d}" for i in range(namespaces)]
    gke = doc["provider"] == "gke"
    doc["namespaces"] = [{"name": n, "labels": {LABEL[0]: LABEL[1]}} for n in names]
    group = (lambda g: f"{g}@example.com") if gke else (lambda g: g)
    doc["access"] = [
        {"role": "viewer", "namespaces": list(names), "subjects": [{"kind": "Group", "name": group("developers")}]},
        {"role": "namespace-admin", "namespaces": list(names),
         "subjects": [{"kind": "Group", "name": group("oncall")}]},
    ]
    if not gke:  # on GKE the chart binds the deployer account's email in every namespace itself
        doc["access"].append({"role": "deployer", "namespaces": list(names),
                              "subjects": [{"kind": "User", "name": "jenkins-deployer"}]})
    doc["values"] = {"resourceQuota": {"cpu": "8", "memory": "16Gi", "pods": "100"}}
    return doc


def run(argv: list[str], **kwargs: Any) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds


class Bench:
    """The local platform plus the bench's own config folder. ``fresh()`` restarts the platform
    from a clean slate: every cold measurement runs against brand-new clusters (deleting 99
    namespaces through the namespace controller takes minutes, and a half-deleted cluster would
    not be cold anyway)."""

    def __init__(self, state: Path, namespaces: int) -> None:
        self.namespaces = namespaces
        self.root = state / "bench-config"
        (self.root / "clusters").mkdir(parents=True, exist_ok=True)
        self.platform_config = state / "platform-config"
        self.platform_config.mkdir(parents=True, exist_ok=True)
        for folder in (self.root, self.platform_config):
            if not (folder / "charts").exists():
                (folder / "charts").symlink_to(REPO / "charts")
        self.platform = Platform(state / "platform", config_dir=self.platform_config,
                                 progress=lambda m: print(f"platform: {m}", file=sys.stderr))
        self.kubectl = str(next(Path.home().glob(".cache/deployer/platform/bin-*/kubectl")))
        self.manifests: dict[str, Path] = {}
        self.objects: dict[str, int] = {}
        self.fresh()

    def fresh(self) -> None:
        self.platform.down()
        self.info = self.platform.up()
        for name in CLUSTERS:
            doc = cluster_file(self.platform_config / "clusters" / f"{name}.yaml", self.namespaces)
            (self.root / "clusters" / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        for name in CLUSTERS:
            out = subprocess.run([DEPLOYER, "--config-dir", str(self.root), "cluster", "render", name],
                                 capture_output=True, text=True, check=True).stdout
            path = self.root / f"{name}.rendered.yaml"
            path.write_text(out + "\n")
            self.manifests[name] = path
            self.objects[name] = sum(1 for d in yaml.safe_load_all(out) if d)
            # kubectl's best case: its discovery cache for this new endpoint is warm before timing.
            run([self.kubectl, "--kubeconfig", self.kubeconfig(name), "api-resources"])

    def kubeconfig(self, name: str) -> str:
        return str(self.info.cluster(name).admin_kubeconfig)

    def kubectl_apply(self, name: str) -> float:
        return run([self.kubectl, "--kubeconfig", self.kubeconfig(name), "apply", "--server-side",
                    "--field-manager", "kubectl-bench", "-f", str(self.manifests[name])])

    def deployer_sync(self) -> float:
        return run([DEPLOYER, "--config-dir", str(self.root), "cluster", "sync", "--all"])

    def sync_in_process(self) -> float:
        """The same sync through the library, as the web page calls it: no interpreter start-up
        or imports, but the config load, render, connections and TLS handshakes of every run."""
        from deployer.app import App

        start = time.perf_counter()
        with App(load_config(self.root)) as app:
            report = sync(app, list(CLUSTERS))
        seconds = time.perf_counter() - start
        if report.outcome.value in ("failed", "partial"):
            raise SystemExit(f"in-process sync failed: {report.to_dict()}")
        return seconds

    def round(self) -> dict[str, Any]:
        self.fresh()
        load = os.getloadavg()[0]  # other work on the machine competes for the same two cores
        cli_cold = self.deployer_sync()
        cli_idle = [self.deployer_sync() for _ in range(3)]
        lib_idle = [self.sync_in_process() for _ in range(3)]
        self.fresh()
        lib_cold = self.sync_in_process()
        self.fresh()
        kubectl_cold = {name: self.kubectl_apply(name) for name in CLUSTERS}  # one after the other
        kubectl_idle = [{name: self.kubectl_apply(name) for name in CLUSTERS} for _ in range(3)]
        return {"deployer_cold": cli_cold, "deployer_idle": statistics.median(cli_idle),
                "library_cold": lib_cold, "library_idle": statistics.median(lib_idle),
                "kubectl_cold": sum(kubectl_cold.values()),
                "kubectl_idle": statistics.median(sum(r.values()) for r in kubectl_idle),
                "kubectl_cold_per_cluster": kubectl_cold, "load_average_at_start": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--namespaces", type=int, default=99)
    parser.add_argument("--state", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "deployer-bench")
    args = parser.parse_args()

    bench = Bench(args.state, args.namespaces)
    print(f"objects per cluster: {bench.objects}", file=sys.stderr)
    rounds = []
    for i in range(args.rounds):
        rounds.append(bench.round())
        shown = {k: round(v, 3) for k, v in rounds[-1].items() if k != "kubectl_cold_per_cluster"}
        print(f"round {i + 1}: {json.dumps(shown)}", file=sys.stderr)
    bench.platform.down()

    median = {k: statistics.median(r[k] for r in rounds) for k in
              ("deployer_cold", "deployer_idle", "library_cold", "library_idle", "kubectl_cold", "kubectl_idle")}
    result = {
        "objects": bench.objects, "rounds": args.rounds, "median_seconds": median,
        "ratios": {"no_change": median["kubectl_idle"] / median["deployer_idle"],
                   "cold": median["kubectl_cold"] / median["deployer_cold"],
                   "no_change_library": median["kubectl_idle"] / median["library_idle"],
                   "cold_library": median["kubectl_cold"] / median["library_cold"]},
        "machine": {"cpus": os.cpu_count(), "python": host.python_version(),
                    "load_average": os.getloadavg()},
        "all_rounds": rounds,
    }
    print(json.dumps(result, indent=2))
    print(markdown(result))


def markdown(result: dict[str, Any]) -> str:
    m, r = result["median_seconds"], result["ratios"]
    objects = " / ".join(f"{n}: {c}" for n, c in result["objects"].items())
    return "\n".join([
        f"Objects per cluster: {objects}; {result['rounds']} rounds; medians in seconds.",
        "",
        "| run (both clusters) | kubectl `apply --server-side`, one cluster after the other "
        "| deployer CLI `cluster sync --all` | ratio | deployer library `sync()` | ratio | target |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| cold (nothing exists) | {m['kubectl_cold']:.2f} | {m['deployer_cold']:.2f} | {r['cold']:.1f}x "
        f"| {m['library_cold']:.2f} | {r['cold_library']:.1f}x | 3x |",
        f"| no change | {m['kubectl_idle']:.2f} | {m['deployer_idle']:.2f} | {r['no_change']:.1f}x "
        f"| {m['library_idle']:.2f} | {r['no_change_library']:.1f}x | 10x |",
    ])


if __name__ == "__main__":
    main()
