"""Rendering templates: strict, injection-proof, checked objects, located errors."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from deployer.config.loader import load_config
from deployer.config.models import Cluster
from deployer.errors import ConfigError
from deployer.render import load_chart, render_chart, render_templates
from deployer.render.templates import composition_problems
from deployer.render.yamlvalue import yaml_value

REPO = Path(__file__).resolve().parents[2]

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ name }}
  namespace: {{ namespace }}
data:
  value: {{ value }}
"""


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def render_one(tmp_path: Path, template: str, **context) -> list[dict]:
    return render_templates(write(tmp_path, {"t.yaml.j2": template}), context)


@pytest.mark.parametrize("hostile", [
    "x\nkind: Secret",
    "---\napiVersion: v1\nkind: Secret",
    "a: b",
    "# comment",
    "'quoted' \"double\" \\ backslash",
    "{not: a mapping}",
    "[1, 2]",
    "line\u2028separator and next\u0085line, nul \x00 and bell \x07",
    "emoji \U0001F600 and bom \ufeff",
    "*alias &anchor !!python/object",
    "",
    "true",
    "007",
])
def test_a_value_stays_one_string_whatever_it_contains(tmp_path, hostile):
    objects = render_one(tmp_path, CONFIGMAP, name="cm", namespace="ns", value=hostile)
    assert len(objects) == 1
    assert objects[0]["data"] == {"value": hostile}
    assert objects[0]["kind"] == "ConfigMap"


def test_collections_are_emitted_as_one_flow_node(tmp_path):
    value = {"k": ["a", {"nested": "x\n---"}], "n": 3, "b": False, "none": None}
    objects = render_one(tmp_path, CONFIGMAP, name="cm", namespace="ns", value=value)
    assert objects[0]["data"]["value"] == value


def test_yaml_value_refuses_objects_and_nan():
    with pytest.raises(TypeError, match="cannot be emitted"):
        yaml_value(object())
    with pytest.raises(TypeError, match="nan"):
        yaml_value(float("nan"))


def test_undefined_value_names_template_and_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        render_one(tmp_path, CONFIGMAP, name="cm", namespace="ns")
    (problem,) = caught.value.problems
    assert problem.file.endswith("t.yaml.j2")
    assert problem.line == 7
    assert "'value' is undefined" in problem.message


def test_undefined_attribute_is_an_error_not_an_empty_string(tmp_path):
    template = CONFIGMAP.replace("{{ value }}", "{{ values.missing }}")
    with pytest.raises(ConfigError, match="undefined"):
        render_one(tmp_path, template, name="cm", namespace="ns", values={})


def test_default_filter_still_works_under_strict_undefined(tmp_path):
    template = CONFIGMAP.replace("{{ value }}", "{{ values.missing | default('fallback') }}")
    objects = render_one(tmp_path, template, name="cm", namespace="ns", values={})
    assert objects[0]["data"]["value"] == "fallback"


@pytest.mark.parametrize("line", [
    "name: app-{{ name }}",
    "name: {{ name }}-suffix",
    "name: {{ a }}{{ b }}",
    "url: http:{{ host }}",
])
def test_an_expression_glued_to_text_is_refused(line):
    problems = composition_problems(f"metadata:\n  {line}\n", "t.yaml.j2")
    assert len(problems) == 1
    assert problems[0].line == 2
    assert "whole YAML value" in problems[0].message


@pytest.mark.parametrize("line", [
    "name: {{ name }}",
    "name: {{ 'app-' ~ name }}   # composed inside",
    "- {{ item }}",
    "- - {{ item }}",
    "{{ key }}: {{ value }}",
    "list: [{{ a }}, {{ b }}]",
    "map: {a: {{ a }}}",
    "{% if x %}name: {{ name }}{% endif %}",
    "{{ whole_document_value }}",
])
def test_whole_value_expressions_are_accepted(line):
    assert composition_problems(f"{line}\n", "t.yaml.j2") == []


