"""Deploys through a fault proxy in front of each real API server (proxy.py): throttling, outages,
broken connections, latency, expired and revoked tokens, an API server that goes away mid-deploy.
Each case deploys r1 with no fault, then r2 ("two") under the fault, and judges the end state of
every cluster read straight from the real API server (conftest.judge): on a known release the
records name, no lock held, nothing deleted that deployer does not own, no token in the output."""

from __future__ import annotations

import socket
import time

import pytest
import yaml

from deployer.errors import ExitCode
from tests.integration.faults.conftest import end_state
from tests.integration.faults.proxy import Fault, FaultProxy, Seen
from tests.integration.kit import admin_api

pytestmark = pytest.mark.integration

ONPREM, GKE = "local-onprem", "local-gke"
APPLY = ("PATCH",)


def deployment_path(name: str) -> str:
    return rf"/apis/apps/v1/namespaces/apps/deployments/{name}$"


def answered_after(log: list[Seen], fault_entry: Seen) -> Seen:
    """The next request of the same method and path after ``fault_entry``."""
    same = (fault_entry.method, fault_entry.path)
    return next(s for s in log if s.at > fault_entry.at and (s.method, s.path) == same)


def retry_lines(stderr: str, cluster: str) -> list[str]:
    return [line for line in stderr.splitlines() if f"s [{cluster}] " in line and "retrying in" in line]


def test_throttling_429_with_retry_after_on_applies_and_gets_is_waited_out(released, proxied, judge) -> None:
    release = released()
    onprem: FaultProxy = proxied[ONPREM]
    onprem.inject(Fault("status", APPLY, deployment_path(release.name), query_lacks="dryRun", times=2,
                        status=429, reason="TooManyRequests", retry_after="1"))
    proxied[GKE].inject(Fault("status", ("GET",), deployment_path(release.name), times=1, status=429,
                              reason="TooManyRequests", retry_after="2"))

    result = release.deploy(greeting="two")
    verdict = judge(result, release.name)

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert {verdict.ends[c].current for c in (ONPREM, GKE)} == {2}
    for cluster, proxy, wait in ((ONPREM, onprem, 1.0), (GKE, proxied[GKE], 2.0)):
        log = proxy.log()
        throttled = [s for s in log if s.status == 429]
        assert len(throttled) == (2 if cluster == ONPREM else 1), throttled
        for entry in throttled:
            # The retry came no sooner than the server asked, and it was answered.
            assert answered_after(log, entry).at - entry.at >= wait - 0.05
        assert len(retry_lines(result.stderr, cluster)) == len(throttled), result.stderr
    assert (f"[{ONPREM}] API server asked to retry (429) during apply Deployment apps/{release.name}"
            in result.stderr), result.stderr
    assert "retrying in 1.0 s (2/5)" in result.stderr and "retrying in 1.0 s (3/5)" in result.stderr


def test_a_burst_of_503s_is_ridden_out_within_the_retry_budget(released, proxied, judge) -> None:
    release = released()
    for proxy in proxied.values():
        proxy.inject(Fault("status", (), r"/apis/apps/v1/namespaces/apps/deployments", times=3, status=503))

    result = release.deploy(greeting="two")
    verdict = judge(result, release.name)

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert {verdict.ends[c].current for c in (ONPREM, GKE)} == {2}
    for cluster, proxy in proxied.items():
        assert sum(s.status == 503 for s in proxy.log()) == 3
        assert len(retry_lines(result.stderr, cluster)) == 3


def test_a_permanent_503_fails_that_cluster_cleanly_and_the_other_follows_the_policy(released, proxied,
                                                                                     judge) -> None:
    release = released()  # onFailure: rollback-failed
    proxied[GKE].inject(Fault("status", APPLY, deployment_path(release.name), query_lacks="dryRun", times=None,
                              status=503))

    result = release.deploy(greeting="two")
    verdict = judge(result, release.name)

    assert result.exit_code == ExitCode.PARTIAL, result.stdout + result.stderr
    assert verdict.outcome(ONPREM) == "succeeded" and verdict.outcome(GKE) != "succeeded"
    # local-onprem keeps the new release; local-gke never took it and its records say it runs r1.
    assert verdict.ends[ONPREM].current == 2 and verdict.ends[ONPREM].greeting == "two"
    assert verdict.ends[GKE].current == 1 and verdict.ends[GKE].greeting == "one"
    assert verdict.ends[GKE].records == [(1, "succeeded"), (2, "failed")]
    gke = next(c for c in verdict.report["clusters"] if c["cluster"] == GKE)
    assert (gke["end"]["kind"], gke["end"]["revision"], gke["end"]["failedRevision"]) == ("unchanged", 1, 2)
    assert gke["release"] == "unchanged, on r1 (r2 failed before any object was written)"
    assert "HTTP 503" in result.stdout


