"""The IAM v1 and Cloud Resource Manager v1 calls deployer and the google Terraform provider make.

Shapes follow the public REST references (iam.googleapis.com/v1 ``projects.serviceAccounts`` and
``projects.serviceAccounts.keys``, cloudresourcemanager.googleapis.com/v1 ``projects``) and what
the provider's resources send (``resource_google_service_account.go``,
``resource_google_service_account_key.go``, ``iam_project.go``):

- service accounts: create (``accountId`` + ``serviceAccount{displayName, description}``), get,
  patch (``serviceAccount`` + ``updateMask``), delete, list, ``:enable``/``:disable``; addressed as
  ``projects/{p}/serviceAccounts/{email or uniqueId}``, or with ``-`` for the project;
- keys: create (returns ``privateKeyData``: a base64 key file whose ``token_uri`` is this
  server), get (``?publicKeyType=TYPE_X509_PEM_FILE`` adds ``publicKeyData``), list, delete,
  ``:enable``/``:disable``;
- projects: get, ``:getIamPolicy``, ``:setIamPolicy`` with etag concurrency (a stale etag is
  ``409 ABORTED``, which the provider's read-modify-write loop retries).

Every call needs a bearer token from the token endpoint with a fitting scope, as Google's do.
Nothing checks IAM permissions: any authenticated caller may manage any known project.
Unknown projects answer as Google does: IAM says ``404 NOT_FOUND``; Resource Manager, which
never reveals whether a project exists, says ``403 PERMISSION_DENIED``.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import secrets
from urllib.parse import quote

from deployer_localplatform.gcp_standin import crypto
from deployer_localplatform.gcp_standin.oauth import Caller, authenticate
from deployer_localplatform.gcp_standin.responses import (
    INVALID_CREDENTIAL,
    MISSING_CREDENTIAL,
    GoogleApiError,
    invalid_argument,
    not_found,
)
from deployer_localplatform.gcp_standin.state import (
    Policy,
    Project,
    ServiceAccount,
    ServiceAccountKey,
    State,
    StateStore,
)

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
CLOUD_PLATFORM_READ_ONLY = "https://www.googleapis.com/auth/cloud-platform.read-only"
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
IAM_WRITE = frozenset({CLOUD_PLATFORM, IAM_SCOPE})
IAM_READ = IAM_WRITE | {CLOUD_PLATFORM_READ_ONLY}
CRM_WRITE = frozenset({CLOUD_PLATFORM})
CRM_READ = CRM_WRITE | {CLOUD_PLATFORM_READ_ONLY}

# ServiceAccount.etag is deprecated and Google answers this same value for every account.
SERVICE_ACCOUNT_ETAG = "MDEwMjE5MjA="
USER_MANAGED_KEY_LIMIT = 10
KEY_VALID_BEFORE = "9999-12-31T23:59:59Z"
ACCOUNT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
MEMBER_PREFIXES = ("user:", "serviceAccount:", "group:", "domain:", "deleted:", "principal:",
                   "principalSet:", "projectOwner:", "projectEditor:", "projectViewer:")
MEMBER_WORDS = ("allUsers", "allAuthenticatedUsers")

_P = r"projects/(?P<project>[^/:]+)"
_SA = _P + r"/serviceAccounts/(?P<account>[^/:]+)"
_KEY = _SA + r"/keys/(?P<key>[^/:]+)"
ROUTES = [
    ("GET", _P, "get_project", CRM_READ),
    ("POST", _P + ":getIamPolicy", "get_iam_policy", CRM_READ),
    ("POST", _P + ":setIamPolicy", "set_iam_policy", CRM_WRITE),
    ("GET", _P + "/serviceAccounts", "list_accounts", IAM_READ),
    ("POST", _P + "/serviceAccounts", "create_account", IAM_WRITE),
    ("GET", _SA, "get_account", IAM_READ),
    ("PATCH", _SA, "patch_account", IAM_WRITE),
    ("DELETE", _SA, "delete_account", IAM_WRITE),
    ("POST", _SA + ":(?P<action>enable|disable)", "enable_account", IAM_WRITE),
    ("GET", _SA + "/keys", "list_keys", IAM_READ),
    ("POST", _SA + "/keys", "create_key", IAM_WRITE),
    ("GET", _KEY, "get_key", IAM_READ),
    ("DELETE", _KEY, "delete_key", IAM_WRITE),
    ("POST", _KEY + ":(?P<action>enable|disable)", "enable_key", IAM_WRITE),
]
_COMPILED = [(method, re.compile(pattern + "$"), handler, scopes) for method, pattern, handler, scopes in ROUTES]


def rfc3339(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_policy_etag() -> str:
    # Resource Manager's etags are 8 bytes, base64 ("BwX..."): a version byte, then opaque bytes.
    return base64.b64encode(b"\x07" + secrets.token_bytes(7)).decode("ascii")


def caller_of(store: StateStore, authorization: str | None, scopes: frozenset[str], now: float) -> Caller:
    """Who sent a Google API request, as Google checks it: a live bearer token with one of ``scopes``."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GoogleApiError(401, "UNAUTHENTICATED", MISSING_CREDENTIAL)
    with store.lock:
        caller = authenticate(store.state, token.strip(), now)
    if caller is None:
        raise GoogleApiError(401, "UNAUTHENTICATED", INVALID_CREDENTIAL)
    if not caller.scopes & scopes:
        raise GoogleApiError(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.")
    return caller


# ---- operations shared with the admin API -----------------------------------------------------

def add_project(state: State, project_id: str, now: float) -> Project:
    if project_id not in state.projects:
        number = str(secrets.randbelow(9 * 10**11) + 10**11)
        state.projects[project_id] = Project(project_id, number, rfc3339(now))
    return state.projects[project_id]


def new_account(state: State, project_id: str, account_id: str, display_name: str = "",
                description: str = "") -> ServiceAccount:
    if not isinstance(account_id, str) or not ACCOUNT_ID.match(account_id):
        raise invalid_argument(f"Invalid accountId {account_id!r}: it must be 6 to 30 characters of "
                               f"lowercase letters, digits and hyphens, start with a letter and not end "
                               f"with a hyphen.")
    if len(display_name.encode()) > 100:
        raise invalid_argument("displayName must be at most 100 UTF-8 bytes.")
    if len(description.encode()) > 256:
        raise invalid_argument("description must be at most 256 UTF-8 bytes.")
    account = ServiceAccount(project_id, account_id, _new_unique_id(state), display_name, description)
    if account.email in state.accounts:
        raise GoogleApiError(409, "ALREADY_EXISTS", f"Service account {account_id} already exists within "
                                                    f"project projects/{project_id}.")
    state.accounts[account.email] = account
    return account


def new_key(store: StateStore, project_id: str, account_ref: str, algorithm: str, token_uri: str,
            now: float) -> tuple[ServiceAccountKey, dict]:
    """A new user-managed key; returns it with the key file, whose private half is not kept."""
    if algorithm not in crypto.KEY_BITS:
        raise invalid_argument(f"Invalid keyAlgorithm {algorithm!r}.")
    private_key = crypto.generate_key(algorithm)  # slow: before taking the lock
    key_id = secrets.token_hex(20)
    with store.change() as state:
        account = resolve_account(state, project_id, account_ref)
        owned = sum(1 for k in state.keys.values() if k.email == account.email)
        if owned >= USER_MANAGED_KEY_LIMIT:
            raise GoogleApiError(400, "FAILED_PRECONDITION", "Precondition check failed.")
        not_before = dt.datetime.fromtimestamp(now, dt.UTC).replace(microsecond=0)
        key = ServiceAccountKey(
            key_id=key_id, email=account.email, project_id=account.project_id,
            key_algorithm="KEY_ALG_RSA_1024" if algorithm == "KEY_ALG_RSA_1024" else "KEY_ALG_RSA_2048",
            public_key_pem=crypto.public_key_pem(private_key),
            certificate_pem=crypto.certificate_pem(private_key, key_id, not_before,
                                                   dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)),
            valid_after=rfc3339(now), valid_before=KEY_VALID_BEFORE)
        state.keys[key_id] = key
    key_file = {
        "type": "service_account",
        "project_id": account.project_id,
        "private_key_id": key_id,
        "private_key": crypto.private_key_pem(private_key),
        "client_email": account.email,
        "client_id": account.unique_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{quote(account.email)}",
        "universe_domain": "googleapis.com",
    }
    return key, key_file


