"""GKE: Google credentials turned into bearer tokens by google-auth.

GKE's API server accepts a Google OAuth access token and authenticates it as the account's email,
which is the name RBAC bindings use. Three sources are supported: a service-account key file (as
Jenkins binds a file credential), application default credentials, and either of those
impersonating another account. google-auth is imported only here, and only when a GKE cluster
is actually contacted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from deployer import redact
from deployer.errors import CredentialsError

SCOPES = ["https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/userinfo.email"]
# Refresh this long before the token's expiry so a request never leaves with a token that dies
# in flight; short-lived test tokens (a few seconds) simply refresh on every use.
REFRESH_MARGIN = dt.timedelta(seconds=60)
KEY_REFUSED = ("The key may be revoked or deleted, or the account disabled: create a new key "
               "(deployer cluster provision) and update the Jenkins credential.")
IMPERSONATION_REFUSED = ("The source identity needs roles/iam.serviceAccountTokenCreator on the impersonated "
                         "account (gcloud iam service-accounts add-iam-policy-binding ACCOUNT "
                         "--member=SOURCE --role=roles/iam.serviceAccountTokenCreator), and the account must exist.")


def _utcnow() -> dt.datetime:
    # google-auth keeps `expiry` as a naive UTC datetime.
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Refreshable(Protocol):
    """The part of google-auth's Credentials this module uses (google-auth ships no full types)."""

    token: str | None
    expiry: dt.datetime | None

    def refresh(self, request: Any) -> None: ...


class GoogleToken:
    def __init__(self, cluster: str, load: Callable[[], Refreshable], description: str,
                 now: Callable[[], dt.datetime] = _utcnow, margin: dt.timedelta = REFRESH_MARGIN,
                 refused_hint: str = KEY_REFUSED, refused_note: str = "") -> None:
        self._cluster = cluster
        self._refused_hint = refused_hint
        # said in the message itself: a per-cluster report line carries no hint
        self._refused_note = refused_note
        self._load = load
        self._description = description
        self._now = now
        self._margin = margin
        self._credentials: Refreshable | None = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self._description

    def token(self) -> str:
        with self._lock:
            creds = self._credentials
            if creds is None:
                creds = self._credentials = self._load()
            expiry = creds.expiry
            if not creds.token or expiry is None or expiry - self._now() < self._margin:
                self._refresh(creds)
            if not creds.token:
                raise CredentialsError(f"cluster {self._cluster}: Google returned no token for the {self._description}")
            return creds.token

    def invalidate(self) -> None:
        """After a 401: drop the token so the next call fetches a fresh one."""
        with self._lock:
            if self._credentials is not None:
                self._credentials.token = None

    def _refresh(self, creds: Refreshable) -> None:
        import google.auth.exceptions

        from deployer.credentials.google_transport import transport

        # google-auth's own transports import requests (0.1 s) or urllib3 (40 ms) for one POST to
        # the token endpoint: it goes through deployer's stdlib client instead (issue 13).
        try:
            creds.refresh(transport())
        except google.auth.exceptions.RefreshError as exc:
            raise CredentialsError(
                f"cluster {self._cluster}: Google refused the {self._description}: {_reason(exc)}"
                + self._refused_note,
                hint=self._refused_hint) from None
        except google.auth.exceptions.TransportError as exc:
            raise CredentialsError(
                f"cluster {self._cluster}: cannot reach Google's token endpoint for the {self._description}: "
                f"{redact.scrub(type(exc).__name__)}",
                hint="Check the network path to the token endpoint.") from None
        redact.register(creds.token)

    def __repr__(self) -> str:
        return f"GoogleToken({self._description})"


def _reason(exc: Exception) -> str:
    # RefreshError carries (message, response_body); the body may echo request details, so only
    # the short message is kept, and scrubbed, plus the message of a Google API error body
    # (iamcredentials' "Permission 'iam.serviceAccounts.getAccessToken' denied ...").
    first = exc.args[0] if exc.args else type(exc).__name__
    said = google_error_message(exc.args[1]) if len(exc.args) > 1 else ""
    return redact.scrub(str(first) + (f" (Google: {said})" if said else ""))[:400]


def google_error_message(body: object) -> str:
    """The ``message`` of a Google API error body (``{"error": {"code", "message", "status"}}``),
    or "" for any other body; unscrubbed."""
    try:
        error = json.loads(body).get("error") if isinstance(body, str | bytes) else None
    except (ValueError, AttributeError):
        return ""
    message = error.get("message") if isinstance(error, dict) else None
    return message[:300] if isinstance(message, str) else ""


