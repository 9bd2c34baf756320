"""The plan: desired vs live (+ inventory) -> ordered changes, from inline objects."""

from __future__ import annotations

import copy

import pytest

from deployer.plan import Action, Inventory, ObjectKey, PlanOptions, changes_to_apply, key_of, plan_changes
from deployer.plan.compare import MISSING, normalise, parse_quantity, value_changes

RBAC = "rbac.authorization.k8s.io/v1"
LABELS = {"app.kubernetes.io/managed-by": "deployer"}


def namespace(name, **labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {**LABELS, **labels}}}


def cluster_role(name, verbs=("get", "list")):
    return {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": name, "labels": dict(LABELS)},
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": list(verbs)}]}


def role_binding(ns, role, *subjects):
    return {"apiVersion": RBAC, "kind": "RoleBinding",
            "metadata": {"name": role, "namespace": ns, "labels": dict(LABELS)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": s} for s in subjects]}


def fields_of(value):
    """The fieldsV1 an apply of ``value`` records (lists atomic, as for RBAC objects)."""
    if isinstance(value, dict):
        return {f"f:{k}": fields_of(v) for k, v in value.items()}
    return {}


def applied(desired, manager="deployer", rv="100", operation="Apply"):
    """``desired`` as the API server returns it after ``manager`` applied it: server-set fields
    added, managedFields recording what it set."""
    live = copy.deepcopy(normalise(desired))
    owned = {k: v for k, v in live.items() if k not in ("apiVersion", "kind", "metadata")}
    meta = live["metadata"]
    owned_meta = {k: v for k, v in meta.items() if k not in ("name", "namespace")}
    fields = fields_of(owned)
    if owned_meta:
        fields["f:metadata"] = fields_of(owned_meta)
    meta.update(uid=f"uid-{meta['name']}", resourceVersion=rv, creationTimestamp="2026-01-01T00:00:00Z",
                managedFields=[{"manager": manager, "operation": operation, "apiVersion": live["apiVersion"],
                                "fieldsType": "FieldsV1", "fieldsV1": fields}])
    if live["kind"] == "Namespace":
        meta["labels"]["kubernetes.io/metadata.name"] = meta["name"]
        live["spec"] = {"finalizers": ["kubernetes"]}
        live["status"] = {"phase": "Active"}
    return live


def by_key(*objects):
    return {key_of(o): o for o in objects}


def actions(plan):
    return [(c.action.value, str(c.key)) for c in plan.changes]


# --- comparison ----------------------------------------------------------------------------------

def test_an_object_as_applied_needs_no_apply():
    for desired in (namespace("payments", team="payments"), cluster_role("r"), role_binding("ns", "r", "a", "b")):
        assert changes_to_apply(normalise(desired), applied(desired)) == []


def test_server_defaults_and_status_are_ignored():
    live = applied(namespace("payments"))
    live["metadata"]["annotations"] = {"something.io/added-by-a-controller": "x"}
    assert changes_to_apply(normalise(namespace("payments")), live) == []


def test_a_changed_rule_is_a_value_difference_naming_the_rule():
    live = applied(cluster_role("r", verbs=("get",)))
    changes = changes_to_apply(normalise(cluster_role("r", verbs=("get", "list"))), live)
    assert [(c.path, c.reason) for c in changes] == [(".rules[0].verbs", "value")]
    assert str(changes[0]) == '.rules[0].verbs: ["get"] -> ["get", "list"]'


def test_an_added_rule_replaces_the_list():
    live = applied(cluster_role("r"))
    desired = cluster_role("r")
    desired["rules"].append({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]})
    (change,) = changes_to_apply(normalise(desired), live)
    assert change.path == ".rules" and len(change.after) == 2


def test_an_extra_subject_live_is_a_difference():
    live = applied(role_binding("ns", "r", "a", "b"))
    changes = changes_to_apply(normalise(role_binding("ns", "r", "a")), live)
    assert [c.path for c in changes] == [".subjects"]


def test_a_label_deployer_no_longer_sets_is_removed_by_the_apply():
    live = applied(namespace("payments", team="payments"))
    changes = changes_to_apply(normalise(namespace("payments")), live)
    assert [(c.path, c.reason, c.before, c.after) for c in changes] == [
        (".metadata.labels.team", "remove", "payments", MISSING)]
    assert str(changes[0]) == '.metadata.labels.team: "payments" -> (removed)'


def test_a_field_taken_by_another_manager_is_a_difference_even_with_the_same_value():
    desired = cluster_role("r")
    live = applied(desired)
    del live["metadata"]["managedFields"][0]["fieldsV1"]["f:rules"]
    live["metadata"]["managedFields"].append({"manager": "kubectl-edit", "operation": "Update",
                                              "apiVersion": RBAC, "fieldsV1": {"f:rules": {}}})
    changes = changes_to_apply(normalise(desired), live)
    assert [(c.path, c.reason, c.before) for c in changes] == [(".rules", "ownership", "kubectl-edit")]


def test_an_object_deployer_never_applied_needs_an_apply():
    desired = cluster_role("r")
    live = applied(desired, manager="kubectl-create", operation="Update")
    changes = changes_to_apply(normalise(desired), live)
    assert [c.reason for c in changes] == ["not applied by deployer yet"]
    assert "kubectl-create" in str(changes[0])


def test_quantities_compare_by_value():
    assert value_changes({"spec": {"hard": {"cpu": "1000m", "memory": "1Gi"}}},
                         {"spec": {"hard": {"cpu": "1", "memory": "1073741824"}}}) == []
    assert value_changes({"spec": {"hard": {"cpu": 20}}}, {"spec": {"hard": {"cpu": "20"}}}) == []
    assert len(value_changes({"spec": {"hard": {"cpu": "2"}}}, {"spec": {"hard": {"cpu": "1"}}})) == 1
    # Outside quantity fields a string is not a number.
    assert len(value_changes({"data": {"replicas": "1"}}, {"data": {"replicas": 1}})) == 1


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("500m", 0.5), ("1Ki", 1024), ("1e3", 1000),
                                             ("1.5G", 1.5e9), ("bogus", None)])
