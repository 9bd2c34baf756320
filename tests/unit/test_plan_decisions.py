"""What each planned change carries into execution: the field manager it was decided for, the
apiVersion, the live uid and resourceVersion a prune is bound to (written against the survivors
of `make mutation`)."""

from __future__ import annotations

from deployer.plan import Action, Inventory, PlanOptions, key_of, plan_changes

API = "rbac.authorization.k8s.io/v1"


def role(name: str, verbs: list[str]) -> dict:
    return {"apiVersion": API, "kind": "ClusterRole", "metadata": {"name": name},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": verbs}]}


def live(desired: dict, manager: str, uid: str, rv: str) -> dict:
    """``desired`` as the API server returns it after ``manager`` applied it."""
    return {**desired, "metadata": {**desired["metadata"], "uid": uid, "resourceVersion": rv,
                                    "managedFields": [{"manager": manager, "operation": "Apply",
                                                       "apiVersion": desired["apiVersion"],
                                                       "fieldsType": "FieldsV1", "fieldsV1": {"f:rules": {}}}]}}


def test_a_plan_is_made_for_the_field_manager_in_its_options():
    same, edited, gone = role("same", ["get"]), role("edited", ["get"]), role("gone", ["get"])
    current = {key_of(same): live(same, "ci", "u1", "11"), key_of(edited): live(edited, "ci", "u2", "12"),
               key_of(gone): live(gone, "ci", "u3", "13")}
    inventory = Inventory.of("svc", [(key_of(o), API) for o in (same, edited, gone)])
    plan = plan_changes([same, role("edited", ["get", "list"])], current, inventory, PlanOptions(manager="ci"))
    by_name = {c.key.name: c for c in plan.changes}
    assert by_name["same"].action is Action.UNCHANGED
    assert by_name["same"].api_version == API
    assert (by_name["edited"].action, by_name["edited"].api_version, by_name["edited"].live_version) == (
        Action.UPDATE, API, "12")
    assert [str(f) for f in by_name["edited"].fields] == ['.rules[0].verbs: ["get"] -> ["get", "list"]']
    # The prune is bound to the incarnation it was planned from, and deletes at the recorded version.
    assert (by_name["gone"].action, by_name["gone"].api_version, by_name["gone"].live_uid,
            by_name["gone"].live_version, by_name["gone"].note) == (
        Action.PRUNE, API, "u3", "13", "no longer in the files or chart")


def test_under_another_manager_the_same_cluster_is_not_ours():
    gone = role("gone", ["get"])
    current = {key_of(gone): live(gone, "ci", "u3", "13")}
    inventory = Inventory.of("svc", [(key_of(gone), API)])
    (change,) = plan_changes([], current, inventory, PlanOptions(manager="deployer")).changes
    assert (change.action, change.api_version) == (Action.FORGET, API)
    assert change.note == "left in place: no longer applied by deployer (field managers: ci)"


def test_adopting_records_the_live_version_and_who_made_it():
    desired = role("r", ["get"])
    made = live(desired, "kubectl-client-side-apply", "u1", "7")
    made["metadata"]["managedFields"][0]["operation"] = "Update"
    (change,) = plan_changes([desired], {key_of(desired): made}, None).changes
    assert (change.action, change.api_version, change.live_version) == (Action.ADOPT, API, "7")
    assert change.note == ("exists but deployer did not create it (made by kubectl-client-side-apply); "
                           "deployer takes it over")


def test_forgotten_and_kept_entries_keep_their_recorded_api_version():
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
    kept = live(ns, "deployer", "u-ns", "5")
    gone = role("gone", ["get"])
    inventory = Inventory.of("cluster-base", [(key_of(ns), "v1"), (key_of(gone), API)])
    plan = plan_changes([], {key_of(ns): kept}, inventory)
    # In prune order: namespaces last.
    assert [(c.action, c.key.name, c.api_version, c.note) for c in plan.changes] == [
        (Action.FORGET, "gone", API, "already gone"),
        (Action.KEEP, "team", "v1", "no longer declared; kept because deleting a namespace deletes everything "
                                    "in it: pass --prune-namespaces to delete it")]
    assert plan.inventory_after == Inventory.of("cluster-base", [(key_of(ns), "v1")])


def test_a_first_plan_names_its_inventory():
    plan = plan_changes([role("r", ["get"])], {}, None, inventory_name="payments")
    assert plan.inventory_after.name == "payments"
    assert plan_changes([], {}, None).inventory_after.name == ""


def test_a_blank_line_in_a_stored_inventory_does_not_hide_the_entries_after_it():
    # An entry lost here would never be pruned.
    data = {"objects": '["v1", "ConfigMap", "ns", "a"]\n\n   \n["v1", "ConfigMap", "ns", "b"]\n'}
    inventory = Inventory.from_data("svc", data)
    assert sorted(key.name for key in inventory.keys()) == ["a", "b"]
