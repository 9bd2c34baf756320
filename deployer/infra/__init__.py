"""Terraform for GKE clusters: the deployer service account, its one project role, its email.

- :mod:`deployer.infra.provision`: the story (``provision(cluster, config, ...)``: init, plan,
  apply when the plan has changes, outputs).
- :mod:`deployer.infra.terraform`: the one choke point for running Terraform (python-terraform,
  corrected for Terraform 1.x; errors become ``ToolError`` with Terraform's own lines).
- :mod:`deployer.infra.workspace`: the per-cluster working folder, backend and variables.
- :mod:`deployer.infra.summary`: plan summaries, outputs and diagnostics, as pure functions.
- :mod:`deployer.infra.tools`: finding terraform/tofu and the locally built google provider.

No Kubernetes here: binding the email in the cluster is the caller's job.
"""

from deployer.infra.provision import ProvisionResult, admin_google_token, default_state_root, provision
from deployer.infra.summary import Outputs, PlanSummary, ResourceChange
from deployer.infra.terraform import TerraformRunner, TerraformTools
from deployer.infra.tools import discover_tools, ensure_google_provider, find_terraform
from deployer.infra.workspace import GcsBackend, GoogleEndpoints, LocalBackend, backend_from_url, expected_email

__all__ = [
    "GcsBackend", "GoogleEndpoints", "LocalBackend", "Outputs", "PlanSummary", "ProvisionResult",
    "ResourceChange", "TerraformRunner", "TerraformTools", "admin_google_token", "backend_from_url",
    "default_state_root", "discover_tools", "ensure_google_provider", "expected_email", "find_terraform",
    "provision",
]