def resolve_account(state: State, project_id: str, account_ref: str) -> ServiceAccount:
    """``projects/{p}/serviceAccounts/{ref}``: ref is an email or a uniqueId; p may be ``-``."""
    if project_id != "-":
        known_project(state, project_id)
    account = state.accounts.get(account_ref) or next(
        (a for a in state.accounts.values() if a.unique_id == account_ref), None)
    if account is None:
        raise not_found("Unknown service account")
    return account


def known_project(state: State, project_id: str) -> Project:
    project = state.projects.get(project_id)
    if project is None:
        raise not_found()
    return project


def remove_account(state: State, account: ServiceAccount) -> None:
    del state.accounts[account.email]
    for key_id in [k.key_id for k in state.keys.values() if k.email == account.email]:
        del state.keys[key_id]
    # Bindings keep a deleted account under a name that cannot match a re-created one.
    live, dead = f"serviceAccount:{account.email}", f"deleted:serviceAccount:{account.email}?uid={account.unique_id}"
    for project in state.projects.values():
        if any(live in b["members"] for b in project.policy.bindings):
            for binding in project.policy.bindings:
                binding["members"] = sorted(dead if m == live else m for m in binding["members"])
            project.policy.etag = new_policy_etag()


def revoke_key(state: State, key_id: str) -> ServiceAccountKey:
    key = state.keys.get(key_id)
    if key is None:
        raise not_found(f"Unknown service account key {key_id}")
    key.disabled = True
    return key


