"""`deployer cluster sync/diff` end to end on both local clusters, through the real CLI entry point.

Each test writes its own config folder: the platform's two cluster files with a namespace of the
test's own, and the repo's chart (or an edited copy). Cluster state is checked with the official
Kubernetes client as the admin, independently of deployer's own kube module. The clusters are
shared with the rest of the session, so each test first syncs its starting point, and the module
leaves both clusters synced to the platform's own files.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.integration.kit import admin_api

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CLUSTERS = ("local-onprem", "local-gke")
INVENTORY = ("deployer-system", "deployer-inventory.cluster-base")
WRITES = ("create", "update", "adopt", "prune")


# --- helpers shared with test_verify.py ----------------------------------------------------------

def make_config(root: Path, platform_config_dir: Path, namespace: str, *, chart: Path | None = None,
                edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """A config folder: the platform's cluster files moved to ``namespace``; ``chart`` (a folder
    holding cluster-base) or the repo's charts."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "clusters").mkdir(exist_ok=True)
    charts = root / "charts"
    if charts.is_symlink() or charts.exists():
        charts.unlink()
    charts.symlink_to(chart or REPO / "charts")
    for source in sorted((platform_config_dir / "clusters").glob("*.yaml")):
        doc = yaml.safe_load(source.read_text())
        doc["namespaces"] = [{"name": namespace, "labels": {"team": "sync-test"}}]
        for binding in doc.get("access", []):
            binding["namespaces"] = [namespace]
        if edit:
            edit(doc)
        (root / "clusters" / source.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return root


def unique_namespace(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def deploy(cli, config: Path, *args: str):
    return cli("--config-dir", str(config), *args)


def rendered(cli, config: Path, cluster: str) -> list[dict[str, Any]]:
    result = deploy(cli, config, "--output", "json", "cluster", "render", cluster)
    assert result.exit_code == 0, result.stderr
    return result.json()


def read(api: client.ApiClient, kind: str, name: str, namespace: str = "") -> Any | None:
    """The live object (typed), or None when it does not exist."""
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    readers = {
        "Namespace": lambda: core.read_namespace(name),
        "ServiceAccount": lambda: core.read_namespaced_service_account(name, namespace),
        "ConfigMap": lambda: core.read_namespaced_config_map(name, namespace),
        "ResourceQuota": lambda: core.read_namespaced_resource_quota(name, namespace),
        "ClusterRole": lambda: rbac.read_cluster_role(name),
        "ClusterRoleBinding": lambda: rbac.read_cluster_role_binding(name),
        "Role": lambda: rbac.read_namespaced_role(name, namespace),
        "RoleBinding": lambda: rbac.read_namespaced_role_binding(name, namespace),
    }
    try:
        return readers[kind]()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def versions(api: client.ApiClient, objects: list[dict[str, Any]]) -> dict[str, str]:
    """resourceVersion of every rendered object and of the inventory, by "Kind ns/name"."""
    out = {}
    for obj in objects:
        meta = obj["metadata"]
        live = read(api, obj["kind"], meta["name"], meta.get("namespace", ""))
        assert live is not None, f"{obj['kind']} {meta['name']} is missing"
        out[f"{obj['kind']} {meta.get('namespace', '')}/{meta['name']}"] = live.metadata.resource_version
    inventory = read(api, "ConfigMap", INVENTORY[1], INVENTORY[0])
    out["inventory"] = inventory.metadata.resource_version if inventory else None
    return out


def by_cluster(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["cluster"]: c for c in report["clusters"]}


def reset_chart_objects(api: client.ApiClient) -> None:
    """Delete what the chart sync made on a cluster (except namespaces) and its inventory, so the
    next sync starts as on a new cluster."""
    inventory = read(api, "ConfigMap", INVENTORY[1], INVENTORY[0])
    if inventory is None:
        return
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    deleters = {
        "ClusterRole": lambda ns, n: rbac.delete_cluster_role(n),
        "ClusterRoleBinding": lambda ns, n: rbac.delete_cluster_role_binding(n),
        "RoleBinding": lambda ns, n: rbac.delete_namespaced_role_binding(n, ns),
        "Role": lambda ns, n: rbac.delete_namespaced_role(n, ns),
        "ServiceAccount": lambda ns, n: core.delete_namespaced_service_account(n, ns),
        "ResourceQuota": lambda ns, n: core.delete_namespaced_resource_quota(n, ns),
    }
    for line in (inventory.data or {}).get("objects", "").splitlines():
        _, kind, namespace, name = yaml.safe_load(line)
        if kind in deleters:
            try:
                deleters[kind](namespace, name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
    core.delete_namespaced_config_map(INVENTORY[1], INVENTORY[0])


def hand_edit_cluster_role(api: client.ApiClient, name: str, change: Callable[[list], None],
                           manager: str) -> None:
    """Change a ClusterRole's rules the way a person with kubectl would (an Update by ``manager``)."""
    rbac = client.RbacAuthorizationV1Api(api)
    role = rbac.read_cluster_role(name)
    change(role.rules)
    rbac.replace_cluster_role(name, role, field_manager=manager)




@pytest.fixture(scope="module")
def admin_apis(platform) -> Iterator[dict[str, client.ApiClient]]:
    apis = {name: admin_api(platform.cluster(name)) for name in CLUSTERS}
    yield apis
    for api in apis.values():
        api.close()


@pytest.fixture(scope="module")
def platform_files(platform, platform_config_dir) -> Path:
    """The config folder holding the running platform's cluster files (written by ``platform``)."""
    return platform_config_dir


@pytest.fixture(scope="module")
def restore_platform_files(platform, platform_config_dir) -> Iterator[None]:
    """Leave both clusters as the platform's own files declare them (namespaces of these tests
    pruned), whatever the tests did."""
    yield
    from deployer.cli.main import main

    main(["--config-dir", str(platform_config_dir), "cluster", "sync", "--all", "--prune-namespaces",
          "--force-conflicts"])


# --- the tests -----------------------------------------------------------------------------------

def test_first_sync_creates_everything_and_a_second_sync_writes_nothing(
        cli, tmp_path, platform_files, admin_apis, restore_platform_files):
    config = make_config(tmp_path / "config", platform_files, unique_namespace("first"))
    for api in admin_apis.values():
        reset_chart_objects(api)

    first = deploy(cli, config, "--output", "json", "--detailed-exitcode", "cluster", "sync", "--all")

    assert first.exit_code == 10, first.stderr
    report = first.json()
    assert report["outcome"] == "changed"
    for name in CLUSTERS:
        objects = rendered(cli, config, name)
        counts = by_cluster(report)[name]["plan"]["counts"]
        assert counts["create"] == len(objects), counts
        assert sum(counts.values()) == len(objects)
        api = admin_apis[name]
        for obj in objects:
            live = read(api, obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace", ""))
            managers = {(f.manager, f.operation) for f in live.metadata.managed_fields}
            assert ("deployer", "Apply") in managers, (name, obj["metadata"]["name"], managers)
            assert "kubectl.kubernetes.io/last-applied-configuration" not in (live.metadata.annotations or {})

    before = {name: versions(admin_apis[name], rendered(cli, config, name)) for name in CLUSTERS}
    second = deploy(cli, config, "--detailed-exitcode", "cluster", "sync", "--all")

    assert second.exit_code == 0, second.stderr
    assert "local-onprem: no changes" in second.stdout and "local-gke: no changes" in second.stdout
    assert "sync: no changes: local-gke, local-onprem (no-change)" in second.stdout
    after = {name: versions(admin_apis[name], rendered(cli, config, name)) for name in CLUSTERS}
    assert after == before


def test_first_sync_output_lists_each_created_object(cli, tmp_path, platform_files, restore_platform_files):
    namespace = unique_namespace("listed")
    config = make_config(tmp_path / "config", platform_files, namespace)

    result = deploy(cli, config, "cluster", "sync", "local-onprem")

    assert result.exit_code == 0, result.stderr
    assert f"+ create Namespace {namespace}" in result.stdout
    assert f"+ create RoleBinding {namespace}/deployer:deployer" in result.stdout
    assert "sync: changed: local-onprem (changed)" in result.stdout


def edit_viewer_rule(chart_root: Path) -> None:
    roles = chart_root / "cluster-base" / "templates" / "20-clusterroles.yaml.j2"
    text = roles.read_text()
    old = 'resources: ["jobs", "cronjobs"]'
    assert text.count(old) == 1
    roles.write_text(text.replace(old, 'resources: ["jobs", "cronjobs", "jobs/status"]'))


def test_editing_one_rule_in_the_chart_changes_exactly_that_role_on_every_cluster(
        cli, tmp_path, platform_files, admin_apis, restore_platform_files):
    namespace = unique_namespace("rule")
    config = make_config(tmp_path / "config", platform_files, namespace)
    assert deploy(cli, config, "cluster", "sync", "--all").exit_code == 0
    before = {name: versions(admin_apis[name], rendered(cli, config, name)) for name in CLUSTERS}

    edited = tmp_path / "edited-charts"
    shutil.copytree(REPO / "charts", edited)
    edit_viewer_rule(edited)
    make_config(config, platform_files, namespace, chart=edited)
    try:
        diff = deploy(cli, config, "--output", "json", "--detailed-exitcode", "cluster", "diff", "--all")
        assert diff.exit_code == 10, diff.stderr
        for name, cluster in by_cluster(diff.json()).items():
            # (Namespaces of earlier tests show up as "keep" lines: kept, not written.)
            (change,) = [c for c in cluster["plan"]["changes"] if c["action"] in WRITES]
            assert (change["action"], change["kind"], change["name"]) == ("update", "ClusterRole", "deployer:viewer")
            assert [f["path"] for f in change["fields"]] == [".rules[2].resources"], name
            assert change["fields"][0]["after"] == ["jobs", "cronjobs", "jobs/status"]

        sync = deploy(cli, config, "cluster", "sync", "--all")
        assert sync.exit_code == 0, sync.stderr
        for name in CLUSTERS:
            after = versions(admin_apis[name], rendered(cli, config, name))
            changed = {k for k in after if after[k] != before[name][k]}
            assert changed == {"ClusterRole /deployer:viewer"}, (name, changed)
            live = read(admin_apis[name], "ClusterRole", "deployer:viewer")
            assert live.rules[2].resources == ["jobs", "cronjobs", "jobs/status"]
    finally:
        make_config(config, platform_files, namespace)
        assert deploy(cli, config, "cluster", "sync", "--all").exit_code == 0


def drop_viewer_access(doc: dict[str, Any]) -> None:
    doc["access"] = [b for b in doc["access"] if b["role"] != "viewer"]


def test_removing_an_access_binding_prunes_its_rolebinding(
        cli, tmp_path, platform_files, admin_apis, restore_platform_files):
    namespace = unique_namespace("prune")
    config = make_config(tmp_path / "config", platform_files, namespace)
    assert deploy(cli, config, "cluster", "sync", "--all").exit_code == 0
    for api in admin_apis.values():
        assert read(api, "RoleBinding", "deployer:viewer", namespace) is not None

    make_config(config, platform_files, namespace, edit=drop_viewer_access)
    before = {name: versions(admin_apis[name], rendered(cli, config, name)) for name in CLUSTERS}
    result = deploy(cli, config, "cluster", "sync", "--all")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.count(f"- prune RoleBinding {namespace}/deployer:viewer") == 2
    for name, api in admin_apis.items():
        assert read(api, "RoleBinding", "deployer:viewer", namespace) is None, name
        inventory = read(api, "ConfigMap", INVENTORY[1], INVENTORY[0]).data["objects"]
        assert f'"RoleBinding", "{namespace}", "deployer:viewer"' not in inventory
        after = versions(api, rendered(cli, config, name))
        untouched = {k: v for k, v in before[name].items() if k != "inventory"}
        assert {k: after[k] for k in untouched} == untouched, name


def test_a_namespace_dropped_from_the_file_is_kept_unless_asked(
        cli, tmp_path, platform_files, admin_apis, restore_platform_files):
    old, new = unique_namespace("old"), unique_namespace("new")
    config = make_config(tmp_path / "config", platform_files, old)
    assert deploy(cli, config, "cluster", "sync", "local-onprem").exit_code == 0
    make_config(config, platform_files, new)
    api = admin_apis["local-onprem"]

    kept = deploy(cli, config, "cluster", "sync", "local-onprem")
    assert kept.exit_code == 0, kept.stderr
    assert f"! keep Namespace {old}" in kept.stdout and "--prune-namespaces" in kept.stdout
    assert read(api, "Namespace", old).status.phase == "Active"

    pruned = deploy(cli, config, "cluster", "sync", "local-onprem", "--prune-namespaces")
    assert pruned.exit_code == 0, pruned.stderr
    assert f"- prune Namespace {old}" in pruned.stdout
    gone = read(api, "Namespace", old)
    assert gone is None or gone.status.phase == "Terminating"


def test_a_field_another_manager_changed_is_a_conflict_naming_that_manager(
        cli, tmp_path, platform_files, admin_apis, restore_platform_files):
    config = make_config(tmp_path / "config", platform_files, unique_namespace("conflict"))
    assert deploy(cli, config, "cluster", "sync", "--all").exit_code == 0
    for api in admin_apis.values():
        hand_edit_cluster_role(api, "deployer:viewer", lambda rules: rules[0].verbs.append("delete"),
                               manager="oncall-hotfix")

    refused = deploy(cli, config, "cluster", "sync", "--all")

    assert refused.exit_code == 7, refused.stderr  # failed on every cluster
    for name in CLUSTERS:
        assert (f"deployer: error: cluster {name}: apply ClusterRole deployer:viewer failed: field manager "
                f"'oncall-hotfix' changed fields deployer sets: .rules (owned by 'oncall-hotfix')") in refused.stderr
        assert "delete" in read(admin_apis[name], "ClusterRole", "deployer:viewer").rules[0].verbs
    assert "--force-conflicts" in refused.stderr

    forced = deploy(cli, config, "cluster", "sync", "--all", "--force-conflicts")

    assert forced.exit_code == 0, forced.stderr
    for name in CLUSTERS:
        assert "delete" not in read(admin_apis[name], "ClusterRole", "deployer:viewer").rules[0].verbs
    assert deploy(cli, config, "--detailed-exitcode", "cluster", "sync", "--all").exit_code == 0


@pytest.fixture
def limited_sync_token(admin_apis, tmp_path) -> Iterator[Path]:
    """A token on local-onprem for an identity that may do everything a sync needs except bind
    roles: its sync gets as far as the bindings and is refused there."""
    api = admin_apis["local-onprem"]
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    name = unique_namespace("limited-sync")
    core.create_namespaced_service_account("kube-system", {"metadata": {"name": name}})
    rbac.create_cluster_role({"metadata": {"name": name}, "rules": [
        {"apiGroups": [""], "resources": ["*"], "verbs": ["*"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles", "roles"], "verbs": ["*"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings", "clusterrolebindings"],
         "verbs": ["get", "list", "watch"]}]})
    rbac.create_cluster_role_binding({
        "metadata": {"name": name}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "kube-system"}]})
    token = core.create_namespaced_service_account_token(name, "kube-system", {"spec": {"expirationSeconds": 3600}})
    path = tmp_path / "limited.token"
    path.write_text(token.status.token)
    path.chmod(0o600)
    yield path
    rbac.delete_cluster_role_binding(name)
    rbac.delete_cluster_role(name)
    core.delete_namespaced_service_account(name, "kube-system")


def test_a_cluster_whose_credential_lacks_permission_fails_while_the_other_syncs(
        cli, tmp_path, platform_files, admin_apis, limited_sync_token, restore_platform_files):
    namespace = unique_namespace("partial")

    def limited_on_onprem(doc: dict[str, Any]) -> None:
        if doc["name"] == "local-onprem":
            doc["adminCredential"] = {"type": "token", "file": str(limited_sync_token)}

    config = make_config(tmp_path / "config", platform_files, namespace, edit=limited_on_onprem)

    result = deploy(cli, config, "--output", "json", "cluster", "sync", "--all")

    assert result.exit_code == 8, result.stderr  # partial
    report = by_cluster(result.json())
    assert result.json()["outcome"] == "partial"
    onprem, gke = report["local-onprem"], report["local-gke"]
    assert onprem["status"] == "failed" and gke["status"] == "changed"
    assert onprem["error"]["error"] == "ForbiddenError" and onprem["error"]["exit_code"] == 6
    assert f"apply RoleBinding {namespace}/deployer:" in onprem["error"]["message"]
    # It got as far as the bindings: the namespace was made, then the sync stopped.
    assert {"action": "create", "object": f"Namespace {namespace}"} in [
        {k: a[k] for k in ("action", "object")} for a in onprem["applied"]]
    assert f"deployer: error: cluster local-onprem: apply RoleBinding {namespace}/deployer:" in result.stderr
    assert "hint: " in result.stderr and "local-gke" not in result.stderr
    assert read(admin_apis["local-onprem"], "RoleBinding", "deployer:viewer", namespace) is None
    assert read(admin_apis["local-gke"], "RoleBinding", "deployer:viewer", namespace) is not None


def test_a_cluster_file_naming_the_wrong_ca_is_a_tls_failure_not_retried_while_the_other_syncs(
        cli, tmp_path, platform_files, admin_apis, restore_platform_files):
    """The client verifies the API server against the cluster file's CA and nothing else: with
    a CA that did not sign the server's certificate the handshake fails, is said as a TLS failure,
    and is not retried."""
    namespace = unique_namespace("wrong-ca")
    other_ca = tmp_path / "other-ca.crt"
    other_ca.write_bytes(_self_signed_ca_pem())

    def other_ca_on_onprem(doc: dict[str, Any]) -> None:
        if doc["name"] == "local-onprem":
            doc["ca"] = {"file": str(other_ca)}

    config = make_config(tmp_path / "config", platform_files, namespace, edit=other_ca_on_onprem)

    result = deploy(cli, config, "--output", "json", "cluster", "sync", "--all")

    assert result.exit_code == 8, result.stderr
    report = by_cluster(result.json())
    assert report["local-onprem"]["status"] == "failed" and report["local-gke"]["status"] == "changed"
    assert report["local-onprem"]["error"]["error"] == "UnreachableError"
    assert "TLS verification of https://" in report["local-onprem"]["error"]["message"]
    assert "retrying" not in result.stderr
    assert read(admin_apis["local-onprem"], "Namespace", namespace) is None
    assert read(admin_apis["local-gke"], "Namespace", namespace) is not None


def _self_signed_ca_pem() -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the cluster's CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_dry_run_checks_on_the_server_and_changes_nothing(
        cli, tmp_path, platform_files, admin_apis, restore_platform_files):
    namespace = unique_namespace("dry")
    config = make_config(tmp_path / "config", platform_files, namespace)
    assert deploy(cli, config, "cluster", "sync", "--all").exit_code == 0
    make_config(config, platform_files, namespace, edit=drop_viewer_access)
    before = {name: versions(admin_apis[name], rendered(cli, config, name)) for name in CLUSTERS}

    dry = deploy(cli, config, "--detailed-exitcode", "cluster", "sync", "--all", "--dry-run")

    assert dry.exit_code == 10, dry.stderr
    assert "sync --dry-run: would change: local-gke, local-onprem (changed)" in dry.stdout
    for name, api in admin_apis.items():
        assert read(api, "RoleBinding", "deployer:viewer", namespace) is not None
        assert versions(api, rendered(cli, config, name)) == before[name]


def test_a_bad_template_stops_before_any_cluster_is_touched(cli, tmp_path, platform_files):
    broken = tmp_path / "charts"
    shutil.copytree(REPO / "charts", broken)
    bindings = broken / "cluster-base" / "templates" / "40-bindings.yaml.j2"
    bindings.write_text(bindings.read_text().replace("{{ b.cluster_role }}", "{{ b.no_such_field }}", 1))
    config = make_config(tmp_path / "config", platform_files, unique_namespace("bad"), chart=broken)

    result = deploy(cli, config, "cluster", "sync", "--all")

    assert result.exit_code == 3
    assert "40-bindings.yaml.j2:" in result.stderr and "no_such_field" in result.stderr
    assert result.stdout == ""


def test_an_object_deployer_did_not_create_is_adopted_with_a_plan_line(
        cli, tmp_path, platform_files, admin_apis, restore_platform_files):
    namespace = unique_namespace("adopt")
    config = make_config(tmp_path / "config", platform_files, namespace)
    api = admin_apis["local-onprem"]
    (binding,) = [o for o in rendered(cli, config, "local-onprem")
                  if o["kind"] == "RoleBinding" and o["metadata"]["name"] == "deployer:viewer"]
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}}, field_manager="platform-team")
    client.RbacAuthorizationV1Api(api).create_namespaced_role_binding(namespace, binding,
                                                                      field_manager="platform-team")

    adopted = deploy(cli, config, "cluster", "sync", "local-onprem")

    assert adopted.exit_code == 0, adopted.stderr
    assert (f"* adopt RoleBinding {namespace}/deployer:viewer: exists but deployer did not create it "
            "(made by platform-team); deployer takes it over") in adopted.stdout
    assert f"* adopt Namespace {namespace}" in adopted.stdout
    live = read(api, "RoleBinding", "deployer:viewer", namespace)
    assert ("deployer", "Apply") in {(f.manager, f.operation) for f in live.metadata.managed_fields}
    again = deploy(cli, config, "--detailed-exitcode", "cluster", "sync", "local-onprem")
    assert again.exit_code == 0 and "sync: no changes: local-onprem (no-change)" in again.stdout


