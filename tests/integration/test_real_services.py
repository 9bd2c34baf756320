"""Services shaped like the ones teams already run, deployed to both local clusters by the chart's
default deployer role: StatefulSets, CronJobs, autoscalers, disruption budgets, ingresses; a kind
outside the role refused at preflight naming the cluster-file value that adds it.

Fixtures are jinja templates under tests/data/ (copied per test, under a unique service name)."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deployer.errors import ExitCode
from tests.conftest import REPO
from tests.integration import kit, test_deploy, test_promote
from tests.integration.test_deploy import _service, deployer, unique
from tests.integration.test_preflight_refusals import preflight_steps

pytestmark = pytest.mark.integration

synced = test_deploy.synced
deploy_dir = test_deploy.deploy_dir
buildah_calls = test_promote.buildah_calls

CLUSTERS = kit.CLUSTERS
DATA = REPO / "tests" / "data"


def write_fixture_service(folder: Path, fixture: str, spec: dict, extra: dict[str, str] | None = None) -> None:
    """The service ``spec`` whose manifests are ``tests/data/<fixture>/manifests`` (plus ``extra``
    templates by file name)."""
    (folder / "services" / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec))
    manifests = folder / "services" / spec["manifests"]
    shutil.copytree(DATA / fixture / "manifests", manifests)
    for file_name, text in (extra or {}).items():
        (manifests / file_name).write_text(text)


@functools.cache
def kubectl_binary() -> str:
    from deployer_localplatform.binaries import ensure_binaries

    return str(ensure_binaries()["kubectl"])


def kubectl(platform, cluster: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The platform's own kubectl as the cluster's admin: an independent judge of deployer's work."""
    return subprocess.run([kubectl_binary(), "--kubeconfig",
                           str(platform.cluster(cluster).admin_kubeconfig), *args],
                          capture_output=True, text=True, timeout=60, check=False)


def resource_versions(platform, cluster: str, name: str) -> dict[str, str]:
    listing = kubectl(platform, cluster, "get", "-n", "apps", "-o", "json", "statefulsets,cronjobs,"
                      "horizontalpodautoscalers,poddisruptionbudgets,ingresses", "-l", f"deployer.io/service={name}")
    assert listing.returncode == 0, listing.stderr
    return {f"{i['kind']}/{i['metadata']['name']}": i["metadata"]["resourceVersion"]
            for i in yaml.safe_load(listing.stdout)["items"]}


def test_a_statefulset_cronjob_hpa_pdb_and_ingress_deploy_with_the_default_role_then_change_nothing(
        deploy_dir, platform) -> None:
    name = unique("real")
    write_fixture_service(deploy_dir, "real-services", _service(name))
    commit = unique("c")

    first = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", commit)

    assert first.exit_code == 0, first.stdout + first.stderr
    assert [c["outcome"] for c in first.json()["clusters"]] == ["succeeded", "succeeded"]
    for cluster in CLUSTERS:
        rollout = kubectl(platform, cluster, "rollout", "status", f"statefulset/{name}-db", "-n", "apps",
                          "--timeout=5s")
        assert rollout.returncode == 0 and "roll out complete" in rollout.stdout, rollout.stdout + rollout.stderr
        assert set(resource_versions(platform, cluster, name)) == {
            f"StatefulSet/{name}-db", f"CronJob/{name}-nightly", f"HorizontalPodAutoscaler/{name}-db",
            f"PodDisruptionBudget/{name}-db", f"Ingress/{name}"}
    before = {c: resource_versions(platform, c, name) for c in CLUSTERS}

    again = deployer(deploy_dir, "--detailed-exitcode", "-o", "json", "deploy", name, "--env", "staging",
                     "--commit", commit)

    assert again.exit_code == ExitCode.OK, again.stdout + again.stderr
    assert [c["outcome"] for c in again.json()["clusters"]] == ["unchanged", "unchanged"]
    assert {c: resource_versions(platform, c, name) for c in CLUSTERS} == before


RESOURCE_QUOTA = """\
apiVersion: v1
kind: ResourceQuota
metadata:
  name: {{ service.name }}
  namespace: {{ service.namespace }}
spec:
  hard: {pods: "10"}
"""