def test_parse_quantity(text, value):
    parsed = parse_quantity(text)
    assert (parsed is None) if value is None else float(parsed) == value


def test_containers_are_matched_by_name_not_position():
    desired = {"spec": {"containers": [{"name": "app", "image": "x@sha256:1"}]}}
    live = {"spec": {"containers": [{"name": "sidecar", "image": "s"}, {"name": "app", "image": "x@sha256:1",
                                                                        "imagePullPolicy": "IfNotPresent"}]}}
    assert value_changes(desired, live) == []
    live["spec"]["containers"][1]["image"] = "x@sha256:2"
    (change,) = value_changes(desired, live)
    assert change.path == ".spec.containers[name=app].image"


def test_normalise_drops_nulls_and_empty_collections():
    assert normalise({"a": None, "b": {}, "c": [], "d": {"e": None}, "f": [{"g": None, "h": 1}], "i": 0}) == \
        {"f": [{"h": 1}], "i": 0}


def test_associative_list_items_in_owned_fields():
    desired = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"},
               "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "i"}]}}}}
    owned = {"f:spec": {"f:template": {"f:spec": {"f:containers": {
        'k:{"name":"app"}': {".": {}, "f:name": {}, "f:image": {}},
        'k:{"name":"old"}': {".": {}, "f:name": {}, "f:image": {}}}}}}}
    live = copy.deepcopy(desired)
    live["metadata"]["managedFields"] = [{"manager": "deployer", "operation": "Apply", "apiVersion": "apps/v1",
                                          "fieldsV1": owned}]
    live["spec"]["template"]["spec"]["containers"].append({"name": "old", "image": "o"})
    changes = changes_to_apply(desired, live)
    assert [(c.path, c.reason) for c in changes] == [('.spec.template.spec.containers[{"name":"old"}]', "remove")]