def account_json(account: ServiceAccount) -> dict:
    out = {"name": account.name, "projectId": account.project_id, "uniqueId": account.unique_id,
           "email": account.email, "etag": SERVICE_ACCOUNT_ETAG, "oauth2ClientId": account.unique_id}
    # proto3 JSON leaves out empty strings and false
    if account.display_name:
        out["displayName"] = account.display_name
    if account.description:
        out["description"] = account.description
    if account.disabled:
        out["disabled"] = True
    return out


def key_json(key: ServiceAccountKey, public_key_type: str = "TYPE_NONE") -> dict:
    out = {"name": key.name, "validAfterTime": key.valid_after, "validBeforeTime": key.valid_before,
           "keyAlgorithm": key.key_algorithm, "keyOrigin": "GOOGLE_PROVIDED", "keyType": "USER_MANAGED"}
    if public_key_type == "TYPE_X509_PEM_FILE":
        out["publicKeyData"] = base64.b64encode(key.certificate_pem.encode("ascii")).decode("ascii")
    if key.disabled:
        out["disabled"] = True
    return out


def policy_json(policy: Policy) -> dict:
    # a copy: the answer is serialised after the lock is released
    out: dict = {"version": policy.version, "etag": policy.etag}
    if policy.bindings:
        out["bindings"] = copy.deepcopy(policy.bindings)
    if policy.audit_configs:
        out["auditConfigs"] = copy.deepcopy(policy.audit_configs)
    return out


def _new_unique_id(state: State) -> str:
    taken = {a.unique_id for a in state.accounts.values()}
    while True:  # 21 digits starting with 1, like Google's
        candidate = "1" + "".join(str(secrets.randbelow(10)) for _ in range(20))
        if candidate not in taken:
            return candidate