def test_a_kind_outside_the_role_is_refused_at_preflight_naming_the_value_to_change(deploy_dir, platform) -> None:
    name = unique("quota")
    write_fixture_service(deploy_dir, "real-services", _service(name), {"quota.yaml.j2": RESOURCE_QUOTA})

    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"))

    assert result.exit_code == ExitCode.API_REJECTED, result.stdout + result.stderr
    steps = preflight_steps(result.json())
    for cluster in CLUSTERS:
        message = steps[cluster]["message"]
        assert steps[cluster]["status"] == "failed", steps
        assert ("kind ResourceQuota (resourcequotas) is outside the chart's deployer role in namespace apps: set "
                'values.deployerRole.extraRules: [{apiGroups: [""], resources: [resourcequotas]}] in '
                f"clusters/{cluster}.yaml") in message, message
        # Only the kind the role lacks is named: the others are granted by default.
        assert "StatefulSet" not in message and "statefulsets" not in message, message
        listing = kubectl(platform, cluster, "get", "-n", "apps", "-o", "name", "all,configmaps,leases,"
                          "resourcequotas,ingresses,poddisruptionbudgets", "-l", f"deployer.io/service={name}")
        assert listing.returncode == 0 and listing.stdout == "", listing.stdout + listing.stderr
        lease = kubectl(platform, cluster, "get", "-n", "apps", "lease", f"deployer-lock.{name}")
        assert lease.returncode != 0 and "NotFound" in lease.stderr, lease.stdout + lease.stderr


def deployment_of(pod_spec: str) -> str:
    """A one-replica Deployment template of the service whose pod spec is ``pod_spec`` (YAML lines
    indented for a pod spec)."""
    return """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ service.name }}
  namespace: {{ service.namespace }}
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{ service.name }}}
  template:
    metadata:
      labels: {app: {{ service.name }}}
    spec:
""" + pod_spec


TWO_CONTAINERS = deployment_of("""\
      initContainers:
        - name: warm
          image: {{ images.cache }}
      containers:
        - name: web
          image: {{ image }}
        - name: cache
          image: {{ values.upstream ~ ':1.0' }}
""")


def push_upstream_image(platform, tmp_path: Path, repository: str, content: str = "") -> str:
    """A tiny image pushed by tag into the platform registry, as an upstream vendor's would be
    (pushed again with other ``content``: the tag moved); returns its digest."""
    from deployer.images.backends import Buildah

    context = tmp_path / f"upstream{content}"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY version.txt /version.txt\n")
    (context / "version.txt").write_text(repository + content)
    builder = Buildah()
    builder.build(context, context / "Dockerfile", f"localhost/{repository}:1.0", {})
    return builder.push(f"localhost/{repository}:1.0", f"{platform.registry}/{repository}:1.0")


@pytest.mark.parametrize("by", ["tag", "digest"])
def test_a_built_and_a_prebuilt_image_are_pinned_by_digest_on_both_clusters(deploy_dir, platform, tmp_path,
                                                                             by) -> None:
    name = unique("two")
    upstream = f"upstream/cache-{name}"
    digest = push_upstream_image(platform, tmp_path, upstream)
    spec = _service(name, values={"upstream": f"{platform.registry}/{upstream}"})
    spec["images"] = {"cache": {"prebuilt": f"{platform.registry}/{upstream}" + (":1.0" if by == "tag"
                                                                                 else f"@{digest}")}}
    write_fixture_service(deploy_dir, "empty", spec, {"deployment.yaml.j2": TWO_CONTAINERS})

    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"))

    assert result.exit_code == 0, result.stdout + result.stderr
    built = set()
    for report in result.json()["clusters"]:
        cluster = platform.cluster(report["cluster"])
        pod = test_deploy.deployment(platform, report["cluster"], name)["spec"]["template"]["spec"]
        images = {c["name"]: c["image"] for c in pod["initContainers"] + pod["containers"]}
        prebuilt = f"{cluster.registry}/cache-{name}@{digest}"
        assert images["warm"] == images["cache"] == prebuilt, images
        assert images["web"].startswith(f"{cluster.registry}/web@sha256:"), images
        built.add(images["web"].split("@")[1])
        pin = next(s for s in report["steps"] if s["name"] == "pin")
        assert pin["message"] == (f"Deployment apps/{name} container cache: {platform.registry}/{upstream}:1.0 -> "
                                  f"{prebuilt}"), pin
    assert len(built) == 1  # one build, the same digest on both clusters


