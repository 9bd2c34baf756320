"""Google's OAuth token endpoint (the JWT-bearer grant) and GKE's check of the tokens it issues.

google-auth turns a service-account key file into an access token by POSTing
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<RS256 JWT>`` to the key's
``token_uri``; Go's golang.org/x/oauth2 (inside the google Terraform provider) does the same. The
grant is checked the way Google checks it: the account named by ``iss`` must exist and be
enabled, the key named by the header's ``kid`` must belong to it, be enabled and have signed the
JWT, ``aud`` must name a token endpoint, the assertion must live at most an hour, and a scope must
be asked for. Refusals use Google's own ``error``/``error_description`` words, so what a user sees
from google-auth here is what they would see from Google.

The access token is opaque and random; only its SHA-256 digest is stored. The same check serves
the IAM/Resource Manager calls (bearer tokens) and the kube-apiserver's TokenReview webhook, so a
disabled key, a disabled or deleted account, or an expired token stops working everywhere at once.
A *deleted* key's tokens stay valid until they expire, as Google documents for keys.delete.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from deployer_localplatform.gcp_standin.crypto import JwtError, parse_jwt, signature_is_valid
from deployer_localplatform.gcp_standin.responses import OAuthError
from deployer_localplatform.gcp_standin.state import IssuedToken, ServiceAccount, State, StateStore

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth signs every assertion for Google's endpoint whatever the key file's token_uri says
# (google.oauth2.service_account._GOOGLE_OAUTH2_TOKEN_ENDPOINT); Go's oauth2/jwt signs for the
# token_uri itself. Google accepts its current and legacy endpoint names.
GOOGLE_TOKEN_AUDIENCES = frozenset({
    "https://oauth2.googleapis.com/token",
    "https://www.googleapis.com/oauth2/v4/token",
    "https://accounts.google.com/o/oauth2/token",
})
MAX_ASSERTION_LIFETIME = 3600
CLOCK_SKEW = 300

INVALID_SIGNATURE = "Invalid JWT Signature."
ACCOUNT_NOT_FOUND = "Invalid grant: account not found"
BAD_TIMEFRAME = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                 "timeframe. Check your iat and exp values in the JWT claim.")
NO_SCOPE = "Invalid OAuth scope or ID token audience provided."
UNAUTHORIZED_CLIENT = ("Client is unauthorized to retrieve access tokens using this method, or client "
                       "not authorized for any of the scopes requested.")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Caller:
    account: ServiceAccount
    scopes: frozenset[str]


def grant(store: StateStore, form: dict[str, str], token_uri: str, now: float) -> dict:
    """The token endpoint: a signed assertion in, ``{"access_token", "expires_in", "token_type"}`` out."""
    grant_type = form.get("grant_type", "")
    if grant_type != JWT_BEARER:
        raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    assertion = form.get("assertion")
    if not assertion:
        raise OAuthError("invalid_request", "Missing required parameter: assertion")
    try:
        jwt = parse_jwt(assertion)
    except JwtError as exc:
        raise OAuthError("invalid_grant", f"Invalid JWT: {exc}") from None
    claims = jwt.claims
    issuer, key_id, audience = (_text(claims, "iss"), _text(jwt.header, "kid"), _text(claims, "aud"))
    with store.change() as state:
        account = state.accounts.get(issuer)
        if account is None or account.disabled:
            raise OAuthError("invalid_grant", ACCOUNT_NOT_FOUND)
        if key_id:
            candidates = [state.keys[key_id]] if key_id in state.keys else []
        else:  # no kid: Google tries the account's keys
            candidates = [k for k in state.keys.values() if k.email == account.email]
        key = next((k for k in candidates if k.email == account.email and not k.disabled
                    and signature_is_valid(jwt, k.public_key_pem)), None)
        if key is None:
            raise OAuthError("invalid_grant", INVALID_SIGNATURE)
        if audience not in GOOGLE_TOKEN_AUDIENCES | {token_uri}:
            raise OAuthError("invalid_grant", f"Invalid JWT: Failed audience check. The right audience is "
                                              f"{token_uri}")
        iat, exp = claims.get("iat"), claims.get("exp")
        if (not isinstance(iat, int | float) or not isinstance(exp, int | float) or exp <= now
                or iat > now + CLOCK_SKEW or exp < iat or exp - iat > MAX_ASSERTION_LIFETIME):
            raise OAuthError("invalid_grant", BAD_TIMEFRAME)
        if claims.get("sub") not in (None, account.email):
            # domain-wide delegation is a Workspace feature; nothing here can grant it
            raise OAuthError("unauthorized_client", UNAUTHORIZED_CLIENT, status=401)
        if "target_audience" in claims:
            raise OAuthError("invalid_request", "the GCP stand-in issues access tokens only, not ID tokens "
                                                "(target_audience)")
        scopes = str(claims.get("scope") or "").split()
        if not scopes:
            raise OAuthError("invalid_scope", NO_SCOPE)

        token = "ya29." + secrets.token_urlsafe(64)
        ttl = state.token_ttl
        state.tokens = {digest: t for digest, t in state.tokens.items() if t.expires_at > now}
        state.tokens[token_digest(token)] = IssuedToken(email=account.email, unique_id=account.unique_id,
                                                        key_id=key.key_id, scopes=scopes,
                                                        expires_at=now + ttl)
    return {"access_token": token, "expires_in": ttl, "token_type": "Bearer"}


def _text(mapping: dict, name: str) -> str:
    value = mapping.get(name)
    return value if isinstance(value, str) else ""


def authenticate(state: State, token: str, now: float) -> Caller | None:
    """Who holds this access token, or None when it is unknown, expired or revoked."""
    issued = state.tokens.get(token_digest(token))
    if issued is None or issued.expires_at <= now:
        return None
    account = state.accounts.get(issued.email)
    if account is None or account.unique_id != issued.unique_id or account.disabled:
        return None
    key = state.keys.get(issued.key_id)
    if key is not None and key.disabled:
        return None
    return Caller(account, frozenset(issued.scopes))


def review(store: StateStore, token_review: dict, now: float) -> dict:
    """Answer a kube-apiserver ``authentication.k8s.io/v1`` TokenReview as GKE does.

    The username is the account's email, the name GKE RBAC bindings use (``kind: User``).
    ``status.audiences`` stays empty, so the API server applies its own audiences (the webhook
    authenticator's "implicit audiences"), and ``status.error`` is never set: an unknown or dead
    token is an ordinary "not authenticated", not a webhook failure.
    """
    spec = token_review.get("spec") if isinstance(token_review.get("spec"), dict) else {}
    token = spec.get("token")
    answer = {"apiVersion": token_review.get("apiVersion") or "authentication.k8s.io/v1",
              "kind": "TokenReview", "status": {"authenticated": False}}
    if not isinstance(token, str) or not token:
        return answer
    with store.lock:
        caller = authenticate(store.state, token, now)
    if caller is not None:
        answer["status"] = {"authenticated": True,
                            "user": {"username": caller.account.email, "uid": caller.account.unique_id,
                                     "groups": ["system:authenticated"]}}
    return answer
