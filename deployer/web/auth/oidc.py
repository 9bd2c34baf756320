"""OpenID Connect sign-in through authlib's Starlette client: the authorization-code flow with
PKCE (S256), state and nonce, against Google by default or any issuer by configuration.

authlib fetches the issuer's discovery document, keeps state, nonce and the PKCE verifier in the
session until the callback, exchanges the code (client_secret_basic) and checks the ID token's
signature against the issuer's JWKS and its iss, aud, exp, iat, nonce and at_hash. On top we
check that the discovery document names the configured issuer, that the email is verified, and we
take the groups from a claim (the ID token's, else userinfo's) and from the mapping file.

The same issuer's ID tokens also sign in JSON API callers (``Authorization: Bearer <id token>``),
when their audience is this page's client id.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.starlette_client import OAuth, OAuthError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from deployer.errors import UsageError
from deployer.web.auth.denied import AccessDenied
from deployer.web.auth.policy import Identity
from deployer.web.auth.settings import OidcSettings

CLOCK_LEEWAY = 60


class SignInFailed(AccessDenied):
    """The issuer or its answer could not be trusted; the user is told to sign in again."""

    def __init__(self, message: str, hint: str = "Sign in again (/login).") -> None:
        super().__init__(message, hint=hint, signed_in=False)


class OidcSignIn:
    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        oauth = OAuth()
        self.client: Any = oauth.register(
            "issuer", client_id=settings.client_id, client_secret=settings.client_secret,
            server_metadata_url=settings.metadata_url,
            client_kwargs={"scope": " ".join(settings.scopes), "code_challenge_method": "S256", "timeout": 15})

    async def metadata(self) -> dict[str, Any]:
        try:
            metadata: dict[str, Any] = await self.client.load_server_metadata()
        except Exception as exc:  # httpx's and authlib's errors alike: the issuer is unusable
            raise UsageError(f"cannot read the OIDC issuer's discovery document {self.settings.metadata_url}: "
                             f"{type(exc).__name__}",
                             hint="Check --oidc-issuer and that this server reaches it.") from exc
        if str(metadata.get("issuer", "")).rstrip("/") != self.settings.issuer:
            # OIDC Discovery 4.3: a document naming another issuer must not be used.
            raise UsageError(f"the discovery document at {self.settings.metadata_url} names the issuer "
                             f"{metadata.get('issuer')!r}, not {self.settings.issuer!r}",
                             hint="Set --oidc-issuer to exactly the issuer the provider names.")
        return metadata

    async def redirect(self, request: Any, redirect_uri: str, login_hint: str | None) -> Any:
        await self.metadata()
        extra = {"login_hint": login_hint} if login_hint else {}
        return await self.client.authorize_redirect(request, redirect_uri, **extra)

    async def finish(self, request: Any) -> Identity:
        """The callback: state, code exchange and ID-token checks (authlib), then who it is."""
        await self.metadata()
        try:
            token = await self.client.authorize_access_token(request, leeway=CLOCK_LEEWAY)
        except (OAuthError, JoseError) as exc:
            raise SignInFailed(f"the sign-in was not accepted: {_oauth_words(exc)}") from exc
        claims = dict(token.get("userinfo") or {})
        if not claims:
            raise SignInFailed("the issuer sent no ID token", hint="Ask for the openid scope (--oidc-scopes).")
        if self.settings.groups_claim and self.settings.groups_claim not in claims:
            try:
                claims = {**dict(await self.client.userinfo(token=token)), **claims}
            except Exception:  # noqa: BLE001 - no userinfo: the groups come from the mapping file alone
                pass
        return self.identity(claims, via="oidc")

    async def verify_bearer(self, id_token: str) -> Identity:
        """An API caller's ``Authorization: Bearer`` ID token from the same issuer, for this client."""
        metadata = await self.metadata()
        algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        try:
            keys = KeySet.import_key_set(await self.client.fetch_jwk_set())
            decoded = jwt.decode(id_token, keys, registry=JWSRegistry(algorithms=algorithms))
            jwt.JWTClaimsRegistry(leeway=CLOCK_LEEWAY, iss={"essential": True, "value": metadata["issuer"]},
                                  aud={"essential": True, "value": self.settings.client_id},
                                  exp={"essential": True}).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise SignInFailed(f"the bearer token is not a valid ID token of {self.settings.issuer} for this page "
                               f"({type(exc).__name__})",
                               hint=f"Send an ID token whose audience is {self.settings.client_id}.") from None
        return self.identity(decoded.claims, via="bearer")

    def identity(self, claims: dict[str, Any], via: str) -> Identity:
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise SignInFailed("the ID token names no email", hint="Ask for the email scope.")
        if claims.get("email_verified") is not True:
            raise SignInFailed(f"the issuer has not verified the email {email}",
                               hint="Verify the address with the identity provider, then sign in again.")
        groups: set[str] = set(self.settings.group_map.get(email.lower(), frozenset()))
        claimed = claims.get(self.settings.groups_claim) if self.settings.groups_claim else None
        if isinstance(claimed, list):
            groups.update(str(g) for g in claimed)
        return Identity(email.lower(), frozenset(groups), via)


def _oauth_words(exc: Exception) -> str:
    # authlib's message is the issuer's error code and description; neither carries the code or tokens
    error = getattr(exc, "error", None) or type(exc).__name__
    description = getattr(exc, "description", None)
    return f"{error}: {description}" if description else str(error)