def test_resets_on_gets_and_applies_are_retried(released, proxied, judge) -> None:
    release = released()
    for proxy in proxied.values():
        proxy.inject(Fault("reset", ("GET",), deployment_path(release.name), times=1))
        proxy.inject(Fault("reset-after", APPLY, deployment_path(release.name), query_lacks="dryRun", times=1))

    result = release.deploy(greeting="two")
    verdict = judge(result, release.name)

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert {verdict.ends[c].current for c in (ONPREM, GKE)} == {2}
    for cluster, proxy in proxied.items():
        assert sorted(s.action for s in proxy.log() if s.action.startswith("reset")) == ["reset", "reset-after"]
        assert sum("connection reset" in line for line in retry_lines(result.stderr, cluster)) == 2


def test_a_record_create_whose_answer_is_lost_is_read_back_not_sent_again(released, proxied, judge) -> None:
    release = released()
    # The API server creates the record; deployer's connection is reset before the answer.
    proxied[ONPREM].inject(Fault("reset-after", ("POST",), r"/api/v1/namespaces/apps/configmaps$", times=1))

    result = release.deploy(greeting="two")
    verdict = judge(result, release.name)

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    # One create of r2, never a second: the read-back found this run's own record.
    posts = [s for s in proxied[ONPREM].log() if s.method == "POST" and s.path.endswith("/configmaps")]
    assert [s.action for s in posts] == ["reset-after"]
    assert verdict.ends[ONPREM].records == [(1, "succeeded"), (2, "succeeded")]
    assert verdict.ends[GKE].records == [(1, "succeeded"), (2, "succeeded")]


def test_two_seconds_of_latency_per_request_is_slower_and_correct(released, proxied, judge) -> None:
    release = released()
    proxied[ONPREM].inject(Fault("delay", (), "", times=None, seconds=2.0))

    started = time.monotonic()
    result = release.deploy(greeting="two")
    took = time.monotonic() - started
    verdict = judge(result, release.name)

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert {verdict.ends[c].current for c in (ONPREM, GKE)} == {2}
    delayed = [s for s in proxied[ONPREM].log() if s.action == "delay"]
    # Requests to one cluster go one after another in a deploy: the run took their delays at least.
    assert len(delayed) >= 5 and took >= 2.0 * 5
    assert not retry_lines(result.stderr, ONPREM)


def test_a_401_once_reads_the_credential_again_and_succeeds(released, proxied, judge) -> None:
    release = released()
    for proxy in proxied.values():
        proxy.inject(Fault("status", APPLY, deployment_path(release.name), query_lacks="dryRun", times=1,
                           status=401, reason="Unauthorized"))

    result = release.deploy(greeting="two")
    verdict = judge(result, release.name)

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert {verdict.ends[c].current for c in (ONPREM, GKE)} == {2}
    again = {}
    for cluster, proxy in proxied.items():
        log = proxy.log()
        rejected = next(s for s in log if s.status == 401)
        retried = answered_after(log, rejected)
        assert retried.status == 200
        again[cluster] = retried.credential != rejected.credential
    # local-onprem's token file was read again (the same token: it did not rotate); local-gke's
    # key was exchanged with Google again for a new access token.
    assert again == {ONPREM: False, GKE: True}
    assert len(retry_lines(result.stderr, ONPREM)) == 0  # a fresh credential is not a retry of the server


def test_the_registry_down_during_push_fails_before_any_cluster_is_written(released, proxied, judge,
                                                                           fault_dir) -> None:
    release = released()
    with socket.socket() as probe:  # a port nothing listens on: the registry is down
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    path = fault_dir / "clusters" / f"{ONPREM}.yaml"
    document = yaml.safe_load(path.read_text())
    document["registry"] = f"127.0.0.1:{dead}/onprem"
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    result = release.deploy(greeting="two")
    verdict = judge(result, release.name)

    assert result.exit_code == ExitCode.TOOL, result.stdout + result.stderr
    assert f"127.0.0.1:{dead}" in result.stdout
    # No cluster was written: no lock taken, no record, no apply; both still run r1.
    for cluster, proxy in proxied.items():
        assert not [s for s in proxy.log() if s.method in ("POST", "PUT", "PATCH", "DELETE")
                    and "dryRun" not in s.query and not s.path.endswith("reviews")]  # reviews store nothing
        assert verdict.ends[cluster].records == [(1, "succeeded")] and verdict.ends[cluster].greeting == "one"


