"""`deployer promote` and `promoteFrom` on both local clusters, with real buildah (counted through a
wrapper on PATH that runs the real one), the real registry and real API servers: staging builds
once, production takes staging's digest without a second build, and a production deploy of a
commit staging never ran is refused with nothing built or written."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
import yaml

from deployer.errors import ExitCode
from tests.conftest import REPO, run_cli
from tests.integration.kit import admin_api
from tests.integration.test_deploy import DEPLOYMENT

pytestmark = pytest.mark.integration

STAGING_NS, PRODUCTION_NS = "apps", "apps-production"


def service(name: str, staging: list[str], production: list[str]) -> dict:
    """Staging in apps, production in apps-production and promoted from staging."""
    return {
        "name": name, "namespace": STAGING_NS,
        "image": {"name": "web", "context": str(REPO / "apps" / "hello")},
        "manifests": "manifests",
        "values": {"replicas": 1, "selector": name, "greeting": "hi", "neverReadyOn": []},
        "environments": {"staging": {"clusters": staging},
                         "production": {"clusters": production, "namespace": PRODUCTION_NS,
                                        "promoteFrom": "staging"}},
        "rollout": {"timeout": "60s"},
    }


@pytest.fixture
def folder(tmp_path: Path, synced_config_dir: Path, platform, monkeypatch) -> Path:
    """A config folder with the platform's clusters and the test's manifests."""
    config = tmp_path / "config"
    (config / "services" / "manifests").mkdir(parents=True)
    (config / "charts").symlink_to(REPO / "charts")
    (config / "clusters").symlink_to(synced_config_dir / "clusters")
    (config / "services" / "manifests" / "deployment.yaml.j2").write_text(DEPLOYMENT)
    monkeypatch.setenv("DEPLOYER_BUILDAH_ROOT", str(platform.state_dir / "buildah"))
    return config


@pytest.fixture
def buildah_calls(tmp_path: Path, monkeypatch) -> Path:
    """A log of every buildah command deployer runs: a wrapper first on PATH records its arguments
    and runs the real buildah."""
    real = shutil.which("buildah")
    assert real, "buildah is installed by `make prepare`"
    bin_dir, log = tmp_path / "bin", tmp_path / "buildah-calls"
    bin_dir.mkdir()
    log.touch()
    wrapper = bin_dir / "buildah"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return log


def calls(log: Path, verb: str) -> int:
    """How many buildah commands with ``verb`` (bud, push) ran."""
    return sum(1 for line in log.read_text().splitlines() if f" {verb} " in f" {line} ")


def write(folder: Path, spec: dict) -> None:
    (folder / "services" / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec))


def deployer(folder: Path, *args: str):
    return run_cli("--config-dir", str(folder), *args)


def live_image(platform, cluster: str, name: str, namespace: str) -> str:
    """The image of the service's Deployment, read with the admin token."""
    from kubernetes import client

    with admin_api(platform.cluster(cluster)) as api:
        dep = client.AppsV1Api(api).read_namespaced_deployment(name, namespace)
    return dep.spec.template.spec.containers[0].image


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_staging_then_promote_runs_one_build_on_every_cluster_of_both(folder, platform, buildah_calls,
                                                                      tmp_path) -> None:
    # Staging on local-onprem only, production on both: the promotion must copy the digest into
    # local-gke's registry, which staging never pushed to.
    name, commit = unique("prom"), unique("c")
    write(folder, service(name, ["local-onprem"], ["local-gke", "local-onprem"]))
    staged = deployer(folder, "deploy", name, "--env", "staging", "--commit", commit)
    assert staged.exit_code == 0, staged.stdout + staged.stderr
    assert (calls(buildah_calls, "bud"), calls(buildah_calls, "push")) == (1, 1)
    staging_image = live_image(platform, "local-onprem", name, STAGING_NS)
    digest = staging_image.split("@")[1]

    dry = deployer(folder, "-o", "json", "promote", name, "--from", "staging", "--to", "production", "--dry-run")
    assert dry.exit_code == 0, dry.stdout + dry.stderr
    assert deployer(folder, "-o", "json", "history", name, "--env", "production").json() == {
        "local-gke": [], "local-onprem": []}

    report, junit = tmp_path / "promote.json", tmp_path / "promote.xml"
    promoted = deployer(folder, "-o", "json", "promote", name, "--from", "staging", "--to", "production",
                        "--report", str(report), "--junit", str(junit))
    assert promoted.exit_code == 0, promoted.stdout + promoted.stderr
    result = promoted.json()
    assert result["action"] == "promote" and result["environment"] == "production"
    assert [c["outcome"] for c in result["clusters"]] == ["succeeded", "succeeded"]
    assert result["notes"][0] == f"promoted {digest} (commit {commit}) from staging (r1 on local-onprem)"
    assert "copying" in promoted.stderr and "no rebuild" in promoted.stderr
    assert report.read_text().strip() == promoted.stdout.strip()
    assert 'name="local-gke / deploy:wait"' in junit.read_text()
    assert (calls(buildah_calls, "bud"), calls(buildah_calls, "push")) == (1, 1)   # nothing built or pushed

    for cluster in ("local-gke", "local-onprem"):
        image = live_image(platform, cluster, name, PRODUCTION_NS)
        assert image == f"{platform.cluster(cluster).registry}/web@{digest}"   # its own registry, staging's digest
    from deployer.images.backends import Registry

    assert Registry().digest(live_image(platform, "local-gke", name, PRODUCTION_NS)) == digest

    history = deployer(folder, "-o", "json", "history", name, "--env", "production").json()
    for cluster in ("local-gke", "local-onprem"):
        [record] = history[cluster]
        assert (record["outcome"], record["digest"], record["commit"]) == ("succeeded", digest, commit)
        assert record["promoted_from"] == {"environment": "staging", "revisions": {"local-onprem": 1}}
    text = deployer(folder, "history", name, "--env", "production").stdout
    assert "promoted from staging (r1 on local-onprem)" in text