def normalize_bindings(raw: object) -> list[dict]:
    """Google merges bindings of the same role and condition, sorts them and their members."""
    if not isinstance(raw, list):
        raise invalid_argument("policy.bindings must be a list.")
    merged: dict[tuple[str, str], set[str]] = {}
    conditions: dict[str, object] = {}
    for binding in raw:
        if not isinstance(binding, dict) or not isinstance(binding.get("role"), str) or not binding["role"]:
            raise invalid_argument("Every binding needs a role.")
        members = binding.get("members") or []
        if not isinstance(members, list):
            raise invalid_argument(f"The members of role {binding['role']} must be a list.")
        for member in members:
            if not isinstance(member, str) or not (member.startswith(MEMBER_PREFIXES) or member in MEMBER_WORDS):
                raise invalid_argument(f"Invalid member {member!r} in role {binding['role']}.")
        condition = binding.get("condition")
        condition_key = json.dumps(condition, sort_keys=True) if condition else ""
        conditions[condition_key] = condition
        merged.setdefault((binding["role"], condition_key), set()).update(members)
    out = []
    for (role, condition_key), members in sorted(merged.items()):
        if members:
            binding = {"role": role, "members": sorted(members)}
            if condition_key:
                binding["condition"] = conditions[condition_key]
            out.append(binding)
    return out


