"""Provision one GKE cluster's deployer identity with Terraform: init, plan, apply if needed.

    result = provision(cluster, config, state_root=Path("~/.local/state/deployer/terraform"))
    result.plan.describe()        # "2 to add, 0 to change, 0 to destroy" / "no changes"
    result.email                  # bind this (kind: User) in the cluster: the caller's job

The story, top to bottom: write the cluster's working folder (root configuration, backend,
variables from the cluster file), ``terraform init``, ``terraform plan`` into a plan file,
``terraform apply`` of exactly that plan only when it has changes (never on a dry run), then
read the outputs. Idempotent: a second run plans no changes and applies nothing. The plan file
holds prior state and variables, so it is removed whatever happens.

Kubernetes stays out of here: the RBAC binding of the email and the verify step are the caller's
(deployer/pipeline), as are messages and exit codes (deployer/cli).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer.config.loader import Config
from deployer.config.models import Cluster, TokenCredential
from deployer.credentials import BearerSource, bearer_source
from deployer.errors import LockedError, ToolError
from deployer.infra import workspace
from deployer.infra.summary import Outputs, OutputsMissing, PlanSummary, parse_outputs
from deployer.infra.terraform import TerraformRunner, TerraformTools
from deployer.infra.tools import discover_tools
from deployer.infra.workspace import Backend, GoogleEndpoints, backend_from_url

PLAN_FILE = "deployer.tfplan"
LOCK_FILE = ".provision.lock"
STATE_ROOT_ENV = "DEPLOYER_TERRAFORM_STATE"
BACKEND_ENV = "DEPLOYER_TERRAFORM_BACKEND"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ProvisionResult:
    cluster: str
    project: str
    workdir: Path
    backend: str
    plan: PlanSummary
    applied: bool
    """An apply ran (the plan had changes and this was not a dry run)."""
    dry_run: bool
    expected_email: str
    """The account's email as Google derives it; known before the first apply."""
    outputs: Outputs | None
    """None only on a dry run before the first apply."""
    adopted: bool = False
    """An account that already existed was imported into the state rather than created."""

    @property
    def email(self) -> str:
        return self.outputs.service_account_email if self.outputs else self.expected_email

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.plan.warnings

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "project": self.project, "workdir": str(self.workdir),
                "backend": self.backend, "dryRun": self.dry_run, "applied": self.applied,
                "email": self.email, "adopted": self.adopted, "plan": self.plan.to_dict(),
                "outputs": self.outputs.to_dict() if self.outputs else None}


def default_state_root() -> Path:
    """$DEPLOYER_TERRAFORM_STATE, else $XDG_STATE_HOME/deployer/terraform (~/.local/state/...)."""
    explicit = os.environ.get(STATE_ROOT_ENV)
    if explicit:
        return Path(explicit).expanduser()
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "deployer" / "terraform"


def admin_google_token(cluster: Cluster, config: Config) -> BearerSource:
    """The Google identity provision runs as: the cluster's adminCredential (else credential).

    A GKE cluster's adminCredential may be a Kubernetes token (a static cluster-admin), which is
    no Google identity; Terraform then runs as the application default credentials.
    """
    declared = cluster.admin_credential or cluster.credential
    if isinstance(declared, TokenCredential):
        from deployer.credentials.google import application_default_token

        return application_default_token(cluster.name)
    return bearer_source(cluster, config, admin=True)


