"""What the signal and lock fault tests share: a real `deployer deploy` child process whose stderr
can be waited on, a config folder with one fresh service, and the admin's independent view of the
Lease, the release records and the Deployment."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO, run_cli
from tests.integration.kit import CLUSTERS, WEB_DEPLOYMENT, admin_api, or_none


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def config_folder(folder: Path, synced: Path) -> Path:
    (folder / "services" / "manifests").mkdir(parents=True)
    (folder / "charts").symlink_to(REPO / "charts")
    (folder / "clusters").symlink_to(synced / "clusters")
    (folder / "services" / "manifests" / "deployment.yaml.j2").write_text(WEB_DEPLOYMENT)
    return folder


def write_service(folder: Path, name: str, *, never_ready_on: tuple[str, ...] = (), timeout: str = "10m",
                  on_failure: str = "rollback-failed") -> None:
    (folder / "services" / f"{name}.yaml").write_text(yaml.safe_dump({
        "name": name, "namespace": "apps", "manifests": "manifests",
        "image": {"name": "web", "context": str(REPO / "apps" / "hello")},
        "values": {"neverReadyOn": list(never_ready_on)},
        "environments": {"staging": {"clusters": list(CLUSTERS)}},
        "rollout": {"timeout": timeout, "onFailure": on_failure},
    }))


def deployer(folder: Path, *args: str) -> Any:
    return run_cli("--config-dir", str(folder), *args)


class Running:
    """`deployer ...` as its real entry point in a child process; stderr is collected by a thread so
    a test can wait (with a deadline) for a progress line."""

    def __init__(self, folder: Path, *args: str, env: dict[str, str], prefix: tuple[str, ...] = ()) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        # SIGINT back at its default, as in a terminal (a non-interactive parent may ignore it).
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "deployer", "--config-dir", str(folder), *args], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.stdout = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for_line(self, pattern: str, seconds: float) -> re.Match[str]:
        found: list[re.Match[str]] = []

        def seen() -> bool:
            found[:] = [m for m in (re.search(pattern, line) for line in self.lines) if m]
            return bool(found) or self.proc.poll() is not None

        with self._changed:
            self._changed.wait_for(seen, seconds)
        assert found, f"{pattern!r} never appeared on deployer's stderr:\n{self.stderr}"
        return found[0]

    def wait(self, seconds: float) -> int:
        assert self.proc.stdout is not None
        code = self.proc.wait(timeout=seconds)
        self.stdout = self.proc.stdout.read()
        return code

    @property
    def stderr(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def child_env(platform: Any) -> dict[str, str]:
    return {**os.environ, "DEPLOYER_BUILDAH_ROOT": str(platform.state_dir / "buildah")}


def lease(platform: Any, cluster: str, name: str) -> dict | None:
    """The service's deploy lock on ``cluster``, read with the admin token (None: there is none)."""
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        found = or_none(lambda: client.CoordinationV1Api(api).read_namespaced_lease(f"deployer-lock.{name}", "apps"))
        return None if found is None else api.sanitize_for_serialization(found)


def take_lease(platform: Any, cluster: str, name: str, holder: str) -> dict:
    """Write another holder into the Lease, as a run that took it over would (admin client)."""
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        leases = client.CoordinationV1Api(api)
        found = leases.read_namespaced_lease(f"deployer-lock.{name}", "apps")
        found.spec.holder_identity = holder
        return api.sanitize_for_serialization(leases.replace_namespaced_lease(f"deployer-lock.{name}", "apps", found))


def deployment(platform: Any, cluster: str, name: str) -> dict:
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        return api.sanitize_for_serialization(client.AppsV1Api(api).read_namespaced_deployment(name, "apps"))


def never_ready(live: dict) -> bool:
    """Whether the live Deployment's pods carry the label the platform keeps from ever being Ready."""
    return "deployer.test/never-ready" in (live["spec"]["template"]["metadata"].get("labels") or {})


def configmaps_of(platform: Any, cluster: str, name: str) -> dict[str, int]:
    """Every ConfigMap deployer keeps for service ``name`` (release records, inventory) by name,
    with its resourceVersion: one etcd serves both clusters, so these order every write."""
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        found = client.CoreV1Api(api).list_namespaced_config_map("apps").items
        return {cm.metadata.name: int(cm.metadata.resource_version) for cm in found if name in cm.metadata.name}


def records(folder: Path, name: str) -> dict[str, list[dict]]:
    history = deployer(folder, "-o", "json", "history", name, "--env", "staging")
    assert history.exit_code == 0, history.stdout + history.stderr
    return {cluster: sorted(found, key=lambda r: r["revision"]) for cluster, found in history.json().items()}


def outcomes(folder: Path, name: str) -> dict[str, list[str]]:
    return {cluster: [r["outcome"] for r in found] for cluster, found in records(folder, name).items()}


def report(path: Path) -> dict:
    return json.loads(path.read_text())