def test_glued_template_is_reported_before_rendering(tmp_path):
    with pytest.raises(ConfigError) as caught:
        render_one(tmp_path, CONFIGMAP.replace("name: {{ name }}", "name: cm-{{ name }}"), name="x",
                   namespace="ns", value="v")
    assert caught.value.problems[0].line == 4


@pytest.mark.parametrize(("template", "field", "message"), [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n", "metadata.namespace", "lives in a namespace"),
    ("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: r\n  namespace: ns\n",
     "metadata.namespace", "cluster-wide"),
    ("apiVersion: v1\nkind: Namespace\nmetadata: {}\n", "metadata.name", "missing"),
    ("kind: Namespace\nmetadata:\n  name: ns\n", "apiVersion", "missing"),
    ("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: Not_Valid\n", "metadata.name", "not a valid"),
    ("- a list\n", "", "not a Kubernetes object"),
])
def test_each_object_is_checked(tmp_path, template, field, message):
    with pytest.raises(ConfigError) as caught:
        render_one(tmp_path, template)
    (problem,) = caught.value.problems
    assert problem.field == field
    assert message in problem.message
    assert "t.yaml.j2 (document 1" in problem.file


def test_rbac_names_may_hold_colons(tmp_path):
    objects = render_one(tmp_path, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
                                   "metadata:\n  name: deployer:viewer\n")
    assert objects[0]["metadata"]["name"] == "deployer:viewer"


def test_empty_documents_are_skipped_and_order_is_kept(tmp_path):
    write(tmp_path, {
        "a.yaml.j2": "{% for n in names %}\n---\n" + CONFIGMAP.replace("{{ value }}", "{{ n }}")
                     .replace("{{ name }}", "{{ n }}") + "{% endfor %}\n---\n",
        "_helpers.yaml.j2": "not: rendered on its own\n",
    })
    objects = render_templates(tmp_path, {"names": ["b", "a", "c"], "namespace": "ns"})
    assert [o["metadata"]["name"] for o in objects] == ["b", "a", "c"]


def test_the_same_object_from_two_templates_is_refused(tmp_path):
    write(tmp_path, {"a.yaml.j2": CONFIGMAP, "b.yaml.j2": CONFIGMAP})
    with pytest.raises(ConfigError, match="again"):
        render_templates(tmp_path, {"name": "cm", "namespace": "ns", "value": 1})


def test_a_duplicate_key_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="duplicate key 'name'"):
        render_one(tmp_path, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  name: b\n")


def test_template_syntax_error_is_located(tmp_path):
    with pytest.raises(ConfigError) as caught:
        render_one(tmp_path, "apiVersion: v1\n{% if %}\n")
    assert caught.value.problems[0].line == 2
    assert "template syntax" in caught.value.problems[0].message


def test_invalid_yaml_output_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="invalid YAML"):
        render_one(tmp_path, "apiVersion: v1\nkind: [\n")


def test_fail_stops_rendering_at_its_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        render_one(tmp_path, "apiVersion: v1\n{{ fail('not allowed here') }}\n")
    (problem,) = caught.value.problems
    assert problem.line == 2
    assert "refused: not allowed here" in problem.message


# Each expression is refused by jinja2's sandbox itself (its SecurityError, or its range limit),
# before any value reaches ``yaml_value``. Under a plain ``jinja2.Environment`` the first two would
# end in yaml_value's "cannot be emitted" and the others would render: the message is what tells
# the sandbox's refusal from any other error.
@pytest.mark.parametrize(("expression", "refusal"), [
    ("name.__class__.__mro__[1].__subclasses__()", "access to attribute '__class__' of 'str' object is unsafe"),
    ("fail.__globals__", "access to attribute '__globals__' of 'function' object is unsafe"),
    # The immutable sandbox: a template cannot change the data it is given.
    ("items.append('x')", "access to attribute 'append' of 'list' object is unsafe"),
    ("values.update(a=1)", "access to attribute 'update' of 'dict' object is unsafe"),
    ("range(1000000) | length", "Range too big"),
])
def test_the_sandbox_refuses_internals_mutation_and_huge_ranges(tmp_path, expression, refusal):
    template = CONFIGMAP.replace("{{ value }}", "{{ " + expression + " }}")
    items, values = ["a"], {"k": "v"}
    with pytest.raises(ConfigError) as caught:
        render_one(tmp_path, template, name="cm", namespace="ns", items=items, values=values)
    (problem,) = caught.value.problems
    assert problem.file.endswith("t.yaml.j2")
    assert problem.line == 7
    assert problem.message.startswith("error: ")
    assert refusal in problem.message
    assert (items, values) == (["a"], {"k": "v"})