# --- the plan ------------------------------------------------------------------------------------

def test_first_sync_creates_everything_in_dependency_order():
    desired = [role_binding("payments", "viewer", "devs"), cluster_role("viewer"), namespace("payments"),
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot", "namespace": "payments"}},
               {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "payments"}},
               {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": "r", "namespace": "payments"}}]
    plan = plan_changes(desired, {}, None, inventory_name="cluster-base")
    assert actions(plan) == [("create", "Namespace payments"), ("create", "ClusterRole viewer"),
                             ("create", "Role payments/r"), ("create", "ServiceAccount payments/robot"),
                             ("create", "RoleBinding payments/viewer"), ("create", "ConfigMap payments/c")]
    assert [[c.key.kind for c in tier] for tier in plan.tiers()] == [
        ["Namespace"], ["ClusterRole"], ["Role"], ["ServiceAccount"], ["RoleBinding"], ["ConfigMap"]]
    assert plan.changed and plan.inventory_changed
    assert plan.inventory_after.name == "cluster-base"
    assert plan.inventory_after.keys() == {key_of(o) for o in desired}


def test_second_sync_has_nothing_to_do():
    desired = [namespace("payments"), cluster_role("viewer"), role_binding("payments", "viewer", "devs")]
    inventory = Inventory.of("cluster-base", [(key_of(o), o["apiVersion"]) for o in desired])
    plan = plan_changes(desired, by_key(*[applied(o) for o in desired]), inventory)
    assert [a for a, _ in actions(plan)] == ["unchanged"] * 3
    assert not plan.changed and plan.writes == [] and plan.tiers() == []
    assert plan.counts["unchanged"] == 3


def test_one_edited_rule_updates_only_that_role():
    old = [namespace("payments"), cluster_role("viewer"), cluster_role("deployer")]
    inventory = Inventory.of("cluster-base", [(key_of(o), o["apiVersion"]) for o in old])
    new = [namespace("payments"), cluster_role("viewer", verbs=("get", "list", "watch")), cluster_role("deployer")]
    plan = plan_changes(new, by_key(*[applied(o) for o in old]), inventory)
    assert [(c.action.value, str(c.key)) for c in plan.writes] == [("update", "ClusterRole viewer")]
    assert [f.path for f in plan.writes[0].fields] == [".rules[0].verbs"]
    assert not plan.inventory_changed


def test_a_removed_binding_is_pruned_and_the_inventory_shrinks():
    old = [namespace("payments"), cluster_role("viewer"), role_binding("payments", "viewer", "devs")]
    inventory = Inventory.of("cluster-base", [(key_of(o), o["apiVersion"]) for o in old])
    plan = plan_changes(old[:2], by_key(*[applied(o) for o in old]), inventory)
    (prune,) = plan.writes
    assert (prune.action, str(prune.key), prune.live_uid) == (Action.PRUNE, "RoleBinding payments/viewer",
                                                               "uid-viewer")
    assert plan.inventory_after.keys() == {key_of(o) for o in old[:2]}


def test_prunes_run_in_reverse_dependency_order_after_applies():
    old = [namespace("a"), cluster_role("r"), role_binding("a", "r", "x"), namespace("b")]
    inventory = Inventory.of("set", [(key_of(o), o["apiVersion"]) for o in old])
    plan = plan_changes([namespace("b"), cluster_role("r2")], by_key(*[applied(o) for o in old]), inventory,
                        PlanOptions(prune_namespaces=True))
    assert [(c.action.value, str(c.key)) for c in plan.writes] == [
        ("create", "ClusterRole r2"), ("prune", "RoleBinding a/r"), ("prune", "ClusterRole r"),
        ("prune", "Namespace a")]


def test_a_namespace_is_kept_without_the_flag_and_stays_in_the_inventory():
    old = [namespace("a"), namespace("b")]
    inventory = Inventory.of("set", [(key_of(o), o["apiVersion"]) for o in old])
    plan = plan_changes([namespace("b")], by_key(*[applied(o) for o in old]), inventory)
    assert actions(plan) == [("unchanged", "Namespace b"), ("keep", "Namespace a")]
    assert "--prune-namespaces" in plan.changes[1].line()
    assert plan.writes == [] and not plan.changed
    assert ObjectKey("", "Namespace", "", "a") in plan.inventory_after


def test_an_existing_object_deployer_did_not_create_is_adopted_with_a_plan_line():
    desired = cluster_role("viewer")
    live = applied(desired, manager="kubectl-create", operation="Update")
    plan = plan_changes([desired], by_key(live), None)
    (change,) = plan.changes
    assert change.action is Action.ADOPT
    assert "did not create it (made by kubectl-create)" in change.line()
    assert change.line().startswith("* adopt ClusterRole viewer")


def test_an_object_deployer_applied_but_the_inventory_lost_is_updated_not_adopted():
    plan = plan_changes([cluster_role("viewer")], by_key(applied(cluster_role("viewer", ("get",)))), None)
    assert [c.action for c in plan.changes] == [Action.UPDATE]


def test_inventory_entries_that_are_gone_or_no_longer_ours_are_forgotten_not_deleted():
    gone = cluster_role("gone")
    taken = applied(cluster_role("taken"), manager="someone-else", operation="Update")
    inventory = Inventory.of("set", [(key_of(gone), RBAC), (key_of(taken), RBAC)])
    plan = plan_changes([], by_key(taken), inventory)
    assert [(c.action.value, c.note) for c in plan.changes] == [
        ("forget", "already gone"),
        ("forget", "left in place: no longer applied by deployer (field managers: someone-else)")]
    assert plan.writes == [] and plan.changed  # only the inventory is rewritten
    assert len(plan.inventory_after) == 0


def test_plan_to_dict_lists_changes_with_field_diffs():
    old = cluster_role("viewer", ("get",))
    plan = plan_changes([cluster_role("viewer")], by_key(applied(old)),
                        Inventory.of("set", [(key_of(old), RBAC)]))
    data = plan.to_dict()
    assert data["counts"]["update"] == 1
    (change,) = data["changes"]
    assert change["kind"] == "ClusterRole" and change["fields"][0]["path"] == ".rules[0].verbs"


def test_inventory_round_trips_and_rejects_garbage():
    inventory = Inventory.of("set", [(key_of(namespace("a")), "v1"), (key_of(cluster_role("r")), RBAC)])
    data = inventory.to_data()
    assert Inventory.from_data("set", data) == inventory
    assert data["objects"].splitlines()[0] == '["rbac.authorization.k8s.io/v1", "ClusterRole", "", "r"]'
    with pytest.raises(ValueError, match="line 1"):
        Inventory.from_data("set", {"objects": "not json"})
    assert len(Inventory.from_data("set", None)) == 0


def test_ports_keyed_with_a_defaulted_protocol_are_unchanged() -> None:
    # managedFields keys ports by containerPort and protocol, which the server defaults to TCP.
    import json as _json

    from deployer.plan.compare import changes_to_apply

    desired = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "apps"},
               "spec": {"template": {"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 8080}]}]}}}}
    fields = {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"web"}': {
        ".": {}, "f:name": {}, "f:ports": {_json.dumps({"containerPort": 8080, "protocol": "TCP"},
                                                      separators=(",", ":")).join(["k:", ""]): {
            ".": {}, "f:containerPort": {}}}}}}}}}
    live = {**desired, "metadata": {**desired["metadata"], "managedFields": [
        {"manager": "deployer", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
         "fieldsV1": fields}]},
            "spec": {"template": {"spec": {"containers": [
                {"name": "web", "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}}}}
    assert changes_to_apply(desired, live) == []