def read(platform, cluster: str, kind: str, name: str) -> dict:
    got = kubectl(platform, cluster, "get", "-n", "apps", "-o", "json", kind, name)
    assert got.returncode == 0, got.stderr
    return yaml.safe_load(got.stdout)


def jobs_of(platform, cluster: str, name: str) -> list[dict]:
    listing = kubectl(platform, cluster, "get", "-n", "apps", "-o", "json", "jobs", "-l",
                      f"deployer.io/service={name}")
    assert listing.returncode == 0, listing.stderr
    return yaml.safe_load(listing.stdout)["items"]


def condition(obj: dict, kind: str) -> dict:
    return next(c for c in obj["status"].get("conditions") or [] if c["type"] == kind)


def test_a_pre_deploy_job_completes_before_the_deployment_changes(deploy_dir, platform) -> None:
    name = unique("mig")
    spec = _service(name, values={"version": "v1"})
    write_fixture_service(deploy_dir, "migrating", spec)
    assert deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("c")).exit_code == 0
    spec["values"]["version"] = "v2"
    (deploy_dir / "services" / f"{name}.yaml").write_text(yaml.safe_dump(spec))

    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"))

    assert result.exit_code == 0, result.stdout + result.stderr
    for report in result.json()["clusters"]:
        cluster = report["cluster"]
        steps = [s["name"] for s in report["steps"]]
        assert steps.index("deploy:pre-deploy:wait") < steps.index("deploy:apply"), steps
        # The changed Job is a new Job (a Job's template is immutable), and the old one is pruned.
        (job,) = jobs_of(platform, cluster, name)
        assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate-to-v2"]
        assert condition(job, "Complete")["status"] == "True"
        deployment = read(platform, cluster, "deployment", name)
        assert deployment["metadata"]["generation"] == 2
        new_set = max((rs for rs in yaml.safe_load(kubectl(platform, cluster, "get", "-n", "apps", "-o", "json",
                                                             "replicasets", "-l", f"app={name}").stdout)["items"]),
                      key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]))
        assert new_set["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "v2"
        # The API server's own clock: the Job completed no later than the new ReplicaSet was made.
        assert job["status"]["completionTime"] <= new_set["metadata"]["creationTimestamp"], (job["status"], new_set)


def test_a_failing_pre_deploy_job_stops_the_deploy_with_the_old_deployment_untouched(deploy_dir, platform) -> None:
    name = unique("mig")
    spec = _service(name, values={"version": "v1"})
    write_fixture_service(deploy_dir, "migrating", spec)
    assert deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("c")).exit_code == 0
    before = {c: {kind: read(platform, c, kind, n)["metadata"]["resourceVersion"]
                  for kind, n in (("deployment", name), ("deployment", f"{name}-other"),
                                  ("configmap", f"{name}-config"))} for c in CLUSTERS}
    spec["values"] |= {"version": "v2", "greeting": "changed", "brokenMigration": True}
    (deploy_dir / "services" / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    broken_commit = unique("c")

    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", broken_commit)

    assert result.exit_code == ExitCode.FAILED, result.stdout + result.stderr
    for report in result.json()["clusters"]:
        cluster = report["cluster"]
        failed = next(s for s in report["steps"] if s["name"] == "deploy:pre-deploy:wait")
        assert failed["status"] == "failed" and "nothing else of the release was applied" in failed["message"]
        assert "DeadlineExceeded" in failed["message"] or "deadline" in failed["message"].lower(), failed
        assert "deploy:apply" not in [s["name"] for s in report["steps"]]
        assert report["outcome"] == "failed"
        assert report["release"] == ("unchanged, on r1 (r2 failed in its pre-deploy phase; nothing else of it "
                                     "was written)"), report
        assert {kind: read(platform, cluster, kind, n)["metadata"]["resourceVersion"]
                for kind, n in (("deployment", name), ("deployment", f"{name}-other"),
                                ("configmap", f"{name}-config"))} == before[cluster]
        # The old migration's Job (complete) and the new one, failed by the Job controller, kept for its logs.
        outcomes = sorted(c["type"] for j in jobs_of(platform, cluster, name) for c in j["status"]["conditions"]
                          if c["type"] in ("Complete", "Failed") and c["status"] == "True")
        assert outcomes == ["Complete", "Failed"], jobs_of(platform, cluster, name)
    history = deployer(deploy_dir, "-o", "json", "history", name, "--env", "staging").json()
    for cluster in CLUSTERS:
        assert [(r["revision"], r["outcome"]) for r in history[cluster]] == [(1, "succeeded"), (2, "failed")]
        assert "pre-deploy" in history[cluster][1]["message"]

    # Deploying the same again runs the migration again (a new Job), not judged by the old failure.
    failed_uids = {c: {j["metadata"]["uid"] for j in jobs_of(platform, c, name)} for c in CLUSTERS}
    again = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", broken_commit)
    assert again.exit_code == ExitCode.FAILED, again.stdout + again.stderr
    for cluster in CLUSTERS:
        uids = {j["metadata"]["uid"] for j in jobs_of(platform, cluster, name)}
        assert len(uids) == 2 and len(uids - failed_uids[cluster]) == 1, (uids, failed_uids[cluster])


def test_a_configmap_change_rolls_the_deployment_that_mounts_it_and_nothing_else(deploy_dir, platform) -> None:
    name = unique("cfg")
    spec = _service(name, values={"version": "v1"})
    write_fixture_service(deploy_dir, "migrating", spec)
    commit = unique("c")
    assert deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", commit).exit_code == 0

    def state(cluster: str) -> dict[str, tuple]:
        """Per Deployment its rollout revision (a new pod template makes the next one; a Deployment's
        generation also counts annotation changes, which every release's revision stamp is) and the
        config hash of its pod template; and the Jobs."""
        found: dict[str, tuple] = {}
        for deployment in (name, f"{name}-other"):
            live = read(platform, cluster, "deployment", deployment)
            annotations = live["spec"]["template"]["metadata"].get("annotations") or {}
            found[deployment] = (int(live["metadata"]["annotations"]["deployment.kubernetes.io/revision"]),
                                 annotations.get("deployer.io/config-hash"))
        found["job"] = tuple(j["metadata"]["name"] for j in jobs_of(platform, cluster, name))
        return found

    before = {c: state(c) for c in CLUSTERS}
    spec["values"]["greeting"] = "changed"
    (deploy_dir / "services" / f"{name}.yaml").write_text(yaml.safe_dump(spec))

    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", commit)

    assert result.exit_code == 0, result.stdout + result.stderr
    for cluster in CLUSTERS:
        after = state(cluster)
        revision, config_hash = before[cluster][name]
        assert config_hash is not None
        assert after[name][0] == revision + 1 and after[name][1] not in (None, config_hash), (before, after)
        assert after[f"{name}-other"] == before[cluster][f"{name}-other"]
        assert after["job"] == before[cluster]["job"]  # the migration did not change, so it did not run again
        rollout = kubectl(platform, cluster, "rollout", "status", f"deployment/{name}", "-n", "apps", "--timeout=5s")
        assert rollout.returncode == 0, rollout.stdout + rollout.stderr


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {{ 'widgets.' ~ values.group }}
spec:
  group: {{ values.group }}
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
"""

WIDGET = """\
apiVersion: {{ values.group ~ '/v1' }}
kind: Widget
metadata:
  name: {{ service.name }}
  namespace: {{ service.namespace }}
spec:
  size: 3
"""


@pytest.fixture
def widget_role(deploy_dir, synced):
    """The config folder's clusters with the deployer role extended to a custom kind (the cluster-file
    value a refusal names), synced; the platform's own files are synced back afterwards."""
    group = f"{unique('t')}.example.com"

    def edit(document: dict) -> None:
        document.setdefault("values", {})["deployerRole"] = {
            "extraRules": [{"apiGroups": [group], "resources": ["widgets"]}]}

    kit.copy_cluster_files(deploy_dir, edit)
    assert deployer(deploy_dir, "cluster", "sync", "--all").exit_code == 0
    yield group
    assert deployer(synced, "cluster", "sync", "--all").exit_code == 0


