"""The fault-injection suite's fixtures: a fault proxy in front of each real API server, a config
folder whose cluster files point deployer at the proxies, the end state of every cluster read
around the proxies (the admin token, straight to the real API server), and the figures of the run.

Figures: every case that calls ``judge`` adds a row (cases tried, every cluster on a known release,
writes lost, locks leaked, secrets seen); the session writes them as JSON to
``$DEPLOYER_FAULTS_FIGURES`` or, when unset, ``faults-figures.json`` in pytest's base temp folder.
docs/reliability.md quotes one run's figures.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, CliResult, run_cli
from tests.integration.faults.proxy import FaultProxy
from tests.integration.kit import CLUSTERS, admin_api, or_none
from tests.integration.test_deploy import _service, write_service

FIGURES_ENV = "DEPLOYER_FAULTS_FIGURES"
NAMESPACE = "apps"


# --- the proxies and the config folder that uses them ---------------------------------------------

@pytest.fixture(scope="module")
def proxies(platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, FaultProxy]]:
    """One fault proxy per local cluster, in front of its real API server, for the module."""
    folder = tmp_path_factory.mktemp("fault-proxies")
    started = {name: FaultProxy(platform.cluster(name).server, platform.cluster(name).ca_file, folder / name)
               for name in CLUSTERS}
    yield started
    for proxy in started.values():
        proxy.close()


@pytest.fixture
def proxied(proxies: dict[str, FaultProxy]) -> Iterator[dict[str, FaultProxy]]:
    """The proxies with no fault armed and listening, for one test; left that way after it."""
    for proxy in proxies.values():
        proxy.clear()
        proxy.restore()
    yield proxies
    for proxy in proxies.values():
        proxy.clear()
        proxy.restore()


@pytest.fixture(scope="module")
def commit() -> str:
    """One commit for the module's deploys: the image is built once, later deploys find it."""
    return f"faults-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def fault_dir(tmp_path: Path, synced_config_dir: Path, proxied: dict[str, FaultProxy], platform,
              monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config folder whose cluster files are the platform's, with ``server`` and ``ca`` the proxy's."""
    (tmp_path / "charts").symlink_to(REPO / "charts")
    (tmp_path / "clusters").mkdir()
    (tmp_path / "services").mkdir()
    for name, proxy in proxied.items():
        document = yaml.safe_load((synced_config_dir / "clusters" / f"{name}.yaml").read_text())
        document["server"] = proxy.url
        document["ca"] = {"file": str(proxy.ca_file)}
        (tmp_path / "clusters" / f"{name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    monkeypatch.setenv("DEPLOYER_BUILDAH_ROOT", str(platform.state_dir / "buildah"))
    return tmp_path


@dataclass
class Release:
    """A deployed service in the fault folder: its spec, and the deploys made of it."""

    folder: Path
    name: str
    commit: str
    spec: dict[str, Any]

    def deploy(self, *options: str, greeting: str | None = None) -> CliResult:
        """``deployer -o json deploy`` of the service to staging, with ``options`` of deploy's own."""
        if greeting is not None:
            self.spec["values"]["greeting"] = greeting
            write_service(self.folder, self.spec)
        return run_cli("--config-dir", str(self.folder), "-o", "json", "deploy", self.name, "--env", "staging",
                       "--commit", self.commit, *options)


@pytest.fixture
def released(fault_dir: Path, commit: str, platform, proxied: dict[str, FaultProxy]) -> Callable[..., Release]:
    """``released(on_failure=...)``: a fresh service deployed once (r1, greeting "one") through the
    proxies with no fault armed, and a bystander ConfigMap beside it that nothing may delete; the
    proxies' logs are emptied after it."""

    def make(**service: Any) -> Release:
        name = f"f-{uuid.uuid4().hex[:6]}"
        spec = _service(name, timeout="30s", **service)
        spec["values"]["greeting"] = "one"
        write_service(fault_dir, spec)
        release = Release(fault_dir, name, commit, spec)
        first = release.deploy()
        assert first.exit_code == 0, first.stdout + first.stderr
        _make_bystanders(platform, name)
        for proxy in proxied.values():
            proxy.clear()  # the test's log starts with its own deploy
        return release

    return make


