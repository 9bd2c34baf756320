"""Manifest sources on both local clusters: a published plain-YAML release without namespaces, a
Kustomize overlay and a Helm chart (tests/data/manifests/) each deploy, converge by kubectl's own
`rollout status`, redeploy as a no-change, and a broken source stops the deploy before anything
is built or pushed. Real buildah, registry, kubectl kustomize, helm template and API servers."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from deployer.errors import ExitCode
from tests.conftest import REPO, run_cli
from tests.integration.kit import CLUSTERS, admin_api

pytestmark = pytest.mark.integration

DATA = REPO / "tests" / "data" / "manifests"


@pytest.fixture(scope="module")
def tools() -> dict[str, Path]:
    """The platform's kubectl and the pinned helm (built by `platform prepare`)."""
    from deployer_localplatform.binaries import ensure_binaries

    binaries = ensure_binaries()
    return {"kubectl": binaries["kubectl"], "helm": binaries["helm"]}


@pytest.fixture
def config_dir(tmp_path: Path, synced_config_dir: Path, platform, monkeypatch, tools) -> Iterator[Path]:
    """A config folder with the platform's clusters; the services a test writes are deleted from
    both clusters afterwards (the fixtures' object names are fixed, like a real release's)."""
    (tmp_path / "charts").symlink_to(REPO / "charts")
    (tmp_path / "clusters").symlink_to(synced_config_dir / "clusters")
    (tmp_path / "services").mkdir()
    monkeypatch.setenv("DEPLOYER_BUILDAH_ROOT", str(platform.state_dir / "buildah"))
    monkeypatch.setenv("DEPLOYER_HELM", str(tools["helm"]))
    monkeypatch.setenv("DEPLOYER_KUBECTL", str(tools["kubectl"]))
    yield tmp_path
    for name in (p.stem for p in (tmp_path / "services").glob("*.yaml")):
        for cluster in CLUSTERS:
            _delete_service_objects(platform.cluster(cluster), tools["kubectl"], name)


def _delete_service_objects(cluster, kubectl: Path, service: str) -> None:
    subprocess.run([str(kubectl), "--kubeconfig", str(cluster.admin_kubeconfig), "-n", "apps", "delete",
                    "deployments,services,configmaps,serviceaccounts,jobs", "-l", f"deployer.io/service={service}",
                    "--wait=false"], check=True, capture_output=True, timeout=60)


def write_service(folder: Path, name: str, source: dict, **extra) -> None:
    spec = {"name": name, "namespace": "apps", "image": {"name": extra.pop("image", "web"),
                                                          "context": str(REPO / "apps" / "hello")},
            "source": source, "environments": {"staging": {"clusters": list(CLUSTERS)}},
            "rollout": {"timeout": "60s"}, **extra}
    (folder / "services" / f"{name}.yaml").write_text(yaml.safe_dump(spec))


def deploy(folder: Path, name: str, commit: str, *more: str):
    return run_cli("--config-dir", str(folder), "-o", "json", *more, "deploy", name, "--env", "staging",
                   "--commit", commit)


