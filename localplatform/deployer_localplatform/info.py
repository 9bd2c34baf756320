"""What a running platform offers, as data: returned by `Platform.up()`, saved as platform.json.

Holds endpoints and file paths only, never a secret: tokens and keys stay in their 0600 files
and are referenced by path, so this record can be printed (`deployer platform status`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ComponentInfo:
    name: str
    port: int | None
    log: Path
    endpoint: str | None = None


@dataclass(frozen=True)
class ClusterInfo:
    name: str
    provider: str
    server: str
    ca_file: Path
    admin_token_file: Path
    admin_kubeconfig: Path
    registry: str
    """host:port/path where images for this cluster go."""
    user_token_files: dict[str, Path] = field(default_factory=dict)
    """Static tokens of non-admin users (on local-onprem: jenkins-deployer)."""
    service_account_email: str | None = None
    service_account_key_file: Path | None = None
    """local-gke: a key file for the deployer Google service account, made by the GCP stand-in."""
    admin_key_file: Path | None = None
    """local-gke: a key file for the platform-admin Google account (cluster-admin, runs Terraform)."""
    cluster_file: Path | None = None
    """The deployer cluster file describing this cluster, when `up` was given a config folder."""
    audit_log: Path | None = None
    """The API server's audit log of every write (JSON lines; reads are not logged)."""


@dataclass(frozen=True)
class PlatformInfo:
    state_dir: Path
    registry: str
    """host:port of the image registry (plain http)."""
    etcd_url: str
    gcp_url: str | None
    gcp_project: str
    clusters: dict[str, ClusterInfo]
    components: dict[str, ComponentInfo]
    buildah_root: Path
    buildah_runroot: Path
    kube_cache: Path

    def cluster(self, name: str) -> ClusterInfo:
        return self.clusters[name]

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlatformInfo:
        clusters = {name: ClusterInfo(**_paths(ClusterInfo, c)) for name, c in data["clusters"].items()}
        components = {name: ComponentInfo(**_paths(ComponentInfo, c)) for name, c in data["components"].items()}
        rest = _paths(cls, {k: v for k, v in data.items() if k not in ("clusters", "components")})
        return cls(clusters=clusters, components=components, **rest)


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _paths(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    # Turn back into Path the fields annotated as paths (annotations are strings here).
    out = {}
    for name, value in data.items():
        kind = str(cls.__dataclass_fields__[name].type)
        if value is not None and kind.startswith("Path"):
            value = Path(value)
        elif kind.startswith("dict[str, Path]"):
            value = {k: Path(v) for k, v in value.items()}
        out[name] = value
    return out
