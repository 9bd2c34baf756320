"""`deployer deploy`, `rollback`, `history` on both local clusters, with real buildah, the real
registry and real API servers (kwok makes pods Ready, or never Ready when a pod carries the
platform's never-ready label)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from deployer.errors import ExitCode
from deployer.polling import poll_until
from tests.conftest import REPO, run_cli
from tests.integration.kit import admin_api, or_none

pytestmark = pytest.mark.integration

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ service.name }}
  namespace: {{ service.namespace }}
spec:
  replicas: {{ values.replicas }}
  progressDeadlineSeconds: 600
  selector:
    matchLabels:
      app: {{ values.selector }}
  template:
    metadata:
      labels:
        app: {{ values.selector }}
{% if cluster.name in values.neverReadyOn %}
        deployer.test/never-ready: "true"
{% endif %}
    spec:
      containers:
        - name: web
          image: {{ image }}
          ports:
            - containerPort: 8080
          env:
            - name: GREETING
              value: {{ values.greeting }}
"""


def _service(name: str, *, on_failure: str = "rollback-failed", timeout: str = "40s", values: dict | None = None
             ) -> dict:
    return {
        "name": name, "namespace": "apps",
        "image": {"name": "web", "context": str(REPO / "apps" / "hello")},
        "manifests": f"{name}-manifests",
        "values": {"replicas": 2, "selector": name, "greeting": "hi", "neverReadyOn": [], **(values or {})},
        "environments": {"staging": {"clusters": ["local-onprem", "local-gke"]}},
        "rollout": {"timeout": timeout, "onFailure": on_failure},
    }


@pytest.fixture(scope="module")
def synced(synced_config_dir):
    return synced_config_dir


@pytest.fixture
def deploy_dir(tmp_path: Path, synced: Path, platform, monkeypatch) -> Path:
    """A config folder with the platform's clusters and one fresh service per test."""
    (tmp_path / "charts").symlink_to(REPO / "charts")
    (tmp_path / "clusters").symlink_to(synced / "clusters")
    (tmp_path / "services").mkdir()
    monkeypatch.setenv("DEPLOYER_BUILDAH_ROOT", str(platform.state_dir / "buildah"))
    return tmp_path


def write_service(folder: Path, spec: dict, deployment: str = DEPLOYMENT) -> None:
    (folder / "services" / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec))
    manifests = folder / "services" / spec["manifests"]
    manifests.mkdir(exist_ok=True)
    (manifests / "deployment.yaml.j2").write_text(deployment)


def deployer(folder: Path, *args: str):
    return run_cli("--config-dir", str(folder), *args)


def deployment(platform, cluster: str, name: str) -> dict:
    """The live Deployment, read with the admin token through the official client."""
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        return api.sanitize_for_serialization(client.AppsV1Api(api).read_namespaced_deployment(name, "apps"))


def container(platform, cluster: str, name: str) -> dict:
    return deployment(platform, cluster, name)["spec"]["template"]["spec"]["containers"][0]


