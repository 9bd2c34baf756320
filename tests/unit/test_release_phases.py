"""What reaches a cluster first, and what rolls when configuration changes: deployer.plan.phases and
deployer.render.config_hash, over inline objects."""

from __future__ import annotations

import pytest

from deployer.plan.phases import content_named_jobs, phases
from deployer.render.config_hash import ANNOTATION, with_config_hashes
from deployer.rollout.readiness import readiness


def obj(kind: str, name: str, api_version: str = "v1", **rest) -> dict:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": "apps"}, **rest}


PRE = {"annotations": {"deployer.io/phase": "pre-deploy"}}


def migration(command: str) -> dict:
    job = obj("Job", "migrate", "batch/v1", spec={"template": {"spec": {"containers": [
        {"name": "m", "image": "x", "command": [command]}]}}})
    job["metadata"].update(PRE)
    return job


def test_definitions_then_pre_deploy_then_the_release_in_dependency_order():
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"}}
    widget = obj("Widget", "w", "example.com/v1")
    deployment = obj("Deployment", "web", "apps/v1")
    config = obj("ConfigMap", "cfg")
    secret = obj("Secret", "s")
    account = obj("ServiceAccount", "sa")
    pre_config = obj("ConfigMap", "migrate-cfg")
    pre_config["metadata"].update(PRE)
    job = migration("up")

    got = phases([deployment, widget, job, config, crd, secret, pre_config, account])

    assert [(name, [o["metadata"]["name"] for o in group]) for name, group in got] == [
        ("definitions", ["widgets.example.com"]),
        ("pre-deploy", ["migrate-cfg", "migrate"]),
        ("release", ["sa", "cfg", "s", "web", "w"]),
    ]
    assert phases([deployment]) == [("release", [deployment])]


def test_a_pre_deploy_job_is_named_by_its_content_and_other_jobs_are_not():
    plain = obj("Job", "once", "batch/v1", spec={"template": {}})
    (first, kept) = content_named_jobs([migration("up"), plain])
    (unchanged,) = content_named_jobs([migration("up")])
    (changed,) = content_named_jobs([migration("up2")])
    assert first["metadata"]["name"].startswith("migrate-") and len(first["metadata"]["name"]) == len("migrate-") + 8
    assert unchanged["metadata"]["name"] == first["metadata"]["name"]
    assert changed["metadata"]["name"] != first["metadata"]["name"]
    assert kept == plain
    long = migration("up")
    long["metadata"]["name"] = "m" * 70
    assert len(content_named_jobs([long])[0]["metadata"]["name"]) == 63


def workload(kind: str, name: str, pod: dict) -> dict:
    if kind == "CronJob":
        return obj(kind, name, "batch/v1", spec={"jobTemplate": {"spec": {"template": {"spec": pod}}}})
    return obj(kind, name, "apps/v1", spec={"template": {"metadata": {"labels": {"a": "b"}}, "spec": pod}})


def template_of(o: dict) -> dict:
    spec = o["spec"]["jobTemplate"]["spec"] if o["kind"] == "CronJob" else o["spec"]
    return spec["template"]


def hash_of(objects: list[dict], name: str) -> str | None:
    found = next(o for o in with_config_hashes(objects) if o["metadata"]["name"] == name)
    return ((template_of(found).get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)


@pytest.mark.parametrize("pod", [
    {"containers": [{"name": "c"}], "volumes": [{"name": "v", "configMap": {"name": "cfg"}}]},
    {"containers": [{"name": "c"}],
     "volumes": [{"name": "v", "projected": {"sources": [{"configMap": {"name": "cfg"}}]}}]},
    {"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "cfg"}}]}]},
    {"initContainers": [{"name": "c", "env": [
        {"name": "E", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]}],
     "containers": [{"name": "d"}]},
], ids=["volume", "projected", "envFrom", "env-valueFrom-init"])
@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "CronJob"])
def test_a_configmap_change_changes_the_hash_of_exactly_the_workloads_that_use_it(kind, pod):
    user = workload(kind, "user", pod)
    other = workload("Deployment", "other", {"containers": [{"name": "c", "image": "x"}]})
    before = [obj("ConfigMap", "cfg", data={"k": "1"}), obj("ConfigMap", "unused", data={"k": "1"}), user, other]
    after = [obj("ConfigMap", "cfg", data={"k": "2"}), obj("ConfigMap", "unused", data={"k": "9"}), user, other]

    assert hash_of(before, "user") is not None
    assert hash_of(before, "user") != hash_of(after, "user")
    assert hash_of(before, "other") is None and hash_of(after, "other") is None
    assert hash_of(before, "user") == hash_of(list(before), "user")  # stable
    assert "annotations" not in (template_of(user).get("metadata") or {})  # the input is left as it was


def test_secret_references_count_and_the_hash_reveals_nothing():
    pod = {"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "s"}}],
                           "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s2", "key": "p"}}}]}],
           "volumes": [{"name": "v", "secret": {"secretName": "s3"}},
                       {"name": "w", "projected": {"sources": [{"secret": {"name": "s4"}}]}}]}
    for changed in ("s", "s2", "s3", "s4"):
        secrets = [obj("Secret", n, stringData={"p": "hunter2"}) for n in ("s", "s2", "s3", "s4")]
        base = hash_of([*secrets, workload("Deployment", "web", pod)], "web")
        secrets[("s", "s2", "s3", "s4").index(changed)]["stringData"] = {"p": "other"}
        assert hash_of([*secrets, workload("Deployment", "web", pod)], "web") != base, changed
        assert "hunter2" not in str(base)


def test_a_configmap_outside_the_release_is_not_hashed():
    pod = {"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "elsewhere"}}]}]}
    assert hash_of([workload("Deployment", "web", pod)], "web") is None


def test_a_crd_is_done_when_established_and_failed_when_its_names_clash():
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x"}}
    assert readiness(crd).state == "waiting"
    established = {**crd, "status": {"conditions": [{"type": "Established", "status": "True"}]}}
    assert readiness(established).state == "done"
    clash = {**crd, "status": {"conditions": [{"type": "NamesAccepted", "status": "False", "reason": "NameConflict"}]}}
    assert readiness(clash).state == "failed" and "NameConflict" in readiness(clash).message


def test_a_release_never_prunes_a_crd():
    from deployer.plan.inventory import Inventory
    from deployer.plan.keys import key_of
    from deployer.plan.ownership import Owner, removals

    owner = Owner("svc", "staging", "apps")
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com", "uid": "u1", "labels": owner.labels}}
    inventory = Inventory.of("inv", [(key_of(crd), "apiextensions.k8s.io/v1")], {key_of(crd): "u1"})
    (removal,) = removals(inventory, (), {key_of(crd): crd}, owner)
    assert not removal.delete and "never deleted" in removal.left