# --- the end state, read around the proxies --------------------------------------------------------

@dataclass
class ClusterEnd:
    records: list[tuple[int, str]]
    """(revision, outcome) of every release record, oldest first."""
    runs: int | None
    """The revision whose Deployment the cluster runs (its GREETING matched to the records')."""
    greeting: str | None
    lock_holder: str | None
    lock_expires_in: float | None
    """Seconds until the held lock's lease runs out (negative: past it); None when not held."""
    bystander_present: bool

    @property
    def current(self) -> int | None:
        """The release the records say the cluster is on: the newest that succeeded."""
        good = [rev for rev, outcome in self.records if outcome == "succeeded"]
        return max(good) if good else None

    @property
    def known(self) -> bool:
        """On a known release: the live objects are the records' current one, and no record newer
        than it is left in progress (an older one is the history of a run that lost the cluster)."""
        return (self.current is not None and self.runs == self.current
                and all(outcome != "in-progress" for rev, outcome in self.records if rev > self.current))


def _make_bystanders(platform, service: str) -> None:
    from kubernetes import client

    for name in CLUSTERS:
        with admin_api(platform.cluster(name)) as api:
            client.CoreV1Api(api).create_namespaced_config_map(NAMESPACE, client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=f"bystander-{service}", labels={"deployer.test/bystander": "yes"}),
                data={"owner": "not deployer"}))


def end_state(platform, service: str) -> dict[str, ClusterEnd]:
    """Every cluster's records, live Deployment, lock and bystander, from the real API server."""
    from kubernetes import client

    ends = {}
    for name in CLUSTERS:
        with admin_api(platform.cluster(name)) as api:
            core = client.CoreV1Api(api)
            maps = core.list_namespaced_config_map(
                NAMESPACE, label_selector=f"deployer.io/record=release,deployer.io/service={service}").items
            summaries = sorted((json.loads(cm.data["record.json"]) for cm in maps), key=lambda r: r["revision"])
            greetings = {r["revision"]: _greeting_of(json.loads(cm.data["objects.json"]))
                         for cm, r in ((cm, json.loads(cm.data["record.json"])) for cm in maps)}
            live = or_none(lambda: client.AppsV1Api(api).read_namespaced_deployment(service, NAMESPACE))
            greeting = None
            if live is not None:
                env = live.spec.template.spec.containers[0].env or []
                greeting = next((e.value for e in env if e.name == "GREETING"), None)
            # The release whose objects carry the live greeting is what runs: the newest that
            # succeeded, else the newest at all (a rollback record restores an older one's objects).
            matching = [r for r in summaries if greeting is not None and greetings[r["revision"]] == greeting]
            good = [r["revision"] for r in matching if r["outcome"] == "succeeded"]
            runs = max(good or [r["revision"] for r in matching], default=None)
            lease = or_none(lambda: client.CoordinationV1Api(api).read_namespaced_lease(
                f"deployer-lock.{service}", NAMESPACE))
            bystander = or_none(lambda core=core: core.read_namespaced_config_map(f"bystander-{service}", NAMESPACE))
        holder = lease.spec.holder_identity if lease is not None else None
        expires_in = None
        if holder is not None:
            renewed = lease.spec.renew_time or lease.spec.acquire_time
            expires_in = (renewed + dt.timedelta(seconds=lease.spec.lease_duration_seconds)
                          - dt.datetime.now(dt.UTC)).total_seconds()
        ends[name] = ClusterEnd([(r["revision"], r["outcome"]) for r in summaries], runs, greeting, holder,
                                expires_in, bystander is not None)
    return ends


def _greeting_of(objects: list[dict[str, Any]]) -> str | None:
    for obj in objects:
        if obj.get("kind") == "Deployment":
            env = obj["spec"]["template"]["spec"]["containers"][0].get("env") or []
            return next((e["value"] for e in env if e["name"] == "GREETING"), None)
    return None


# --- secrets and figures ---------------------------------------------------------------------------

