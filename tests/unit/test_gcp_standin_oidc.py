"""The GCP stand-in's OpenID Connect sign-in over real HTTP, checked the way a relying party checks
Google's: discovery, the authorization redirect, the code exchange with PKCE and client
authentication, an RS256 ID token verified against the JWKS, and userinfo."""

from __future__ import annotations

import base64
import hashlib
import secrets
import stat
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from deployer_localplatform.gcp_standin import AdminClient, GcpStandIn
from tests.unit.test_gcp_standin import Clock

CALLBACK = "http://127.0.0.1:9/auth/callback"


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def google(tmp_path, clock):
    with GcpStandIn(tmp_path, clock=clock) as standin:
        admin = AdminClient(standin.base_url)
        admin.add_oidc_client("deployer-web", "s3cret-client", [CALLBACK])
        admin.add_oidc_user("alice@example.com", ["payments-oncall"], name="Alice")
        yield standin


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize(base: str, challenge: str, **extra: str) -> requests.Response:
    params = {"client_id": "deployer-web", "redirect_uri": CALLBACK, "response_type": "code",
              "scope": "openid email profile", "state": "st4te", "nonce": "n0nce",
              "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    return requests.get(base + "/o/oauth2/v2/auth", params=params, allow_redirects=False, timeout=10)


def code_of(answer: requests.Response) -> str:
    assert answer.status_code == 302, answer.text
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == ["st4te"]
    return query["code"][0]


def exchange(base: str, code: str, verifier: str, secret: str = "s3cret-client") -> requests.Response:
    return requests.post(base + "/token", data={"grant_type": "authorization_code", "code": code,
                                                "redirect_uri": CALLBACK, "code_verifier": verifier},
                         auth=("deployer-web", secret), timeout=10)


def test_code_flow_gives_an_id_token_that_verifies_against_the_jwks(google, tmp_path) -> None:
    base = google.base_url
    discovery = requests.get(base + "/.well-known/openid-configuration", timeout=10).json()
    assert discovery["issuer"] == base and "S256" in discovery["code_challenge_methods_supported"]
    verifier, challenge = pkce()
    tokens = exchange(base, code_of(authorize(base, challenge, login_hint="alice@example.com")), verifier)
    assert tokens.status_code == 200, tokens.text
    keys = KeySet.import_key_set(requests.get(discovery["jwks_uri"], timeout=10).json())
    claims = jwt.decode(tokens.json()["id_token"], keys).claims
    jwt.JWTClaimsRegistry(exp={"essential": True}).validate(claims)
    assert claims["iss"] == base and claims["aud"] == "deployer-web" and claims["nonce"] == "n0nce"
    assert claims["email"] == "alice@example.com" and claims["email_verified"] is True
    assert claims["groups"] == ["payments-oncall"] and claims["exp"] > claims["iat"]
    info = requests.get(discovery["userinfo_endpoint"], timeout=10,
                        headers={"Authorization": "Bearer " + tokens.json()["access_token"]})
    assert info.json()["email"] == "alice@example.com"
    key_file = tmp_path / "oidc-signing-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_wrong_verifier_wrong_secret_and_reused_code_are_refused(google) -> None:
    base = google.base_url
    verifier, challenge = pkce()
    code = code_of(authorize(base, challenge, login_hint="alice@example.com"))
    wrong_secret = exchange(base, code, verifier, secret="guess")
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    wrong_verifier = exchange(base, code, "x" * 50)
    assert wrong_verifier.json()["error"] == "invalid_grant"
    # the code was spent by the failed try, as Google does: the right verifier cannot use it now
    assert exchange(base, code, verifier).json()["error"] == "invalid_grant"
    good = code_of(authorize(base, challenge, login_hint="alice@example.com"))
    assert exchange(base, good, verifier).status_code == 200
    assert exchange(base, good, verifier).json()["error"] == "invalid_grant"


def test_expired_code_is_refused(google, clock) -> None:
    verifier, challenge = pkce()
    code = code_of(authorize(google.base_url, challenge, login_hint="alice@example.com"))
    clock.offset = 601
    assert exchange(google.base_url, code, verifier).json()["error"] == "invalid_grant"


def test_unregistered_redirect_is_an_error_page_not_a_redirect(google) -> None:
    answer = authorize(google.base_url, pkce()[1], redirect_uri="http://attacker.example/cb",
                       login_hint="alice@example.com")
    assert answer.status_code == 400 and "redirect_uri_mismatch" in answer.text
    assert "Location" not in answer.headers


def test_without_a_hint_the_sign_in_form_picks_the_user(google) -> None:
    verifier, challenge = pkce()
    form = authorize(google.base_url, challenge)
    assert form.status_code == 200 and 'name="email"' in form.text
    params = dict(parse_qs(urlsplit(form.url).query, keep_blank_values=True))
    posted = requests.post(google.base_url + "/o/oauth2/v2/auth", allow_redirects=False, timeout=10,
                           data={**{k: v[0] for k, v in params.items()}, "email": "alice@example.com"})
    assert exchange(google.base_url, code_of(posted), verifier).status_code == 200
    unknown = requests.post(google.base_url + "/o/oauth2/v2/auth", allow_redirects=False, timeout=10,
                            data={**{k: v[0] for k, v in params.items()}, "email": "mallory@example.com"})
    assert unknown.status_code == 200 and "No test user" in unknown.text