def test_two_syncs_at_once_cannot_overwrite_each_others_inventory(
        cli, tmp_path, platform_files, admin_apis, restore_platform_files):
    from deployer.app import App
    from deployer.config.loader import load_config
    from deployer.errors import ConflictError
    from deployer.kube.apply import apply_plan
    from deployer.pipeline.cluster_sync import INVENTORY, SyncOptions, plan_cluster, render

    first, second = unique_namespace("race-a"), unique_namespace("race-b")
    config_a = make_config(tmp_path / "a", platform_files, first)
    config_b = make_config(tmp_path / "b", platform_files, second)
    loaded = load_config(config_a)
    with App(loaded) as app:
        kube = app.admin_client(loaded.cluster("local-onprem"))
        plan, stored = plan_cluster(kube, render(loaded, "local-onprem"), SyncOptions())  # run A has read
        assert deploy(cli, config_b, "cluster", "sync", "local-onprem").exit_code == 0  # run B finishes

        execution = apply_plan(kube, plan, INVENTORY, inventory_version=stored.resource_version)

    assert isinstance(execution.error, ConflictError)
    assert "another sync of this cluster ran at the same time" in execution.error.message
    assert execution.applied == []  # A stopped before writing anything
    assert read(admin_apis["local-onprem"], "Namespace", first) is None
    inventory = read(admin_apis["local-onprem"], "ConfigMap", INVENTORY.configmap, INVENTORY.namespace)
    assert f'"RoleBinding", "{second}", "deployer:viewer"' in inventory.data["objects"]
