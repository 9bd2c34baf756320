"""Preflight's two halves on both local clusters: the access reviews (every verb the deploy will use,
asked as the deploy's own identity) and the strict server-side dry run (an unknown field is an
error, not a warning the server drops). Each refusal must stop the deploy before any write on any
cluster; that is checked with the admin credential, independently of deployer: no release record,
no Lease, no object of the service."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from deployer.errors import ExitCode
from tests.integration import kit, test_deploy
from tests.integration.test_deploy import (
    DEPLOYMENT,
    _service,
    deployer,
    unique,
    write_service,
)

pytestmark = pytest.mark.integration

# The fixtures of test_deploy.py: a config folder with the synced platform clusters and a fresh service.
synced = test_deploy.synced
deploy_dir = test_deploy.deploy_dir

CLUSTERS = ("local-onprem", "local-gke")

# A kind the chart's deployer role grants only when a cluster file opts in (values.deployerRole.secrets;
# charts/cluster-base/templates/20-clusterroles.yaml.j2), which the platform's cluster files do not.
SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: {{ service.name ~ '-db' }}
  namespace: {{ service.namespace }}
stringData:
  password: not-a-real-one
"""


def admin_api(platform, cluster: str):
    return kit.admin_api(platform.cluster(cluster))


def written_for(platform, name: str) -> dict[str, list[str]]:
    """Per cluster, everything of service ``name`` in namespace apps, read with the admin token:
    release records, the deploy lock's Lease, and any Deployment or StatefulSet of the service."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    found: dict[str, list[str]] = {}
    for cluster in CLUSTERS:
        with admin_api(platform, cluster) as api:
            core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
            coordination = client.CoordinationV1Api(api)
            items = [f"ConfigMap {cm.metadata.name}" for cm in core.list_namespaced_config_map(
                "apps", label_selector=f"deployer.io/service={name}").items]
            items += [f"Deployment {d.metadata.name}" for d in apps.list_namespaced_deployment("apps").items
                      if d.metadata.name.startswith(name)]
            items += [f"StatefulSet {s.metadata.name}" for s in apps.list_namespaced_stateful_set("apps").items
                      if s.metadata.name.startswith(name)]
            try:
                lease = coordination.read_namespaced_lease(f"deployer-lock.{name}", "apps")
                items.append(f"Lease {lease.metadata.name} held by {lease.spec.holder_identity}")
            except ApiException as exc:
                if exc.status != 404:
                    raise
            found[cluster] = items
    return found


def preflight_steps(report: dict) -> dict[str, dict]:
    return {c["cluster"]: next(s for s in c["steps"] if s["name"] == "preflight") for c in report["clusters"]}


def test_a_kind_the_deployer_role_does_not_grant_is_refused_at_preflight_naming_the_verbs(
        deploy_dir, platform) -> None:
    name = unique("secret")
    write_service(deploy_dir, _service(name))
    (deploy_dir / "services" / f"{name}-manifests" / "secret.yaml.j2").write_text(SECRET)

    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"))

    assert result.exit_code == ExitCode.API_REJECTED, result.stdout + result.stderr
    report = result.json()
    steps = preflight_steps(report)
    for cluster in CLUSTERS:
        assert steps[cluster]["status"] == "failed", steps
        # Exactly the Secret's verbs: everything else the deploy needs is granted; and the value that
        # grants them.
        assert "may not create secrets, get secrets, patch secrets in namespace apps" in steps[cluster]["message"]
        assert (f"set values.deployerRole.secrets: true in clusters/{cluster}.yaml"
                in steps[cluster]["message"]), steps[cluster]
    assert [c["outcome"] for c in report["clusters"]] == ["failed", "failed"]
    assert any("stopped before writing to any cluster" in note for note in report["notes"])
    assert written_for(platform, name) == {cluster: [] for cluster in CLUSTERS}


def test_an_identity_bound_to_the_viewer_role_is_refused_at_preflight_and_no_cluster_is_written(
        deploy_dir, platform, tmp_path) -> None:
    """local-onprem's deploy credential is a viewer-only identity; local-gke's is the real deployer.
    local-gke passes its preflight, and still nothing is written there: preflight runs everywhere
    before the first write."""
    from kubernetes import client

    account = f"viewer-only-{uuid.uuid4().hex[:6]}"
    with admin_api(platform, "local-onprem") as api:
        core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
        core.create_namespaced_service_account("apps", {"metadata": {"name": account}})
        rbac.create_namespaced_role_binding("apps", {
            "metadata": {"name": account},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "deployer:viewer"},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": "apps"}]})
        try:
            token = core.create_namespaced_service_account_token(
                account, "apps", {"spec": {"expirationSeconds": 600}}).status.token
            token_file = tmp_path / "viewer.token"
            token_file.touch(mode=0o600)
            token_file.write_text(token)
            clusters = _clusters_with_onprem_credential(deploy_dir, token_file)
            assert yaml.safe_load((clusters / "local-onprem.yaml").read_text())["credential"]["file"] == str(
                token_file)

            name = unique("web")
            write_service(deploy_dir, _service(name))
            result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"))
        finally:
            rbac.delete_namespaced_role_binding(account, "apps")
            core.delete_namespaced_service_account(account, "apps")

    assert result.exit_code == ExitCode.API_REJECTED, result.stdout + result.stderr
    report = result.json()
    steps = preflight_steps(report)
    assert steps["local-gke"]["status"] == "ok", steps
    assert steps["local-onprem"]["status"] == "failed", steps
    refusal = steps["local-onprem"]["message"]
    for verb in ("create configmaps", "patch configmaps", "create deployments.apps", "patch deployments.apps",
                 "create leases.coordination.k8s.io", "get leases.coordination.k8s.io",
                 "update leases.coordination.k8s.io"):
        assert verb in refusal, refusal
    # What the viewer role does grant is not named: each verb is reviewed on its own.
    for granted in ("get configmaps", "get deployments.apps"):
        assert granted not in refusal, refusal
    assert "may not" in refusal and "namespace apps" in refusal
    leaked = token in result.stdout + result.stderr  # compared apart, so a failure never prints the token
    assert not leaked, "the viewer's token appears in deployer's output"
    assert written_for(platform, name) == {cluster: [] for cluster in CLUSTERS}


def _clusters_with_onprem_credential(folder: Path, token_file: Path) -> Path:
    """The config folder's clusters, with local-onprem's deploy credential ``token_file``."""
    def edit(document: dict) -> None:
        if document["name"] == "local-onprem":
            document["credential"] = {"type": "token", "file": str(token_file)}

    return kit.copy_cluster_files(folder, edit)


def test_an_unknown_field_is_refused_by_the_strict_dry_run_naming_the_field(deploy_dir, platform) -> None:
    name = unique("web")
    misspelled = DEPLOYMENT.replace("          image: {{ image }}\n",
                                    "          image: {{ image }}\n          imagePullPolicyy: IfNotPresent\n")
    assert misspelled != DEPLOYMENT
    write_service(deploy_dir, _service(name), deployment=misspelled)

    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"))

    assert result.exit_code == ExitCode.API_REJECTED, result.stdout + result.stderr
    steps = preflight_steps(result.json())
    for cluster in CLUSTERS:
        assert steps[cluster]["status"] == "failed", steps
        message = steps[cluster]["message"]
        assert 'unknown field: .spec.template.spec.containers[name="web"].imagePullPolicyy' in message, message
        assert f"Deployment apps/{name}" in message, message
    assert written_for(platform, name) == {cluster: [] for cluster in CLUSTERS}
