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
import http.client
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from deployer.errors import ToolError
from deployer_localplatform import components, processes
from deployer_localplatform.apihttp import ApiHttp
from deployer_localplatform.binaries import Binaries, ensure_binaries
from deployer_localplatform.bootstrap import prepare_cluster_files
from deployer_localplatform.clusterfiles import write_cluster_files
from deployer_localplatform.components import LOCALHOST
from deployer_localplatform.gcp_standin.client import AdminClient, write_webhook_kubeconfig
from deployer_localplatform.info import ClusterInfo, ComponentInfo, PlatformInfo
from deployer_localplatform.layout import StateLayout, default_state_dir
from deployer_localplatform.packages import ensure_packages
from deployer_localplatform.pki import write_private
from deployer_localplatform.processes import RunningProcess
from deployer_localplatform.readiness import wait_ready
from deployer_localplatform.topology import (
    ADMIN_USER,
    CLUSTER_ROLES,
    CLUSTERS,
    DEPLOYER_ACCOUNT_ID,
    GCP_PROJECT,
    GKE_LOCATION,
    NODE_NAME,
    PLATFORM_ADMIN_ACCOUNT_ID,
    ClusterSpec,
    bench_clusters,
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


@dataclass(frozen=True)
class PortPlan:
    """The ports of one start, all picked at once so none is handed out twice."""

    etcd: int
    etcd_peer: int
    registry: int
    cluster: dict[str, dict[str, int]]
    """cluster name -> role (apiserver, controller-manager, scheduler, kwok) -> port"""

    @classmethod
    def allocate(cls, clusters: tuple[ClusterSpec, ...]) -> PortPlan:
        free = iter(processes.free_ports(3 + len(CLUSTER_ROLES) * len(clusters)))
        etcd, etcd_peer, registry = next(free), next(free), next(free)
        cluster = {spec.name: {role: next(free) for role in CLUSTER_ROLES} for spec in clusters}
        return cls(etcd, etcd_peer, registry, cluster)

    @property
    def etcd_url(self) -> str:
        return f"http://{LOCALHOST}:{self.etcd}"

    @property
    def registry_host(self) -> str:
        return f"{LOCALHOST}:{self.registry}"

    def server(self, spec: ClusterSpec) -> str:
        return f"https://{LOCALHOST}:{self.cluster[spec.name]['apiserver']}"


class _Startup:
    """The bookkeeping of one start: what was launched, where it listens, waiting for it."""

    def __init__(self, layout: StateLayout, progress: Progress, timeout: float) -> None:
        self.layout = layout
        self.progress = progress
        self.timeout = timeout
        self.processes: dict[str, RunningProcess] = {}
        self.components: dict[str, ComponentInfo] = {}

    def launch(self, spec: processes.ProcessSpec, port: int | None, endpoint: str | None) -> None:
        self.processes[spec.name] = processes.start(spec)
        self.components[spec.name] = ComponentInfo(spec.name, port, spec.log, endpoint)

    def wait(self, what: str, probe: Callable[[], bool], *, process: str | None = None) -> None:
        """Wait for ``probe``, watching the process named ``process`` (default: ``what``)."""
        proc = self.processes[process or what]
        waited = wait_ready(what, probe, process=proc, timeout=self.timeout)
        self.progress(f"{what} ready ({waited:.1f}s)")


class Platform:
    def __init__(self, state_dir: Path | None = None, *, config_dir: Path | None = None,
                 progress: Progress | None = None, timeout: float | None = None,
                 extra_bench_clusters: int = 0) -> None:
        """``extra_bench_clusters``: also start bench-1..N (topology.bench_clusters) for the
        fan-out benchmark; the default platform is the two clusters alone."""
        self.layout = StateLayout((state_dir or default_state_dir()).expanduser().resolve())
        self.config_dir = config_dir.resolve() if config_dir is not None else None
        self._progress = progress or (lambda _message: None)
        self.timeout = timeout or float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT)
        self.clusters = CLUSTERS + bench_clusters(extra_bench_clusters)

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

    def stop_apiserver(self, cluster: str) -> None:
        """Stop one cluster's kube-apiserver process (SIGTERM, then SIGKILL after the grace), as
        a crash or a node going down would: the fault suite's real outage. The rest keeps running."""
        spec = self._spec(cluster)
        proc = self._recorded_processes().get(spec.component("apiserver"))
        if proc is None or not proc.alive():
            raise ToolError(f"cluster {cluster}: its API server is not running")
        processes.stop([proc])

    def start_apiserver(self, cluster: str) -> float:
        """Start a stopped API server again with the same flags, port and etcd data; return the
        seconds until it answered /readyz."""
        info = self._recorded_info()
        if info is None:
            raise ToolError("the platform is not running")
        spec, files = self._spec(cluster), self.layout.cluster(cluster)
        server = info.cluster(cluster).server
        port = int(server.rsplit(":", 1)[1])
        proc = processes.start(components.apiserver(self.layout, ensure_binaries(), spec, files, port=port,
                                                    etcd_url=info.etcd_url))
        admin = self._admin_http(spec, server)
        return wait_ready(spec.component("apiserver"), lambda: admin.ok("/readyz"), process=proc,
                          timeout=self.timeout)

    def _spec(self, cluster: str) -> ClusterSpec:
        for spec in self.clusters:
            if spec.name == cluster:
                return spec
        raise ToolError(f"no cluster {cluster} on this platform")

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
        ports = PortPlan.allocate(self.clusters)
        run = _Startup(self.layout, self._progress, self.timeout)
        for spec in self.clusters:
            prepare_cluster_files(spec, self.layout.cluster(spec.name), ports.server(spec))
        gcp_url = self._start_shared(run, bins, ports)
        self._start_apiservers(run, bins, ports, gcp_url)
        self._start_cluster_agents(run, bins, ports)
        clusters = {spec.name: self._cluster_info(spec, ports, gcp_url) for spec in self.clusters}
        return PlatformInfo(state_dir=self.layout.root, registry=ports.registry_host, etcd_url=ports.etcd_url,
                            gcp_url=gcp_url, gcp_project=GCP_PROJECT, clusters=clusters,
                            components=run.components, buildah_root=self.layout.buildah_root,
                            buildah_runroot=self.layout.buildah_runroot, kube_cache=self.layout.kube_cache)

    def _start_shared(self, run: _Startup, bins: Binaries, ports: PortPlan) -> str:
        """etcd, the registry and the GCP stand-in, which need nothing else; returns the stand-in URL."""
        layout = self.layout
        run.launch(components.etcd(layout, bins, ports.etcd, ports.etcd_peer), ports.etcd, ports.etcd_url)
        run.launch(components.registry(layout, ports.registry), ports.registry, f"http://{ports.registry_host}")
        port_file = layout.gcp_dir / "port"
        run.launch(components.gcp_standin(layout, port_file), None, None)
        run.wait(components.ETCD, lambda: _etcd_healthy(ports.etcd_url))
        run.wait(components.REGISTRY, lambda: _http_ok(f"http://{ports.registry_host}/v2/"))
        # The stand-in binds a free port itself and writes it (atomically) once it listens.
        run.wait(components.GCP_STANDIN, lambda: _read_port(port_file) is not None)
        gcp_port = _read_port(port_file)
        gcp_url = f"http://{LOCALHOST}:{gcp_port}"
        run.components[components.GCP_STANDIN] = ComponentInfo(components.GCP_STANDIN, gcp_port,
                                                               layout.log(components.GCP_STANDIN), gcp_url)
        return gcp_url

    def _start_apiservers(self, run: _Startup, bins: Binaries, ports: PortPlan, gcp_url: str) -> None:
        # Both start before either is waited for: each spends seconds of CPU bootstrapping its
        # RBAC roles and priority levels, and the two overlap on two cores.
        for spec in self.clusters:
            files = self.layout.cluster(spec.name)
            if spec.google_webhook:
                write_webhook_kubeconfig(files.webhook_kubeconfig, gcp_url)
            components.write_audit_policy(files)
            port = ports.cluster[spec.name]["apiserver"]
            run.launch(components.apiserver(self.layout, bins, spec, files, port=port, etcd_url=ports.etcd_url),
                       port, ports.server(spec))
        for spec in self.clusters:
            admin = self._admin_http(spec, ports.server(spec))
            run.wait(spec.component("apiserver"), lambda admin=admin: admin.ok("/readyz"))

    def _start_cluster_agents(self, run: _Startup, bins: Binaries, ports: PortPlan) -> None:
        """The controller-manager, scheduler and kwok of each cluster, and kwok's node."""
        builders = {"controller-manager": components.controller_manager, "scheduler": components.scheduler,
                    "kwok": components.kwok}
        for spec in self.clusters:
            files = self.layout.cluster(spec.name)
            for role, build in builders.items():
                port = ports.cluster[spec.name][role]
                scheme = "http" if role == "kwok" else "https"
                run.launch(build(self.layout, bins, spec, files, port=port), port, f"{scheme}://{LOCALHOST}:{port}")
            self._create_node(spec, self._admin_http(spec, ports.server(spec)))
            if spec.provider == "gke":
                self._grant_platform_admin(spec, self._admin_http(spec, ports.server(spec)))
        for spec in self.clusters:
            files = self.layout.cluster(spec.name)
            for role in builders:
                url = run.components[spec.component(role)].endpoint + "/healthz"
                ca = files.ca_cert if url.startswith("https") else None
                run.wait(spec.component(role), lambda url=url, ca=ca: ApiHttp(url, ca).ok(""))
            admin = self._admin_http(spec, ports.server(spec))
            run.wait(f"{spec.component('kwok')} (node {NODE_NAME} Ready)", lambda admin=admin: _node_ready(admin),
                     process=spec.component("kwok"))

    def _cluster_info(self, spec: ClusterSpec, ports: PortPlan, gcp_url: str) -> ClusterInfo:
        files = self.layout.cluster(spec.name)
        email = key_file = admin_key_file = None
        if spec.provider == "gke":
            gcp = AdminClient(gcp_url)
            key = gcp.create_service_account_with_key(GCP_PROJECT, DEPLOYER_ACCOUNT_ID, "deployer (local platform)")
            write_private(files.deployer_key, json.dumps(key, indent=2))
            email, key_file = key["client_email"], files.deployer_key
            admin_key = gcp.create_service_account_with_key(GCP_PROJECT, PLATFORM_ADMIN_ACCOUNT_ID,
                                                            "platform team (local platform)")
            write_private(files.platform_admin_key, json.dumps(admin_key, indent=2))
            admin_key_file = files.platform_admin_key
            # What GKE and IAM know of this cluster: `clusters.get` answers with its endpoint and
            # CA, and the two accounts hold the project roles they would on Google (the deployer
            # only cluster viewer, as the Terraform module grants; the platform team GKE admin).
            gcp.add_gke_cluster(GCP_PROJECT, GKE_LOCATION, spec.name, _host_port(ports.server(spec)),
                                files.ca_cert.read_text())
            gcp.grant(GCP_PROJECT, "roles/container.clusterViewer", f"serviceAccount:{email}")
            gcp.grant(GCP_PROJECT, "roles/container.admin", f"serviceAccount:{admin_key['client_email']}")
        return ClusterInfo(
            name=spec.name, provider=spec.provider, server=ports.server(spec), ca_file=files.ca_cert,
            admin_token_file=files.token(ADMIN_USER), admin_kubeconfig=files.admin_kubeconfig,
            audit_log=files.audit_log, registry=f"{ports.registry_host}/{spec.registry_path}",
            user_token_files={u.name: files.token(u.name) for u in spec.token_users if u.name != ADMIN_USER},
            service_account_email=email, service_account_key_file=key_file, admin_key_file=admin_key_file)

    def _admin_http(self, spec: ClusterSpec, server: str) -> ApiHttp:
        files = self.layout.cluster(spec.name)
        return ApiHttp(server, files.ca_cert, files.token(ADMIN_USER))

    def _grant_platform_admin(self, spec: ClusterSpec, admin: ApiHttp) -> None:
        # On GKE the platform team's Google identity is cluster-admin through IAM; here RBAC on its
        # email stands for that, so `cluster sync` on local-gke runs through the token webhook too.
        email = f"{PLATFORM_ADMIN_ACCOUNT_ID}@{GCP_PROJECT}.iam.gserviceaccount.com"
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": "local-platform:platform-admin"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": email}]}
        status, body = admin.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)
        if status not in (201, 409):
            raise ToolError(f"cluster {spec.name}: granting {email} cluster-admin failed with HTTP {status}: "
                            f"{_message(body)}")

    def _create_node(self, spec: ClusterSpec, admin: ApiHttp) -> None:
        # No taints and kwok's annotation: kwok plays its kubelet, the scheduler may use it.
        key, value = components.KWOK_NODE_ANNOTATION
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": NODE_NAME, "annotations": {key: value},
                             "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux",
                                        "kubernetes.io/arch": "amd64", "type": "kwok"}}}
        status, body = admin.request("POST", "/api/v1/nodes", node)
        if status not in (201, 409):
            raise ToolError(f"cluster {spec.name}: creating node {NODE_NAME} failed with HTTP {status}: "
                            f"{_message(body)}")

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
        if set(info.clusters) != {spec.name for spec in self.clusters}:
            return None  # started with another set of clusters: `up` starts this one afresh
        procs = self._recorded_processes()
        if set(procs) != set(info.components) or not all(p.alive() for p in procs.values()):
            return None
        for spec in self.clusters:
            try:
                if not self._admin_http(spec, info.cluster(spec.name).server).ok("/readyz"):
                    return None
            except (OSError, http.client.HTTPException):
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
        for folder in (layout.etcd_dir, layout.root / "clusters", layout.gcp_dir, layout.kube_cache,
                       layout.terraform_dir):
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


def _host_port(server: str) -> str:
    """GKE's ``endpoint`` field: the API server's address without the scheme."""
    return server.removeprefix("https://").rstrip("/")


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


def _node_ready(admin: ApiHttp) -> bool:
    status, body = admin.request("GET", f"/api/v1/nodes/{NODE_NAME}")
    if status != 200:
        return False
    conditions = body.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _message(body: object) -> str:
    return body.get("message", "") if isinstance(body, dict) else str(body)[:200]