def test_a_crd_and_a_custom_object_of_it_deploy_in_one_release(deploy_dir, platform, widget_role) -> None:
    name = unique("crd")
    spec = _service(name, values={"group": widget_role})
    spec["allowClusterScoped"] = ["CustomResourceDefinition"]
    write_fixture_service(deploy_dir, "empty", spec, {"crd.yaml.j2": CRD, "widget.yaml.j2": WIDGET})
    commit = unique("c")

    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", commit)

    assert result.exit_code == 0, result.stdout + result.stderr
    for report in result.json()["clusters"]:
        steps = [s["name"] for s in report["steps"]]
        assert steps.index("deploy:definitions:wait") < steps.index("deploy:apply"), steps
        crd = read(platform, report["cluster"], "crd", f"widgets.{widget_role}")
        assert condition(crd, "Established")["status"] == "True"
        widget = read(platform, report["cluster"], f"widgets.{widget_role}", name)
        assert widget["spec"] == {"size": 3}
        assert widget["metadata"]["labels"]["deployer.io/service"] == name

    again = deployer(deploy_dir, "--detailed-exitcode", "-o", "json", "deploy", name, "--env", "staging",
                     "--commit", commit)
    assert again.exit_code == ExitCode.OK, again.stdout + again.stderr

    # A release that drops the CRD keeps it (its custom objects would go with it) and says so.
    (deploy_dir / "services" / spec["manifests"] / "crd.yaml.j2").unlink()
    dropped = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", commit)
    assert dropped.exit_code == 0, dropped.stdout + dropped.stderr
    for report in dropped.json()["clusters"]:
        prune = next(s for s in report["steps"] if s["name"] == "deploy:prune")
        assert (f"CustomResourceDefinition widgets.{widget_role} left in place: a CustomResourceDefinition is "
                "never deleted by a release") in prune["message"], prune
        assert condition(read(platform, report["cluster"], "crd", f"widgets.{widget_role}"),
                         "Established")["status"] == "True"
        assert read(platform, report["cluster"], f"widgets.{widget_role}", name)["spec"] == {"size": 3}


