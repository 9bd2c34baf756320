"""The local platform behaves like the clusters deployer serves: workloads roll out, RBAC
refuses and then admits a deploy identity, images round-trip through the registry by digest, and
the platform starts, stops and restarts cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from deployer.errors import ToolError
from deployer_localplatform import components, processes
from deployer_localplatform.info import ClusterInfo, PlatformInfo
from deployer_localplatform.kwok_stages import NEVER_READY_LABEL, NEVER_READY_VALUE
from deployer_localplatform.platform import Platform

pytestmark = pytest.mark.integration


def _deployment(name: str, replicas: int, labels: dict[str, str] | None = None) -> client.V1Deployment:
    pod_labels = {"app": name, **(labels or {})}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            # kwok runs no containers: the image is never pulled, only recorded.
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=pod_labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="example.invalid/app:1")]),
            ),
        ),
    )


def _rollout_complete(dep: client.V1Deployment) -> bool:
    # kubectl rollout status's rule (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go).
    s, want = dep.status, dep.spec.replicas
    return (s is not None and (s.observed_generation or 0) >= dep.metadata.generation
            and (s.updated_replicas or 0) == want and (s.replicas or 0) == want
            and (s.available_replicas or 0) == want)


def _pod_ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def test_deployment_becomes_available(cluster: ClusterInfo, namespace: str, admin_client, wait_for) -> None:
    apps = client.AppsV1Api(admin_client(cluster))
    apps.create_namespaced_deployment(namespace, _deployment("web", replicas=3))

    done = wait_for(apps.list_namespaced_deployment, namespace,
                    lambda d: d.metadata.name == "web" and _rollout_complete(d),
                    what=f"{cluster.name}: rollout of deployment {namespace}/web")

    available = {c.type: c.status for c in done.status.conditions}["Available"]
    assert available == "True"
    pods = client.CoreV1Api(admin_client(cluster)).list_namespaced_pod(namespace, label_selector="app=web")
    assert len(pods.items) == 3 and all(_pod_ready(p) for p in pods.items)
    assert {p.spec.node_name for p in pods.items} == {"kwok-node-0"}


def test_never_ready_label_keeps_pod_unready(cluster: ClusterInfo, namespace: str, admin_client,
                                              wait_for) -> None:
    core = client.CoreV1Api(admin_client(cluster))
    for name, labels in (("normal", {}), ("stuck", {NEVER_READY_LABEL: NEVER_READY_VALUE})):
        core.create_namespaced_pod(namespace, client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, labels=labels),
            spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="example.invalid/app:1")])))

    normal = wait_for(core.list_namespaced_pod, namespace, lambda p: p.metadata.name == "normal" and _pod_ready(p),
                      what=f"{cluster.name}: pod normal Ready")
    # Once kwok has played its stage on the labelled pod (phase Running), no stage matches it
    # again (they all start from phase Pending), so what it shows now it shows for good.
    stuck = wait_for(core.list_namespaced_pod, namespace,
                     lambda p: p.metadata.name == "stuck" and p.status.phase == "Running",
                     what=f"{cluster.name}: kwok's never-ready stage on pod stuck")

    assert _pod_ready(normal)
    assert not _pod_ready(stuck)
    assert [c.ready for c in stuck.status.container_statuses] == [False]
    # Deleting it still works (kwok's pod-delete stage matches every pod being deleted).
    core.delete_namespaced_pod("stuck", namespace)


def test_never_ready_deployment_does_not_complete(cluster: ClusterInfo, namespace: str, admin_client,
                                                   wait_for) -> None:
    apps = client.AppsV1Api(admin_client(cluster))
    apps.create_namespaced_deployment(namespace, _deployment(
        "broken", replicas=2, labels={NEVER_READY_LABEL: NEVER_READY_VALUE}))
    core = client.CoreV1Api(admin_client(cluster))
    wait_for(core.list_namespaced_pod, namespace, lambda p: p.status.phase == "Running",
             what=f"{cluster.name}: a pod of deployment broken running")
    dep = wait_for(apps.list_namespaced_deployment, namespace,
                   lambda d: d.status is not None and (d.status.replicas or 0) == 2,
                   what=f"{cluster.name}: deployment broken with 2 replicas")

    assert not _rollout_complete(dep)
    assert (dep.status.available_replicas or 0) == 0


def _wait_until_allowed(cluster: ClusterInfo, admin_client, user: str, namespace: str) -> None:
    # RBAC is evaluated from the API server's informer cache, which sees a new RoleBinding a few
    # milliseconds after it is created. Ask the authorizer (as admin) until it agrees, so the
    # identity's own request below is tested once, against a settled cache.
    authz = client.AuthorizationV1Api(admin_client(cluster))
    review = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
        user=user, resource_attributes=client.V1ResourceAttributes(namespace=namespace, verb="list",
                                                                    resource="pods")))
    deadline = time.monotonic() + 10
    while not authz.create_subject_access_review(review).status.allowed:
        assert time.monotonic() < deadline, f"{cluster.name}: RoleBinding for {user} not effective within 10s"
        time.sleep(0.05)


def _deploy_identity(cluster: ClusterInfo) -> tuple[str, str]:
    """(username the cluster sees, bearer token) of the identity deploys run as."""
    if cluster.provider == "onprem":
        return "jenkins-deployer", cluster.user_token_files["jenkins-deployer"].read_text().strip()
    # GKE: the key file -> google-auth (signed JWT to the stand-in's token endpoint) -> access
    # token, which the API server sends to the stand-in's TokenReview webhook.
    import google.auth.transport.requests
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_file(
        str(cluster.service_account_key_file), scopes=["https://www.googleapis.com/auth/cloud-platform"])
    creds.refresh(google.auth.transport.requests.Request())
    return cluster.service_account_email, creds.token


def test_deploy_identity_needs_a_rolebinding(cluster: ClusterInfo, namespace: str, admin_client,
                                             token_client) -> None:
    user, token = _deploy_identity(cluster)
    as_user = token_client(cluster, token)
    whoami = client.AuthenticationV1Api(as_user).create_self_subject_review(
        client.V1SelfSubjectReview()).status.user_info
    assert whoami.username == user

    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(as_user).list_namespaced_pod(namespace)
    assert refused.value.status == 403

    client.RbacAuthorizationV1Api(admin_client(cluster)).create_namespaced_role_binding(
        namespace, client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="deploy-identity-view"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"),
            subjects=[client.RbacV1Subject(kind="User", name=user, api_group="rbac.authorization.k8s.io")]))
    _wait_until_allowed(cluster, admin_client, user, namespace)

    assert client.CoreV1Api(as_user).list_namespaced_pod(namespace).items == []


def test_unknown_token_is_unauthenticated(cluster: ClusterInfo, token_client) -> None:
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(token_client(cluster, "not-a-token")).list_namespace()
    assert refused.value.status == 401


def test_cluster_files_pass_deployers_loader(platform: PlatformInfo, platform_config_dir: Path) -> None:
    from deployer.config.loader import load_config

    config = load_config(platform_config_dir)

    onprem, gke = config.clusters["local-onprem"], config.clusters["local-gke"]
    assert onprem.server == platform.cluster("local-onprem").server
    assert onprem.credential.file == str(platform.cluster("local-onprem").user_token_files["jenkins-deployer"])
    assert gke.server is None and gke.ca is None  # found by name through the stand-in's GKE API
    assert gke.gke.google_api_endpoint == platform.gcp_url
    assert gke.credential.type == "serviceAccountKey"
    assert gke.registry == f"{platform.registry}/gke"
    secrets = (platform.cluster("local-onprem").admin_token_file,
               platform.cluster("local-gke").service_account_key_file)
    for path in secrets:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"


def _buildah(platform: PlatformInfo, *args: str, cwd: Path | None = None) -> str:
    argv = ["buildah", "--root", str(platform.buildah_root), "--runroot", str(platform.buildah_runroot),
            "--storage-driver", "vfs", *args]
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("repository", ["onprem", "gke"])
def test_image_push_and_pull_by_digest(platform: PlatformInfo, tmp_path: Path, repository: str) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "hello.txt").write_text(f"hello from {repository}\n")
    (context / "Containerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    local_name = f"localhost/platform-test-{repository}:1"
    _buildah(platform, "build", "--isolation", "chroot", "-t", local_name, "-f", "Containerfile", ".", cwd=context)

    reference = f"{platform.registry}/{repository}/platform-test"
    digest_file = tmp_path / "digest"
    _buildah(platform, "push", "--tls-verify=false", "--digestfile", str(digest_file), local_name,
             f"docker://{reference}:1")
    digest = digest_file.read_text().strip()
    assert digest.startswith("sha256:")

    inspected = json.loads(subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{reference}@{digest}"],
        check=True, capture_output=True, text=True).stdout)
    assert inspected["Digest"] == digest
    pulled = tmp_path / "pulled"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{reference}@{digest}", f"dir:{pulled}"],
                   check=True, capture_output=True, text=True)
    manifest = json.loads((pulled / "manifest.json").read_text())
    assert len(manifest["layers"]) == 1


def test_status_command_reports_a_running_platform(platform: PlatformInfo, cli) -> None:
    result = cli("--output", "json", "platform", "status", "--state-dir", str(platform.state_dir))

    assert result.exit_code == 0, result.stderr
    status = result.json()
    assert status["running"] is True
    assert {c["name"] for c in status["components"]} == set(platform.components)
    assert all(c["alive"] and c["pid"] for c in status["components"])
    secrets = [c.admin_token_file.read_text().strip() for c in platform.clusters.values()]
    assert not any(s in result.stdout + result.stderr for s in secrets)


# --- start, stop, restart: each on a platform of its own, so the session's keeps running -------

def _platform_pids(state: Path) -> set[int]:
    return set(processes.strays(str(state)))


def test_stop_leaves_nothing_and_start_after_stop_works(tmp_path: Path, record_property) -> None:
    local = Platform(tmp_path / "state")
    first = local.up()
    first_token = first.cluster("local-onprem").admin_token_file.read_text()
    pids = _platform_pids(first.state_dir)
    assert len(pids) == len(first.components)

    stopped = local.down()

    assert sorted(stopped) == sorted(first.components)
    assert not _platform_pids(first.state_dir)
    # Nothing of any process group either (what a component forked would be in its group).
    assert not [pid for pid in pids if processes.group_members(pid)]
    assert not local.status().running

    try:
        started = time.monotonic()
        second = local.up()
        warm_start = time.monotonic() - started
        assert local.status().running
        record_property("warm_start_seconds", round(warm_start, 1))
        assert warm_start < 60
        # A new start is a new cluster: fresh ports, CA and tokens.
        assert second.cluster("local-onprem").admin_token_file.read_text() != first_token
    finally:
        local.down()
    assert not _platform_pids(first.state_dir)


def test_up_recovers_from_a_stale_state_folder(tmp_path: Path) -> None:
    local = Platform(tmp_path / "state")
    try:
        local.up()
        # A crash: one component dies, and another's pid file is lost.
        processes.stop([processes.read_pidfile(local.layout.pidfile("local-gke-apiserver"))])
        orphan = processes.read_pidfile(local.layout.pidfile(components.REGISTRY))
        local.layout.pidfile(components.REGISTRY).unlink()
        assert not local.status().running

        after = local.up()

        assert local.status().running
        assert not orphan.alive(), "the registry without a pid file was left running"
        assert len(_platform_pids(after.state_dir)) == len(after.components)
    finally:
        local.down()
    assert not _platform_pids(tmp_path / "state")


def test_failed_start_names_the_component_and_shows_its_log(tmp_path: Path, monkeypatch) -> None:
    real_etcd = components.etcd

    def broken_etcd(*args, **kwargs):
        spec = real_etcd(*args, **kwargs)
        return processes.ProcessSpec(spec.name, [*spec.argv, "--no-such-flag"], spec.log, spec.pidfile)

    monkeypatch.setattr(components, "etcd", broken_etcd)
    local = Platform(tmp_path / "state")

    with pytest.raises(ToolError) as failed:
        local.up()

    assert "platform component etcd exited during start-up" in failed.value.message
    assert "no-such-flag" in failed.value.message  # etcd's own complaint, from the log tail
    assert not _platform_pids(tmp_path / "state")


def test_a_start_deadline_stops_everything_started_and_names_the_component(tmp_path: Path, monkeypatch) -> None:
    real_etcd = components.etcd

    def silent_etcd(*args, **kwargs):
        # Alive but never listening: only the start deadline can end the wait.
        spec = real_etcd(*args, **kwargs)
        return processes.ProcessSpec(spec.name, ["sleep", "600"], spec.log, spec.pidfile)

    monkeypatch.setattr(components, "etcd", silent_etcd)
    local = Platform(tmp_path / "state", timeout=1.0)

    with pytest.raises(ToolError) as late:
        local.up()

    assert "platform component etcd was not ready within 1s" in late.value.message
    assert "DEPLOYER_PLATFORM_TIMEOUT" in (late.value.hint or "")
    assert not _platform_pids(tmp_path / "state")  # the sleeping "etcd" was stopped too


def test_everything_listens_on_loopback_and_tokens_are_private(platform: PlatformInfo) -> None:
    import stat
    from urllib.parse import urlsplit

    assert urlsplit(platform.gcp_url).hostname == "127.0.0.1"
    assert platform.registry.split(":")[0] == "127.0.0.1"
    for cluster in platform.clusters.values():
        assert urlsplit(cluster.server).hostname == "127.0.0.1"
        for token_file in [cluster.admin_token_file, *cluster.user_token_files.values()]:
            assert stat.S_IMODE(token_file.stat().st_mode) == 0o600, token_file
    # And no component accepts connections on another address: every listening socket of the
    # platform's processes is bound to 127.0.0.1 (read from the kernel, not from our own records).
    inodes = set()
    for leader in _platform_pids(platform.state_dir):
        for member in processes.group_members(leader) or [leader]:
            for fd in _fds(member):
                try:
                    target = os.readlink(f"/proc/{member}/fd/{fd}")
                except OSError:  # closed since it was listed
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:["):-1])
    listening = [line.split() for name in ("tcp", "tcp6")
                 for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]]
    ours = [row for row in listening if row[3] == "0A" and row[9] in inodes]  # state 0A: LISTEN
    assert ours, "found no listening socket of the platform's processes"
    loopback = {"0100007F", "00000000000000000000000001000000"}
    assert all(row[1].split(":")[0] in loopback for row in ours), [row[1] for row in ours]


def _fds(pid: int) -> list[str]:
    try:
        return [fd.name for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return []


def test_up_with_bench_clusters_starts_them_beside_the_two_and_down_stops_all(tmp_path: Path, cli) -> None:
    state = tmp_path / "state"
    try:
        result = cli("--output", "json", "platform", "up", "--state-dir", str(state), "--no-cluster-files",
                     "--bench-clusters", "1")
        assert result.exit_code == 0, result.stdout + result.stderr
        started = json.loads(result.stdout)
        assert sorted(started["clusters"]) == ["bench-1", "local-gke", "local-onprem"]
        assert Platform(state, extra_bench_clusters=1).status().running
        # Asked again for the default two, it starts that platform afresh instead of answering
        # "already running" with a third cluster the caller did not ask for.
        again = cli("--output", "json", "platform", "up", "--state-dir", str(state), "--no-cluster-files")
        assert again.exit_code == 0, again.stdout + again.stderr
        assert sorted(json.loads(again.stdout)["clusters"]) == ["local-gke", "local-onprem"]
    finally:
        Platform(state).down()
    assert not _platform_pids(state)
