"""The pure decisions behind release truth, from inline objects: owners, what a release may
delete, which release runs and where a rollback goes, and what cluster sync leaves to others."""

from __future__ import annotations

from deployer.plan import Action, Inventory, ObjectKey, PlanOptions, key_of, plan_changes
from deployer.plan.compare import changes_to_apply, normalise
from deployer.plan.ownership import Owner, removals, running_revision, stamped
from deployer.rollout.release import ReleaseRecord, rollback_target
from tests.unit.test_plan import applied, by_key, cluster_role

OWNER = Owner("hello", "staging", "apps")


def configmap(name, namespace="apps", labels=None):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(OWNER.labels if labels is None
                                                                             else labels)},
            "data": {"k": "v"}}


def test_a_service_owner_is_named_in_labels_and_a_valid_field_manager_of_its_own():
    assert OWNER.labels == {"app.kubernetes.io/managed-by": "deployer", "deployer.io/service": "hello",
                            "deployer.io/environment": "staging"}
    assert OWNER.manager == "deployer/hello" != "deployer"
    # The API server refuses a fieldManager longer than 128 characters or with unprintable ones.
    long = Owner("x" * 200, "staging", "apps").manager
    assert len(long) <= 128 and long.isprintable() and OWNER.manager.isprintable()
    assert OWNER.inventory_name == "hello.staging"
    assert Owner("hello", "production", "apps").disowns(configmap("a")) == (
        "its labels name service hello staging, not hello production")


def test_a_release_deletes_only_what_its_inventory_labels_and_uid_prove_are_its_own():
    ours, theirs, replaced, elsewhere = (applied(configmap("ours")), applied(configmap(
        "theirs", labels={**OWNER.labels, "deployer.io/environment": "production"})),
        applied(configmap("replaced")), applied(configmap("elsewhere", namespace="other")))
    namespace = applied({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps",
                                                                               "labels": OWNER.labels}})
    kept = applied(configmap("kept"))
    everything = [ours, theirs, replaced, elsewhere, namespace, kept]
    entries = [(key_of(o), o["apiVersion"]) for o in everything] + [(ObjectKey("", "ConfigMap", "apps", "gone"), "v1")]
    uids = {key_of(o): o["metadata"]["uid"] for o in everything} | {key_of(replaced): "an-older-uid"}
    inventory = Inventory.of("hello.staging", entries, uids)

    decided = {r.key.name: r for r in removals(inventory, {key_of(kept)}, by_key(*everything), OWNER)}
    assert "kept" not in decided
    assert [name for name, r in decided.items() if r.delete] == ["ours"]
    assert decided["ours"].uid == "uid-ours"
    assert decided["theirs"].left == "its labels name service hello production, not hello staging"
    assert "another object of that name" in decided["replaced"].left
    assert "outside the release's namespace" in decided["elsewhere"].left
    assert "never deleted" in decided["apps"].left
    assert decided["gone"].left == "already gone"
    assert removals(None, (), {}, OWNER) == []


def test_the_inventory_keeps_uids_and_reads_entries_without_them():
    key = key_of(configmap("a"))
    inventory = Inventory.of("hello.staging", [(key, "v1")], {key: "u-1"})
    assert Inventory.from_data("hello.staging", inventory.to_data()) == inventory
    assert inventory.to_data()["objects"] == '["v1", "ConfigMap", "apps", "a", "u-1"]'
    assert Inventory.from_data("x", {"objects": '["v1", "ConfigMap", "apps", "a"]'}).uid(key) is None


def record(revision, outcome, digest="sha256:a", mhash="m"):
    return ReleaseRecord("hello", "c", "staging", revision, f"img@{digest}", digest, mhash, "me", "t", outcome)


def test_rollback_goes_before_the_release_that_runs_not_before_the_newest_good_record():
    records = [record(4, "succeeded", mhash="4"), record(5, "succeeded", mhash="5"), record(6, "failed", mhash="6")]
    assert rollback_target(records, running=6).revision == 5  # r6 failed and was left in place
    assert rollback_target(records, running=5).revision == 4  # r6 was killed before touching anything
    assert rollback_target(records, running=None).revision == 4  # the objects do not say: the records do
    # Going back from a rollback (r7 = r5 again) skips the release identical to it.
    records += [record(7, "succeeded", mhash="5")]
    assert rollback_target(records, running=7).revision == 4
    assert rollback_target([record(1, "succeeded")], running=1) is None


def test_the_running_revision_is_the_newest_stamped_on_an_object_of_this_owner():
    mine = [stamped(configmap("a"), 5), stamped(configmap("b"), 6), configmap("unstamped")]
    other = stamped(configmap("c", labels={**OWNER.labels, "deployer.io/service": "other"}), 9)
    assert running_revision([*mine, other], OWNER) == 6
    assert running_revision([configmap("a")], OWNER) is None


def test_an_empty_map_in_a_template_is_no_change_once_normalised_as_cluster_sync_does():
    template = configmap("a") | {"binaryData": {}}
    live = applied(stamped(normalise(template), 3), manager=OWNER.manager)
    assert changes_to_apply(stamped(template, 3), live, OWNER.manager)  # raw: a difference every time
    assert changes_to_apply(stamped(normalise(template), 3), live, OWNER.manager) == []
    assert changes_to_apply(stamped(normalise(template), 4), live, OWNER.manager)  # another revision


def test_cluster_sync_does_not_prune_what_a_service_or_another_cluster_now_owns():
    moved = applied(configmap("moved", labels={"app.kubernetes.io/managed-by": "deployer",
                                               "deployer.io/cluster": "dc1", **OWNER.labels}))
    foreign = applied(cluster_role("foreign") | {"metadata": {"name": "foreign", "labels": {
        "app.kubernetes.io/managed-by": "deployer", "deployer.io/cluster": "dc2"}}})
    mine = applied(cluster_role("mine") | {"metadata": {"name": "mine", "labels": {
        "app.kubernetes.io/managed-by": "deployer", "deployer.io/cluster": "dc1"}}})
    widget = ObjectKey("example.com", "Widget", "apps", "w")
    inventory = Inventory.of("cluster-base", [(key_of(o), o["apiVersion"]) for o in (moved, foreign, mine)]
                             + [(widget, "example.com/v1")])
    plan = plan_changes([], by_key(moved, foreign, mine), inventory, PlanOptions(cluster="dc1"),
                        unreadable={widget: "the API server no longer serves Widget in example.com/v1"})
    actions = {c.key.name: (c.action, c.note) for c in plan.changes}
    assert actions["moved"] == (Action.FORGET, "left in place: now owned by service hello staging")
    assert actions["foreign"] == (Action.FORGET, "left in place: now owned by the cluster chart of dc2")
    assert actions["mine"][0] is Action.PRUNE
    assert actions["w"] == (Action.KEEP, "skipped: the API server no longer serves Widget in example.com/v1; "
                                         "left in place and in the inventory")
    assert plan.inventory_after.keys() == {widget}
