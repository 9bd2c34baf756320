"""Release truth on both local clusters: who owns each object, what a release prunes, records
written under the lock, rollback from what actually runs, `--delete-unmanaged` deleting only what
it can prove, no-change redeploys, and cluster sync leaving what a service took over."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deployer.errors import ExitCode
from tests.conftest import REPO
from tests.integration import test_deploy
from tests.integration.kit import admin_api
from tests.integration.test_deploy import DEPLOYMENT, _service, _wait_for_line, deployer, unique, write_service

pytestmark = pytest.mark.integration
# test_deploy's fixtures: a config folder with the synced platform's clusters and no services.
synced, deploy_dir = test_deploy.synced, test_deploy.deploy_dir

CLUSTERS = ("local-onprem", "local-gke")
INVENTORY = "deployer-inventory.cluster-base"
# One ConfigMap per environment (named after it), and one more while `values.extra` is set.
CONFIGMAPS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ service.name ~ '-' ~ environment }}
  namespace: {{ service.namespace }}
data:
  environment: {{ environment }}
{% if values.extra %}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ service.name ~ '-extra' }}
  namespace: {{ service.namespace }}
data:
  added: "yes"
{% endif %}
"""


def write_manifests(folder: Path, spec: dict, deployment: str = DEPLOYMENT) -> None:
    spec["values"].setdefault("extra", False)
    write_service(folder, spec, deployment)
    (folder / "services" / spec["manifests"] / "configmaps.yaml.j2").write_text(CONFIGMAPS)


def api(platform, cluster: str):
    return admin_api(platform.cluster(cluster))