def test_missing_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        render_templates(tmp_path / "nope", {})


# --- the chart -----------------------------------------------------------------------------------

ONPREM = {
    "name": "dc9", "provider": "onprem", "environment": "test", "server": "https://127.0.0.1:6443",
    "ca": {"inline": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"},
    "credential": {"type": "token", "env": "T"}, "registry": "registry.local",
    "namespaces": [{"name": "payments", "labels": {"team": "payments"}}, {"name": "jenkins"}],
    "robotAccounts": [{"name": "jenkins-deployer", "namespace": "jenkins"}],
    "access": [
        {"role": "deployer", "namespaces": ["payments"],
         "subjects": [{"kind": "ServiceAccount", "name": "jenkins-deployer", "namespace": "jenkins"}]},
        {"role": "viewer", "namespaces": ["payments", "jenkins"], "subjects": [{"kind": "Group", "name": "devs"}]},
        {"role": "viewer", "namespaces": ["payments"], "subjects": [{"kind": "User", "name": "ann"}]},
        {"role": "viewer", "subjects": [{"kind": "Group", "name": "auditors"}]},
    ],
}


@pytest.fixture
def chart():
    return load_chart(REPO / "charts" / "cluster-base")


def keys(objects):
    return [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]


def test_chart_renders_namespaces_roles_accounts_and_grouped_bindings(chart):
    objects = render_chart(Cluster.model_validate(ONPREM), chart)
    assert keys(objects) == [
        ("Namespace", None, "payments"), ("Namespace", None, "jenkins"),
        ("ClusterRole", None, "deployer:deployer"), ("ClusterRole", None, "deployer:viewer"),
        ("ClusterRole", None, "deployer:namespace-admin"),
        ("ServiceAccount", "jenkins", "jenkins-deployer"),
        ("RoleBinding", "payments", "deployer:deployer"),
        ("RoleBinding", "payments", "deployer:viewer"),
        ("RoleBinding", "jenkins", "deployer:viewer"),
        ("ClusterRoleBinding", None, "deployer:viewer"),
    ]
    by_key = {k: o for k, o in zip(keys(objects), objects, strict=True)}
    assert by_key[("Namespace", None, "payments")]["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "deployer", "team": "payments", "deployer.io/cluster": "dc9"}
    assert all(o["metadata"]["labels"]["deployer.io/cluster"] == "dc9" for o in objects)
    viewers = by_key[("RoleBinding", "payments", "deployer:viewer")]
    assert [s["name"] for s in viewers["subjects"]] == ["devs", "ann"]
    assert viewers["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "deployer:viewer"}


def test_deployer_role_never_deletes(chart):
    objects = render_chart(Cluster.model_validate(ONPREM), chart)
    (role,) = [o for o in objects if o["metadata"]["name"] == "deployer:deployer" and o["kind"] == "ClusterRole"]
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert "delete" not in verbs and "deletecollection" not in verbs and "*" not in verbs
    granted = {(g, r) for rule in role["rules"] if "patch" in rule["verbs"]
               for g in rule["apiGroups"] for r in rule["resources"]}
    assert {("apps", "deployments"), ("", "services"), ("", "configmaps"), ("", "serviceaccounts")} <= granted


def test_namespace_admin_cannot_be_granted_cluster_wide(chart):
    data = dict(ONPREM, access=[{"role": "namespace-admin", "subjects": [{"kind": "Group", "name": "x"}]}])
    with pytest.raises(ConfigError) as caught:
        render_chart(Cluster.model_validate(data), chart)
    (problem,) = caught.value.problems
    assert problem.file.endswith("40-bindings.yaml.j2")
    assert "namespace-admin can only be granted inside namespaces" in problem.message


def test_gke_deployer_account_is_bound_in_every_namespace(chart):
    data = {
        "name": "gke-x", "provider": "gke", "environment": "test", "registry": "registry.local",
        "gke": {"project": "acme-test", "location": "europe-west1", "cluster": "c1",
                "deployerAccount": {"accountId": "deployer", "role": "deployer"}},
        "credential": {"type": "applicationDefault"},
        "namespaces": [{"name": "a"}, {"name": "b"}],
    }
    objects = render_chart(Cluster.model_validate(data), chart)
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    assert [(b["metadata"]["namespace"], b["subjects"]) for b in bindings] == [
        (ns, [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io",
               "name": "deployer@acme-test.iam.gserviceaccount.com"}]) for ns in ("a", "b")]


def test_resource_quota_from_values(chart):
    data = dict(ONPREM, values={"resourceQuota": {"cpu": "4", "memory": "8Gi"}})
    objects = render_chart(Cluster.model_validate(data), chart)
    quotas = [o for o in objects if o["kind"] == "ResourceQuota"]
    assert [(q["metadata"]["namespace"], q["spec"]["hard"]) for q in quotas] == [
        ("payments", {"cpu": "4", "memory": "8Gi"}), ("jenkins", {"cpu": "4", "memory": "8Gi"})]


def test_every_example_cluster_renders(chart):
    config = load_config(REPO)
    for cluster in config.clusters.values():
        assert render_chart(cluster, chart)


def test_a_role_listed_in_chart_yaml_needs_its_cluster_role(tmp_path):
    shutil.copytree(REPO / "charts" / "cluster-base", tmp_path / "cluster-base")
    meta = tmp_path / "cluster-base" / "chart.yaml"
    meta.write_text(meta.read_text().replace("roles:\n", "roles:\n  - auditor\n"))
    with pytest.raises(ConfigError, match="'auditor' is listed but no template renders"):
        render_chart(Cluster.model_validate(ONPREM), load_chart(tmp_path / "cluster-base"))


@pytest.mark.parametrize(("literal", "says"), [
    ("2024-01-01", "'2024-01-01' reads as a date; quote it"),
    ("!!binary aGVsbG8=", "the YAML tag !!binary has no JSON form"),
    ("!!set {a, b}", "the YAML tag !!set has no JSON form"),
    ("9" * 5000, "a number of 5000 digits"),
])
def test_a_literal_with_no_json_form_is_refused_naming_line_and_field(tmp_path, literal, says):
    template = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: ns\n"
                f"data:\n  created: {literal}\n")
    with pytest.raises(ConfigError) as caught:
        render_one(tmp_path, template)
    (problem,) = caught.value.problems
    assert says in problem.message
    assert (problem.line, problem.field) == (7, "data.created")


def test_a_quoted_date_is_a_string(tmp_path):
    template = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: ns\n"
                "data:\n  created: \"2024-01-01\"\n")
    (obj,) = render_one(tmp_path, template)
    assert obj["data"]["created"] == "2024-01-01"