def rollout_status(platform, kubectl: Path, deployment: str) -> None:
    """kubectl's own verdict, on both clusters."""
    for cluster in CLUSTERS:
        done = subprocess.run([str(kubectl), "--kubeconfig", str(platform.cluster(cluster).admin_kubeconfig),
                               "-n", "apps", "rollout", "status", f"deployment/{deployment}", "--timeout=60s"],
                              capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, f"{cluster}: {done.stdout}{done.stderr}"
        assert "successfully rolled out" in done.stdout


def live(platform, cluster: str, kind: str, name: str) -> dict:
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        read = {"Deployment": lambda: client.AppsV1Api(api).read_namespaced_deployment(name, "apps"),
                "Service": lambda: client.CoreV1Api(api).read_namespaced_service(name, "apps"),
                "ConfigMap": lambda: client.CoreV1Api(api).read_namespaced_config_map(name, "apps"),
                "Job": lambda: client.BatchV1Api(api).read_namespaced_job(name, "apps")}[kind]
        found: dict = api.sanitize_for_serialization(read())
        return found


def jobs_of(platform, cluster: str, service: str) -> list[dict]:
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        found = client.BatchV1Api(api).list_namespaced_job("apps", label_selector=f"deployer.io/service={service}")
        return list(api.sanitize_for_serialization(found)["items"])


def versions(platform, objects: list[tuple[str, str]]) -> dict:
    return {(c, kind, name): live(platform, c, kind, name)["metadata"]["resourceVersion"]
            for c in CLUSTERS for kind, name in objects}


def deploys_then_changes_nothing(folder: Path, platform, name: str, objects: list[tuple[str, str]]) -> str:
    commit = f"c-{uuid.uuid4().hex[:8]}"
    first = deploy(folder, name, commit)
    assert first.exit_code == 0, first.stdout + first.stderr
    assert [c["outcome"] for c in first.json()["clusters"]] == ["succeeded", "succeeded"]
    before = versions(platform, objects)
    again = deploy(folder, name, commit, "--detailed-exitcode")
    assert again.exit_code == ExitCode.OK, again.stdout + again.stderr
    assert [c["outcome"] for c in again.json()["clusters"]] == ["unchanged", "unchanged"]
    assert versions(platform, objects) == before
    return commit


def test_a_published_release_without_namespaces_deploys_into_the_environments(config_dir, platform, tools) -> None:
    name = f"board-{uuid.uuid4().hex[:6]}"
    write_service(config_dir, name, {"yaml": str(DATA / "plain" / "release")})
    objects = [("Deployment", "board-api"), ("Deployment", "board-worker"), ("Service", "board-api"),
               ("ConfigMap", "board-config")]
    deploys_then_changes_nothing(config_dir, platform, name, objects)
    for deployment in ("board-api", "board-worker"):
        rollout_status(platform, tools["kubectl"], deployment)
    for cluster in CLUSTERS:
        config = live(platform, cluster, "ConfigMap", "board-config")
        assert config["metadata"]["namespace"] == "apps"
        assert config["data"]["motd"] == "{{ welcome }}"  # plain YAML is not templated
        assert config["metadata"]["labels"]["deployer.io/service"] == name


def test_a_kustomize_overlay_deploys_with_its_patches_and_generated_config(config_dir, platform, tools) -> None:
    name = f"ledger-{uuid.uuid4().hex[:6]}"
    write_service(config_dir, name, {"kustomize": str(DATA / "kustomize" / "overlays" / "staging")})
    rendered = subprocess.run([str(tools["kubectl"]), "kustomize", str(DATA / "kustomize" / "overlays" / "staging")],
                              capture_output=True, text=True, check=True).stdout
    generated = next(d["metadata"]["name"] for d in yaml.safe_load_all(rendered) if d["kind"] == "ConfigMap")
    deploys_then_changes_nothing(config_dir, platform, name, [("Deployment", "ledger"), ("Service", "ledger"),
                                                              ("ConfigMap", generated)])
    rollout_status(platform, tools["kubectl"], "ledger")
    for cluster in CLUSTERS:
        deployment = live(platform, cluster, "Deployment", "ledger")
        assert deployment["spec"]["replicas"] == 2  # the overlay's patch
        assert deployment["metadata"]["labels"]["environment"] == "staging"
        assert live(platform, cluster, "ConfigMap", generated)["data"] == {"LOG_LEVEL": "debug"}


def test_a_helm_chart_deploys_maps_its_hooks_and_a_changed_value_rolls_only_what_uses_it(
        config_dir, platform, tools) -> None:
    name = f"shop-{uuid.uuid4().hex[:6]}"
    chart = DATA / "helm" / "shop"
    # The chart's pre-install/pre-upgrade hook (its migration Job) runs as a pre-deploy phase Job,
    # under the chart's default deployer role (which grants Jobs).
    source = {"helm": {"chart": str(chart), "values": [str(chart / "values-staging.yaml")],
                       "set": {"config.greeting": "hello"}}}
    write_service(config_dir, name, source)
    objects = [("Deployment", name), ("Service", name), ("ConfigMap", f"{name}-config")]
    commit = deploys_then_changes_nothing(config_dir, platform, name, objects)
    rollout_status(platform, tools["kubectl"], name)
    migrations = {cluster: jobs_of(platform, cluster, name) for cluster in CLUSTERS}
    for cluster, [job] in migrations.items():
        assert job["metadata"]["name"].startswith(f"{name}-migrate-"), job["metadata"]["name"]  # named by content
        assert job["metadata"]["annotations"]["deployer.io/phase"] == "pre-deploy"
        assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])
        # It completed before the workloads were written: its completion precedes the Deployment's creation.
        created = live(platform, cluster, "Deployment", name)["metadata"]["creationTimestamp"]
        assert job["status"]["completionTime"] <= created, (job["status"], created)
    before = {(c, kind): live(platform, c, kind, n) for c in CLUSTERS for kind, n in objects}
    for cluster in CLUSTERS:
        deployment = before[(cluster, "Deployment")]
        assert deployment["spec"]["replicas"] == 2  # values-staging.yaml
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].split("@")[1].startswith("sha256:")
        assert live(platform, cluster, "ConfigMap", f"{name}-config")["data"]["GREETING"] == "hello"

    write_service(config_dir, name, {"helm": {**source["helm"], "set": {"config.greeting": "bonjour"}}})
    changed = deploy(config_dir, name, commit)
    assert changed.exit_code == 0, changed.stdout + changed.stderr
    assert any("Helm test hook" in note for note in changed.json()["notes"])
    for report in changed.json()["clusters"]:
        steps = [s["name"] for s in report["steps"]]
        assert steps.index("deploy:pre-deploy:wait") < steps.index("deploy:apply"), steps
    for cluster in CLUSTERS:  # the migration did not change, so the same Job (completed) is not run again
        [job] = jobs_of(platform, cluster, name)
        assert job["metadata"]["uid"] == migrations[cluster][0]["metadata"]["uid"]
    rollout_status(platform, tools["kubectl"], name)
    for cluster in CLUSTERS:
        after = {kind: live(platform, cluster, kind, n) for kind, n in objects}
        assert after["ConfigMap"]["data"]["GREETING"] == "bonjour"
        old_template = before[(cluster, "Deployment")]["spec"]["template"]
        new_template = after["Deployment"]["spec"]["template"]
        assert (new_template["metadata"]["annotations"]["checksum/config"]
                != old_template["metadata"]["annotations"]["checksum/config"])  # the pods roll
        assert new_template["spec"] == old_template["spec"]
        assert after["Deployment"]["metadata"]["generation"] == before[(cluster, "Deployment")]["metadata"][
            "generation"] + 1
        assert after["Service"]["spec"] == before[(cluster, "Service")]["spec"]