def key_file_token(cluster: str, path: Path, via: str, impersonate: str | None = None, *,
                   now: Callable[[], dt.datetime] = _utcnow, margin: dt.timedelta = REFRESH_MARGIN,
                   google_api: str | None = None) -> GoogleToken:
    def load() -> Refreshable:
        from google.oauth2 import service_account

        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CredentialsError(f"cluster {cluster}: the key file {via} does not exist ({path})") from None
        except (OSError, ValueError):
            raise CredentialsError(f"cluster {cluster}: the key file {via} is not readable JSON ({path})") from None
        if not isinstance(info, dict) or info.get("type") != "service_account":
            raise CredentialsError(f"cluster {cluster}: the key file {via} is not a service-account key "
                                   f"(type must be service_account)")
        redact.register(info.get("private_key"))
        try:
            creds: Refreshable = service_account.Credentials(  # type: ignore[no-untyped-call]
                _key_signer(info), service_account_email=info["client_email"], token_uri=info["token_uri"],
                scopes=SCOPES, project_id=info.get("project_id"),
                universe_domain=info.get("universe_domain", "googleapis.com"),
                trust_boundary=info.get("trust_boundary"))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CredentialsError(f"cluster {cluster}: the key file {via} is malformed "
                                   f"({type(exc).__name__})") from None
        return _impersonated(creds, impersonate, google_api) if impersonate else creds

    what = f"service-account key file {via}" + (f" impersonating {impersonate}" if impersonate else "")
    return GoogleToken(cluster, load, what, now=now, margin=margin,
                       refused_hint=IMPERSONATION_REFUSED if impersonate else KEY_REFUSED,
                       refused_note=_impersonation_note(impersonate))


def _key_signer(info: dict[str, Any]) -> Any:
    """The key file's RSA signer, as google-auth's ``from_service_account_info`` makes it, but
    without OpenSSL's RSA key consistency check: 60 ms of every run's CPU for a key Google
    generated. A damaged key still fails, at Google: its signature is refused, which says so."""
    from cryptography.hazmat.primitives import serialization
    from google.auth import crypt

    key = serialization.load_pem_private_key(info["private_key"].encode(), password=None,
                                             unsafe_skip_rsa_key_validation=True)
    return crypt.RSASigner(key, key_id=info.get("private_key_id"))  # type: ignore[no-untyped-call]


def application_default_token(cluster: str, impersonate: str | None = None, *,
                              google_api: str | None = None) -> GoogleToken:
    def load() -> Refreshable:
        import google.auth
        import google.auth.exceptions

        try:
            creds, _project = google.auth.default(scopes=SCOPES)
        except google.auth.exceptions.DefaultCredentialsError:
            raise CredentialsError(f"cluster {cluster}: no Google application default credentials found",
                                   hint="Set GOOGLE_APPLICATION_CREDENTIALS or run on a machine with an "
                                        "attached service account.") from None
        return _impersonated(creds, impersonate, google_api) if impersonate else creds

    what = "application default credentials" + (f" impersonating {impersonate}" if impersonate else "")
    return GoogleToken(cluster, load, what, refused_hint=IMPERSONATION_REFUSED if impersonate else KEY_REFUSED,
                       refused_note=_impersonation_note(impersonate))


def _impersonation_note(target: str | None) -> str:
    return (f"; impersonating needs roles/iam.serviceAccountTokenCreator on {target} for the source identity"
            if target else "")


def _impersonated(source: Refreshable, target: str, google_api: str | None) -> Refreshable:
    """``target``'s tokens, minted by IAM Credentials' generateAccessToken as ``source`` (which needs
    roles/iam.serviceAccountTokenCreator on ``target``); ``google_api`` replaces
    iamcredentials.googleapis.com (a private endpoint, or the local platform's stand-in)."""
    from google.auth import impersonated_credentials

    override = (f"{google_api.rstrip('/')}/v1/projects/-/serviceAccounts/{target}:generateAccessToken"
                if google_api else None)
    impersonated: Refreshable = impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
        source_credentials=source, target_principal=target, target_scopes=SCOPES, lifetime=3600,
        iam_endpoint_override=override)
    return impersonated


def key_path_from_env(cluster: str, variable: str) -> Path:
    value = os.environ.get(variable)
    if not value:
        raise CredentialsError(f"cluster {cluster}: environment variable {variable} is not set",
                               hint=f"Bind the key file to {variable} (Jenkins: withCredentials file).")
    return Path(value)
