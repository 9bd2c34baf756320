"""The GCP stand-in over real HTTP on 127.0.0.1, driven by the real google-auth.

Each test starts its own stand-in on a free port with its own state folder. Time is injected
(``Clock``) so token expiry is tested without waiting.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import google.auth.crypt
import google.auth.jwt
import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from deployer.errors import ToolError
from deployer_localplatform.gcp_standin import AdminClient, GcpStandIn, write_webhook_kubeconfig

PROJECT = "demo-project"
# what deployer asks for (deployer.credentials.google.SCOPES)
SCOPES = ["https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/userinfo.email"]
LOGGER = "deployer_localplatform.gcp_standin"


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def standin(tmp_path, clock):
    server = GcpStandIn(tmp_path / "state", projects=[PROJECT], clock=clock)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def admin(standin) -> AdminClient:
    return AdminClient(standin.base_url)


def refreshed(key_file: dict, scopes=SCOPES) -> service_account.Credentials:
    creds = service_account.Credentials.from_service_account_info(key_file, scopes=scopes)
    creds.refresh(Request())
    return creds


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(admin) -> requests.Session:
    """A session authenticated as an admin identity bootstrapped through the admin API."""
    session = requests.Session()
    session.headers.update(bearer(refreshed(admin.create_service_account_with_key(PROJECT, "platform-admin")).token))
    return session


def review(base_url: str, token: str) -> dict:
    answer = requests.post(f"{base_url}/tokenreview", json={
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
    assert answer.status_code == 200
    return answer.json()


def create_account(api, base_url: str, account_id: str) -> dict:
    answer = api.post(f"{base_url}/v1/projects/{PROJECT}/serviceAccounts",
                      json={"accountId": account_id, "serviceAccount": {"displayName": "Deployer CI",
                                                                        "description": "deploys"}})
    assert answer.status_code == 200, answer.text
    return answer.json()


def create_key(api, base_url: str, email: str) -> tuple[dict, dict]:
    answer = api.post(f"{base_url}/v1/projects/-/serviceAccounts/{email}/keys",
                      json={"keyAlgorithm": "KEY_ALG_RSA_2048", "privateKeyType": "TYPE_GOOGLE_CREDENTIALS_FILE"})
    assert answer.status_code == 200, answer.text
    key = answer.json()
    return key, json.loads(base64.b64decode(key["privateKeyData"]))


def google_error(answer: requests.Response) -> tuple[int, str]:
    error = answer.json()["error"]
    assert error["code"] == answer.status_code
    return error["code"], error["status"]


def test_key_made_through_iam_becomes_a_token_that_tokenreview_maps_to_the_email(standin, api, tmp_path):
    account = create_account(api, standin.base_url, "deployer-ci")
    assert account["email"] == f"deployer-ci@{PROJECT}.iam.gserviceaccount.com"
    assert account["name"] == f"projects/{PROJECT}/serviceAccounts/{account['email']}"
    assert account["uniqueId"].isdigit() and account["oauth2ClientId"] == account["uniqueId"]
    assert (account["displayName"], account["description"], account["projectId"]) == ("Deployer CI", "deploys", PROJECT)

    key, key_file = create_key(api, standin.base_url, account["email"])
    assert key["name"] == f"{account['name']}/keys/{key_file['private_key_id']}"
    assert (key["privateKeyType"], key["keyAlgorithm"], key["keyType"]) == (
        "TYPE_GOOGLE_CREDENTIALS_FILE", "KEY_ALG_RSA_2048", "USER_MANAGED")
    assert key_file["token_uri"] == f"{standin.base_url}/token"
    assert (key_file["type"], key_file["client_email"], key_file["client_id"]) == (
        "service_account", account["email"], account["uniqueId"])

    # the public half Google keeps is the one matching the private key it handed out
    without = api.get(f"{standin.base_url}/v1/{key['name']}").json()
    assert "publicKeyData" not in without and "privateKeyData" not in without
    with_cert = api.get(f"{standin.base_url}/v1/{key['name']}", params={"publicKeyType": "TYPE_X509_PEM_FILE"})
    cert = x509.load_pem_x509_certificate(base64.b64decode(with_cert.json()["publicKeyData"]))
    private = serialization.load_pem_private_key(key_file["private_key"].encode(), password=None)
    assert cert.public_key().public_numbers() == private.public_key().public_numbers()
    listed = api.get(f"{standin.base_url}/v1/{account['name']}/keys").json()["keys"]
    assert [k["name"] for k in listed] == [key["name"]]

    key_path = tmp_path / "key.json"
    key_path.write_text(json.dumps(key_file))
    creds = service_account.Credentials.from_service_account_file(str(key_path), scopes=SCOPES)
    creds.refresh(Request())
    assert creds.token.startswith("ya29.") and creds.valid

    status = review(standin.base_url, creds.token)["status"]
    assert status == {"authenticated": True,
                      "user": {"username": account["email"], "uid": account["uniqueId"],
                               "groups": ["system:authenticated"]}}
    assert review(standin.base_url, "ya29." + "not-a-token-anyone-issued")["status"] == {"authenticated": False}


def test_doubled_v1_prefix_email_and_unique_id_address_the_same_account(standin, api):
    account = create_account(api, standin.base_url, "deployer-ci")
    base = standin.base_url
    by_email = api.get(f"{base}/v1/v1/projects/{PROJECT}/serviceAccounts/{account['email']}")
    by_unique_id = api.get(f"{base}/v1/v1/projects/-/serviceAccounts/{account['uniqueId']}")
    assert by_email.status_code == by_unique_id.status_code == 200
    assert by_email.json() == by_unique_id.json() == account
    listed = api.get(f"{base}/v1/v1/projects/{PROJECT}/serviceAccounts").json()["accounts"]
    assert sorted(a["email"] for a in listed) == sorted([account["email"],
                                                         f"platform-admin@{PROJECT}.iam.gserviceaccount.com"])


def test_patch_changes_only_the_fields_in_the_update_mask(standin, api):
    account = create_account(api, standin.base_url, "deployer-ci")
    # the provider's body: both fields plus the etag, and a snake_case mask
    answer = api.patch(f"{standin.base_url}/v1/v1/{account['name']}", json={
        "serviceAccount": {"displayName": "Renamed", "description": "ignored", "etag": account["etag"]},
        "updateMask": "display_name"})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["displayName"], answer.json()["description"]) == ("Renamed", "deploys")


def test_second_account_with_the_same_id_is_409_already_exists(standin, api):
    create_account(api, standin.base_url, "deployer-ci")
    again = api.post(f"{standin.base_url}/v1/projects/{PROJECT}/serviceAccounts", json={"accountId": "deployer-ci"})
    assert google_error(again) == (409, "ALREADY_EXISTS")
    assert "deployer-ci already exists within project projects/demo-project" in again.json()["error"]["message"]


def test_unknown_project_is_404_in_iam_and_403_in_resource_manager(standin, api):
    base = standin.base_url
    assert google_error(api.post(f"{base}/v1/projects/nowhere/serviceAccounts", json={"accountId": "deployer-ci"})
                        ) == (404, "NOT_FOUND")
    assert google_error(api.get(f"{base}/v1/projects/nowhere/serviceAccounts")) == (404, "NOT_FOUND")
    # Resource Manager never says whether a project exists
    assert google_error(api.post(f"{base}/v1/projects/nowhere:getIamPolicy", json={})) == (403, "PERMISSION_DENIED")
    assert google_error(api.get(f"{base}/v1/projects/{PROJECT}/serviceAccounts/ghost@{PROJECT}.iam.gserviceaccount.com")
                        ) == (404, "NOT_FOUND")


def test_calls_need_a_live_token_with_a_fitting_scope(standin, admin):
    url = f"{standin.base_url}/v1/projects/{PROJECT}/serviceAccounts"
    missing = requests.get(url)
    assert google_error(missing) == (401, "UNAUTHENTICATED")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert google_error(requests.get(url, headers=bearer("ya29.made-up-token-value"))) == (401, "UNAUTHENTICATED")
    email_only = refreshed(admin.create_service_account_with_key(PROJECT, "reader"),
                           scopes=["https://www.googleapis.com/auth/userinfo.email"])
    assert google_error(requests.get(url, headers=bearer(email_only.token))) == (403, "PERMISSION_DENIED")


def test_tokens_expire_after_the_ttl_set_through_the_admin_api(standin, admin, clock):
    admin.set_token_ttl(5)
    creds = refreshed(admin.create_service_account_with_key(PROJECT, "deployer-ci"))
    remaining = (creds.expiry - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds()  # naive UTC
    assert 0 < remaining <= 5
    assert review(standin.base_url, creds.token)["status"]["authenticated"] is True

    clock.offset = 6
    status = review(standin.base_url, creds.token)["status"]
    assert status == {"authenticated": False}  # an expired token is not a webhook error
    answer = requests.get(f"{standin.base_url}/v1/projects/{PROJECT}/serviceAccounts", headers=bearer(creds.token))
    assert google_error(answer) == (401, "UNAUTHENTICATED")


def test_revoked_key_stops_its_tokens_at_once_and_refresh_fails(standin, admin):
    key_file = admin.create_service_account_with_key(PROJECT, "deployer-ci")
    creds = refreshed(key_file)
    assert review(standin.base_url, creds.token)["status"]["authenticated"] is True

    admin.revoke_key(key_file["private_key_id"])
    assert review(standin.base_url, creds.token)["status"] == {"authenticated": False}
    with pytest.raises(RefreshError, match="invalid_grant: Invalid JWT Signature"):
        refreshed(key_file)
    keys = admin.state()["keys"]
    assert [k["disabled"] for k in keys if k["name"].endswith(key_file["private_key_id"])] == [True]


def test_deleted_account_stops_its_tokens_and_stays_in_bindings_as_deleted(standin, api, admin):
    key_file = admin.create_service_account_with_key(PROJECT, "deployer-ci")
    creds = refreshed(key_file)
    email = key_file["client_email"]
    base = standin.base_url
    policy = api.post(f"{base}/v1/projects/{PROJECT}:getIamPolicy", json={}).json()
    policy["bindings"] = [{"role": "roles/container.developer", "members": [f"serviceAccount:{email}"]}]
    assert api.post(f"{base}/v1/projects/{PROJECT}:setIamPolicy", json={"policy": policy}).status_code == 200

    assert api.delete(f"{base}/v1/projects/{PROJECT}/serviceAccounts/{email}").json() == {}
    assert review(base, creds.token)["status"] == {"authenticated": False}
    with pytest.raises(RefreshError, match="invalid_grant: Invalid grant: account not found"):
        refreshed(key_file)
    members = api.post(f"{base}/v1/projects/{PROJECT}:getIamPolicy", json={}).json()["bindings"][0]["members"]
    assert members == [f"deleted:serviceAccount:{email}?uid={key_file['client_id']}"]


def test_iam_policy_read_modify_write_refuses_a_stale_etag(standin, api):
    url = f"{standin.base_url}/v1/v1/projects/{PROJECT}"
    first = api.post(f"{url}:getIamPolicy", json={"options": {"requestedPolicyVersion": 3}}).json()
    assert first == {"version": 1, "etag": "ACAB"}
    member = f"serviceAccount:platform-admin@{PROJECT}.iam.gserviceaccount.com"
    binding = {"role": "roles/container.admin", "members": [member, "user:ops@example.com"]}
    written = api.post(f"{url}:setIamPolicy", json={"policy": {**first, "bindings": [binding]},
                                                    "updateMask": "bindings,etag,auditConfigs"})
    assert written.status_code == 200, written.text
    assert written.json()["etag"] != first["etag"]
    read = api.post(f"{url}:getIamPolicy", json={}).json()
    assert read == written.json()
    assert read["bindings"] == [{"role": "roles/container.admin", "members": sorted(binding["members"])}]

    stale = api.post(f"{url}:setIamPolicy", json={"policy": {**first, "bindings": []}})
    assert google_error(stale) == (409, "ABORTED")
    assert "concurrent policy changes" in stale.json()["error"]["message"]
    assert api.post(f"{url}:getIamPolicy", json={}).json() == read  # the loser changed nothing


def test_binding_for_an_account_that_does_not_exist_is_400(standin, api):
    ghost = f"serviceAccount:ghost@{PROJECT}.iam.gserviceaccount.com"
    answer = api.post(f"{standin.base_url}/v1/projects/{PROJECT}:setIamPolicy",
                      json={"policy": {"bindings": [{"role": "roles/viewer", "members": [ghost]}]}})
    assert google_error(answer) == (400, "INVALID_ARGUMENT")
    assert "does not exist" in answer.json()["error"]["message"]


def test_token_endpoint_checks_audience_lifetime_and_scope(standin, admin):
    key_file = admin.create_service_account_with_key(PROJECT, "deployer-ci")
    signer = google.auth.crypt.RSASigner.from_service_account_info(key_file)
    now = int(time.time())

    def grant(**claims) -> requests.Response:
        payload = {"iss": key_file["client_email"], "aud": key_file["token_uri"], "iat": now, "exp": now + 3600,
                   "scope": " ".join(SCOPES), **claims}
        assertion = google.auth.jwt.encode(signer, payload).decode()
        return requests.post(key_file["token_uri"], data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})

    # Go's oauth2 signs for the key file's token_uri; google-auth for Google's endpoint
    assert grant().status_code == 200
    assert grant(aud="https://oauth2.googleapis.com/token").json()["token_type"] == "Bearer"
    assert grant(aud="https://example.com/token").json()["error"] == "invalid_grant"
    assert grant(exp=now + 7200).json()["error_description"].startswith("Invalid JWT: Token must be a short-lived")
    assert grant(iat=now - 7200, exp=now - 3600).json()["error"] == "invalid_grant"
    assert grant(scope="").json() == {"error": "invalid_scope",
                                      "error_description": "Invalid OAuth scope or ID token audience provided."}
    assert grant(iss=f"other@{PROJECT}.iam.gserviceaccount.com").json()["error"] == "invalid_grant"
    wrong_grant = requests.post(key_file["token_uri"], data={"grant_type": "client_credentials"})
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (400, "unsupported_grant_type")


def test_admin_client_reports_refusals_as_tool_errors(standin, admin):
    with pytest.raises(ToolError, match="refused POST /_admin/service-accounts: 404"):
        admin.create_service_account_with_key("nowhere", "deployer-ci")
    with pytest.raises(ToolError, match="unreachable"):
        AdminClient("http://127.0.0.1:9", timeout=2).state()


def test_request_log_carries_no_tokens_assertions_or_keys(standin, admin, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    key_file = admin.create_service_account_with_key(PROJECT, "deployer-ci")
    creds = refreshed(key_file)
    review(standin.base_url, creds.token)
    requests.get(f"{standin.base_url}/v1/projects/{PROJECT}/serviceAccounts?access_token={creds.token}",
                 headers=bearer(creds.token))
    admin.revoke_key(key_file["private_key_id"])
    with pytest.raises(RefreshError):
        refreshed(key_file)

    log = "\n".join(r.getMessage() for r in caplog.records if r.name == LOGGER)
    assert "POST /token -> 200" in log and "POST /token -> 400 invalid_grant" in log
    assert "POST /tokenreview -> 200" in log
    assert "GET /v1/projects/demo-project/serviceAccounts -> 200" in log
    for secret_shape in ("ya29.", "eyJ", "PRIVATE KEY", creds.token, key_file["private_key"].splitlines()[1]):
        assert secret_shape not in log


def test_restarted_process_keeps_accounts_keys_and_tokens(tmp_path):
    state_dir, port_file = tmp_path / "state", tmp_path / "port"

    def run(port: int) -> tuple[subprocess.Popen, str]:
        port_file.unlink(missing_ok=True)
        with open(tmp_path / "standin.log", "a") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "deployer_localplatform.gcp_standin", "--state-dir", str(state_dir),
                 "--port", str(port), "--port-file", str(port_file), "--project", PROJECT],
                stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 15
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None, (tmp_path / "standin.log").read_text()
            assert time.monotonic() < deadline, "the stand-in wrote no port file"
            time.sleep(0.02)
        return process, f"http://127.0.0.1:{int(port_file.read_text())}"

    def stop(process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0

    process, base = run(0)
    try:
        key_file = AdminClient(base).create_service_account_with_key(PROJECT, "deployer-ci")
        token = refreshed(key_file).token
    finally:
        stop(process)
    assert json.loads((state_dir / "gcp-standin-state.json").read_text())["accounts"]

    process, base_again = run(int(base.rsplit(":", 1)[1]))  # same port: key files name it
    try:
        assert base_again == base
        emails = [a["email"] for a in AdminClient(base).state()["serviceAccounts"]]
        assert emails == [key_file["client_email"]]
        assert review(base, token)["status"]["user"]["username"] == key_file["client_email"]
        assert review(base, refreshed(key_file).token)["status"]["authenticated"] is True
    finally:
        stop(process)

    log = (tmp_path / "standin.log").read_text()
    assert "POST /token -> 200" in log and "listening on http://127.0.0.1:" in log
    for secret_shape in ("ya29.", "eyJ", "PRIVATE KEY", token):
        assert secret_shape not in log
    state_text = (state_dir / "gcp-standin-state.json").read_text()
    assert "PRIVATE KEY" not in state_text and token not in state_text


def test_webhook_kubeconfig_points_kube_apiserver_at_the_tokenreview_path(tmp_path):
    path = write_webhook_kubeconfig(tmp_path / "webhook" / "kubeconfig.yaml", "http://127.0.0.1:40123/")
    config = yaml.safe_load(Path(path).read_text())
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    assert cluster == {"server": "http://127.0.0.1:40123/tokenreview"}
    assert any(u["name"] == context["user"] for u in config["users"])
