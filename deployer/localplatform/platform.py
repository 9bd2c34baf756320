"""The local platform: start, stop and inspect two clusters, a registry and the GCP stand-in.

    info = Platform(state_dir).up()     # idempotent; builds the binaries on first use
    Platform(state_dir).status()
    Platform(state_dir).down()          # stops every process group, verifies none is left

`up` starts from a clean slate each time the platform is not already running: whatever a
previous run left (dead or half-started processes, pid files, etcd data, old tokens) is stopped
and removed first. Only the registry's storage and buildah's storage are kept between runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from deployer.errors import ToolError
from deployer.localplatform import components, processes
from deployer.localplatform.apihttp import ApiHttp
from deployer.localplatform.binaries import Binaries, ensure_binaries
from deployer.localplatform.bootstrap import prepare_cluster_files
from deployer.localplatform.clusterfiles import write_cluster_files
from deployer.localplatform.components import LOCALHOST
from deployer.localplatform.gcp_standin.client import AdminClient, write_webhook_kubeconfig
from deployer.localplatform.info import ClusterInfo, ComponentInfo, PlatformInfo
from deployer.localplatform.layout import StateLayout, default_state_dir
from deployer.localplatform.packages import ensure_packages
from deployer.localplatform.pki import write_private
from deployer.localplatform.processes import RunningProcess
from deployer.localplatform.readiness import wait_ready
from deployer.localplatform.topology import (
    ADMIN_USER,
    CLUSTERS,
    DEPLOYER_ACCOUNT_ID,
    GCP_PROJECT,
    NODE_NAME,
    ClusterSpec,
)

TIMEOUT_ENV = "DEPLOYER_PLATFORM_TIMEOUT"
DEFAULT_TIMEOUT = 120.0
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    alive: bool
    port: int | None
    endpoint: str | None
    log: Path
    rss_bytes: int


@dataclass(frozen=True)
class PlatformStatus:
    state_dir: Path
    running: bool
    """Every recorded component is alive."""
    components: list[ComponentStatus]
    info: PlatformInfo | None


class Platform:
    def __init__(self, state_dir: Path | None = None, *, config_dir: Path | None = None,
                 progress: Progress | None = None, timeout: float | None = None) -> None:
        self.layout = StateLayout((state_dir or default_state_dir()).expanduser().resolve())
        self.config_dir = config_dir.resolve() if config_dir is not None else None
        self._progress = progress or (lambda _message: None)
        self.timeout = timeout or float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT)

    # --- the three operations ------------------------------------------------------------------

    def prepare(self) -> Binaries:
        """Install the Debian packages and build the binaries; nothing is started."""
        ensure_packages(self._progress)
        return ensure_binaries()

    def up(self) -> PlatformInfo:
        with self._locked():
            info = self._running_info()
            if info is not None:
                self._progress(f"already running (state {self.layout.root})")
            else:
                started = time.monotonic()
                binaries = self.prepare()
                stopped = self._stop_all()
                if stopped:
                    self._progress(f"cleaned up a previous run: stopped {', '.join(stopped)}")
                self._reset_state()
                try:
                    info = self._start(binaries)
                except BaseException:
                    # Leave nothing half-started behind; the error shows the failing component's log.
                    self._stop_all()
                    raise
                self.layout.record.write_text(json.dumps(info.to_dict(), indent=2) + "\n")
                self._progress(f"platform up in {time.monotonic() - started:.1f}s")
            if self.config_dir is not None:
                info = self._write_cluster_files(info)
            return info

    def down(self) -> list[str]:
        """Stop every platform process; return the components that were running."""
        with self._locked():
            stopped = self._stop_all()
            self.layout.record.unlink(missing_ok=True)
            return stopped

    def status(self) -> PlatformStatus:
        info = self._recorded_info()
        running = self._recorded_processes()
        rows = []
        names = list(info.components) if info else sorted(running)
        for name in names + sorted(set(running) - set(names)):
            proc = running.get(name)
            comp = info.components.get(name) if info else None
            alive = proc is not None and proc.alive()
            rows.append(ComponentStatus(
                name=name, pid=proc.pid if proc else None, alive=alive,
                port=comp.port if comp else None, endpoint=comp.endpoint if comp else None,
                log=comp.log if comp else self.layout.log(name),
                rss_bytes=processes.rss_bytes(proc.pid) if alive and proc else 0))
        up = info is not None and bool(rows) and all(r.alive for r in rows)
        return PlatformStatus(self.layout.root, up, rows, info)

    # --- starting -------------------------------------------------------------------------------

    def _start(self, bins: Binaries) -> PlatformInfo:
        layout = self.layout
        ports = iter(processes.free_ports(3 + 4 * len(CLUSTERS)))
        etcd_port, etcd_peer, registry_port = next(ports), next(ports), next(ports)
        etcd_url = f"http://{LOCALHOST}:{etcd_port}"
        registry = f"{LOCALHOST}:{registry_port}"
        comps: dict[str, ComponentInfo] = {}
        procs: dict[str, RunningProcess] = {}

        def launch(spec: processes.ProcessSpec, port: int | None, endpoint: str | None) -> RunningProcess:
            procs[spec.name] = processes.start(spec)
            comps[spec.name] = ComponentInfo(spec.name, port, spec.log, endpoint)
            return procs[spec.name]

        cluster_ports = {spec.name: dict(zip(("apiserver", "controller-manager", "scheduler", "kwok"),
                                             (next(ports) for _ in range(4)), strict=True))
                         for spec in CLUSTERS}
        for spec in CLUSTERS:
            server = f"https://{LOCALHOST}:{cluster_ports[spec.name]['apiserver']}"
            prepare_cluster_files(spec, layout.cluster(spec.name), server)

        # Independent first: the shared etcd, the registry and the GCP stand-in start together.
        launch(components.etcd(layout, bins, etcd_port, etcd_peer), etcd_port, etcd_url)
        launch(components.registry(layout, registry_port), registry_port, f"http://{registry}")
        port_file = layout.gcp_dir / "port"
        launch(components.gcp_standin(layout, port_file), None, None)
        self._wait(components.ETCD, lambda: _etcd_healthy(etcd_url), procs)
        self._wait(components.REGISTRY, lambda: _http_ok(f"http://{registry}/v2/"), procs)
        # The stand-in binds a free port itself and writes it (atomically) once it listens.
        self._wait(components.GCP_STANDIN, lambda: bool(_read_port(port_file)), procs)
        gcp_port = _read_port(port_file)
        gcp_url = f"http://{LOCALHOST}:{gcp_port}"
        comps[components.GCP_STANDIN] = replace(comps[components.GCP_STANDIN], port=gcp_port, endpoint=gcp_url)

        # Both API servers start together: each takes seconds of CPU to bootstrap its RBAC roles.
        for spec in CLUSTERS:
            files = layout.cluster(spec.name)
            if spec.google_webhook:
                write_webhook_kubeconfig(files.webhook_kubeconfig, gcp_url)
            port = cluster_ports[spec.name]["apiserver"]
            launch(components.apiserver(layout, bins, spec, files, port=port, etcd_url=etcd_url),
                   port, f"https://{LOCALHOST}:{port}")
        for spec in CLUSTERS:
            self._wait(spec.component("apiserver"), lambda spec=spec: self._kube(spec).ok("/readyz"), procs)

        for spec in CLUSTERS:
            files = layout.cluster(spec.name)
            p = cluster_ports[spec.name]
            launch(components.controller_manager(layout, bins, spec, files, port=p["controller-manager"]),
                   p["controller-manager"], f"https://{LOCALHOST}:{p['controller-manager']}")
            launch(components.scheduler(layout, bins, spec, files, port=p["scheduler"]),
                   p["scheduler"], f"https://{LOCALHOST}:{p['scheduler']}")
            launch(components.kwok(layout, bins, spec, files, port=p["kwok"]), p["kwok"],
                   f"http://{LOCALHOST}:{p['kwok']}")
            self._create_node(spec)
        for spec in CLUSTERS:
            files = layout.cluster(spec.name)
            for role in ("controller-manager", "scheduler"):
                url = comps[spec.component(role)].endpoint + "/healthz"
                self._wait(spec.component(role), lambda url=url, f=files: _https_ok(url, f.ca_cert), procs)
            kwok_url = comps[spec.component("kwok")].endpoint + "/healthz"
            self._wait(spec.component("kwok"), lambda url=kwok_url: _http_ok(url), procs)
            self._wait(f"{spec.component('kwok')} (node {NODE_NAME} Ready)",
                       lambda spec=spec: self._node_ready(spec), procs, process=procs[spec.component("kwok")])

        clusters = {spec.name: self._cluster_info(spec, registry, gcp_url) for spec in CLUSTERS}
        return PlatformInfo(state_dir=layout.root, registry=registry, etcd_url=etcd_url, gcp_url=gcp_url,
                            gcp_project=GCP_PROJECT, clusters=clusters, components=comps,
                            buildah_root=layout.buildah_root, buildah_runroot=layout.buildah_runroot,
                            kube_cache=layout.kube_cache)

    def _cluster_info(self, spec: ClusterSpec, registry: str, gcp_url: str) -> ClusterInfo:
        files = self.layout.cluster(spec.name)
        email = key_file = None
        if spec.provider == "gke":
            key = AdminClient(gcp_url).create_service_account_with_key(
                GCP_PROJECT, DEPLOYER_ACCOUNT_ID, "deployer (local platform)")
            write_private(files.deployer_key, json.dumps(key, indent=2))
            email, key_file = key["client_email"], files.deployer_key
        return ClusterInfo(
            name=spec.name, provider=spec.provider, server=self._kube(spec).server, ca_file=files.ca_cert,
            admin_token_file=files.token(ADMIN_USER), admin_kubeconfig=files.admin_kubeconfig,
            registry=f"{registry}/{spec.registry_path}",
            user_token_files={u.name: files.token(u.name) for u in spec.token_users if u.name != ADMIN_USER},
            service_account_email=email, service_account_key_file=key_file)

    def _kube(self, spec: ClusterSpec) -> ApiHttp:
        files = self.layout.cluster(spec.name)
        server = _kubeconfig_server(files.admin_kubeconfig)
        return ApiHttp(server, files.ca_cert, files.token(ADMIN_USER))

    def _create_node(self, spec: ClusterSpec) -> None:
        key, value = components.KWOK_NODE_ANNOTATION
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": NODE_NAME, "annotations": {key: value},
                             "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux",
                                        "kubernetes.io/arch": "amd64", "type": "kwok"}}}
        status, body = self._kube(spec).request("POST", "/api/v1/nodes", node)
        if status not in (201, 409):
            raise ToolError(f"cluster {spec.name}: creating node {NODE_NAME} failed with HTTP {status}: "
                            f"{_message(body)}")

    def _node_ready(self, spec: ClusterSpec) -> bool:
        status, body = self._kube(spec).request("GET", f"/api/v1/nodes/{NODE_NAME}")
        if status != 200:
            return False
        conditions = body.get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def _wait(self, name: str, probe: Callable[[], bool], procs: dict[str, RunningProcess], *,
              process: RunningProcess | None = None) -> None:
        waited = wait_ready(name, probe, process=process or procs.get(name), timeout=self.timeout)
        self._progress(f"{name} ready ({waited:.1f}s)")

    # --- files outside the state folder -----------------------------------------------------------

    def _write_cluster_files(self, info: PlatformInfo) -> PlatformInfo:
        assert self.config_dir is not None
        written = write_cluster_files(info, self.config_dir / "clusters")
        clusters = {name: replace(c, cluster_file=written[name]) for name, c in info.clusters.items()}
        for path in written.values():
            self._progress(f"wrote {path}")
        return replace(info, clusters=clusters)

    # --- stopping and the state folder ------------------------------------------------------------

    def _recorded_info(self) -> PlatformInfo | None:
        try:
            return PlatformInfo.from_dict(json.loads(self.layout.record.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None  # written by another deployer version: treated as stale

    def _recorded_processes(self) -> dict[str, RunningProcess]:
        found = {}
        if self.layout.run_dir.is_dir():
            for pidfile in sorted(self.layout.run_dir.glob("*.pid")):
                proc = processes.read_pidfile(pidfile)
                if proc is not None:
                    found[proc.name] = proc
        return found

    def _running_info(self) -> PlatformInfo | None:
        """The recorded platform if all of it is alive and its API servers answer, else None."""
        info = self._recorded_info()
        if info is None:
            return None
        procs = self._recorded_processes()
        if set(procs) != set(info.components) or not all(p.alive() for p in procs.values()):
            return None
        for spec in CLUSTERS:
            try:
                if not self._kube(spec).ok("/readyz"):
                    return None
            except OSError:
                return None
        return info

    def _stop_all(self) -> list[str]:
        recorded = list(self._recorded_processes().values())
        alive = [p.name for p in recorded if p.alive()]
        # Processes whose pid file was never written (an `up` killed mid-start) still name the
        # state folder on their command line.
        strays = [p for pid in processes.strays(str(self.layout.root))
                  if (p := processes.as_running(pid, self.layout.logs_dir)) is not None
                  and pid not in {r.pid for r in recorded}]
        killed = processes.stop(processes.by_start_time_newest_first([*recorded, *strays]))
        if killed:
            self._progress(f"killed (no exit within 10s of SIGTERM): {', '.join(killed)}")
        left = processes.strays(str(self.layout.root))
        if left:
            raise ToolError(f"platform processes are still running after stop: pids {left}",
                            hint="Inspect them with `ps -o pid,pgid,cmd -p PID`.")
        for pidfile in self.layout.run_dir.glob("*.pid") if self.layout.run_dir.is_dir() else []:
            pidfile.unlink()
        return alive + [p.name for p in strays]

    def _reset_state(self) -> None:
        layout = self.layout
        for folder in (layout.etcd_dir, layout.root / "clusters", layout.gcp_dir, layout.kube_cache):
            shutil.rmtree(folder, ignore_errors=True)
        previous = layout.root / "logs.previous"
        if layout.logs_dir.is_dir():
            shutil.rmtree(previous, ignore_errors=True)
            layout.logs_dir.rename(previous)
        layout.record.unlink(missing_ok=True)
        layout.create()
        for folder in (layout.gcp_dir, layout.kube_cache, layout.buildah_root, layout.buildah_runroot):
            folder.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        with open(self.layout.lock, "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._progress("waiting for another `deployer platform` command on this state folder")
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield


def _kubeconfig_server(path: Path) -> str:
    import yaml

    return yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"]


def _read_port(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _etcd_healthy(url: str) -> bool:
    status, body = ApiHttp(url).request("GET", "/health")
    return status == 200 and isinstance(body, dict) and body.get("health") == "true"


def _http_ok(url: str) -> bool:
    return ApiHttp(url).ok("")


def _https_ok(url: str, ca_file: Path) -> bool:
    return ApiHttp(url, ca_file).ok("")


def _message(body: object) -> str:
    return body.get("message", "") if isinstance(body, dict) else str(body)[:200]