UPSTREAM_ONLY = deployment_of("""\
      containers:
        - name: cache
          image: {{ values.upstream ~ ':1.0' }}
""")


def test_a_service_with_no_image_of_its_own_deploys_upstream_images_pinned(deploy_dir, platform, tmp_path) -> None:
    name = unique("up")
    upstream = f"upstream/only-{name}"
    digest = push_upstream_image(platform, tmp_path, upstream)
    spec = _service(name, values={"upstream": f"{platform.registry}/{upstream}"})
    del spec["image"]
    spec["images"] = {"cache": {"prebuilt": f"{platform.registry}/{upstream}:1.0"}}
    write_fixture_service(deploy_dir, "empty", spec, {"deployment.yaml.j2": UPSTREAM_ONLY})
    commit = unique("c")

    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", commit)

    assert result.exit_code == 0, result.stdout + result.stderr
    for cluster in CLUSTERS:
        image = test_deploy.image_of(platform, cluster, name)
        assert image == f"{platform.cluster(cluster).registry}/only-{name}@{digest}", image
    again = deployer(deploy_dir, "--detailed-exitcode", "-o", "json", "deploy", name, "--env", "staging",
                     "--commit", commit)
    assert again.exit_code == ExitCode.OK, again.stdout + again.stderr
    status = deployer(deploy_dir, "-o", "json", "status", name)
    assert status.exit_code == 0, status.stdout + status.stderr