def image_of(platform, cluster: str, name: str) -> str:
    return deployment(platform, cluster, name)["spec"]["template"]["spec"]["containers"][0]["image"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_deploy_reaches_both_clusters_with_one_digest_then_changes_nothing(deploy_dir, platform) -> None:
    name = unique("web")
    write_service(deploy_dir, _service(name))
    commit = unique("c")
    first = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", commit)
    assert first.exit_code == 0, first.stdout + first.stderr
    report = first.json()
    assert [c["outcome"] for c in report["clusters"]] == ["succeeded", "succeeded"]
    digests = {image_of(platform, c, name).split("@")[1] for c in ("local-onprem", "local-gke")}
    assert len(digests) == 1 and next(iter(digests)).startswith("sha256:")
    for cluster in ("local-onprem", "local-gke"):
        status = deployment(platform, cluster, name)["status"]
        assert status["availableReplicas"] == 2 and status["updatedReplicas"] == 2

    versions = {c: deployment(platform, c, name)["metadata"]["resourceVersion"] for c in ("local-onprem", "local-gke")}
    again = deployer(deploy_dir, "--detailed-exitcode", "-o", "json", "deploy", name, "--env", "staging",
                     "--commit", commit)
    assert again.exit_code == ExitCode.OK, again.stdout + again.stderr
    assert [c["outcome"] for c in again.json()["clusters"]] == ["unchanged", "unchanged"]
    assert "not building" in again.stderr
    assert versions == {c: deployment(platform, c, name)["metadata"]["resourceVersion"]
                        for c in ("local-onprem", "local-gke")}


def test_never_ready_cluster_fails_and_is_rolled_back_alone(deploy_dir, platform) -> None:
    name = unique("web")
    spec = _service(name, timeout="15s")
    write_service(deploy_dir, spec)
    good = deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("good"))
    assert good.exit_code == 0, good.stdout + good.stderr
    good_image = {c: image_of(platform, c, name) for c in ("local-onprem", "local-gke")}

    spec["values"]["neverReadyOn"] = ["local-gke"]
    write_service(deploy_dir, spec)
    junit = deploy_dir / "junit.xml"
    bad = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("bad"),
                   "--junit", str(junit))
    assert bad.exit_code == ExitCode.PARTIAL, bad.stdout + bad.stderr
    clusters = {c["cluster"]: c for c in bad.json()["clusters"]}
    assert clusters["local-onprem"]["outcome"] == "succeeded"
    assert clusters["local-gke"]["outcome"] == "rolled-back"
    assert "back on r1" in clusters["local-gke"]["release"]
    assert image_of(platform, "local-gke", name) == good_image["local-gke"]
    assert image_of(platform, "local-onprem", name) != good_image["local-onprem"]
    assert 'name="local-gke / deploy:wait"' in junit.read_text() and "<failure" in junit.read_text()

    history = deployer(deploy_dir, "-o", "json", "history", name, "--env", "staging").json()
    assert [(r["revision"], r["outcome"]) for r in history["local-gke"]] == [
        (1, "succeeded"), (2, "rolled-back"), (3, "succeeded")]
    assert history["local-gke"][2]["rollback_of"] == 1
    assert [(r["revision"], r["outcome"]) for r in history["local-onprem"]] == [(1, "succeeded"), (2, "succeeded")]


def test_rollback_restores_the_previous_digest_on_both_clusters(deploy_dir, platform) -> None:
    name = unique("web")
    write_service(deploy_dir, _service(name))
    assert deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("one")).exit_code == 0
    first = {c: container(platform, c, name) for c in ("local-onprem", "local-gke")}
    write_service(deploy_dir, _service(name, values={"greeting": "changed"}))
    # Another commit: a fresh build, whose image config (creation time) gives it another digest.
    assert deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("two")).exit_code == 0
    second = {c: container(platform, c, name) for c in ("local-onprem", "local-gke")}
    assert all(second[c]["image"] != first[c]["image"] for c in first)

    back = deployer(deploy_dir, "-o", "json", "rollback", name, "--env", "staging")
    assert back.exit_code == 0, back.stdout + back.stderr
    assert [c["outcome"] for c in back.json()["clusters"]] == ["succeeded", "succeeded"]
    assert {c: container(platform, c, name) for c in ("local-onprem", "local-gke")} == first


def test_selector_change_is_caught_by_preflight_before_any_write(deploy_dir, platform) -> None:
    name = unique("web")
    write_service(deploy_dir, _service(name))
    assert deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("one")).exit_code == 0
    before = {c: deployment(platform, c, name)["metadata"]["resourceVersion"] for c in ("local-onprem", "local-gke")}
    write_service(deploy_dir, _service(name, values={"selector": "other", "greeting": "new"}))
    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("two"))
    # Stopped before any write: the exit code is the API's refusal, not a rollout failure.
    assert result.exit_code == ExitCode.API_REJECTED, result.stdout + result.stderr
    text = json.dumps(result.json())
    assert "spec.selector" in text and "immutable" in text
    after = {c: deployment(platform, c, name)["metadata"]["resourceVersion"] for c in ("local-onprem", "local-gke")}
    assert before == after
    history = deployer(deploy_dir, "-o", "json", "history", name).json()
    assert all(len(records) == 1 for records in history.values())


