"""Manifest sources, from inline data: namespace placement and refusals, Helm hook mapping, plain
YAML taken as it is, Helm values and errors. The sources' real renderers (kubectl kustomize, helm
template) run against the local platform in tests/integration/test_sources.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from deployer.config.models import Cluster, HelmSource, Service
from deployer.errors import ConfigError
from deployer.sources import Placement, render, scope_problems
from deployer.sources.context import SourceContext
from deployer.sources.helm import error_problem, values_document
from deployer.sources.hooks import PHASE, map_hook

PLACEMENT = Placement("apps", frozenset({"shared"}), frozenset({"CustomResourceDefinition", "Widget"}))


def obj(kind: str, name: str, namespace: str | None = None, api_version: str = "v1", **meta) -> dict:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {}), **meta}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def service(**extra) -> Service:
    return Service.model_validate({"name": "shop", "namespace": "apps", "image": {"name": "shop"},
                                   "environments": {"staging": {"clusters": ["c1"]}}, **extra})


CLUSTER = Cluster.model_validate({"name": "c1", "provider": "onprem", "environment": "staging",
                                  "server": "https://127.0.0.1:6443", "ca": {"inline": "-----BEGIN CERTIFICATE-----"},
                                  "credential": {"type": "token", "env": "T"}, "registry": "127.0.0.1:5000"})


# --- namespaces ---------------------------------------------------------------------------------

def test_a_namespaced_object_without_a_namespace_goes_to_the_environments() -> None:
    placed = PLACEMENT.place(obj("Deployment", "web", api_version="apps/v1"))
    assert placed["metadata"]["namespace"] == "apps"
    assert PLACEMENT.problems(placed, "f.yaml") == []
    # an unknown (custom) kind is namespaced unless the service file says otherwise
    assert PLACEMENT.place(obj("Gadget", "g", api_version="x.io/v1"))["metadata"]["namespace"] == "apps"
    # cluster-scoped kinds, built in or allowed, get none
    assert "namespace" not in PLACEMENT.place(obj("ClusterRole", "r"))["metadata"]
    assert "namespace" not in PLACEMENT.place(obj("Widget", "w", api_version="x.io/v1"))["metadata"]


def test_another_namespace_is_refused_unless_allowed_naming_file_object_and_what_to_set() -> None:
    assert PLACEMENT.problems(obj("ConfigMap", "c", "shared"), "f.yaml") == []
    [problem] = PLACEMENT.problems(obj("ConfigMap", "c", "kube-system"), "deploy/app.yaml", 7)
    assert (problem.file, problem.line, problem.field) == ("deploy/app.yaml", 7, "metadata.namespace")
    assert "ConfigMap c" in problem.message and "'kube-system'" in problem.message
    assert "allowNamespaces" in problem.message


def test_cluster_scoped_objects_are_refused_unless_their_kind_is_allowed() -> None:
    strict = Placement("apps")
    [problem] = strict.problems(obj("ClusterRole", "reader"), "f.yaml")
    assert problem.field == "kind" and "ClusterRole reader is cluster-scoped" in problem.message
    assert "allowClusterScoped" in problem.message and "[ClusterRole]" in problem.message
    assert PLACEMENT.problems(obj("CustomResourceDefinition", "widgets.x.io",
                                  api_version="apiextensions.k8s.io/v1"), "f.yaml") == []
    [named] = PLACEMENT.problems(obj("Widget", "w", "apps", api_version="x.io/v1"), "f.yaml")
    assert named.field == "metadata.namespace"


def test_the_service_file_allows_namespaces_and_kinds_per_service_and_environment() -> None:
    svc = service(allowNamespaces=["shared"], allowClusterScoped=["ClusterRole"],
                  environments={"staging": {"clusters": ["c1"], "allowNamespaces": ["extra"],
                                            "allowClusterScoped": ["Widget"]}})
    placement = Placement.of(svc, "staging")
    assert placement.allowed_namespaces == {"shared", "extra"}
    assert placement.allowed_cluster_scoped == {"ClusterRole", "Widget"}
    with pytest.raises(ValidationError, match="allowClusterScoped"):
        service(allowClusterScoped=["not a kind"])


def test_discovery_at_preflight_catches_a_custom_kind_scoped_otherwise() -> None:
    served = {"Gadget": False, "Widget": True, "ConfigMap": True}
    objs = [obj("Gadget", "g", "apps", api_version="x.io/v1"), obj("Widget", "w", api_version="x.io/v1"),
            obj("ConfigMap", "c", "apps"), obj("Unserved", "u", "apps", api_version="y.io/v1")]
    problems = scope_problems(objs, PLACEMENT, "local-gke", lambda _v, kind: served.get(kind))
    assert [(p.file, "add it to" in p.message) for p in problems] == [("Gadget g", True), ("Widget w", False)]
    assert all("cluster local-gke" in p.message for p in problems)


# --- helm hooks ---------------------------------------------------------------------------------

def hook(value: str, **more: str) -> dict:
    return obj("Job", "migrate", api_version="batch/v1", annotations={"helm.sh/hook": value, **more})


def test_pre_install_and_pre_upgrade_hooks_become_pre_deploy_jobs() -> None:
    mapped = map_hook(hook("pre-install,pre-upgrade", **{"helm.sh/hook-weight": "1", "team": "db"}), "t.yaml")
    assert mapped.obj is not None and not mapped.note and not mapped.refusal
    assert mapped.obj["metadata"]["annotations"] == {PHASE: "pre-deploy", "team": "db"}
    assert map_hook(hook("pre-upgrade"), "t.yaml").obj is not None


def test_test_hooks_are_dropped_with_a_note_naming_the_file() -> None:
    mapped = map_hook(hook("test"), "chart/templates/tests/conn.yaml")
    assert mapped.obj is None and not mapped.refusal
    assert "chart/templates/tests/conn.yaml" in mapped.note and "Job migrate" in mapped.note


@pytest.mark.parametrize("value", ["post-install", "pre-install,post-upgrade", "pre-delete", "pre-rollback",
                                   "crd-install", "test,post-install"])
def test_every_other_hook_is_refused_never_dropped(value: str) -> None:
    mapped = map_hook(hook(value), "t.yaml")
    assert mapped.obj is None and mapped.refusal and not mapped.note
    assert f"helm.sh/hook: {value}" in mapped.refusal


def test_an_object_without_a_hook_is_kept_as_it_is() -> None:
    plain = obj("ConfigMap", "c", annotations={"a": "b"})
    assert map_hook(plain, "t.yaml").obj is plain


# --- plain YAML ---------------------------------------------------------------------------------

def test_plain_yaml_is_not_templated_lists_are_flattened_and_namespaces_placed(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "a.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tpl}\ndata: {text: '{{ not.a.template }}'}\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n"
        "  - {apiVersion: v1, kind: ServiceAccount, metadata: {name: one}}\n"
        "  - {apiVersion: v1, kind: Service, metadata: {name: two, namespace: shared}, spec: {ports: [{port: 80}]}}\n")
    (tmp_path / "deploy" / "notes.txt").write_text("not a manifest")
    svc = service(source={"yaml": "deploy"}, allowNamespaces=["shared"])
    rendered = render(svc, "staging", CLUSTER, "img", tmp_path)
    assert [(o["kind"], o["metadata"]["namespace"]) for o in rendered.objects] == [
        ("ConfigMap", "apps"), ("ServiceAccount", "apps"), ("Service", "shared")]
    assert rendered.objects[0]["data"]["text"] == "{{ not.a.template }}"


def test_plain_yaml_problems_name_file_line_and_object(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "a.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: wide}\n")
    (tmp_path / "deploy" / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [bad\n")
    with pytest.raises(ConfigError) as caught:
        render(service(source={"yaml": "deploy"}), "staging", CLUSTER, "img", tmp_path)
    found = {(Path(p.file).name.split(" ")[0], p.line, p.field) for p in caught.value.problems}
    assert ("a.yaml", 5, "kind") in found
    assert any(name == "b.yaml" and line == 5 for name, line, _ in found)


# --- the service file ---------------------------------------------------------------------------

def test_manifests_stays_the_jinja_default_and_cannot_be_combined_with_source() -> None:
    assert service().source_of("staging").jinja == "manifests"
    assert service(manifests="tpl").source_of("staging").jinja == "tpl"
    overridden = service(source={"yaml": "plain"},
                         environments={"staging": {"clusters": ["c1"], "source": {"kustomize": "overlays/s"}}})
    assert overridden.source_of("staging").kind == "kustomize"
    with pytest.raises(ValidationError, match="source or manifests"):
        service(manifests="tpl", source={"yaml": "plain"})
    with pytest.raises(ValidationError, match="exactly one"):
        service(source={"yaml": "a", "kustomize": "b"})


# --- helm values and errors ---------------------------------------------------------------------

def test_helm_values_merge_service_environment_and_set_paths_then_deployers() -> None:
    svc = service(values={"image": {"pullPolicy": "IfNotPresent", "tag": "x"}, "replicas": 1},
                  environments={"staging": {"clusters": ["c1"], "values": {"replicas": 2}}})
    helm = HelmSource(chart="chart", set={"image.pullPolicy": "Always", "config.greeting": "hi"})
    values = values_document(SourceContext(svc, "staging", CLUSTER, "reg/shop@sha256:1", Path("."),
                                           {"cache": "reg/redis@sha256:2"}), helm)
    assert values == {"image": {"pullPolicy": "Always", "tag": "x"}, "replicas": 2, "config": {"greeting": "hi"},
                      "deployer": {"image": "reg/shop@sha256:1", "images": {"cache": "reg/redis@sha256:2"},
                                   "environment": "staging", "cluster": "c1"}}


@pytest.mark.parametrize(("stderr", "file", "line"), [
    ('Error: template: shop/templates/deployment.yaml:12:20: executing "shop/templates/deployment.yaml" at '
     "<.Values.x.y>: nil pointer evaluating interface {}.y", "charts/shop/templates/deployment.yaml", 12),
    ('Error: parse error at (shop/templates/_helpers.tpl:5): unexpected "}" in operand',
     "charts/shop/templates/_helpers.tpl", 5),
    ("Error: YAML parse error on shop/templates/cm.yaml: error converting YAML to JSON: yaml: line 4: did not "
     "find expected key", "charts/shop/templates/cm.yaml", 4),
    ("Error: Chart.yaml file is missing", "charts/shop", None),
    # Helm 4: an error inside an include names the including template first, the failing one last
    ("Error: shop/templates/deployment.yaml:16:28\n  executing \"shop/templates/deployment.yaml\" at <include "
     "(print $.Template.BasePath \"/configmap.yaml\") .>:\n    error calling include:\n"
     "shop/templates/configmap.yaml:8:22\n  executing \"shop/templates/configmap.yaml\" at "
     "<.Values.config.greeting.x.y>:\n    can't evaluate field x in type interface {}",
     "charts/shop/templates/configmap.yaml", 8),
])
def test_helm_errors_are_located_at_the_chart_file_and_line(stderr: str, file: str, line: int | None) -> None:
    problem = error_problem(stderr, Path("charts/shop"), "charts/shop")
    assert (problem.file, problem.line) == (file, line)
    assert stderr.splitlines()[0][:40] in problem.message


def test_the_schema_describes_every_source_and_the_allow_lists() -> None:
    from deployer.config.models import Service as Model

    schema = Model.model_json_schema(by_alias=True)
    assert {"source", "allowNamespaces", "allowClusterScoped"} <= set(schema["properties"])
    assert set(schema["$defs"]["Source"]["properties"]) == {"jinja", "yaml", "kustomize", "helm"}
    assert set(schema["$defs"]["HelmSource"]["properties"]) == {"chart", "values", "set"}
    assert {"source", "allowNamespaces", "allowClusterScoped"} <= set(schema["$defs"]["Environment"]["properties"])


@pytest.mark.parametrize("kind", ["yaml", "jinja"])
def test_an_allowed_custom_cluster_scoped_kind_renders_without_a_namespace(tmp_path: Path, kind: str) -> None:
    (tmp_path / "m").mkdir()
    widget = "apiVersion: x.io/v1\nkind: Widget\nmetadata: {name: w}\n"
    (tmp_path / "m" / ("w.yaml" if kind == "yaml" else "w.yaml.j2")).write_text(widget)
    rendered = render(service(source={kind: "m"}, allowClusterScoped=["Widget"]), "staging", CLUSTER, "img", tmp_path)
    assert rendered.objects[0]["metadata"] == {"name": "w"}
    # Not allowed, an unknown kind is taken as namespaced and placed; preflight's discovery has the last word.
    placed = render(service(source={kind: "m"}), "staging", CLUSTER, "img", tmp_path)
    assert placed.objects[0]["metadata"] == {"name": "w", "namespace": "apps"}


def test_a_release_prunes_in_allowed_namespaces_and_allowed_cluster_scoped_kinds_only() -> None:
    from deployer.plan.inventory import Inventory
    from deployer.plan.keys import ObjectKey
    from deployer.plan.ownership import Owner, removals

    owner = Owner("shop", "staging", "apps", frozenset({"shared"}),
                  frozenset({"ClusterRole", "CustomResourceDefinition"}))
    keys = {"there": ObjectKey("", "ConfigMap", "shared", "there"), "far": ObjectKey("", "ConfigMap", "other", "far"),
            "role": ObjectKey("rbac.authorization.k8s.io", "ClusterRole", "", "role"),
            "crd": ObjectKey("apiextensions.k8s.io", "CustomResourceDefinition", "", "crd"),
            "binding": ObjectKey("rbac.authorization.k8s.io", "ClusterRoleBinding", "", "binding")}

    def live(key: ObjectKey) -> dict:
        meta = {"name": key.name, "uid": f"u-{key.name}", "labels": owner.labels,
                **({"namespace": key.namespace} if key.namespace else {})}
        return {"apiVersion": "v1", "kind": key.kind, "metadata": meta}

    inventory = Inventory.of("shop.staging", [(k, "v1") for k in keys.values()],
                             {k: f"u-{k.name}" for k in keys.values()})
    decided = {r.key.name: r for r in removals(inventory, (), {k: live(k) for k in keys.values()}, owner)}
    assert sorted(name for name, r in decided.items() if r.delete) == ["role", "there"]
    assert "outside the release's namespace apps" in decided["far"].left
    assert "outside the release's namespace apps" in decided["binding"].left
    # Allowed, a CRD is still never pruned: deleting it deletes every custom object of its kind.
    assert decided["crd"].left == ("a CustomResourceDefinition is never deleted by a release "
                                   "(every object of its kind would go too)")


def test_the_early_render_has_a_placeholder_per_image_name_even_without_an_image_of_its_own(tmp_path: Path) -> None:
    from deployer.pipeline.deploy import placeholders

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "web.yaml.j2").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n"
        "      containers:\n        - name: worker\n          image: {{ images.worker }}\n"
        "        - name: cache\n          image: {{ images.cache }}\n")
    svc = Service.model_validate({"name": "shop", "namespace": "apps", "source": {"jinja": "m"},
                                  "images": {"worker": {"build": {"name": "shop-worker"}},
                                             "cache": {"prebuilt": "registry.example.com/team/redis:7.2"}},
                                  "environments": {"staging": {"clusters": ["c1"]}}})
    image, images = placeholders(svc, CLUSTER)
    assert image == "127.0.0.1:5000/shop-worker:deployer-render-check"  # the first built entry
    assert images == {"worker": "127.0.0.1:5000/shop-worker:deployer-render-check",
                      "cache": "registry.example.com/team/redis:7.2"}
    [deployment] = render(svc, "staging", CLUSTER, image, tmp_path, images).objects
    assert [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]] == [images["worker"],
                                                                                          images["cache"]]
    upstream = Service.model_validate({"name": "up", "namespace": "apps",
                                       "images": {"cache": {"prebuilt": "registry.example.com/team/redis:7.2"}},
                                       "environments": {"staging": {"clusters": ["c1"]}}})
    assert placeholders(upstream, CLUSTER) == ("", {"cache": "registry.example.com/team/redis:7.2"})