def test_promote_copies_every_built_image_staging_ran_and_builds_nothing(tmp_path, synced, platform, monkeypatch,
                                                                          buildah_calls) -> None:
    folder = tmp_path / "config"
    (folder / "services" / "manifests").mkdir(parents=True)
    (folder / "charts").symlink_to(REPO / "charts")
    (folder / "clusters").symlink_to(synced / "clusters")
    monkeypatch.setenv("DEPLOYER_BUILDAH_ROOT", str(platform.state_dir / "buildah"))
    log = buildah_calls
    name, commit = unique("prom"), unique("c")
    spec = test_promote.service(name, ["local-onprem"], ["local-gke", "local-onprem"])
    spec["images"] = {"worker": {"build": {"name": "worker", "context": str(REPO / "apps" / "hello")}}}
    (folder / "services" / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    (folder / "services" / "manifests" / "deployment.yaml.j2").write_text(TWO_BUILT)
    assert deployer(folder, "deploy", name, "--env", "staging", "--commit", commit).exit_code == 0
    assert test_promote.calls(log, "bud") == 2
    staged = {c["name"]: c["image"].split("@")[1] for c in test_deploy.deployment(
        platform, "local-onprem", name)["spec"]["template"]["spec"]["containers"]}

    promoted = deployer(folder, "promote", name, "--from", "staging", "--to", "production")

    assert promoted.exit_code == 0, promoted.stdout + promoted.stderr
    assert (test_promote.calls(log, "bud"), test_promote.calls(log, "push")) == (2, 2)  # nothing built or pushed
    from kubernetes import client

    for cluster in CLUSTERS:
        with kit.admin_api(platform.cluster(cluster)) as api:
            pod = client.AppsV1Api(api).read_namespaced_deployment(name, test_promote.PRODUCTION_NS).spec.template.spec
        registry = platform.cluster(cluster).registry
        assert {c.name: c.image for c in pod.containers} == {"web": f"{registry}/web@{staged['web']}",
                                                             "worker": f"{registry}/worker@{staged['worker']}"}


def test_promote_takes_the_prebuilt_digest_staging_ran_even_after_its_tag_moved(tmp_path, synced, platform,
                                                                                monkeypatch, buildah_calls) -> None:
    from kubernetes import client

    folder = tmp_path / "config"
    (folder / "services" / "manifests").mkdir(parents=True)
    (folder / "charts").symlink_to(REPO / "charts")
    (folder / "clusters").symlink_to(synced / "clusters")
    monkeypatch.setenv("DEPLOYER_BUILDAH_ROOT", str(platform.state_dir / "buildah"))
    name, commit = unique("moved"), unique("c")
    upstream = f"upstream/moving-{name}"
    staged = push_upstream_image(platform, tmp_path, upstream)
    spec = test_promote.service(name, ["local-onprem"], ["local-gke", "local-onprem"])
    spec["values"]["upstream"] = f"{platform.registry}/{upstream}"
    spec["images"] = {"cache": {"prebuilt": f"{platform.registry}/{upstream}:1.0"}}
    (folder / "services" / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    (folder / "services" / "manifests" / "deployment.yaml.j2").write_text(TWO_CONTAINERS)
    first = deployer(folder, "deploy", name, "--env", "staging", "--commit", commit)
    assert first.exit_code == 0, first.stdout + first.stderr

    moved = push_upstream_image(platform, tmp_path, upstream, content="-moved")  # the vendor re-tags 1.0
    assert moved != staged
    promoted = deployer(folder, "-o", "json", "promote", name, "--from", "staging", "--to", "production")

    assert promoted.exit_code == 0, promoted.stdout + promoted.stderr
    for cluster in CLUSTERS:
        with kit.admin_api(platform.cluster(cluster)) as api:
            pod = client.AppsV1Api(api).read_namespaced_deployment(name, test_promote.PRODUCTION_NS).spec.template.spec
        pinned = f"{platform.cluster(cluster).registry}/moving-{name}@{staged}"
        assert [c.image for c in pod.init_containers] == [pinned]
        assert {c.name: c.image for c in pod.containers}["cache"] == pinned
        records = kubectl(platform, cluster, "get", "configmaps", "-n", test_promote.PRODUCTION_NS, "-o", "json",
                          "-l", f"deployer.io/record,deployer.io/service={name}")
        assert records.returncode == 0, records.stderr
        [record] = [json.loads(i["data"]["record.json"]) for i in yaml.safe_load(records.stdout)["items"]]
        assert set(record["images"]) == {"", "cache"} and record["images"]["cache"] == pinned, record


TWO_BUILT = deployment_of("""\
      containers:
        - name: web
          image: {{ image }}
        - name: worker
          image: {{ images.worker }}
""")