def test_helm_hooks_from_the_real_chart(platform, tools, monkeypatch, tmp_path) -> None:
    """`helm template` of the fixture chart: the pre-install/pre-upgrade Job comes out as a
    pre-deploy Job, the test hook is left out with a note naming its file, and a post-install hook
    is refused naming its file and hook."""
    from deployer.config.models import Cluster, Service
    from deployer.errors import ConfigError
    from deployer.sources import render

    monkeypatch.setenv("DEPLOYER_HELM", str(tools["helm"]))
    cluster = Cluster.model_validate(yaml.safe_load(platform.cluster("local-onprem").cluster_file.read_text()))

    def service(chart: Path) -> Service:
        return Service.model_validate({"name": "shop", "namespace": "apps", "image": {"name": "shop"},
                                       "source": {"helm": {"chart": str(chart)}},
                                       "environments": {"staging": {"clusters": ["local-onprem"]}}})

    image = "reg/shop@sha256:" + "0" * 64
    rendered = render(service(DATA / "helm" / "shop"), "staging", cluster, image, tmp_path)
    job = next(o for o in rendered.objects if o["kind"] == "Job")
    assert job["metadata"]["annotations"] == {"deployer.io/phase": "pre-deploy"}
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == image
    assert not any(o["kind"] == "Pod" for o in rendered.objects)
    [note] = rendered.notes
    assert "shop/templates/tests/test-connection.yaml" in note and "Helm test hook" in note

    chart = tmp_path / "shop"
    shutil.copytree(DATA / "helm" / "shop", chart)
    job_file = chart / "templates" / "migrate-job.yaml"
    job_file.write_text(job_file.read_text().replace("pre-install,pre-upgrade", "post-install"))
    with pytest.raises(ConfigError) as refused:
        render(service(chart), "staging", cluster, image, tmp_path)
    [problem] = refused.value.problems
    assert problem.file.endswith("shop/templates/migrate-job.yaml")
    assert "helm.sh/hook: post-install" in problem.message


