"""Least-privilege decisions: expected grants from the chart vs rules the API server reports."""

from __future__ import annotations

from pathlib import Path

from deployer.config.models import Cluster
from deployer.plan.access import (
    Atom,
    Identity,
    Rule,
    atoms,
    baseline_identity,
    compare_rules,
    covers,
    declared_identities,
    expected_grants,
    outside_namespace,
    probe_findings,
    probes,
    subject_identity,
)
from deployer.render import load_chart, render_chart

REPO = Path(__file__).resolve().parents[2]

CLUSTER = {
    "name": "dc9", "provider": "onprem", "environment": "test", "server": "https://127.0.0.1:6443",
    "ca": {"inline": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"},
    "credential": {"type": "token", "env": "T"}, "registry": "registry.local",
    "namespaces": [{"name": "payments"}, {"name": "jenkins"}],
    "robotAccounts": [{"name": "jenkins-deployer", "namespace": "jenkins"}],
    "access": [
        {"role": "deployer", "namespaces": ["payments"],
         "subjects": [{"kind": "ServiceAccount", "name": "jenkins-deployer", "namespace": "jenkins"}]},
        {"role": "viewer", "namespaces": ["payments"], "subjects": [{"kind": "Group", "name": "devs"}]},
        {"role": "namespace-admin", "namespaces": ["payments"], "subjects": [{"kind": "User", "name": "ann"}]},
    ],
}
ROBOT = subject_identity({"kind": "ServiceAccount", "name": "jenkins-deployer", "namespace": "jenkins"})


def desired():
    return render_chart(Cluster.model_validate(CLUSTER), load_chart(REPO / "charts" / "cluster-base"))


def deployer_rules():
    (role,) = [o for o in desired() if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "deployer:deployer"]
    return [Rule.from_api(r) for r in role["rules"]]


BASELINE = [Rule(("create",), ("authorization.k8s.io",), ("selfsubjectaccessreviews", "selfsubjectrulesreviews")),
            Rule(("get",), non_resource_urls=("/api", "/api/*", "/version"))]


def test_wildcards_cover_only_what_they_name():
    everything = Rule(("*",), ("*",), ("*",))
    assert covers(everything, Atom("apps", "deployments", "delete"))
    assert covers(everything, Atom("*", "*", "*"))
    narrow = Rule(("get",), ("apps",), ("deployments",))
    assert not covers(narrow, Atom("apps", "deployments", "*"))
    assert not covers(narrow, Atom("apps", "deployments/scale", "get"))
    assert covers(Rule(("get",), ("apps",), ("deployments/*",)), Atom("apps", "deployments/scale", "get"))
    assert covers(Rule(("get",), ("",), ("*/scale",)), Atom("", "replicationcontrollers/scale", "get"))
    named = Rule(("get",), ("",), ("configmaps",), ("one",))
    assert covers(named, Atom("", "configmaps", "get", "one"))
    assert not covers(named, Atom("", "configmaps", "get"))
    assert covers(Rule(("get",), non_resource_urls=("/api/*",)), Atom(None, "/api/v1", "get"))
    assert not covers(Rule(("get",), ("*",), ("*",)), Atom(None, "/healthz", "get"))


def test_identities_are_every_bound_subject_once():
    labels = [i.label for i in declared_identities(desired())]
    assert labels == ["ServiceAccount jenkins/jenkins-deployer", "Group devs", "User ann"]
    group = subject_identity({"kind": "Group", "name": "devs"})
    assert group.matches({"kind": "Group", "name": "devs"}) and "devs" in group.groups
    assert ROBOT.user == "system:serviceaccount:jenkins:jenkins-deployer"
    assert baseline_identity(ROBOT).groups == ("system:serviceaccounts", "system:authenticated")
    assert baseline_identity(group).user == "deployer-verify:baseline"


def test_expected_grants_follow_bindings_per_namespace():
    objects = desired()
    grants = expected_grants(objects, ROBOT, "payments")
    assert {g.source for g in grants} == {"ClusterRole deployer:deployer via RoleBinding payments/deployer:deployer"}
    assert [g.rule for g in grants] == deployer_rules()
    assert expected_grants(objects, ROBOT, "jenkins") == []


def test_exactly_the_chart_and_the_baseline_is_clean():
    grants = expected_grants(desired(), ROBOT, "payments")
    assert compare_rules(ROBOT, "payments", grants, deployer_rules() + BASELINE, BASELINE) == []


def test_a_widened_role_is_an_excess_naming_the_rule():
    grants = expected_grants(desired(), ROBOT, "payments")
    live = deployer_rules()
    live[0] = Rule(live[0].verbs + ("delete",), live[0].api_groups, live[0].resources)
    findings = compare_rules(ROBOT, "payments", grants, live + BASELINE, BASELINE)
    assert [(f.problem, f.permission) for f in findings] == [("excess", "delete deployments.apps")]
    assert "verbs ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']" in findings[0].rule
    assert str(findings[0]).startswith("ServiceAccount jenkins/jenkins-deployer may delete deployments.apps "
                                       "in namespace payments")


def test_a_wildcard_grant_is_an_excess_unless_the_chart_grants_the_wildcard():
    grants = expected_grants(desired(), ROBOT, "payments")
    findings = compare_rules(ROBOT, "payments", grants, deployer_rules() + [Rule(("*",), ("apps",), ("*",))],
                             BASELINE)
    assert [f.permission for f in findings] == ["* *.apps"]


def test_a_narrowed_role_is_missing_naming_the_binding():
    grants = expected_grants(desired(), ROBOT, "payments")
    live = deployer_rules()[1:]
    findings = compare_rules(ROBOT, "payments", grants, live, BASELINE)
    assert {f.problem for f in findings} == {"missing"}
    assert "patch deployments.apps" in {f.permission for f in findings}
    assert findings[0].rule == "ClusterRole deployer:deployer via RoleBinding payments/deployer:deployer"


def test_access_outside_the_declared_namespaces_is_an_excess():
    grants = expected_grants(desired(), ROBOT, "default")
    findings = compare_rules(ROBOT, "default", grants, deployer_rules()[:1] + BASELINE, BASELINE)
    assert {f.permission for f in findings} == {f"{v} deployments.apps" for v in
                                                ("get", "list", "watch", "create", "update", "patch")}


def test_namespace_admin_wildcard_is_expected():
    ann = subject_identity({"kind": "User", "name": "ann"})
    grants = expected_grants(desired(), ann, "payments")
    assert compare_rules(ann, "payments", grants, [Rule(("*",), ("*",), ("*",))] + BASELINE, BASELINE) == []


def test_probes_check_the_issue_examples():
    objects = desired()
    namespaces = ["payments", "jenkins"]
    outside = outside_namespace(namespaces)
    expected = {ns: expected_grants(objects, ROBOT, ns) for ns in namespaces + [outside]}
    checks = {(p.namespace, str(p), p.allowed) for p in probes(expected, outside)}
    assert ("payments", "patch deployments.apps", True) in checks
    assert ("payments", "delete services", False) in checks
    assert ("payments", "create rolebindings.rbac.authorization.k8s.io", False) in checks
    assert ("default", "patch deployments.apps", False) in checks
    # Where the chart grants it nothing, it may do nothing.
    assert {allowed for ns, _, allowed in checks if ns == "jenkins"} == {False}


def test_probe_results_become_findings():
    objects = desired()
    expected = {"payments": expected_grants(objects, ROBOT, "payments"), "default": []}
    planned = probes(expected, "default")
    results = [(p, p.allowed if str(p) != "delete services" else True) for p in planned]
    results = [(p, False) if str(p) == "patch deployments.apps" and p.namespace == "payments" else (p, a)
               for p, a in results]
    findings = probe_findings(ROBOT, results)
    assert sorted((f.problem, f.permission) for f in findings) == [
        ("excess", "delete services"), ("missing", "patch deployments.apps")]


def test_outside_namespace_is_one_the_cluster_does_not_declare():
    assert outside_namespace(["payments"]) == "default"
    assert outside_namespace(["default", "kube-system"]) == "deployer-verify-outside"


def test_atoms_expand_rules():
    assert atoms(Rule(("get", "list"), ("",), ("pods",))) == {Atom("", "pods", "get"), Atom("", "pods", "list")}
    assert Identity("x", "x").groups == ("system:authenticated",)
