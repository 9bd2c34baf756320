"""`deployer cluster verify` end to end on both local clusters: the deploy credential checked with
its own token (a static token on local-onprem, a Google service account through the GCP stand-in on
local-gke), every other bound subject by impersonation."""

from __future__ import annotations

import pytest

from tests.integration.test_cluster_sync import (
    CLUSTERS,
    admin_api,
    deploy,
    hand_edit_cluster_role,
    make_config,
    read,
    unique_namespace,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def admin_apis(platform):
    apis = {name: admin_api(platform.cluster(name)) for name in CLUSTERS}
    yield apis
    for api in apis.values():
        api.close()


@pytest.fixture(scope="module")
def synced(tmp_path_factory, platform, platform_config_dir):
    """A config folder with a namespace of this module's own, synced on both clusters; at the end
    both clusters are synced back to the platform's files (taking back hand edits)."""
    from deployer.cli.main import main

    config = make_config(tmp_path_factory.mktemp("verify") / "config", platform_config_dir,
                         unique_namespace("verify"))
    assert main(["--config-dir", str(config), "cluster", "sync", "--all", "--force-conflicts"]) == 0
    yield config
    main(["--config-dir", str(platform_config_dir), "cluster", "sync", "--all", "--prune-namespaces",
          "--force-conflicts"])


def test_verify_passes_for_the_chart_roles(cli, synced):
    result = deploy(cli, synced, "--output", "json", "cluster", "verify", "--all")

    assert result.exit_code == 0, result.stdout + result.stderr
    report = result.json()
    assert report["ok"] is True
    checked = {(c["cluster"], i["identity"], i["how"]) for c in report["clusters"] for i in c["identities"]}
    assert checked == {
        ("local-onprem", "the cluster's credential (jenkins-deployer)", "own credential"),
        ("local-onprem", "Group developers", "impersonated by the admin credential"),
        ("local-gke", "the cluster's credential (deployer@local-project.iam.gserviceaccount.com)", "own credential"),
        ("local-gke", "Group developers@example.com", "impersonated by the admin credential"),
    }
    for cluster in report["clusters"]:
        own = cluster["identities"][0]
        assert own["reviews"] > 20  # rules reviews plus the access-review spot checks


def test_verify_fails_naming_the_rule_when_a_role_is_widened_by_hand(cli, synced, admin_apis):
    namespace = [line for line in (synced / "clusters" / "local-onprem.yaml").read_text().splitlines()
                 if line.startswith("- name: ")][0].split()[-1]

    def widen(rules):
        deployments = next(r for r in rules if r.resources == ["deployments"])
        deployments.verbs.append("delete")

    for api in admin_apis.values():
        hand_edit_cluster_role(api, "deployer:deployer", widen, manager="kubectl-edit")
    try:
        result = deploy(cli, synced, "cluster", "verify", "--all")

        assert result.exit_code == 11, result.stdout + result.stderr
        for who in ("the cluster's credential (jenkins-deployer)",
                    "the cluster's credential (deployer@local-project.iam.gserviceaccount.com)"):
            line = next(line for line in result.stdout.splitlines() if who in line and "excess:" in line)
            assert f"may delete deployments.apps in namespace {namespace}" in line
            assert ("live rule: apiGroups ['apps'] resources ['deployments'] verbs ['get', 'list', 'watch', "
                    "'create', 'update', 'patch', 'delete']") in line
        assert "verify: 2 permission(s) differ from the chart" in result.stdout
    finally:
        assert deploy(cli, synced, "cluster", "sync", "--all", "--force-conflicts").exit_code == 0
    assert deploy(cli, synced, "cluster", "verify", "--all").exit_code == 0


def test_verify_names_a_permission_the_chart_grants_but_the_cluster_lacks(cli, synced, admin_apis):
    api = admin_apis["local-onprem"]

    def narrow(rules):
        viewer_apps = next(r for r in rules if r.api_groups == ["apps"])
        viewer_apps.verbs.remove("watch")

    hand_edit_cluster_role(api, "deployer:viewer", narrow, manager="kubectl-edit")
    try:
        result = deploy(cli, synced, "--output", "json", "cluster", "verify", "local-onprem")

        assert result.exit_code == 11
        findings = [f for c in result.json()["clusters"] for i in c["identities"] for f in i["findings"]]
        assert {(f["identity"], f["problem"], f["permission"]) for f in findings} == {
            ("Group developers", "missing", f"watch {r}.apps")
            for r in ("deployments", "replicasets", "statefulsets", "daemonsets")}
        assert {f["rule"] for f in findings} == {"ClusterRole deployer:viewer via RoleBinding "
                                                 f"{findings[0]['namespace']}/deployer:viewer"}
    finally:
        assert deploy(cli, synced, "cluster", "sync", "local-onprem", "--force-conflicts").exit_code == 0
    assert "watch" in read(api, "ClusterRole", "deployer:viewer").rules[1].verbs
