"""A run with nothing to change sends no write to any API server: proven with each API server's
own audit log (the platform logs every write with its user agent), not with deployer's report.

A no-op server-side apply leaves an object's resourceVersion alone, so comparing versions cannot
tell "nothing sent" from "sent and ignored"; the audit log can. Strict dry runs, access reviews
and TokenRequests are requests that persist nothing, so they are not counted as writes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from deployer.kube.client import USER_AGENT
from tests.conftest import REPO
from tests.integration.kit import CLUSTERS
from tests.integration.test_deploy import _service, deployer, write_service

pytestmark = pytest.mark.integration

# Creates that persist nothing: reviews answer a question, a TokenRequest returns a token.
NOT_STORED = {"selfsubjectaccessreviews", "selfsubjectreviews", "subjectaccessreviews",
              "localsubjectaccessreviews", "tokenreviews"}
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


@pytest.fixture
def deploy_dir(tmp_path: Path, synced_config_dir: Path, platform, monkeypatch) -> Path:
    (tmp_path / "charts").symlink_to(REPO / "charts")
    (tmp_path / "clusters").symlink_to(synced_config_dir / "clusters")
    (tmp_path / "services").mkdir()
    monkeypatch.setenv("DEPLOYER_BUILDAH_ROOT", str(platform.state_dir / "buildah"))
    return tmp_path


@dataclass(frozen=True)
class AuditMark:
    """Where each cluster's audit log ended when the mark was taken."""

    offsets: dict[str, int]


def mark(platform) -> AuditMark:
    return AuditMark({name: _log(platform, name).stat().st_size for name in CLUSTERS})


def deployer_writes(platform, since: AuditMark) -> dict[str, list[str]]:
    """Per cluster, the writes deployer sent since the mark, as 'verb resource namespace/name'."""
    found: dict[str, list[str]] = {}
    for name in CLUSTERS:
        log = _log(platform, name)
        assert log.stat().st_size >= since.offsets[name], f"{log} was rotated during the test"
        with log.open(encoding="utf-8") as handle:
            handle.seek(since.offsets[name])
            events = [json.loads(line) for line in handle if line.strip()]
        found[name] = [_describe(e) for e in events if _is_deployer_write(e)]
    return found


def _log(platform, cluster: str) -> Path:
    path = platform.cluster(cluster).audit_log
    assert path is not None and path.is_file(), f"{cluster} has no audit log"
    return path


def _is_deployer_write(event: dict) -> bool:
    ref = event.get("objectRef") or {}
    return (event.get("userAgent") == USER_AGENT and event.get("stage") == "ResponseComplete"
            and event.get("verb") in WRITE_VERBS and ref.get("resource") not in NOT_STORED
            and ref.get("subresource") != "token" and "dryRun=All" not in event.get("requestURI", ""))


def _describe(event: dict) -> str:
    ref = event.get("objectRef") or {}
    return f"{event['verb']} {ref.get('resource')} {ref.get('namespace', '')}/{ref.get('name', '')}"


def test_a_second_cluster_sync_sends_no_write(platform, synced_config_dir) -> None:
    # The module's first sync made both clusters current (the deploy test below shows the same
    # check seeing writes when a run makes some).
    before = mark(platform)
    again = deployer(synced_config_dir, "cluster", "sync", "--all")
    assert again.exit_code == 0, again.stderr
    writes = deployer_writes(platform, before)
    assert writes == {name: [] for name in CLUSTERS}, writes


def test_a_redeploy_of_the_running_release_sends_no_write_not_even_the_lock(platform, deploy_dir) -> None:
    name = f"quiet-{uuid.uuid4().hex[:6]}"
    write_service(deploy_dir, _service(name))
    commit = f"c-{uuid.uuid4().hex[:6]}"

    first_mark = mark(platform)
    first = deployer(deploy_dir, "deploy", name, "--env", "staging", "--commit", commit)
    assert first.exit_code == 0, first.stderr
    first_writes = deployer_writes(platform, first_mark)
    for cluster in CLUSTERS:  # the detector sees a real deploy's writes: lock, record, objects
        assert any(w.startswith("patch deployments apps/") for w in first_writes[cluster]), first_writes
        assert any(" leases apps/" in w for w in first_writes[cluster]), first_writes

    second_mark = mark(platform)
    second = deployer(deploy_dir, "--detailed-exitcode", "deploy", name, "--env", "staging", "--commit", commit)
    assert second.exit_code == 0, second.stdout + second.stderr
    assert "already on r1" in second.stdout
    writes = deployer_writes(platform, second_mark)
    assert writes == {cluster: [] for cluster in CLUSTERS}, writes


def test_a_no_change_sync_imports_no_http_library_but_the_standard_one(platform, synced_config_dir) -> None:
    # urllib3, requests and the official client cost every run their imports (issue 13): requests
    # to the API servers, Google's token endpoint and the GKE API all go through http.client.
    import subprocess
    import sys

    code = ("import sys; from deployer.cli.main import main; "
            f"rc = main(['--config-dir', {str(synced_config_dir)!r}, 'cluster', 'sync', '--all']); "
            "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & "
            "{'urllib3', 'requests', 'kubernetes', 'google', 'http'})); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "LOADED ['google', 'http']" in done.stdout, done.stdout  # google-auth for local-gke's key