def provision(cluster: Cluster, config: Config, *, dry_run: bool = False, state_root: Path | None = None,
              endpoints: GoogleEndpoints | None = None, tools: TerraformTools | None = None,
              backend: Backend | None = None, google_token: Callable[[], str] | None = None,
              progress: Progress | None = None) -> ProvisionResult:
    """Plan (and unless ``dry_run``, apply) the deployer account of one GKE cluster.

    ``google_token`` returns the access token Terraform acts with (default: see
    :func:`admin_google_token`); ``endpoints`` points the provider at a stand-in; ``tools``
    defaults to terraform/tofu on PATH with the user's CLI config; ``backend`` to
    $DEPLOYER_TERRAFORM_BACKEND (``gs://BUCKET/PREFIX``), else a local state file in
    ``state_root/CLUSTER``; ``state_root`` to :func:`default_state_root`.
    """
    say = progress or (lambda _message: None)
    expected = workspace.expected_email(cluster)  # refuses a non-GKE cluster before any I/O
    assert cluster.gke is not None
    tools = tools or discover_tools()
    backend = backend or backend_from_url(os.environ.get(BACKEND_ENV))
    token = google_token or admin_google_token(cluster, config).token
    workdir = (state_root or default_state_root()).expanduser().resolve() / cluster.name
    what = f"cluster {cluster.name}"

    with _exclusive(workdir, what):
        workspace.prepare(workdir, cluster, templates=workspace.template_dir(config.root), backend=backend,
                          endpoints=endpoints)
        runner = TerraformRunner(workdir, tools, what=what, access_token=token, api_hint=(
            f"Check that project {cluster.gke.project} exists and that the Google identity provision runs "
            "as may manage its service accounts and IAM policy (roles/iam.serviceAccountAdmin and "
            "roles/resourcemanager.projectIamAdmin)."))
        say(f"{what}: terraform init ({backend.describe()})")
        runner.init()
        adopted = _adopt_existing_account(runner, cluster, expected, say) if not dry_run else False
        plan_file = workdir / PLAN_FILE
        try:
            say(f"{what}: terraform plan")
            summary = runner.plan(plan_file)
            say(f"{what}: plan: {summary.describe()}")
            applied = summary.has_changes and not dry_run
            if applied:
                say(f"{what}: terraform apply")
                _apply(runner, plan_file, cluster)
        finally:
            plan_file.unlink(missing_ok=True)
        outputs = _outputs(runner, what, required=applied or not summary.has_changes)
    return ProvisionResult(cluster=cluster.name, project=cluster.gke.project, workdir=workdir,
                           backend=backend.describe(), plan=summary, applied=applied, dry_run=dry_run,
                           expected_email=expected, outputs=outputs, adopted=adopted)


ACCOUNT_ADDRESS = "module.deployer_account.google_service_account.deployer"


def _adopt_existing_account(runner: TerraformRunner, cluster: Cluster, email: str, say: Progress) -> bool:
    """Bring an existing deployer account into this state instead of failing with Google's 409.

    The account may have been made by hand, by an earlier state that was lost, or by the local
    platform (which hands out its key before provision runs). Like an adopted object in cluster
    sync, it is said out loud; its IAM binding is then planned as usual.
    """
    if ACCOUNT_ADDRESS in runner.state_addresses():
        return False
    assert cluster.gke is not None
    if runner.adopt(ACCOUNT_ADDRESS, f"projects/{cluster.gke.project}/serviceAccounts/{email}"):
        say(f"cluster {cluster.name}: adopted the existing service account {email} into the Terraform state")
        return True
    return False


def _apply(runner: TerraformRunner, plan_file: Path, cluster: Cluster) -> None:
    try:
        runner.apply(plan_file)
    except ToolError as failed:
        if "alreadyExists" not in failed.message:
            raise
        # The account exists but this state does not know it: the state was lost (a local state
        # in a thrown-away workspace) or the account was made by hand.
        address = "module.deployer_account.google_service_account.deployer"
        raise ToolError(failed.message, hint=(
            f"The account exists but is not in this Terraform state. If it is the one deployer should "
            f"manage, adopt it: cd {runner.workdir} && terraform import {address} "
            f"projects/{workspace.gke_of(cluster).project}/serviceAccounts/{workspace.expected_email(cluster)} "
            f"(with the same credential), then provision again. Keep state in a shared backend "
            f"({BACKEND_ENV}=gs://BUCKET/PREFIX) so it is not lost.")) from None


def _outputs(runner: TerraformRunner, what: str, *, required: bool) -> Outputs | None:
    try:
        return parse_outputs(runner.outputs())
    except OutputsMissing as missing:
        if not required:
            return None
        raise ToolError(f"{what}: Terraform's state lacks the outputs {missing} after a successful run",
                        hint=f"Run `terraform output` in {runner.workdir}; the root configuration may be "
                             "out of date.") from None


@contextlib.contextmanager
def _exclusive(workdir: Path, what: str) -> Iterator[None]:
    """One provision per cluster at a time: the working folder is rewritten at every run."""
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(workdir / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(f"{what}: another provision is running in {workdir}",
                              hint="Wait for it to finish, then run provision again.") from None
        yield