def _registry_tags(registry: str, repository: str) -> list[str]:
    """The registry's own answer (the /v2 API), independent of deployer's code."""
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/{repository}/tags/list", timeout=10) as response:
            return list(json.load(response).get("tags") or [])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # NAME_UNKNOWN: the repository was never pushed to
            return []
        raise


@pytest.mark.parametrize("broken", ["jinja", "helm", "kustomize", "yaml"])
def test_a_broken_source_stops_the_deploy_before_anything_is_built_or_pushed(
        config_dir, platform, tmp_path, broken) -> None:
    name, image = f"broken-{uuid.uuid4().hex[:6]}", f"never-{uuid.uuid4().hex[:6]}"
    if broken == "jinja":
        templates = tmp_path / "templates"
        templates.mkdir()
        (templates / "config.yaml.j2").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n"
                                                  "data:\n  greeting: {{ values.greting }}\n")
        source, where = {"jinja": str(templates)}, "templates/config.yaml.j2:6"
    elif broken == "helm":
        chart = tmp_path / "shop"
        shutil.copytree(DATA / "helm" / "shop", chart)
        template = chart / "templates" / "configmap.yaml"
        lines = template.read_text().splitlines()
        lines[8] = "  GREETING: {{ .Values.config.greeting.missing.field | quote }}"
        template.write_text("\n".join(lines) + "\n")
        source, where = {"helm": {"chart": str(chart)}}, "shop/templates/configmap.yaml:9: helm template"
    elif broken == "kustomize":
        overlay = tmp_path / "overlay"
        overlay.mkdir()
        (overlay / "kustomization.yaml").write_text("resources:\n  - ../nowhere\n")
        source, where = {"kustomize": str(overlay)}, "overlay/kustomization.yaml"
    else:
        plain = tmp_path / "plain"
        shutil.copytree(DATA / "plain" / "release", plain)
        (plain / "install.yaml").write_text((plain / "install.yaml").read_text().replace(
            "  name: board-worker\n", "  name: board-worker\n  namespace: kube-system\n"))
        source, where = {"yaml": str(plain)}, "plain/install.yaml:52"
    write_service(config_dir, name, source, image=image)
    result = run_cli("--config-dir", str(config_dir), "deploy", name, "--env", "staging",
                     "--commit", f"c-{uuid.uuid4().hex[:8]}")
    assert result.exit_code == ExitCode.CONFIG, result.stdout + result.stderr
    assert where in result.stdout + result.stderr
    assert "nothing was built or pushed" in result.stdout + result.stderr
    assert _registry_tags(platform.registry, image) == []
    for cluster in CLUSTERS:  # each cluster's repository path under the registry
        prefix = platform.cluster(cluster).registry.partition("/")[2]
        assert _registry_tags(platform.registry, "/".join(filter(None, [prefix, image]))) == []


