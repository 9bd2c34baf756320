"""Which project roles grant the IAM permissions the stand-in checks, and whether a caller has one.

Only the calls whose permission deployer's behaviour depends on are checked: GKE's
``container.clusters.get`` (the endpoint lookup) and IAM Credentials'
``iam.serviceAccounts.getAccessToken`` (impersonation). The table holds the predefined roles that
grant them, from Google's role reference; a role not listed grants neither. Bindings are read from
the project's IAM policy (what ``google_project_iam_member`` sets); conditions are not evaluated
(a conditional binding grants nothing here), and service-account-level policies are not emulated.
"""

from __future__ import annotations

from deployer_localplatform.gcp_standin.state import ServiceAccount, State

CLUSTERS_GET = "container.clusters.get"
GET_ACCESS_TOKEN = "iam.serviceAccounts.getAccessToken"

GRANTED_BY = {
    CLUSTERS_GET: frozenset({
        "roles/container.clusterViewer", "roles/container.viewer", "roles/container.developer",
        "roles/container.clusterAdmin", "roles/container.admin", "roles/viewer", "roles/editor", "roles/owner",
    }),
    GET_ACCESS_TOKEN: frozenset({"roles/iam.serviceAccountTokenCreator"}),
}


def has_permission(state: State, project_id: str, caller: ServiceAccount, permission: str) -> bool:
    project = state.projects.get(project_id)
    if project is None:
        return False
    member = f"serviceAccount:{caller.email}"
    return any(binding["role"] in GRANTED_BY[permission] and member in binding["members"]
               and not binding.get("condition") for binding in project.policy.bindings)