# --- edges found by the mutation check (docs/testing.md) ------------------------------------------

def test_block_statements_take_no_lines_of_their_own(tmp_path):
    # trim_blocks and lstrip_blocks: an indented {% for %} adds neither spaces nor blank lines.
    template = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: ns\ndata:\n  script: |\n"
                "    {% for n in names %}\n    {{ n }}\n    {% endfor %}\n")
    (cm,) = render_one(tmp_path, template, names=["a", "b"])
    assert cm["data"]["script"] == '"a"\n"b"\n'


@pytest.mark.parametrize(("source", "line", "column"), [
    ("{{ a }}x: 1\n", 1, 1),
    ("key: {{ a }} {{ b }}\n", 1, 6),
    ("{% if x\n   and y %}\nname: a-{{ x }}\n", 3, 9),
    ("list: [{{ a }}]\nname: {{ a }}-{{ b }}\n", 2, 7),
])
def test_glued_expressions_are_found_at_their_line_and_column(source, line, column):
    (problem,) = composition_problems(source, "t.yaml.j2")
    assert (problem.file, problem.line, problem.column, problem.field) == ("t.yaml.j2", line, column, "")


def test_invalid_yaml_output_names_the_output_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        render_one(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x\n")
    (problem,) = caught.value.problems
    assert problem.file.endswith("t.yaml.j2") and problem.field == ""
    assert "renders invalid YAML at output line 4" in problem.message
    assert problem.message.endswith("(output line: '')")


def test_every_bad_document_is_reported_and_empty_ones_do_not_stop_the_rest(tmp_path):
    good = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
    assert [o["metadata"]["name"] for o in render_one(tmp_path, "---\n---\n" + good.format(name="a"))] == ["a"]
    bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
    with pytest.raises(ConfigError) as caught:
        render_templates(write(tmp_path, {"t.yaml.j2": bad.format(name="x") + "---\n" + bad.format(name="y")}), {})
    assert [(p.file.rsplit("/", 1)[-1], p.field) for p in caught.value.problems] == [
        ("t.yaml.j2 (document 1: ConfigMap x)", "metadata.namespace"),
        ("t.yaml.j2 (document 2: ConfigMap y)", "metadata.namespace")]


def test_every_object_rendered_twice_is_reported_against_its_template(tmp_path):
    two = "".join(f"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {n}\n" for n in ("a", "b"))
    with pytest.raises(ConfigError) as caught:
        render_templates(write(tmp_path, {"a.yaml.j2": two, "b.yaml.j2": two}), {})
    assert [(p.file.rsplit("/", 1)[-1], p.field) for p in caught.value.problems] == [("b.yaml.j2", "")] * 2
    assert all("first rendered by" in p.message and "a.yaml.j2" in p.message for p in caught.value.problems)


def test_an_unreadable_template_is_named(tmp_path):
    (tmp_path / "t.yaml.j2").write_bytes(b"apiVersion: v1\nkind: \xff\n")
    with pytest.raises(ConfigError) as caught:
        render_templates(tmp_path, {})
    (problem,) = caught.value.problems
    assert problem.file.endswith("t.yaml.j2") and problem.field == ""
    assert problem.message.startswith("cannot read template: ")


def test_an_error_inside_a_helper_names_the_helper(tmp_path):
    write(tmp_path, {"_lib.yaml.j2": "{% macro label(x) %}\n{{ x.missing }}\n{% endmacro %}\n",
                     "t.yaml.j2": "{% import '_lib.yaml.j2' as lib %}\napiVersion: v1\nkind: {{ lib.label({}) }}\n"})
    with pytest.raises(ConfigError) as caught:
        render_templates(tmp_path, {})
    (problem,) = caught.value.problems
    assert (problem.file.rsplit("/", 1)[-1], problem.line, problem.field) == ("_lib.yaml.j2", 2, "")
    assert problem.message.startswith("undefined value: ")


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(ConfigError) as caught:
        render_templates(tmp_path / "nope", {})
    (problem,) = caught.value.problems
    assert (problem.file.rsplit("/", 1)[-1], problem.field) == ("nope", "")


@pytest.mark.parametrize("expression", ["'app-' ~ missing", "values.missing ~ ''", "missing | length"])
def test_an_undefined_value_inside_an_expression_is_an_error(tmp_path, expression):
    # StrictUndefined: not only an emitted undefined value, but one used to build another, fails.
    template = CONFIGMAP.replace("{{ value }}", "{{ " + expression + " }}")
    with pytest.raises(ConfigError) as caught:
        render_one(tmp_path, template, name="cm", namespace="ns", values={})
    (problem,) = caught.value.problems
    assert problem.line == 7
    assert problem.message.startswith("undefined value: ") and "missing" in problem.message
