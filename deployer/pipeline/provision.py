"""The GKE provision story: Terraform makes the deployer's Google service account (with only
cluster-viewer IAM), then cluster sync binds that email to the chart's deployer role, then verify
checks, as that identity, that it can do exactly what the role grants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deployer.app import App
from deployer.errors import ExitCode, ToolError
from deployer.pipeline.fanout import ClusterRun, Outcome, exit_code, fan_out, outcome_of


@dataclass(frozen=True)
class ProvisionReport:
    dry_run: bool
    runs: list[ClusterRun[Any]]
    """Per cluster: deployer.infra.provision.ProvisionResult."""
    sync: Any = None
    """The SyncReport of the clusters that provisioned (binding their account's email)."""
    verify: Any = None

    @property
    def outcome(self) -> Outcome:
        outcomes = [outcome_of(self.runs, lambda r: r.applied)]
        outcomes += [report.outcome for report in (self.sync, self.verify) if report is not None]
        if any(o in (Outcome.FAILED, Outcome.PARTIAL) for o in outcomes):
            failed = {r.cluster for r in self.runs if r.failed}
            for report in (self.sync, self.verify):
                if report is not None:
                    failed |= {r.cluster for r in report.runs if r.failed}
            return Outcome.FAILED if len(failed) == len(self.runs) else Outcome.PARTIAL
        return Outcome.CHANGED if Outcome.CHANGED in outcomes else Outcome.NO_CHANGE

    def exit_code(self, detailed: bool = False) -> ExitCode:
        if self.verify is not None and self.verify.findings and self.outcome not in (Outcome.FAILED, Outcome.PARTIAL):
            return ExitCode.VERIFY_FAILED
        return exit_code(self.outcome, detailed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": "provision --dry-run" if self.dry_run else "provision",
            "outcome": self.outcome.value,
            "clusters": [{"cluster": r.cluster, **(r.result.to_dict() if r.result else {}),
                          **({"error": r.error.to_dict()} if r.error else {})} for r in self.runs],
            "sync": self.sync.to_dict() if self.sync is not None else None,
            "verify": self.verify.to_dict() if self.verify is not None else None,
        }


def provision_clusters(app: App, names: Sequence[str], *, dry_run: bool = False) -> ProvisionReport:
    def one(name: str) -> Any:
        result = app.provision(app.config.cluster(name), dry_run=dry_run)
        if result.outputs is not None and result.email != result.expected_email:
            raise ToolError(f"cluster {name}: Terraform made {result.email}, but RBAC binds "
                            f"{result.expected_email}", hint="Check gke.deployerAccount.accountId and the "
                                                             "Terraform module's account_id.")
        return result

    runs = fan_out(list(names), one)
    ready = [r.cluster for r in runs if not r.failed]
    if dry_run or not ready:
        return ProvisionReport(dry_run, runs)
    from deployer.pipeline.cluster_sync import SyncOptions, sync
    from deployer.pipeline.verify import verify

    app.progress("", f"binding the deployer accounts' emails to their role: cluster sync {' '.join(ready)}")
    synced = sync(app, ready, SyncOptions())
    verified_names = [r.cluster for r in synced.runs if not r.failed]
    app.progress("", f"verifying each deployer account's access: cluster verify {' '.join(verified_names)}")
    checked = verify(app, verified_names) if verified_names else None
    return ProvisionReport(dry_run, runs, synced, checked)
