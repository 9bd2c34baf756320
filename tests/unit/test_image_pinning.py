"""deployer.render.pin: literal image references rewritten to pinned ones, by repository."""

from __future__ import annotations

import pytest

from deployer.render.pin import pin_images, repository

PINNED = "127.0.0.1:5000/onprem/redis@sha256:" + "a" * 64
PINS = {"docker.io/library/redis:7.2": PINNED}


def pod(containers: list[dict], init: list[dict] | None = None, ephemeral: list[dict] | None = None) -> dict:
    spec: dict = {"containers": containers}
    if init is not None:
        spec["initContainers"] = init
    if ephemeral is not None:
        spec["ephemeralContainers"] = ephemeral
    return spec


def workload(kind: str, spec: dict, api_version: str = "apps/v1") -> dict:
    meta = {"name": "w", "namespace": "apps"}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    if kind == "CronJob":
        return {"apiVersion": "batch/v1", "kind": kind, "metadata": meta,
                "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": spec}}}}}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": {"template": {"spec": spec}}}


def images_of(obj: dict) -> dict[str, list[str]]:
    spec = obj["spec"] if obj["kind"] == "Pod" else (
        obj["spec"]["jobTemplate"]["spec"]["template"]["spec"] if obj["kind"] == "CronJob"
        else obj["spec"]["template"]["spec"])
    return {field: [c["image"] for c in spec.get(field, [])]
            for field in ("containers", "initContainers", "ephemeralContainers") if field in spec}


@pytest.mark.parametrize("kind", ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
                                  "ReplicationController", "Job", "CronJob"])
def test_every_workload_kind_has_its_containers_and_init_containers_pinned_but_not_ephemeral_ones(kind):
    obj = workload(kind, pod([{"name": "app", "image": "redis:7.2"}, {"name": "side", "image": "busybox:1"}],
                             init=[{"name": "wait", "image": "docker.io/library/redis:6"}],
                             ephemeral=[{"name": "debug", "image": "redis:7.2"}]))

    (out,), rewrites = pin_images([obj], PINS)

    assert images_of(out) == {"containers": [PINNED, "busybox:1"], "initContainers": [PINNED],
                              "ephemeralContainers": ["redis:7.2"]}
    assert [str(r) for r in rewrites] == [f"{kind} apps/w container wait: docker.io/library/redis:6 -> {PINNED}",
                                          f"{kind} apps/w container app: redis:7.2 -> {PINNED}"]
    assert images_of(obj)["containers"][0] == "redis:7.2"  # the input is left as it was


@pytest.mark.parametrize(("kind", "spec"), [
    ("ConfigMap", None), ("Service", {"selector": {"app": "x"}}),
    ("HorizontalPodAutoscaler", {"template": {"spec": {"containers": [{"name": "x", "image": "redis:7.2"}]}}}),
])
def test_kinds_that_run_no_pods_are_not_touched(kind, spec):
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}, **({"spec": spec} if spec else {})}
    (out,), rewrites = pin_images([obj], PINS)
    assert out == obj and rewrites == []


def test_an_image_already_pinned_is_no_rewrite_and_another_repository_is_left():
    obj = workload("Deployment", pod([{"name": "a", "image": PINNED}, {"name": "b", "image": "redis-exporter:1"},
                                      {"name": "c", "image": "quay.io/redis:7.2"}]))
    (out,), rewrites = pin_images([obj], {"redis": PINNED})
    assert out == obj and rewrites == []


@pytest.mark.parametrize(("ref", "repo"), [
    ("redis", "docker.io/library/redis"),
    ("redis:7.2", "docker.io/library/redis"),
    ("library/redis@sha256:" + "b" * 64, "docker.io/library/redis"),
    ("bitnami/redis:7", "docker.io/bitnami/redis"),
    ("localhost:5000/app:1", "localhost:5000/app"),
    ("127.0.0.1:5000/platform/app@sha256:" + "c" * 64, "127.0.0.1:5000/platform/app"),
    ("registry.example.com/team/app:v1.2", "registry.example.com/team/app"),
    ("localhost/app", "localhost/app"),
])
def test_the_repository_ignores_tag_and_digest_and_normalises_docker_hub(ref, repo):
    assert repository(ref) == repo