def test_a_production_deploy_of_a_commit_staging_never_ran_is_refused(folder, platform, buildah_calls) -> None:
    name = unique("prom")
    write(folder, service(name, ["local-onprem"], ["local-gke"]))
    refused = deployer(folder, "deploy", name, "--env", "production", "--commit", unique("never-staged"))
    assert refused.exit_code == ExitCode.USAGE, refused.stdout + refused.stderr
    assert "never ran successfully on every staging cluster" in refused.stderr
    assert f"`deployer promote {name} --from staging --to production`" in refused.stderr
    assert buildah_calls.read_text() == ""   # nothing built
    assert deployer(folder, "-o", "json", "history", name, "--env", "production").json() == {"local-gke": []}

    nothing = deployer(folder, "promote", name, "--from", "staging", "--to", "production")
    assert nothing.exit_code == ExitCode.USAGE
    assert "cluster local-onprem has no staging release" in nothing.stderr


def test_promote_is_refused_while_staging_clusters_run_different_digests(folder, platform) -> None:
    name = unique("prom")
    write(folder, service(name, ["local-onprem", "local-gke"], ["local-gke"]))
    assert deployer(folder, "deploy", name, "--env", "staging", "--commit", unique("one")).exit_code == 0
    half = deployer(folder, "deploy", name, "--env", "staging", "--commit", unique("two"), "--cluster", "local-onprem")
    assert half.exit_code == 0, half.stdout + half.stderr

    refused = deployer(folder, "promote", name, "--from", "staging", "--to", "production")
    assert refused.exit_code == ExitCode.USAGE, refused.stdout + refused.stderr
    assert "its clusters disagree: local-gke runs sha256:" in refused.stderr
    assert "local-onprem runs sha256:" in refused.stderr and "(r2)" in refused.stderr
    assert deployer(folder, "-o", "json", "history", name, "--env", "production").json() == {"local-gke": []}
