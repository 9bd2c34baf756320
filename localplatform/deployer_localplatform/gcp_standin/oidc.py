"""Google's OpenID Connect sign-in (accounts.google.com), for the deploy page's authorization-code flow.

Served the way Google serves it, on the calls an OIDC relying party (authlib, Dex's upstream
connector, a browser) makes:

- ``GET /.well-known/openid-configuration``: the discovery document; ``issuer`` is the stand-in's
  base URL (Google's is ``https://accounts.google.com``).
- ``GET|POST /o/oauth2/v2/auth``: the authorization endpoint. An unknown ``client_id`` or an
  unregistered ``redirect_uri`` is an error page (Google never redirects to an unregistered URI);
  other problems redirect back with ``error=``. The user is the configured test user named by
  ``login_hint`` (auto-approved, as Google does for a signed-in account that consented before), or
  the one typed into the sign-in form this endpoint shows otherwise (a browser test can fill it).
- ``POST /token`` with ``grant_type=authorization_code``: the code exchange. The client
  authenticates with ``client_secret_basic`` or ``client_secret_post``; the code is single-use,
  lives ten minutes, is bound to its client and ``redirect_uri``, and to its PKCE challenge
  (``S256`` or ``plain``) when one was sent. The answer carries an RS256 ``id_token`` with
  iss/azp/aud/sub/email/email_verified/iat/exp/at_hash/nonce/name and ``groups``.
- ``GET /oauth2/v3/certs``: the JWKS; ``GET /v1/userinfo``: the claims, for the access token.

Where it knowingly differs from Google: Google puts no groups in its ID tokens (deployer maps
emails to groups with a file for Google); the stand-in adds a ``groups`` claim so the claim path
is tested too. Clients and users are configured through the admin API and live in memory; the
signing key is kept in the state folder (0600), so ID tokens stay verifiable across restarts.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from deployer_localplatform.gcp_standin.responses import OAuthError, Response, invalid_argument

AUTHORIZATION_PATH = "/o/oauth2/v2/auth"
JWKS_PATH = "/oauth2/v3/certs"
USERINFO_PATH = "/v1/userinfo"
DISCOVERY_PATH = "/.well-known/openid-configuration"
AUTHORIZATION_CODE = "authorization_code"
CODE_LIFETIME = 600
TOKEN_LIFETIME = 3599  # what Google's token endpoint says in expires_in
NO_STORE = {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "Pragma": "no-cache"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _half_hash(value: str) -> str:
    """OIDC's at_hash: the left half of the SHA-256 of the token, base64url."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return _b64url(digest[: len(digest) // 2])


@dataclass(frozen=True)
class OidcClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass(frozen=True)
class OidcUser:
    email: str
    groups: tuple[str, ...] = ()
    name: str = ""

    @property
    def sub(self) -> str:
        # Google's subject is a stable decimal account id; derive one from the email.
        return str(int(hashlib.sha256(self.email.encode("utf-8")).hexdigest()[:16], 16))


@dataclass(frozen=True)
class _Code:
    client_id: str
    redirect_uri: str
    email: str
    scope: str
    nonce: str | None
    challenge: str | None
    challenge_method: str
    expires_at: float


@dataclass
class _Issued:
    email: str
    expires_at: float


