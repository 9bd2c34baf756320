"""Where the local platform keeps its files: one state folder per platform.

Every path the platform writes is named here, so the layout is documented in one place
(docs/platform.md shows it) and ``down``/``status`` find what ``up`` wrote.

    STATE/
      platform.json            what `up` started: endpoints, ports, paths (no secrets)
      .lock                    held while up/down run, so two of them never interleave
      run/<component>.pid      one per process: pid and kernel start time (JSON)
      logs/<component>.log     every process's stdout and stderr
      etcd/                    the shared etcd's data (wiped at each start)
      registry/                the registry's config.yml and storage/ (kept across starts)
      gcp/                     the GCP stand-in's state and its port file
      buildah/                 root/ and runroot/ for buildah and skopeo users of the platform
      kube-cache/              discovery cache for Kubernetes clients
      clusters/<name>/         per cluster (see ClusterFiles): CA, serving certificate,
                               service-account signing key, tokens/, token-auth.csv,
                               admin.kubeconfig, kwok.yaml; on local-gke also
                               webhook.kubeconfig and deployer-key.json
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STATE_ENV = "DEPLOYER_PLATFORM_STATE"


def default_state_dir() -> Path:
    explicit = os.environ.get(STATE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "deployer" / "platform"


@dataclass(frozen=True)
class StateLayout:
    root: Path

    @property
    def record(self) -> Path:
        return self.root / "platform.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def etcd_dir(self) -> Path:
        return self.root / "etcd"

    @property
    def registry_dir(self) -> Path:
        return self.root / "registry"

    @property
    def gcp_dir(self) -> Path:
        return self.root / "gcp"

    @property
    def buildah_root(self) -> Path:
        return self.root / "buildah" / "root"

    @property
    def buildah_runroot(self) -> Path:
        return self.root / "buildah" / "runroot"

    @property
    def kube_cache(self) -> Path:
        return self.root / "kube-cache"

    @property
    def terraform_dir(self) -> Path:
        """Terraform state of `cluster provision` against this platform's stand-in (the demo sets
        DEPLOYER_TERRAFORM_STATE to it): it describes this run's stand-in, so it goes with it."""
        return self.root / "terraform"

    def pidfile(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"

    def log(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def cluster(self, name: str) -> ClusterFiles:
        return ClusterFiles(self.root / "clusters" / name)

    def create(self) -> None:
        for folder in (self.root, self.run_dir, self.logs_dir, self.root / "clusters"):
            folder.mkdir(parents=True, exist_ok=True)
        # Tokens and keys live below; keep the whole folder private to its owner.
        self.root.chmod(0o700)


@dataclass(frozen=True)
class ClusterFiles:
    """The files of one cluster. Keys and tokens are written mode 0600."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.root / "serving.crt"

    @property
    def serving_key(self) -> Path:
        return self.root / "serving.key"

    @property
    def sa_signing_key(self) -> Path:
        return self.root / "service-account.key"

    @property
    def sa_public_key(self) -> Path:
        return self.root / "service-account.pub"

    @property
    def token_auth(self) -> Path:
        return self.root / "token-auth.csv"

    def token(self, user: str) -> Path:
        return self.root / "tokens" / f"{user}.token"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    @property
    def kwok_config(self) -> Path:
        return self.root / "kwok.yaml"

    @property
    def audit_policy(self) -> Path:
        return self.root / "audit-policy.yaml"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit.log"

    @property
    def webhook_kubeconfig(self) -> Path:
        return self.root / "webhook.kubeconfig"

    @property
    def deployer_key(self) -> Path:
        return self.root / "deployer-key.json"

    @property
    def platform_admin_key(self) -> Path:
        return self.root / "platform-admin-key.json"

    @property
    def cert_dir(self) -> Path:
        """Where the Kubernetes components may write certificates they generate themselves."""
        return self.root / "certs"