def read(platform, cluster: str, kind: str, namespace: str, name: str) -> dict | None:
    """The live object (admin token), or None when it does not exist."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    with api(platform, cluster) as a:
        reader = {"Deployment": client.AppsV1Api(a).read_namespaced_deployment,
                  "ConfigMap": client.CoreV1Api(a).read_namespaced_config_map}[kind]
        try:
            return a.sanitize_for_serialization(reader(name, namespace))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise


def managers(obj: dict) -> set[str]:
    return {entry["manager"] for entry in obj["metadata"].get("managedFields") or []}


def by_env(history: dict, cluster: str, environment: str) -> list[tuple[int, str]]:
    return [(r["revision"], r["outcome"]) for r in history[cluster] if r["environment"] == environment]


def test_staging_and_production_on_one_cluster_each_keep_and_prune_only_their_own_objects(deploy_dir, platform):
    name = unique("two")
    spec = _service(name, values={"extra": True})
    spec["environments"]["production"] = {"clusters": list(CLUSTERS), "namespace": "apps-production"}
    write_manifests(deploy_dir, spec)
    commit = unique("c")
    for env in ("staging", "production"):
        result = deployer(deploy_dir, "deploy", name, "--env", env, "--commit", commit)
        assert result.exit_code == 0, result.stdout + result.stderr

    for cluster in CLUSTERS:
        for env, namespace in (("staging", "apps"), ("production", "apps-production")):
            owned = (("Deployment", name), ("ConfigMap", f"{name}-{env}"), ("ConfigMap", f"{name}-extra"))
            for kind, obj_name in owned:
                live = read(platform, cluster, kind, namespace, obj_name)
                assert live is not None, (cluster, namespace, kind, obj_name)
                assert {k: live["metadata"]["labels"][k] for k in
                        ("app.kubernetes.io/managed-by", "deployer.io/service", "deployer.io/environment")} == {
                    "app.kubernetes.io/managed-by": "deployer", "deployer.io/service": name,
                    "deployer.io/environment": env}
                assert f"deployer/{name}" in managers(live) and "deployer" not in managers(live)
            inventory = read(platform, cluster, "ConfigMap", namespace, f"deployer-inventory.{name}.{env}")
            assert inventory is not None
            lines = [json.loads(line) for line in inventory["data"]["objects"].splitlines()]
            assert sorted(line[3] for line in lines) == sorted([name, f"{name}-{env}", f"{name}-extra"])
            assert all(len(line) == 5 and line[4] for line in lines)  # each with its uid

    # production drops its extra ConfigMap: pruned there, staging's of the same name stays.
    spec["environments"]["production"]["values"] = {"extra": False}
    write_manifests(deploy_dir, spec)
    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "production", "--commit", commit)
    assert result.exit_code == 0, result.stdout + result.stderr
    for cluster in CLUSTERS:
        assert read(platform, cluster, "ConfigMap", "apps-production", f"{name}-extra") is None
        assert read(platform, cluster, "ConfigMap", "apps", f"{name}-extra") is not None
        assert read(platform, cluster, "Deployment", "apps-production", name) is not None

    history = deployer(deploy_dir, "-o", "json", "history", name).json()
    for cluster in CLUSTERS:
        assert by_env(history, cluster, "staging") == [(1, "succeeded")]
        assert by_env(history, cluster, "production") == [(1, "succeeded"), (2, "succeeded")]


def test_two_deploys_racing_for_the_lock_write_revisions_1_and_2(deploy_dir, platform):
    import datetime as dt

    from kubernetes import client

    name = unique("race")
    spec = _service(name, values={"greeting": "first"})
    write_service(deploy_dir, spec)
    # A lock held by hand, so that both deploys read the (empty) records before either can write.
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": f"deployer-lock.{name}", "namespace": "apps"},
             "spec": {"holderIdentity": "gatekeeper", "leaseDurationSeconds": 300, "acquireTime": now,
                      "renewTime": now}}
    for cluster in CLUSTERS:
        with api(platform, cluster) as a:
            client.CoordinationV1Api(a).create_namespaced_lease("apps", lease)
    env = {**os.environ, "DEPLOYER_BUILDAH_ROOT": str(platform.state_dir / "buildah")}
    commit = unique("c")
    runs = []
    try:
        for actor, greeting in (("first-run", "first"), ("second-run", "second")):
            spec["values"]["greeting"] = greeting
            write_service(deploy_dir, spec)
            runs.append(subprocess.Popen(
                [sys.executable, "-m", "deployer", "--config-dir", str(deploy_dir), "deploy", name, "--env", "staging",
                 "--commit", commit, "--actor", actor, "--wait-for-lock", "120s"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            _wait_for_line(runs[-1], "waiting for the deploy lock held by gatekeeper", 90)
        for cluster in CLUSTERS:
            with api(platform, cluster) as a:
                client.CoordinationV1Api(a).delete_namespaced_lease(f"deployer-lock.{name}", "apps")
        for run in runs:
            run.wait(timeout=120)
            assert run.returncode == 0, run.stderr.read()
    finally:
        for run in runs:
            run.kill()
    history = deployer(deploy_dir, "-o", "json", "history", name).json()
    for cluster in CLUSTERS:
        records = history[cluster]
        assert [(r["revision"], r["outcome"]) for r in records] == [(1, "succeeded"), (2, "succeeded")]
        assert {r["actor"] for r in records} == {"first-run", "second-run"}


def test_rollback_after_a_failed_release_left_running_lands_on_the_one_before_it_and_removes_its_objects(
        deploy_dir, platform):
    name = unique("back")
    spec = _service(name, on_failure="leave", timeout="10s", values={"extra": False})
    commit = unique("c")
    for n in range(1, 6):  # r1..r5 succeed: one build, a new greeting each time
        spec["values"]["greeting"] = f"hello-{n}"
        write_manifests(deploy_dir, spec)
        result = deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", commit)
        assert result.exit_code == 0, result.stdout + result.stderr
    spec["values"] |= {"greeting": "hello-6", "extra": True, "neverReadyOn": list(CLUSTERS)}
    write_manifests(deploy_dir, spec)
    failed = deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", commit)
    assert failed.exit_code == ExitCode.FAILED, failed.stdout + failed.stderr
    for cluster in CLUSTERS:  # r6 was left in place: it is what runs
        assert read(platform, cluster, "ConfigMap", "apps", f"{name}-extra") is not None

    back = deployer(deploy_dir, "-o", "json", "rollback", name, "--env", "staging")
    assert back.exit_code == 0, back.stdout + back.stderr
    history = deployer(deploy_dir, "-o", "json", "history", name).json()
    for cluster in CLUSTERS:
        assert [(r["revision"], r["outcome"], r["rollback_of"]) for r in history[cluster][-2:]] == [
            (6, "failed", None), (7, "succeeded", 5)]
        live = read(platform, cluster, "Deployment", "apps", name)
        assert live is not None
        env = live["spec"]["template"]["spec"]["containers"][0]["env"]
        assert env == [{"name": "GREETING", "value": "hello-5"}]
        assert read(platform, cluster, "ConfigMap", "apps", f"{name}-extra") is None


def test_delete_unmanaged_leaves_what_the_cluster_now_runs_for_another_environment(deploy_dir, platform):
    name = unique("move")
    spec = _service(name)
    write_manifests(deploy_dir, spec)
    assert deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("c")).exit_code == 0

    # local-gke leaves staging and joins production, in the same namespace under the same names.
    spec["environments"] = {"staging": {"clusters": ["local-onprem"]}, "production": {"clusters": ["local-gke"]}}
    write_manifests(deploy_dir, spec)
    moved = deployer(deploy_dir, "deploy", name, "--env", "production", "--commit", unique("c"))
    assert moved.exit_code == 0, moved.stdout + moved.stderr
    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"),
                      "--delete-unmanaged")
    assert result.exit_code == 0, result.stdout + result.stderr
    note = next(n for n in result.json()["notes"] if "local-gke" in n)
    assert f"deleted the unmanaged copy of {name}" in note and f"ConfigMap apps/{name}-staging" in note
    assert f"Deployment apps/{name} (its labels name service {name} production" in note

    deployment = read(platform, "local-gke", "Deployment", "apps", name)
    assert deployment is not None and deployment["metadata"]["labels"]["deployer.io/environment"] == "production"
    assert deployment["status"]["availableReplicas"] == 2
    assert read(platform, "local-gke", "ConfigMap", "apps", f"{name}-production") is not None
    assert read(platform, "local-gke", "ConfigMap", "apps", f"{name}-staging") is None
    assert read(platform, "local-onprem", "Deployment", "apps", name) is not None


def test_a_template_with_empty_annotations_redeploys_as_no_change(deploy_dir, platform):
    name = unique("empty")
    template = DEPLOYMENT.replace("  namespace: {{ service.namespace }}\n",
                                  "  namespace: {{ service.namespace }}\n  annotations: {}\n")
    template = template.replace("    spec:\n      containers:", "    spec:\n      volumes: []\n      containers:")
    assert "annotations: {}" in template and "volumes: []" in template
    write_service(deploy_dir, _service(name), template)
    commit = unique("c")
    assert deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", commit).exit_code == 0
    before = {c: read(platform, c, "Deployment", "apps", name)["metadata"]["resourceVersion"] for c in CLUSTERS}

    again = deployer(deploy_dir, "--detailed-exitcode", "-o", "json", "deploy", name, "--env", "staging",
                     "--commit", commit)
    assert again.exit_code == ExitCode.OK, again.stdout + again.stderr
    assert [c["outcome"] for c in again.json()["clusters"]] == ["unchanged", "unchanged"]
    assert before == {c: read(platform, c, "Deployment", "apps", name)["metadata"]["resourceVersion"]
                      for c in CLUSTERS}


def test_an_object_moved_from_the_chart_to_a_service_is_not_pruned_by_the_next_sync(deploy_dir, platform):
    name = unique("moved")
    shared = f"{name}-settings"
    chart = deploy_dir / "chart-copy"
    shutil.copytree(REPO / "charts", chart)
    (deploy_dir / "charts").unlink()
    (deploy_dir / "charts").symlink_to(chart)
    extra = chart / "cluster-base" / "templates" / "60-moved.yaml.j2"
    extra.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {shared}\n  namespace: apps\n"
                     "  labels:\n    app.kubernetes.io/managed-by: deployer\ndata:\n  owner: chart\n")
    assert deployer(deploy_dir, "cluster", "sync", "--all").exit_code == 0
    for cluster in CLUSTERS:
        live = read(platform, cluster, "ConfigMap", "apps", shared)
        assert live is not None and live["metadata"]["labels"]["deployer.io/cluster"] == cluster

    # The ConfigMap leaves the chart and joins a service's manifests.
    extra.unlink()
    spec = _service(name)
    write_service(deploy_dir, spec)
    (deploy_dir / "services" / spec["manifests"] / "settings.yaml.j2").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {shared}\n  namespace: apps\ndata:\n  owner: service\n")
    deployed = deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("c"))
    assert deployed.exit_code == 0, deployed.stdout + deployed.stderr

    synced_again = deployer(deploy_dir, "cluster", "sync", "--all")
    assert synced_again.exit_code == 0, synced_again.stdout + synced_again.stderr
    assert f"now owned by service {name} staging" in synced_again.stdout
    for cluster in CLUSTERS:
        live = read(platform, cluster, "ConfigMap", "apps", shared)
        assert live is not None and live["data"] == {"owner": "service"}


def test_an_inventory_entry_at_an_api_version_no_longer_served_is_skipped_with_a_note(deploy_dir, platform):
    from kubernetes import client

    gone = json.dumps(["example.com/v1", "Widget", "apps", unique("widget")])

    def edit_inventories(change) -> None:
        for cluster in CLUSTERS:
            with api(platform, cluster) as a:
                core = client.CoreV1Api(a)
                inventory = core.read_namespaced_config_map(INVENTORY, "deployer-system")
                inventory.data["objects"] = change(inventory.data["objects"])
                core.replace_namespaced_config_map(INVENTORY, "deployer-system", inventory)

    edit_inventories(lambda text: text + "\n" + gone)
    try:
        result = deployer(deploy_dir, "cluster", "sync", "--all")
        assert result.exit_code == 0, result.stdout + result.stderr
        assert result.stdout.count("the API server no longer serves Widget in example.com/v1") == len(CLUSTERS)
        again = deployer(deploy_dir, "cluster", "sync", "--all")  # and every later sync goes on working
        assert again.exit_code == 0, again.stdout + again.stderr
        for cluster in CLUSTERS:  # kept: neither deleted nor forgotten
            assert gone in read(platform, cluster, "ConfigMap", "deployer-system", INVENTORY)["data"]["objects"]
    finally:
        edit_inventories(lambda text: text.replace("\n" + gone, ""))