@dataclass
class OidcProvider:
    state_dir: Path
    base_url: str
    clients: dict[str, OidcClient] = field(default_factory=dict)
    users: dict[str, OidcUser] = field(default_factory=dict)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _tokens: dict[str, _Issued] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _key: rsa.RSAPrivateKey | None = None

    # --- configuration (the admin API) ----------------------------------------------------------------

    def add_client(self, body: dict) -> dict:
        client_id, secret = str(body.get("clientId") or ""), str(body.get("clientSecret") or "")
        uris = body.get("redirectUris")
        if not client_id or not secret or not isinstance(uris, list) or not uris:
            raise invalid_argument("an OIDC client needs clientId, clientSecret and redirectUris (a list)")
        with self._lock:
            self.clients[client_id] = OidcClient(client_id, secret, tuple(str(u) for u in uris))
        return {"clientId": client_id, "issuer": self.base_url}

    def add_user(self, body: dict) -> dict:
        email = str(body.get("email") or "")
        groups = body.get("groups") or []
        if "@" not in email or not isinstance(groups, list):
            raise invalid_argument("an OIDC user needs an email and groups (a list)")
        with self._lock:
            self.users[email] = OidcUser(email, tuple(str(g) for g in groups), str(body.get("name") or ""))
        return {"email": email}

    # --- keys -----------------------------------------------------------------------------------------

    @property
    def key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._key is None:
                self._key = self._load_or_create_key()
            return self._key

    def _load_or_create_key(self) -> rsa.RSAPrivateKey:
        path = self.state_dir / "oidc-signing-key.pem"
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(loaded, rsa.RSAPrivateKey)
            return loaded
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
        return key

    @property
    def kid(self) -> str:
        der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(der).hexdigest()[:40]

    def jwks(self) -> dict:
        numbers = self.key.public_key().public_numbers()

        def b64int(value: int) -> str:
            return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

        return {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                          "n": b64int(numbers.n), "e": b64int(numbers.e)}]}

    def sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                         + _b64url(json.dumps(claims, separators=(",", ":")).encode()))
        signature = self.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)

    # --- endpoints --------------------------------------------------------------------------------------

    def discovery(self) -> dict:
        base = self.base_url
        return {
            "issuer": base,
            "authorization_endpoint": base + AUTHORIZATION_PATH,
            "token_endpoint": base + "/token",
            "userinfo_endpoint": base + USERINFO_PATH,
            "jwks_uri": base + JWKS_PATH,
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "email", "email_verified", "exp", "iat", "iss", "name", "sub", "groups"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": [AUTHORIZATION_CODE, "refresh_token",
                                      "urn:ietf:params:oauth:grant-type:jwt-bearer"],
        }

    def authorize(self, params: dict[str, str], now: float) -> Response:
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return _error_page(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return _error_page(400, "redirect_uri_mismatch",
                               "You can't sign in because this app sent an invalid request: redirect_uri "
                               "is not registered for this client.")
        state = params.get("state")

        def back(**answer: str) -> Response:
            query = {**answer, **({"state": state} if state is not None else {})}
            separator = "&" if urlsplit(redirect_uri).query else "?"
            return Response(302, {}, {"Location": redirect_uri + separator + urlencode(query), **NO_STORE},
                            outcome=answer.get("error", "code"))

        if params.get("response_type") != "code":
            return back(error="unsupported_response_type")
        scope = params.get("scope", "")
        if "openid" not in scope.split():
            return back(error="invalid_scope", error_description="openid is required")
        method = params.get("code_challenge_method", "plain")
        challenge = params.get("code_challenge")
        if challenge is not None and method not in ("plain", "S256"):
            return back(error="invalid_request", error_description="Invalid code_challenge_method")
        email = params.get("email") or params.get("login_hint") or ""
        user = self.users.get(email)
        if user is None:
            return _sign_in_form(params, "No test user has that email." if email else "")
        code = "4/" + secrets.token_urlsafe(32)
        with self._lock:
            self._codes = {c: g for c, g in self._codes.items() if g.expires_at > now}
            self._codes[code] = _Code(client.client_id, redirect_uri, user.email, scope, params.get("nonce"),
                                      challenge, method, now + CODE_LIFETIME)
        return back(code=code, scope=scope, authuser="0", prompt="none")

    def exchange(self, form: dict[str, str], authorization: str | None, now: float) -> dict:
        client = self._client(form, authorization)
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # single use, whatever happens next
        if grant is None or grant.expires_at <= now or grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "Bad Request")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise OAuthError("redirect_uri_mismatch", "Bad Request")
        if grant.challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                raise OAuthError("invalid_request", "code_verifier or verifier is not provided")
            if grant.challenge_method == "S256":
                computed = _b64url(hashlib.sha256(verifier.encode("ascii")).digest())
            else:
                computed = verifier
            if not secrets.compare_digest(computed, grant.challenge):
                raise OAuthError("invalid_grant", "Invalid code verifier.")
        user = self.users[grant.email]
        access_token = "ya29." + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens = {t: i for t, i in self._tokens.items() if i.expires_at > now}
            self._tokens[hashlib.sha256(access_token.encode()).hexdigest()] = _Issued(user.email,
                                                                                   now + TOKEN_LIFETIME)
        claims = {"iss": self.base_url, "azp": client.client_id, "aud": client.client_id, "sub": user.sub,
                  "email": user.email, "email_verified": True, "at_hash": _half_hash(access_token),
                  "iat": int(now), "exp": int(now) + TOKEN_LIFETIME, "groups": list(user.groups)}
        if user.name:
            claims["name"] = user.name
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        return {"access_token": access_token, "expires_in": TOKEN_LIFETIME, "scope": grant.scope,
                "token_type": "Bearer", "id_token": self.sign(claims)}

    def userinfo(self, authorization: str | None, now: float) -> dict:
        token = (authorization or "").removeprefix("Bearer ").strip()
        issued = self._tokens.get(hashlib.sha256(token.encode()).hexdigest()) if token else None
        if issued is None or issued.expires_at <= now:
            raise OAuthError("invalid_request", "Invalid Credentials", status=401)
        user = self.users[issued.email]
        info = {"sub": user.sub, "email": user.email, "email_verified": True, "groups": list(user.groups)}
        if user.name:
            info["name"] = user.name
        return info

    def _client(self, form: dict[str, str], authorization: str | None) -> OidcClient:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization and authorization.startswith("Basic "):
            try:
                decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode("utf-8")
            except ValueError:
                raise OAuthError("invalid_client", "Unauthorized", status=401) from None
            from urllib.parse import unquote_plus

            basic_id, _, basic_secret = decoded.partition(":")
            client_id, secret = unquote_plus(basic_id), unquote_plus(basic_secret)
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(secret.encode(), client.client_secret.encode()):
            raise OAuthError("invalid_client", "Unauthorized", status=401)
        return client


def _error_page(status: int, error: str, description: str) -> Response:
    body = (f"<!doctype html><title>Error {status}: {html.escape(error)}</title>"
            f"<h1>Access blocked: authorization error</h1><p>{html.escape(description)}</p>"
            f"<p>Error {status}: {html.escape(error)}</p>")
    return Response(status, {}, NO_STORE, outcome=error, content=body.encode(), content_type="text/html; charset=utf-8")


def _sign_in_form(params: dict[str, str], problem: str) -> Response:
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in params.items() if k != "email")
    body = ("<!doctype html><title>Sign in - Google Accounts (GCP stand-in)</title>"
            "<h1>Sign in</h1>" + (f'<p class="error">{html.escape(problem)}</p>' if problem else "")
            + f'<form method="post" action="{AUTHORIZATION_PATH}">{hidden}'
              '<label for="email">Email</label> <input id="email" name="email" type="email" autofocus> '
              '<button type="submit" id="next">Next</button></form>')
    return Response(200, {}, NO_STORE, outcome="sign-in form", content=body.encode(),
                    content_type="text/html; charset=utf-8")