class GoogleRest:
    """Routes ``v1/...`` paths to the IAM and Resource Manager operations above."""

    def __init__(self, store: StateStore, token_uri: str, clock) -> None:
        self.store = store
        self.token_uri = token_uri
        self.clock = clock

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: dict,
               authorization: str | None) -> dict:
        for route_method, pattern, handler, scopes in _COMPILED:
            match = pattern.match(path)
            if match and route_method == method:
                self._check_caller(authorization, scopes)
                return getattr(self, handler)(query=query, body=body, **match.groupdict())
        raise not_found(f"The stand-in serves no {method} v1/{path}.")

    def _check_caller(self, authorization: str | None, scopes: frozenset[str]) -> None:
        caller_of(self.store, authorization, scopes, self.clock())

    # ---- Cloud Resource Manager v1 ----

    def _crm_project(self, state: State, project: str) -> Project:
        found = state.projects.get(project)
        if found is None:
            raise GoogleApiError(403, "PERMISSION_DENIED", "The caller does not have permission")
        return found

    def get_project(self, project: str, **_) -> dict:
        with self.store.lock:
            found = self._crm_project(self.store.state, project)
            return {"projectNumber": found.project_number, "projectId": found.project_id,
                    "lifecycleState": "ACTIVE", "name": found.project_id, "createTime": found.create_time}

    def get_iam_policy(self, project: str, **_) -> dict:
        with self.store.lock:
            return policy_json(self._crm_project(self.store.state, project).policy)

    def set_iam_policy(self, project: str, body: dict, **_) -> dict:
        policy_in = body.get("policy")
        if not isinstance(policy_in, dict):
            raise invalid_argument("Invalid JSON payload received. policy must be an object.")
        mask = {f.strip() for f in str(body.get("updateMask") or "bindings,etag").split(",")}
        bindings = normalize_bindings(policy_in.get("bindings") or [])
        with self.store.change() as state:
            found = self._crm_project(state, project)
            for binding in bindings:
                for member in binding["members"]:
                    email = member.removeprefix("serviceAccount:")
                    if (member.startswith("serviceAccount:") and email.endswith(".iam.gserviceaccount.com")
                            and email not in state.accounts):
                        raise invalid_argument(f"Service account {email} does not exist.")
            etag = policy_in.get("etag")
            if etag and etag != found.policy.etag:
                raise GoogleApiError(409, "ABORTED", "There were concurrent policy changes. Please retry the "
                                                     "whole read-modify-write with exponential backoff.")
            keep = found.policy
            if "bindings" in mask:
                keep.bindings = bindings
            if mask & {"auditConfigs", "audit_configs"}:
                keep.audit_configs = list(policy_in.get("auditConfigs") or [])
            keep.version = 3 if any("condition" in b for b in keep.bindings) else 1
            keep.etag = new_policy_etag()
            return policy_json(keep)

    # ---- IAM v1: service accounts ----

    def list_accounts(self, project: str, **_) -> dict:
        with self.store.lock:
            state = self.store.state
            known_project(state, project)
            accounts = sorted((a for a in state.accounts.values() if a.project_id == project),
                              key=lambda a: a.email)
            return {"accounts": [account_json(a) for a in accounts]} if accounts else {}

    def create_account(self, project: str, body: dict, **_) -> dict:
        fields = body.get("serviceAccount") or {}
        if not isinstance(fields, dict):
            raise invalid_argument("Invalid JSON payload received. serviceAccount must be an object.")
        with self.store.change() as state:
            known_project(state, project)
            return account_json(new_account(state, project, body.get("accountId"),
                                               str(fields.get("displayName") or ""),
                                               str(fields.get("description") or "")))

    def get_account(self, project: str, account: str, **_) -> dict:
        with self.store.lock:
            return account_json(resolve_account(self.store.state, project, account))

    def patch_account(self, project: str, account: str, body: dict, **_) -> dict:
        fields = body.get("serviceAccount") or {}
        mask = {f.strip() for f in str(body.get("updateMask") or "").split(",") if f.strip()}
        unknown = mask - {"display_name", "displayName", "description"}
        if not mask or unknown:
            raise invalid_argument(f"updateMask must name display_name and/or description "
                                   f"(got {body.get('updateMask')!r}).")
        with self.store.change() as state:
            found = resolve_account(state, project, account)
            if mask & {"display_name", "displayName"}:
                found.display_name = str(fields.get("displayName") or "")
            if "description" in mask:
                found.description = str(fields.get("description") or "")
            return account_json(found)

    def delete_account(self, project: str, account: str, **_) -> dict:
        with self.store.change() as state:
            remove_account(state, resolve_account(state, project, account))
        return {}

    def enable_account(self, project: str, account: str, action: str, **_) -> dict:
        with self.store.change() as state:
            resolve_account(state, project, account).disabled = action == "disable"
        return {}

    # ---- IAM v1: keys ----

    def _key(self, state: State, project: str, account: str, key: str) -> ServiceAccountKey:
        owner = resolve_account(state, project, account)
        found = state.keys.get(key)
        if found is None or found.email != owner.email:
            raise not_found(f"Unknown service account key {key}")
        return found

    def list_keys(self, project: str, account: str, query: dict, **_) -> dict:
        key_types = set(query.get("keyTypes", []))
        with self.store.lock:
            owner = resolve_account(self.store.state, project, account)
            if key_types and "USER_MANAGED" not in key_types:
                return {}  # the stand-in has no system-managed keys
            keys = sorted((k for k in self.store.state.keys.values() if k.email == owner.email),
                          key=lambda k: k.key_id)
            return {"keys": [key_json(k) for k in keys]} if keys else {}

    def create_key(self, project: str, account: str, body: dict, **_) -> dict:
        private_type = body.get("privateKeyType") or "TYPE_GOOGLE_CREDENTIALS_FILE"
        if private_type not in ("TYPE_GOOGLE_CREDENTIALS_FILE", "TYPE_UNSPECIFIED"):
            raise invalid_argument(f"privateKeyType {private_type} is not served by the GCP stand-in; "
                                   f"use TYPE_GOOGLE_CREDENTIALS_FILE.")
        key, key_file = new_key(self.store, project, account, body.get("keyAlgorithm") or "KEY_ALG_RSA_2048",
                                self.token_uri, self.clock())
        out = key_json(key)
        out["privateKeyType"] = "TYPE_GOOGLE_CREDENTIALS_FILE"
        out["privateKeyData"] = base64.b64encode(json.dumps(key_file, indent=2).encode()).decode("ascii")
        return out

    def get_key(self, project: str, account: str, key: str, query: dict, **_) -> dict:
        public_type = (query.get("publicKeyType") or ["TYPE_NONE"])[0]
        if public_type not in ("TYPE_NONE", "TYPE_X509_PEM_FILE"):
            raise invalid_argument(f"publicKeyType {public_type} is not served by the GCP stand-in; "
                                   f"use TYPE_X509_PEM_FILE or TYPE_NONE.")
        with self.store.lock:
            return key_json(self._key(self.store.state, project, account, key), public_type)

    def delete_key(self, project: str, account: str, key: str, **_) -> dict:
        with self.store.change() as state:
            del state.keys[self._key(state, project, account, key).key_id]
        return {}

    def enable_key(self, project: str, account: str, key: str, action: str, **_) -> dict:
        with self.store.change() as state:
            self._key(state, project, account, key).disabled = action == "disable"
        return {}