def test_second_deploy_fails_fast_naming_the_holder(deploy_dir, platform) -> None:
    name = unique("web")
    write_service(deploy_dir, _service(name, timeout="60s", values={"neverReadyOn": ["local-onprem"]}))
    env = {**os.environ, "DEPLOYER_BUILDAH_ROOT": str(platform.state_dir / "buildah")}
    holder = subprocess.Popen([sys.executable, "-m", "deployer", "--config-dir", str(deploy_dir), "deploy",
                               name, "--env", "staging", "--commit", unique("c"), "--actor", "https://ci/job/first"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_line(holder, "] Deployment apps/", 60)  # mid-wait
        second = deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("c"),
                          "--actor", "second")
        assert second.exit_code == ExitCode.LOCKED, second.stdout + second.stderr
        assert "https://ci/job/first" in second.stderr
    finally:
        holder.kill()
        holder.wait()


def lease(platform, cluster: str, name: str) -> dict | None:
    """The service's deploy lock on ``cluster``, read with the admin token (None: there is none)."""
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        found = or_none(lambda: client.CoordinationV1Api(api).read_namespaced_lease(f"deployer-lock.{name}", "apps"))
        return None if found is None else api.sanitize_for_serialization(found)


def lease_expired(found: dict) -> bool:
    """Past its own duration since its last renewal, by this machine's clock (the clusters' too)."""
    spec = found["spec"]
    renewed = dt.datetime.fromisoformat(spec["renewTime"].replace("Z", "+00:00"))
    return dt.datetime.now(dt.UTC) > renewed + dt.timedelta(seconds=spec["leaseDurationSeconds"])


def test_killed_deploy_is_taken_over_after_its_lease_expires(deploy_dir, platform) -> None:
    name = unique("web")
    spec = _service(name, timeout="60s", values={"neverReadyOn": ["local-onprem", "local-gke"]})
    write_service(deploy_dir, spec)
    env = {**os.environ, "DEPLOYER_BUILDAH_ROOT": str(platform.state_dir / "buildah")}
    killed = subprocess.Popen([sys.executable, "-m", "deployer", "--config-dir", str(deploy_dir), "deploy",
                               name, "--env", "staging", "--commit", unique("c"), "--lock-lease", "3s",
                               "--actor", "killed-run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    # mid-wait on both clusters: each holds its lock and has written its in-progress record
    _wait_for_lines(killed, ["[local-onprem] Deployment apps/", "[local-gke] Deployment apps/"], 60)
    killed.send_signal(signal.SIGKILL)
    killed.wait()

    # The killed run's Leases stay behind naming it; wait (a condition, not a guess) until each has
    # passed its own duration since its last renewal. It is still held by killed-run then: only
    # the take-over rule lets the next deploy in, once that deploy has itself watched each lease
    # go unrenewed for its duration (so it passes --wait-for-lock; tests/integration/faults/
    # test_lock_faults.py times that watch).
    clusters = ("local-onprem", "local-gke")
    left = {c: lease(platform, c, name) for c in clusters}
    # The holder is the actor and the run: one actor's two runs are two holders.
    assert all(found is not None and found["spec"]["holderIdentity"].startswith("killed-run (run ")
               and found["spec"]["leaseDurationSeconds"] == 3 for found in left.values()), left
    assert len({found["spec"]["holderIdentity"] for found in left.values()}) == 1  # one run held both

    def all_expired() -> dict | None:
        now = {c: lease(platform, c, name) for c in clusters}
        return now if all(found is not None and lease_expired(found) for found in now.values()) else None

    expired = poll_until(all_expired, 30, interval=0.2)
    assert expired is not None, f"the killed run's leases did not expire within 30s: {left}"
    assert {c: found["spec"]["holderIdentity"] for c, found in expired.items()} == \
        {c: found["spec"]["holderIdentity"] for c, found in left.items()}  # nobody renewed or took them

    spec["values"]["neverReadyOn"] = []
    write_service(deploy_dir, spec)
    result = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"),
                      "--wait-for-lock", "30s")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert [c["outcome"] for c in result.json()["clusters"]] == ["succeeded", "succeeded"]
    for cluster in clusters:
        after = lease(platform, cluster, name)["spec"]
        # Taken over (a transition from killed-run), then released at the end of the run.
        assert after.get("holderIdentity") is None and after.get("leaseTransitions") == 1, after
    history = deployer(deploy_dir, "-o", "json", "history", name).json()
    # The killed run's record is marked abandoned by the run that took its lock: history tells the
    # truth about it, instead of "in progress" forever.
    assert [r["outcome"] for r in history["local-onprem"]] == ["abandoned", "succeeded"]


def test_wait_for_lock_waits_until_the_holder_releases_it(deploy_dir, platform) -> None:
    """The lock is held by a run that stays alive (its lease is long), so the deploy must wait for
    its release, however long its own build and preflight take."""
    from deployer.app import App, utcnow
    from deployer.config.loader import load_config
    from deployer.pipeline import locking

    name = unique("web")
    write_service(deploy_dir, _service(name))
    config = load_config(deploy_dir)
    env = {**os.environ, "DEPLOYER_BUILDAH_ROOT": str(platform.state_dir / "buildah")}
    with App(config) as other:
        held = locking.try_acquire(other.client(config.cluster("local-gke")), "apps", name, "https://ci/job/first",
                                   utcnow(), 3600)
        assert isinstance(held, locking.HeldLock)
        waiting = subprocess.Popen([sys.executable, "-m", "deployer", "--config-dir", str(deploy_dir), "-o", "json",
                                    "deploy", name, "--env", "staging", "--commit", unique("c"),
                                    "--wait-for-lock", "300s"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for_line(waiting, "waiting for the deploy lock held by https://ci/job/first", 120)
            assert waiting.poll() is None
            # Nothing is written while it waits: all or none of the locks, then the records.
            records = deployer(deploy_dir, "-o", "json", "history", name).json()
            assert records == {"local-gke": [], "local-onprem": []}
        finally:
            held.release()
        try:
            out, err = waiting.communicate(timeout=120)
        finally:
            waiting.kill()
    assert waiting.returncode == 0, out + err
    assert [c["outcome"] for c in json.loads(out)["clusters"]] == ["succeeded", "succeeded"]
    assert lease(platform, "local-gke", name)["spec"].get("holderIdentity") is None


def test_no_secret_in_any_output(deploy_dir, platform, tmp_path, monkeypatch) -> None:
    from deployer.credentials.google import GoogleToken
    from deployer_localplatform.gcp_standin.client import AdminClient

    # Every bearer token deployer sends to local-gke, taken where the client asks for it.
    sent: list[str] = []
    token_of = GoogleToken.token

    def recording(self: GoogleToken) -> str:
        sent.append(token_of(self))
        return sent[-1]

    monkeypatch.setattr(GoogleToken, "token", recording)
    standin = AdminClient(platform.gcp_url)
    issued_before = len(standin.state()["tokens"])

    name = unique("web")
    write_service(deploy_dir, _service(name))
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    deployed = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"),
                        "--report", str(report), "--junit", str(junit))
    # The outputs are worth searching only if the run talked to both clusters.
    assert deployed.exit_code == ExitCode.OK, deployed.stdout + deployed.stderr
    assert [c["outcome"] for c in deployed.json()["clusters"]] == ["succeeded", "succeeded"]
    outputs = [deployed, deployer(deploy_dir, "history", name), deployer(deploy_dir, "status", name)]
    assert [o.exit_code for o in outputs] == [ExitCode.OK] * 3, [o.stderr for o in outputs]
    text = "".join(o.stdout + o.stderr for o in outputs) + report.read_text() + junit.read_text()

    # Every token the stand-in issued meanwhile is one deployer sent (none escapes the search).
    issued = standin.state()["tokens"][issued_before:]
    assert issued and {t["email"] for t in issued} == {platform.cluster("local-gke").service_account_email}
    assert len(set(sent)) == len(issued), f"{len(set(sent))} tokens sent, {len(issued)} issued"

    secrets = [(f"{cluster.name} {path.name}", path.read_text().strip()) for cluster in platform.clusters.values()
               for path in [cluster.admin_token_file, *cluster.user_token_files.values()]]
    secrets += [(f"local-gke access token #{i}", token) for i, token in enumerate(dict.fromkeys(sent))]
    gke = platform.cluster("local-gke")
    for key_file in (gke.service_account_key_file, gke.admin_key_file):
        private_key = json.loads(key_file.read_text())["private_key"]
        secrets.append((f"{key_file.name} private key", private_key.splitlines()[1]))
    # Compared apart, so that a failure names the secret and never prints it.
    leaked = [label for label, secret in secrets if secret in text]
    assert not leaked, f"secrets in deployer's output: {leaked}"


def _wait_for_line(proc: subprocess.Popen, needle: str, seconds: float) -> None:
    """Read the child's stderr until ``needle`` appears (the child is mid-wait when it does)."""
    _wait_for_lines(proc, [needle], seconds)


def _wait_for_lines(proc: subprocess.Popen, needles: list[str], seconds: float) -> None:
    """Read the child's stderr until every one of ``needles`` has appeared, in any order."""
    deadline = time.monotonic() + seconds
    seen: list[str] = []
    missing = list(needles)
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        missing = [needle for needle in missing if needle not in line]
        if not missing:
            return
    raise AssertionError(f"{missing!r} never appeared; child said:\n{''.join(seen)}")


def test_a_cluster_dropped_from_the_environment_is_named_then_deleted_on_request(deploy_dir, platform) -> None:
    name = unique("web")
    spec = _service(name)
    write_service(deploy_dir, spec)
    assert deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("c")).exit_code == 0

    spec["environments"]["staging"]["clusters"] = ["local-onprem"]  # the service leaves local-gke
    write_service(deploy_dir, spec)
    kept = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"))
    assert kept.exit_code == 0, kept.stdout + kept.stderr
    assert any("local-gke still runs" in note and "unmanaged" in note for note in kept.json()["notes"])
    assert deployment(platform, "local-gke", name)["status"]["availableReplicas"] == 2

    removed = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"),
                       "--delete-unmanaged")
    assert removed.exit_code == 0, removed.stdout + removed.stderr
    assert any(f"deleted the unmanaged copy of {name}" in note for note in removed.json()["notes"])
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as gone:
        deployment(platform, "local-gke", name)
    assert gone.value.status == 404
    again = deployer(deploy_dir, "-o", "json", "deploy", name, "--env", "staging", "--commit", unique("c"))
    assert not again.json()["notes"]


def test_a_second_run_by_the_same_actor_is_refused_while_the_first_holds_the_lock(deploy_dir, platform) -> None:
    """Two runs by one user@host (or one Jenkins job) are two holders: the second is refused and
    told who holds the lock; before, the same actor counted as the holder and went ahead."""
    from deployer.app import App, utcnow
    from deployer.config.loader import load_config
    from deployer.pipeline import locking

    name = unique("web")
    write_service(deploy_dir, _service(name))
    config = load_config(deploy_dir)
    with App(config) as first_run:
        held = locking.try_acquire(first_run.client(config.cluster("local-gke")), "apps", name, "ana@build-host",
                                   utcnow(), 3600)
        assert isinstance(held, locking.HeldLock)
        try:
            second = deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", unique("c"),
                              "--actor", "ana@build-host")
            assert second.exit_code == ExitCode.LOCKED, second.stdout + second.stderr
            assert "being deployed by ana@build-host" in second.stderr
            assert lease(platform, "local-onprem", name) is None or \
                lease(platform, "local-onprem", name)["spec"].get("holderIdentity") is None  # released: all or none
        finally:
            held.release()