def test_a_401_always_is_a_credential_error_and_nothing_is_written(released, proxied, judge) -> None:
    release = released()
    proxied[ONPREM].inject(Fault("status", (), "", times=None, status=401, reason="Unauthorized"))

    result = release.deploy(greeting="two")
    verdict = judge(result, release.name)

    assert result.exit_code == ExitCode.CREDENTIALS, result.stdout + result.stderr
    assert "401 Unauthorized" in result.stdout
    # Nothing written on either cluster: both still run r1 with its one record.
    for cluster in (ONPREM, GKE):
        assert verdict.ends[cluster].records == [(1, "succeeded")] and verdict.ends[cluster].greeting == "one"


def test_an_api_server_that_goes_away_mid_deploy_and_comes_back_ends_on_a_known_release(released, proxied,
                                                                                        judge) -> None:
    release = released()
    # The first real apply of the Deployment stops the API server for 3 s: connections refused.
    proxied[GKE].inject(Fault("sever", APPLY, deployment_path(release.name), query_lacks="dryRun", times=1,
                              seconds=3.0))

    result = release.deploy(greeting="two")
    verdict = judge(result, release.name)

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert {verdict.ends[c].current for c in (ONPREM, GKE)} == {2}
    assert any("could not connect" in line for line in retry_lines(result.stderr, GKE)), result.stderr


def test_a_lock_create_whose_answer_is_lost_is_read_back_and_held(released, proxied, judge, platform) -> None:
    from kubernetes import client

    release = released()
    with admin_api(platform.cluster(GKE)) as api:  # as before a service's first deploy: no Lease yet
        client.CoordinationV1Api(api).delete_namespaced_lease(f"deployer-lock.{release.name}", "apps")
    # The API server creates the Lease; deployer's connection is reset before the answer.
    proxied[GKE].inject(Fault("reset-after", ("POST",), r"/namespaces/apps/leases$", times=1))

    result = release.deploy(greeting="two")
    verdict = judge(result, release.name)

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert [s.action for s in proxied[GKE].log() if s.method == "POST" and s.path.endswith("/leases")] == [
        "reset-after"]
    assert {verdict.ends[c].current for c in (ONPREM, GKE)} == {2}


def test_an_api_server_gone_past_every_retry_is_reported_lost_then_settled_by_the_next_deploy(
        released, proxied, judge, platform) -> None:
    release = released()
    # local-gke's API server goes away at the first real apply of the Deployment for longer than
    # a request's retries last (20 s of waiting): its apply, record update and lock release fail.
    proxied[GKE].inject(Fault("sever", APPLY, deployment_path(release.name), query_lacks="dryRun", times=1,
                              seconds=45.0))

    result = release.deploy(greeting="two")
    proxied[GKE].restore()  # it comes back: judge reads the state it was left in
    verdict = judge(result, release.name, lost=frozenset({GKE}))

    assert result.exit_code == ExitCode.PARTIAL, result.stdout + result.stderr
    assert verdict.outcome(ONPREM) == "succeeded" and verdict.ends[ONPREM].current == 2
    gke = next(c for c in verdict.report["clusters"] if c["cluster"] == GKE)
    assert (gke["end"]["kind"], gke["end"]["revision"], gke["end"]["failedRevision"]) == ("lost", 1, 2)
    assert gke["release"].startswith("lost while r2 was being deployed: it runs r2 or r1")
    assert "deployer status" in gke["release"]
    # What the report says holds: local-gke runs r1 (its apply never landed), r2's record is left in
    # progress, and its lock is this run's until its lease runs out (30 s, not renewed any more).
    assert verdict.ends[GKE].greeting == "one" and verdict.ends[GKE].records == [(1, "succeeded"), (2, "in-progress")]
    # (Read after the run: the lease may have run out already; it never reaches further than one lease.)
    assert verdict.ends[GKE].lock_holder is not None and verdict.ends[GKE].lock_expires_in <= 30

    # The next deploy waits for that lease and leaves every cluster on a known release: local-gke
    # takes the new release as r3 (r2 stays as the record of the run that lost it).
    again = release.deploy("--wait-for-lock", "2m", greeting="two")
    assert again.exit_code == ExitCode.OK, again.stdout + again.stderr
    settled = end_state(platform, release.name)
    assert all(end.known and end.lock_holder is None for end in settled.values()), settled
    assert settled[GKE].current == 3 and settled[GKE].greeting == "two"
