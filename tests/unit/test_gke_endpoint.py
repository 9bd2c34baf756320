"""Finding a GKE cluster by name: the clusters.get answer parsed, refusals mapped to errors and
exit codes, the file's server/ca kept as overrides. Pure: answers are inline data."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from google.auth.exceptions import RefreshError

from deployer.config.loader import Config
from deployer.config.models import Cluster, GkeLocation
from deployer.credentials.gke_endpoint import ClusterRef, ControlPlane, control_plane, lookup_error
from deployer.credentials.google import _reason
from deployer.errors import ApiError, ConfigError, CredentialsError, ExitCode
from deployer.kube.endpoint import endpoint_of, needs_lookup

CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
REF = ClusterRef("gke-staging", GkeLocation(project="acme-staging", location="europe-west1", cluster="stage-1"),
                 "clusters/gke-staging.yaml", 9, 12)


def answer(**fields) -> dict:
    base = {"name": "stage-1", "endpoint": "34.76.1.2", "status": "RUNNING",
            "masterAuth": {"clusterCaCertificate": base64.b64encode(CA.encode()).decode()}}
    return {**base, **fields}


def google_error(code: int, status: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()


def test_the_server_is_https_on_the_endpoint_and_the_ca_is_decoded() -> None:
    assert control_plane(REF, answer()) == ControlPlane("https://34.76.1.2", CA)


@pytest.mark.parametrize("broken", [
    answer(endpoint=""), answer(endpoint="https://34.76.1.2"), {k: v for k, v in answer().items() if k != "endpoint"},
    answer(masterAuth={}), answer(masterAuth={"clusterCaCertificate": "not base64!"}),
    answer(masterAuth={"clusterCaCertificate": base64.b64encode(b"no pem here").decode()}), ["not", "a", "cluster"],
])
def test_an_answer_without_a_usable_endpoint_or_ca_is_refused_naming_the_cluster(broken) -> None:
    with pytest.raises(ApiError) as refused:
        control_plane(REF, broken)
    assert "gke-staging" in refused.value.message


def test_a_cluster_still_provisioning_says_its_status() -> None:
    with pytest.raises(ApiError, match="has no endpoint yet \\(status PROVISIONING\\)"):
        control_plane(REF, answer(endpoint=None, status="PROVISIONING"))


def test_404_is_a_config_error_naming_project_location_cluster_and_the_files_line() -> None:
    error = lookup_error(REF, 404, google_error(404, "NOT_FOUND", f"Not found: {REF.resource}."), "the key")
    assert isinstance(error, ConfigError) and error.exit_code == ExitCode.CONFIG
    problem = error.problems[0]
    assert (problem.file, problem.line, problem.column, problem.field) == ("clusters/gke-staging.yaml", 9, 12,
                                                                           "gke.cluster")
    assert "'stage-1'" in problem.message and "'acme-staging'" in problem.message
    assert "'europe-west1'" in problem.message and "does not exist" in problem.message
    assert f"Not found: {REF.resource}." in problem.message


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_credential_errors_naming_the_identity_and_the_permission(status: int) -> None:
    body = google_error(403, "PERMISSION_DENIED", 'Required "container.clusters.get" permission(s)')
    error = lookup_error(REF, status, body, "service-account key file named by GKE_KEY")
    assert isinstance(error, CredentialsError) and error.exit_code == ExitCode.CREDENTIALS
    assert "service-account key file named by GKE_KEY may not read" in error.message
    assert "container.clusters.get" in error.message and "roles/container.clusterViewer" in error.message


def test_other_statuses_are_api_errors_and_a_body_that_is_not_json_is_left_out() -> None:
    error = lookup_error(REF, 503, b"<html>upstream connect error</html>", "the key")
    assert type(error) is ApiError and error.exit_code == ExitCode.API_REJECTED and error.status == 503
    assert "HTTP 503" in error.message and "html" not in error.message


def test_the_url_is_googles_unless_the_file_names_another_endpoint() -> None:
    assert REF.url() == ("https://container.googleapis.com/v1/projects/acme-staging/locations/europe-west1/"
                         "clusters/stage-1")
    local = ClusterRef("local-gke", GkeLocation(project="local-project", location="europe-west1", cluster="local-gke",
                                                google_api_endpoint="http://127.0.0.1:4000/"), "f.yaml")
    assert local.url() == "http://127.0.0.1:4000/v1/projects/local-project/locations/europe-west1/clusters/local-gke"


def gke_cluster(**fields) -> Cluster:
    return Cluster.model_validate({
        "name": "gke-staging", "provider": "gke", "environment": "staging", "registry": "r.example/p",
        "gke": {"project": "acme-staging", "location": "europe-west1", "cluster": "stage-1"},
        "credential": {"type": "applicationDefault"}, **fields})


def test_server_and_ca_in_the_file_override_what_the_lookup_found(tmp_path: Path) -> None:
    config = Config(root=tmp_path)
    found = ControlPlane("https://34.76.1.2", CA)
    by_name = gke_cluster()
    assert needs_lookup(by_name)
    endpoint = endpoint_of(by_name, config, found)
    assert (endpoint.server, endpoint.ca_data, endpoint.ca_file) == ("https://34.76.1.2", CA, None)

    server_only = gke_cluster(server="https://10.0.0.2")
    assert needs_lookup(server_only)  # the CA still comes from the lookup
    assert endpoint_of(server_only, config, found).server == "https://10.0.0.2"
    assert endpoint_of(server_only, config, found).ca_data == CA

    both = gke_cluster(server="https://10.0.0.2", ca={"file": "ca.crt"})
    assert not needs_lookup(both)
    endpoint = endpoint_of(both, config)
    assert (endpoint.server, endpoint.ca_file, endpoint.ca_data) == ("https://10.0.0.2", str(tmp_path / "ca.crt"), None)


def test_a_refused_impersonation_keeps_googles_message_and_nothing_else() -> None:
    body = json.dumps({"error": {"code": 403, "status": "PERMISSION_DENIED",
                                 "message": "Permission 'iam.serviceAccounts.getAccessToken' denied on resource "
                                            "(or it may not exist).",
                                 "details": [{"reason": "IAM_PERMISSION_DENIED"}]}})
    reason = _reason(RefreshError("Unable to acquire impersonated credentials", body))
    assert reason == ("Unable to acquire impersonated credentials (Google: Permission "
                      "'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).)")
    assert _reason(RefreshError("invalid_grant: Invalid JWT Signature.", {"error": "invalid_grant"})) == \
        "invalid_grant: Invalid JWT Signature."
