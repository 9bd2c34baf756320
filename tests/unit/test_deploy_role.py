"""The chart's deployer role: a declared default set of kinds, never delete, Secrets and RBAC only by
opt-in, more kinds through a cluster file's values; and the value a preflight refusal names."""

from __future__ import annotations

import pytest

from deployer.config.models import Cluster
from deployer.errors import ConfigError
from deployer.plan.access import Atom, covered
from deployer.plan.deploy_role import deployer_role_rules, kinds_outside_role
from deployer.render import load_chart, render_chart
from tests.conftest import REPO
from tests.unit.test_render import ONPREM

WRITES = ("get", "list", "watch", "create", "update", "patch")
DEFAULT_KINDS = {("apps", "deployments"), ("apps", "statefulsets"), ("apps", "daemonsets"), ("", "services"),
                 ("", "configmaps"), ("", "serviceaccounts"), ("", "persistentvolumeclaims"), ("batch", "jobs"),
                 ("batch", "cronjobs"), ("autoscaling", "horizontalpodautoscalers"),
                 ("policy", "poddisruptionbudgets"), ("networking.k8s.io", "ingresses"),
                 ("networking.k8s.io", "networkpolicies"), ("coordination.k8s.io", "leases")}


def role_of(values: dict | None = None):
    cluster = Cluster.model_validate({**ONPREM, "values": values or {}})
    return deployer_role_rules(render_chart(cluster, load_chart(REPO / "charts" / "cluster-base")))


def writable(rules) -> set[tuple[str, str]]:
    return {(g, r) for rule in rules if set(WRITES) <= set(rule.verbs) for g in rule.api_groups
            for r in rule.resources}


def test_the_default_role_writes_the_common_kinds_and_never_deletes_secrets_or_rbac():
    rules = role_of()
    assert writable(rules) == DEFAULT_KINDS
    assert {v for rule in rules for v in rule.verbs} == set(WRITES)
    for atom in (Atom("", "secrets", "get"), Atom("rbac.authorization.k8s.io", "roles", "create"),
                 Atom("apps", "deployments", "delete"), Atom("", "pods", "create")):
        assert not covered(atom, rules), atom


def test_a_cluster_file_opts_in_secrets_rbac_and_extra_kinds_with_the_same_verbs():
    rules = role_of({"deployerRole": {"secrets": True, "rbac": True,
                                      "extraRules": [{"apiGroups": ["example.com"], "resources": ["widgets"]}]}})
    assert writable(rules) - DEFAULT_KINDS == {("", "secrets"), ("rbac.authorization.k8s.io", "roles"),
                                               ("rbac.authorization.k8s.io", "rolebindings"),
                                               ("example.com", "widgets")}
    assert not any(covered(Atom(g, r, "delete"), rules) for g, r in writable(rules))


def test_extra_rules_cannot_name_verbs():
    with pytest.raises(ConfigError) as caught:
        role_of({"deployerRole": {"extraRules": [{"apiGroups": ["x"], "resources": ["y"], "verbs": ["delete"]}]}})
    assert "names kinds only" in caught.value.problems[0].message


@pytest.mark.parametrize(("kind", "group", "plural", "value"), [
    ("Secret", "", "secrets", "values.deployerRole.secrets: true"),
    ("Role", "rbac.authorization.k8s.io", "roles", "values.deployerRole.rbac: true"),
    ("RoleBinding", "rbac.authorization.k8s.io", "rolebindings", "values.deployerRole.rbac: true"),
    ("ResourceQuota", "", "resourcequotas",
     'values.deployerRole.extraRules: [{apiGroups: [""], resources: [resourcequotas]}]'),
    ("Widget", "example.com", "widgets",
     "values.deployerRole.extraRules: [{apiGroups: [\"example.com\"], resources: [widgets]}]"),
])
def test_a_kind_outside_the_role_names_the_value_that_adds_it(kind, group, plural, value):
    kinds = [("StatefulSet", "apps", "statefulsets"), (kind, group, plural)]
    (outside,) = kinds_outside_role(kinds, role_of())
    assert (outside.kind, outside.value) == (kind, value)
    assert kinds_outside_role(kinds, role_of({"deployerRole": {
        "secrets": True, "rbac": True, "extraRules": [{"apiGroups": [group], "resources": [plural]}]}})) == []
