"""The per-cluster Terraform working folder: the root configuration, its backend and variables.

One folder per GKE cluster under the state folder::

    STATE_ROOT/CLUSTER/
      *.tf, modules/          copied from terraform/root and terraform/modules at every run
      backend.tf.json         written from the backend settings (local file or GCS)
      terraform.tfvars.json   written from the cluster file (Terraform loads it by itself)
      terraform.tfstate       the state, with the local backend
      .terraform/, .terraform.lock.hcl   Terraform's own (providers, module links, lock)

Everything in it is generated, so a person can ``cd`` there and run ``terraform plan`` by hand
with the same result (given TF_CLI_CONFIG_FILE and a credential). Credentials never enter it.
The folder is private (0700): the state can hold a private key when ``createKey`` is on.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from deployer.config.models import Cluster, GkeLocation
from deployer.errors import ToolError, UsageError

TEMPLATE_ENV = "DEPLOYER_TERRAFORM_DIR"
GENERATED = ("backend.tf.json", "terraform.tfvars.json")


@dataclass(frozen=True)
class GoogleEndpoints:
    """Custom Google API endpoints for the provider; None keeps Google's own."""

    iam: str | None = None
    resource_manager: str | None = None

    @classmethod
    def standin(cls, base_url: str) -> GoogleEndpoints:
        """Every API at one stand-in (deployer_localplatform.gcp_standin serves /v1/ and /v1/v1/)."""
        base = base_url.rstrip("/") + "/v1/"
        return cls(iam=base, resource_manager=base)

    def variables(self) -> dict[str, str]:
        return {k: v for k, v in (("iam", self.iam), ("resource_manager", self.resource_manager)) if v}


@dataclass(frozen=True)
class LocalBackend:
    """State in ``terraform.tfstate`` inside the cluster's working folder (the default)."""

    def block(self, cluster: str) -> dict[str, Any]:
        return {"local": {"path": "terraform.tfstate"}}

    def describe(self) -> str:
        return "local state file"


@dataclass(frozen=True)
class GcsBackend:
    """State in a GCS bucket, one prefix per cluster, with GCS's own state locking."""

    bucket: str
    prefix: str = "deployer/terraform"

    def block(self, cluster: str) -> dict[str, Any]:
        return {"gcs": {"bucket": self.bucket, "prefix": f"{self.prefix.strip('/')}/{cluster}"}}

    def describe(self) -> str:
        return f"gs://{self.bucket}/{self.prefix.strip('/')}"


Backend = LocalBackend | GcsBackend


def backend_from_url(url: str | None) -> Backend:
    """``local`` (or empty) or ``gs://BUCKET[/PREFIX]``, as DEPLOYER_TERRAFORM_BACKEND takes it."""
    if not url or url == "local":
        return LocalBackend()
    parts = urlsplit(url)
    if parts.scheme in ("gs", "gcs") and parts.netloc:
        prefix = parts.path.strip("/")
        return GcsBackend(parts.netloc, prefix) if prefix else GcsBackend(parts.netloc)
    raise ToolError(f"unknown Terraform state backend {url!r}",
                    hint="Use `local` or `gs://BUCKET/PREFIX` (one state per cluster under PREFIX).")


def expected_email(cluster: Cluster) -> str:
    """The deployer account's email as Google derives it from the account id and project."""
    gke = gke_of(cluster)
    return f"{gke.deployer_account.account_id}@{gke.project}.iam.gserviceaccount.com"


def variables(cluster: Cluster, endpoints: GoogleEndpoints | None) -> dict[str, Any]:
    """terraform.tfvars.json for terraform/root, from the cluster file."""
    gke = gke_of(cluster)
    return {
        "project": gke.project,
        "location": gke.location,
        "cluster": gke.cluster,
        "account_id": gke.deployer_account.account_id,
        "create_key": gke.deployer_account.create_key,
        "google_endpoints": endpoints.variables() if endpoints else {},
    }


def gke_of(cluster: Cluster) -> GkeLocation:
    if cluster.provider != "gke" or cluster.gke is None:
        raise UsageError(f"cluster {cluster.name} is provider {cluster.provider}: only GKE clusters are "
                         "provisioned with Terraform",
                         hint="Name a GKE cluster, or use --all-gke.")
    return cluster.gke


def template_dir(config_root: Path | None = None) -> Path:
    """terraform/ with root/ and modules/: $DEPLOYER_TERRAFORM_DIR, the config folder's, or deployer's own."""
    candidates = []
    if os.environ.get(TEMPLATE_ENV):
        candidates.append(Path(os.environ[TEMPLATE_ENV]))
    if config_root is not None:
        candidates.append(config_root / "terraform")
    candidates.append(Path(__file__).resolve().parents[2] / "terraform")
    for folder in candidates:
        if (folder / "root").is_dir() and (folder / "modules").is_dir():
            return folder
    raise ToolError(f"no Terraform configuration (root/ and modules/) in {', '.join(map(str, candidates))}",
                    hint=f"Run deployer from its checkout, or set {TEMPLATE_ENV} to the terraform/ folder.")


def prepare(workdir: Path, cluster: Cluster, *, templates: Path, backend: Backend,
            endpoints: GoogleEndpoints | None) -> Path:
    """Write the cluster's working folder; keeps Terraform's own files and the local state."""
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o700)
    for old in workdir.glob("*.tf"):
        old.unlink()
    shutil.rmtree(workdir / "modules", ignore_errors=True)
    for source in sorted((templates / "root").glob("*.tf")):
        shutil.copyfile(source, workdir / source.name)
    shutil.copytree(templates / "modules", workdir / "modules",
                    ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl"))
    _write_json(workdir / "backend.tf.json", {"terraform": {"backend": backend.block(cluster.name)}})
    _write_json(workdir / "terraform.tfvars.json", variables(cluster, endpoints))
    return workdir


def _write_json(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
