"""IAM Credentials' ``generateAccessToken`` (iamcredentials.googleapis.com/v1), the call
google-auth's ``impersonated_credentials`` makes to act as another service account.

``POST v1/projects/-/serviceAccounts/{email}:generateAccessToken`` with
``{"scope": [...], "lifetime": "3600s", "delegates": []}`` answers
``{"accessToken", "expireTime"}``. As Google does: the caller needs a token with the cloud-platform
(or iam) scope and ``iam.serviceAccounts.getAccessToken`` on the target, which
``roles/iam.serviceAccountTokenCreator`` grants (here: bound on the target's project); without it,
or for a target that does not exist, the answer is the same 403 ``Permission
'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).``. A lifetime above
3600 s is refused (Google allows 12 h only under an organisation policy), delegation chains are
not emulated. The minted token authenticates as the target everywhere the stand-in checks tokens
(its APIs and GKE's TokenReview webhook).
"""

from __future__ import annotations

import re
import secrets

from deployer_localplatform.gcp_standin.google_rest import CLOUD_PLATFORM, IAM_SCOPE, caller_of, rfc3339
from deployer_localplatform.gcp_standin.oauth import token_digest
from deployer_localplatform.gcp_standin.permissions import GET_ACCESS_TOKEN, has_permission
from deployer_localplatform.gcp_standin.responses import GoogleApiError, invalid_argument
from deployer_localplatform.gcp_standin.state import IssuedToken, StateStore

GENERATE_PATH = re.compile(r"^projects/-/serviceAccounts/(?P<account>[^/:]+):generateAccessToken$")
SCOPES = frozenset({CLOUD_PLATFORM, IAM_SCOPE})
MAX_LIFETIME = 3600
LIFETIME = re.compile(r"^(?P<seconds>\d+)(\.\d+)?s$")


def denied() -> GoogleApiError:
    return GoogleApiError(
        403, "PERMISSION_DENIED",
        f"Permission '{GET_ACCESS_TOKEN}' denied on resource (or it may not exist).",
        details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED",
                  "domain": "iam.googleapis.com", "metadata": {"permission": GET_ACCESS_TOKEN}}])


class IamCredentialsApi:
    def __init__(self, store: StateStore, clock) -> None:
        self.store = store
        self.clock = clock

    def serves(self, path: str) -> bool:
        return GENERATE_PATH.match(path) is not None

    def handle(self, method: str, path: str, body: dict, authorization: str | None) -> dict:
        match = GENERATE_PATH.match(path)
        if match is None or method != "POST":
            raise GoogleApiError(404, "NOT_FOUND", f"The stand-in serves no {method} v1/{path}.")
        now = self.clock()
        caller = caller_of(self.store, authorization, SCOPES, now)
        scopes = body.get("scope")
        if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) and s for s in scopes):
            raise invalid_argument("Scope required.")
        if body.get("delegates"):
            raise invalid_argument("The GCP stand-in does not emulate delegation chains (delegates).")
        lifetime = _lifetime(body.get("lifetime"))
        with self.store.change() as state:
            target = state.accounts.get(match["account"])
            if (target is None or target.disabled
                    or not has_permission(state, target.project_id, caller.account, GET_ACCESS_TOKEN)):
                raise denied()
            token = "ya29." + secrets.token_urlsafe(64)
            # the admin API's token TTL (a test's way to make tokens expire soon) caps the lifetime
            expires_at = now + min(lifetime, state.token_ttl)
            state.tokens = {digest: t for digest, t in state.tokens.items() if t.expires_at > now}
            state.tokens[token_digest(token)] = IssuedToken(email=target.email, unique_id=target.unique_id,
                                                            key_id="", scopes=list(scopes), expires_at=expires_at)
        return {"accessToken": token, "expireTime": rfc3339(expires_at)}


def _lifetime(raw: object) -> int:
    if raw is None:
        return MAX_LIFETIME
    found = LIFETIME.match(raw) if isinstance(raw, str) else None
    if found is None or not 1 <= int(found["seconds"]) <= MAX_LIFETIME:
        raise invalid_argument(f"The lifetime {raw!r} must be a duration in seconds (\"3600s\") between 1s "
                               f"and {MAX_LIFETIME}s.")
    return int(found["seconds"])