WIDGET_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.sources.deployer.test
spec:
  group: sources.deployer.test
  scope: Cluster
  names: {{plural: {plural}, singular: {singular}, kind: {kind}}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


def test_a_custom_kind_the_cluster_serves_cluster_scoped_is_refused_at_preflight(
        config_dir, platform, tools, tmp_path) -> None:
    """The render cannot know a custom kind's scope (it treats it as namespaced); each cluster's
    discovery can: a kind it serves cluster-wide is refused at preflight, naming the kind and
    allowClusterScoped, with nothing written."""
    suffix = uuid.uuid4().hex[:6]
    kind, singular = f"Gauge{suffix}", f"gauge{suffix}"
    crd = tmp_path / "crd.yaml"
    crd.write_text(WIDGET_CRD.format(plural=f"{singular}s", singular=singular, kind=kind))
    for cluster in CLUSTERS:
        kubeconfig = str(platform.cluster(cluster).admin_kubeconfig)
        subprocess.run([str(tools["kubectl"]), "--kubeconfig", kubeconfig, "apply", "-f", str(crd)],
                       check=True, capture_output=True, timeout=60)
        subprocess.run([str(tools["kubectl"]), "--kubeconfig", kubeconfig, "wait", "--for=condition=Established",
                        f"crd/{singular}s.sources.deployer.test", "--timeout=60s"],
                       check=True, capture_output=True, timeout=90)
    try:
        plain = tmp_path / "plain"
        plain.mkdir()
        (plain / "gauge.yaml").write_text(f"apiVersion: sources.deployer.test/v1\nkind: {kind}\n"
                                          "metadata: {name: main}\nspec: {size: 3}\n")
        name = f"gauge-{suffix}"
        write_service(config_dir, name, {"yaml": str(plain)})
        result = run_cli("--config-dir", str(config_dir), "deploy", name, "--env", "staging",
                         "--commit", f"c-{suffix}")
        assert result.exit_code == ExitCode.CONFIG, result.stdout + result.stderr
        out = result.stdout + result.stderr
        for cluster in CLUSTERS:
            assert f"cluster {cluster} serves {kind} as a cluster-scoped kind" in out
        assert "allowClusterScoped" in out and "stopped before writing to any cluster" in out
    finally:
        for cluster in CLUSTERS:
            subprocess.run([str(tools["kubectl"]), "--kubeconfig", str(platform.cluster(cluster).admin_kubeconfig),
                            "delete", "-f", str(crd), "--wait=false"], check=True, capture_output=True, timeout=60)


def test_an_allowed_other_namespace_and_an_allowed_cluster_scoped_kind_are_owned_and_pruned(
        config_dir, platform, tmp_path) -> None:
    from kubernetes import client

    suffix = uuid.uuid4().hex[:6]
    name, shared = f"multi-{suffix}", f"shared-{suffix}"
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "here.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: here-{suffix}}}\n"
                                     "data: {a: '1'}\n")
    (plain / "there.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {shared}, "
                                      "namespace: apps-production}\ndata: {b: '2'}\n")
    write_service(config_dir, name, {"yaml": str(plain)}, allowNamespaces=["apps-production"])
    first = deploy(config_dir, name, f"c-{suffix}")
    assert first.exit_code == 0, first.stdout + first.stderr

    def read_shared(cluster: str) -> dict | None:
        from tests.integration.kit import or_none

        with admin_api(platform.cluster(cluster)) as api:
            found = or_none(lambda: client.CoreV1Api(api).read_namespaced_config_map(shared, "apps-production"))
            return api.sanitize_for_serialization(found) if found is not None else None

    for cluster in CLUSTERS:
        there = read_shared(cluster)
        assert there is not None and there["metadata"]["labels"]["deployer.io/service"] == name

    (plain / "there.yaml").unlink()
    second = deploy(config_dir, name, f"c-{suffix}")
    assert second.exit_code == 0, second.stdout + second.stderr
    for cluster in CLUSTERS:  # the release dropped it: pruned from the other namespace too
        assert read_shared(cluster) is None or read_shared(cluster)["metadata"].get("deletionTimestamp")

    (plain / "role.yaml").write_text(f"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
                                     f"metadata: {{name: reader-{suffix}}}\nrules: []\n")
    write_service(config_dir, name, {"yaml": str(plain)}, allowClusterScoped=["ClusterRole"])

    def read_role(cluster: str) -> dict | None:
        from tests.integration.kit import or_none

        with admin_api(platform.cluster(cluster)) as api:
            found = or_none(lambda: client.RbacAuthorizationV1Api(api).read_cluster_role(f"reader-{suffix}"))
            return api.sanitize_for_serialization(found) if found is not None else None

    # The deployer role never writes cluster-wide: the allowed ClusterRole goes through the admin credential.
    third = deploy(config_dir, name, f"c-{suffix}")
    assert third.exit_code == 0, third.stdout + third.stderr
    for cluster in CLUSTERS:
        role = read_role(cluster)
        assert role is not None and role["metadata"]["labels"]["deployer.io/service"] == name

    (plain / "role.yaml").unlink()
    fourth = deploy(config_dir, name, f"c-{suffix}")
    assert fourth.exit_code == 0, fourth.stdout + fourth.stderr
    for cluster in CLUSTERS:  # dropped: pruned like the rest (only a CRD is never pruned)
        role = read_role(cluster)
        assert role is None or role["metadata"].get("deletionTimestamp"), role