def platform_secrets(platform, proxies: dict[str, FaultProxy]) -> set[str]:
    """Every bearer token the platform issued that a run could have held: the static token files,
    and every token that went through a proxy (the short-lived Google and TokenRequest ones)."""
    found: set[str] = set()
    for cluster in platform.clusters.values():
        found.add(cluster.admin_token_file.read_text().strip())
        found |= {path.read_text().strip() for path in cluster.user_token_files.values()}
    for proxy in proxies.values():
        found |= proxy.tokens()
    return {token for token in found if len(token) >= 8}


@dataclass
class Figures:
    cases: list[dict[str, Any]] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        return {"cases tried": len(self.cases),
                "cases where every cluster ended on a known release": sum(c["every_cluster_known"] for c in self.cases),
                "writes lost": sum(c["writes_lost"] for c in self.cases),
                "locks leaked": sum(c["locks_leaked"] for c in self.cases),
                "secrets seen in output": sum(c["secrets_seen"] for c in self.cases)}


@pytest.fixture(scope="session")
def figures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Figures]:
    collected = Figures()
    yield collected
    target = Path(os.environ.get(FIGURES_ENV) or tmp_path_factory.getbasetemp() / "faults-figures.json")
    target.write_text(json.dumps({"totals": collected.totals(), "cases": collected.cases}, indent=2) + "\n")


@dataclass
class Verdict:
    result: CliResult
    ends: dict[str, ClusterEnd]
    report: dict[str, Any]

    def outcome(self, cluster: str) -> str:
        return next(c["outcome"] for c in self.report.get("clusters") or [] if c["cluster"] == cluster)


@pytest.fixture
def judge(platform, proxies: dict[str, FaultProxy], figures: Figures,
          request: pytest.FixtureRequest) -> Callable[..., Verdict]:
    """``judge(result, service, lost=...)``: read every cluster's end state around the proxies,
    record this case's figures, and assert what holds for every fault: no secret in the output, every
    lock released (but on a ``lost`` cluster), the bystander intact, no report naming a release its cluster does not
    run, and every cluster (but those the test expects ``lost``) on a known release."""

    def verdict(result: CliResult, service: str, *, lost: frozenset[str] = frozenset()) -> Verdict:
        ends = end_state(platform, service)
        output = result.stdout + result.stderr
        secrets_seen = sum(1 for token in platform_secrets(platform, proxies) if token in output)
        report: dict[str, Any] = {}
        try:
            parsed = result.json()
            report = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            pass
        writes_lost = _writes_lost(report, ends)
        # A run that could reach a cluster releases its lock; one that lost the cluster cannot, and
        # its lock lasts until its lease runs out (the lost case proves that by the next deploy).
        leaked = [n for n, e in ends.items() if e.lock_holder is not None and n not in lost]
        figures.cases.append({
            "case": request.node.name, "exit_code": result.exit_code,
            "every_cluster_known": all(end.known for end in ends.values()),
            "writes_lost": writes_lost, "locks_leaked": len(leaked), "secrets_seen": secrets_seen,
            "clusters": {name: {"records": end.records, "runs": end.runs} for name, end in ends.items()}})
        assert secrets_seen == 0, "a bearer token the platform issued appears in the output"
        assert not leaked, f"locks still held after the run on {leaked}"
        assert all(end.bystander_present for end in ends.values()), "an object deployer does not own was deleted"
        assert writes_lost == 0, (report, ends)
        for name, end in ends.items():
            if name in lost:
                continue  # the cluster stopped answering past every retry: the test says what it holds
            assert end.known, (name, end)
        return Verdict(result, ends, report)

    return verdict


# Ends that claim no release runs (failed, broken off, never reached): nothing to compare.
_NO_CLAIM = ("new-failed", "rollback-failed", "unknown", "not-contacted", None)


def _writes_lost(report: dict[str, Any], ends: dict[str, ClusterEnd]) -> int:
    """Clusters whose report says they end on a revision the cluster does not run."""
    lost = 0
    for cluster in report.get("clusters") or []:
        end = cluster.get("end") or {}
        claimed = end.get("revision")
        state = ends.get(cluster.get("cluster"))
        if state is None or claimed is None or end.get("kind") in _NO_CLAIM:
            continue
        if state.runs != claimed:
            lost += 1
    return lost
