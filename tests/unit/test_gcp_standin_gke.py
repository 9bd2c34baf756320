"""The GCP stand-in's GKE clusters.get and IAM Credentials generateAccessToken, over real HTTP,
driven by the real google-auth (its impersonated_credentials for generateAccessToken)."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
import requests
from google.auth import impersonated_credentials
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request

from deployer_localplatform.gcp_standin import AdminClient, GcpStandIn
from tests.unit.test_gcp_standin import PROJECT, SCOPES, admin, bearer, clock, google_error, refreshed, review, standin

__all__ = ["admin", "clock", "standin"]  # fixtures, shared with test_gcp_standin

CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
CLUSTER = f"projects/{PROJECT}/locations/europe-west1/clusters/gke-1"


def cluster_url(standin, resource: str = CLUSTER) -> str:
    return f"{standin.base_url}/v1/{resource}"


def member(account_id: str) -> str:
    return f"serviceAccount:{account_id}@{PROJECT}.iam.gserviceaccount.com"


def token_of(admin, account_id: str, scopes=SCOPES) -> str:
    return refreshed(admin.create_service_account_with_key(PROJECT, account_id), scopes=scopes).token


@pytest.fixture
def registered(admin):
    admin.add_gke_cluster(PROJECT, "europe-west1", "gke-1", "127.0.0.1:6443", CA)


def test_clusters_get_answers_endpoint_and_base64_ca_to_a_cluster_viewer(standin, admin, registered):
    token = token_of(admin, "viewer")
    admin.grant(PROJECT, "roles/container.clusterViewer", member("viewer"))
    answer = requests.get(cluster_url(standin), headers=bearer(token))
    assert answer.status_code == 200, answer.text
    cluster = answer.json()
    assert cluster["name"] == "gke-1" and cluster["location"] == "europe-west1" and cluster["status"] == "RUNNING"
    assert cluster["endpoint"] == "127.0.0.1:6443"
    assert base64.b64decode(cluster["masterAuth"]["clusterCaCertificate"]).decode() == CA
    assert cluster["selfLink"] == f"https://container.googleapis.com/v1/{CLUSTER}"


def test_clusters_get_without_the_permission_is_403_before_any_404(standin, admin, registered):
    token = token_of(admin, "nobody")
    for resource in (CLUSTER, f"projects/{PROJECT}/locations/europe-west1/clusters/missing"):
        denied = requests.get(cluster_url(standin, resource), headers=bearer(token))
        assert google_error(denied) == (403, "PERMISSION_DENIED")
        expected = f'Required "container.clusters.get" permission(s) for "{resource}".'
        assert denied.json()["error"]["message"] == expected
    # a role that does not grant it (token creator) changes nothing
    admin.grant(PROJECT, "roles/iam.serviceAccountTokenCreator", member("nobody"))
    assert requests.get(cluster_url(standin), headers=bearer(token)).status_code == 403


def test_clusters_get_of_an_unknown_cluster_is_googles_404(standin, admin, registered):
    token = token_of(admin, "owner1")
    admin.grant(PROJECT, "roles/owner", member("owner1"))
    resource = f"projects/{PROJECT}/locations/europe-west1/clusters/missing"
    missing = requests.get(cluster_url(standin, resource), headers=bearer(token))
    assert google_error(missing) == (404, "NOT_FOUND")
    assert missing.json()["error"]["message"] == f"Not found: {resource}."
    assert missing.json()["error"]["errors"][0]["reason"] == "notFound"


def test_clusters_get_needs_the_cloud_platform_scope(standin, admin, registered):
    token = token_of(admin, "narrow", scopes=["https://www.googleapis.com/auth/userinfo.email"])
    admin.grant(PROJECT, "roles/container.admin", member("narrow"))
    assert google_error(requests.get(cluster_url(standin), headers=bearer(token))) == (403, "PERMISSION_DENIED")
    assert google_error(requests.get(cluster_url(standin))) == (401, "UNAUTHENTICATED")


def test_google_api_requests_are_counted_by_method_and_path_and_admin_calls_are_not(standin, admin, registered):
    before = admin.requests()
    requests.get(cluster_url(standin))
    requests.get(cluster_url(standin))
    admin.state()
    counts = admin.requests()
    assert counts[f"GET /v1/{CLUSTER}"] == before.get(f"GET /v1/{CLUSTER}", 0) + 2
    assert not any(path.startswith("GET /_admin") for path in counts)


def impersonating(admin, source_id: str, target: str, standin, lifetime: int = 3600):
    source = refreshed(admin.create_service_account_with_key(PROJECT, source_id))
    return impersonated_credentials.Credentials(
        source_credentials=source, target_principal=target, target_scopes=SCOPES, lifetime=lifetime,
        iam_endpoint_override=f"{standin.base_url}/v1/projects/-/serviceAccounts/{target}:generateAccessToken")


def test_generate_access_token_mints_a_token_of_the_target_for_a_token_creator(standin, admin, clock):
    target = admin.create_service_account_with_key(PROJECT, "deployer")["client_email"]
    admin.grant(PROJECT, "roles/iam.serviceAccountTokenCreator", member("ci-agent"))
    creds = impersonating(admin, "ci-agent", target, standin, lifetime=1200)
    creds.refresh(Request())
    assert review(standin.base_url, creds.token)["status"]["user"]["username"] == target
    expected = dt.datetime.fromtimestamp(clock() + 1200, dt.UTC).replace(tzinfo=None)
    assert abs((creds.expiry - expected).total_seconds()) <= 2


def test_generate_access_token_without_the_grant_is_googles_403(standin, admin):
    target = admin.create_service_account_with_key(PROJECT, "deployer")["client_email"]
    creds = impersonating(admin, "ci-nogrant", target, standin)
    with pytest.raises(RefreshError) as refused:
        creds.refresh(Request())
    denied = "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
    assert denied in refused.value.args[1]
    # an unknown target answers the same, so a caller cannot probe for accounts
    admin.grant(PROJECT, "roles/iam.serviceAccountTokenCreator", member("ci-nogrant"))
    ghost = impersonating(admin, "ci-nogrant", f"ghost@{PROJECT}.iam.gserviceaccount.com", standin)
    with pytest.raises(RefreshError, match="Unable to acquire"):
        ghost.refresh(Request())


def test_generate_access_token_refuses_long_lifetimes_missing_scope_and_delegates(standin, admin):
    target = admin.create_service_account_with_key(PROJECT, "deployer")["client_email"]
    admin.grant(PROJECT, "roles/iam.serviceAccountTokenCreator", member("ci-agent"))
    token = token_of(admin, "ci-agent")
    url = f"{standin.base_url}/v1/projects/-/serviceAccounts/{target}:generateAccessToken"
    for body in ({"scope": SCOPES, "lifetime": "3601s"}, {"lifetime": "600s"},
                 {"scope": SCOPES, "delegates": [f"projects/-/serviceAccounts/{target}"]}):
        assert google_error(requests.post(url, json=body, headers=bearer(token))) == (400, "INVALID_ARGUMENT")
    minted = requests.post(url, json={"scope": SCOPES}, headers=bearer(token))
    assert minted.status_code == 200 and set(minted.json()) == {"accessToken", "expireTime"}


def test_registered_clusters_and_grants_survive_a_restart(tmp_path):
    with GcpStandIn(tmp_path / "state", projects=[PROJECT]) as first:
        admin = AdminClient(first.base_url)
        admin.add_gke_cluster(PROJECT, "europe-west1", "gke-1", "127.0.0.1:6443", CA)
        admin.grant(PROJECT, "roles/container.clusterViewer", member("viewer"))
        key = admin.create_service_account_with_key(PROJECT, "viewer")
        port = first.port  # the key file's token_uri names it
    with GcpStandIn(tmp_path / "state", port=port) as again:
        token = refreshed(key).token
        answer = requests.get(cluster_url(again), headers=bearer(token))
        assert answer.status_code == 200 and answer.json()["endpoint"] == "127.0.0.1:6443"
