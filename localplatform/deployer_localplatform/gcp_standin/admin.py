"""The stand-in's own admin API under ``/_admin/``: what Google does out of band, for the platform.

Real projects come from an organisation and the first admin identity from a human with a
browser; the local platform has neither, so it asks here. JSON in, JSON out, no authentication
(the server listens on 127.0.0.1 only):

- ``POST /_admin/projects`` ``{"projectId"}``: the project exists from now on (idempotent).
- ``POST /_admin/service-accounts`` ``{"projectId", "accountId", "displayName"?}``: the account
  (created unless it exists) plus a new key; answers ``{"serviceAccount", "keyName", "keyFile"}``
  where ``keyFile`` is the service-account JSON key (the only copy of its private key).
- ``POST /_admin/revoke-key`` ``{"key": key id or full key name}``: disables the key; its tokens
  stop authenticating at once.
- ``PUT /_admin/token-ttl`` ``{"seconds"}``: lifetime of tokens issued from now on.
- ``POST /_admin/gke-clusters`` ``{"projectId", "location", "cluster", "endpoint", "caCertificate"}``:
  GKE's clusters.get answers for this cluster from now on (``endpoint`` is host[:port],
  ``caCertificate`` the CA's PEM); the local platform registers its GKE-shaped cluster at start.
- ``POST /_admin/grants`` ``{"projectId", "role", "member"}``: adds the member to the role's
  binding in the project's IAM policy, as an organisation admin would out of band.
- ``GET /_admin/requests``: how many Google API requests were served, by ``"METHOD /path"``, since
  the stand-in started (for tests; the admin API's own calls are not counted).
- ``GET /_admin/state``: everything the stand-in knows, without private material (no keys'
  private halves, no tokens, not even token digests).
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from deployer_localplatform.gcp_standin.google_rest import (
    account_json,
    add_project,
    key_json,
    known_project,
    new_account,
    new_key,
    new_policy_etag,
    normalize_bindings,
    policy_json,
    revoke_key,
    rfc3339,
)
from deployer_localplatform.gcp_standin.responses import invalid_argument, not_found
from deployer_localplatform.gcp_standin.state import GkeCluster, StateStore

MAX_TOKEN_TTL = 86400


def _text(body: dict, field: str, required: bool = True) -> str:
    value = body.get(field, "")
    if not isinstance(value, str) or (required and not value):
        raise invalid_argument(f"{field} must be a non-empty string.")
    return value


class AdminApi:
    def __init__(self, store: StateStore, token_uri: str, clock,
                 request_counts: Callable[[], dict[str, int]] = dict) -> None:
        self.store = store
        self.token_uri = token_uri
        self.clock = clock
        self.request_counts = request_counts

    def handle(self, method: str, path: str, body: dict) -> dict:
        routes = {
            ("POST", "projects"): self.add_project,
            ("POST", "service-accounts"): self.service_account_with_key,
            ("POST", "revoke-key"): self.revoke_key,
            ("PUT", "token-ttl"): self.set_token_ttl,
            ("POST", "token-ttl"): self.set_token_ttl,
            ("GET", "state"): self.dump_state,
            ("POST", "gke-clusters"): self.add_gke_cluster,
            ("POST", "grants"): self.grant,
            ("GET", "requests"): lambda _body: {"requests": self.request_counts()},
        }
        handler = routes.get((method, path))
        if handler is None:
            raise not_found(f"The stand-in's admin API serves no {method} /_admin/{path}.")
        return handler(body)

    def add_project(self, body: dict) -> dict:
        project_id = _text(body, "projectId")
        with self.store.change() as state:
            project = add_project(state, project_id, self.clock())
        return {"projectId": project.project_id, "projectNumber": project.project_number}

    def service_account_with_key(self, body: dict) -> dict:
        project_id, account_id = _text(body, "projectId"), _text(body, "accountId")
        display_name = _text(body, "displayName", required=False)
        with self.store.change() as state:
            known_project(state, project_id)
            email = f"{account_id}@{project_id}.iam.gserviceaccount.com"
            if email not in state.accounts:
                new_account(state, project_id, account_id, display_name)
        key, key_file = new_key(self.store, project_id, email, "KEY_ALG_RSA_2048", self.token_uri, self.clock())
        with self.store.lock:
            account = self.store.state.accounts[email]
            return {"serviceAccount": account_json(account), "keyName": key.name, "keyFile": key_file}

    def add_gke_cluster(self, body: dict) -> dict:
        ca_pem = _text(body, "caCertificate")
        if "BEGIN CERTIFICATE" not in ca_pem:
            raise invalid_argument("caCertificate must be a PEM certificate.")
        endpoint = _text(body, "endpoint")
        if "/" in endpoint or " " in endpoint:
            raise invalid_argument("endpoint is host[:port], without a scheme or path.")
        with self.store.change() as state:
            project = known_project(state, _text(body, "projectId"))
            cluster = GkeCluster(project.project_id, _text(body, "location"), _text(body, "cluster"), endpoint,
                                 base64.b64encode(ca_pem.encode("ascii")).decode("ascii"), rfc3339(self.clock()))
            state.gke_clusters[cluster.resource] = cluster
        return {"name": cluster.resource}

    def grant(self, body: dict) -> dict:
        role, member = _text(body, "role"), _text(body, "member")
        with self.store.change() as state:
            policy = known_project(state, _text(body, "projectId")).policy
            policy.bindings = normalize_bindings([*policy.bindings, {"role": role, "members": [member]}])
            policy.etag = new_policy_etag()
            return policy_json(policy)

    def revoke_key(self, body: dict) -> dict:
        key_id = _text(body, "key").rsplit("/", 1)[-1]
        with self.store.change() as state:
            key = revoke_key(state, key_id)
        return {"name": key.name, "disabled": True}

    def set_token_ttl(self, body: dict) -> dict:
        seconds = body.get("seconds")
        if not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= MAX_TOKEN_TTL:
            raise invalid_argument(f"seconds must be a whole number from 1 to {MAX_TOKEN_TTL}.")
        with self.store.change() as state:
            state.token_ttl = seconds
        return {"seconds": seconds}

    def dump_state(self, _body: dict) -> dict:
        now = self.clock()
        with self.store.lock:
            state = self.store.state
            return {
                "tokenTtlSeconds": state.token_ttl,
                "projects": [{"projectId": p.project_id, "projectNumber": p.project_number,
                              "policy": policy_json(p.policy)} for p in state.projects.values()],
                "serviceAccounts": [account_json(a) for a in state.accounts.values()],
                "keys": [key_json(k) for k in state.keys.values()],
                "tokens": [{"email": t.email, "keyId": t.key_id, "scopes": list(t.scopes),
                            "expireTime": rfc3339(t.expires_at), "expired": t.expires_at <= now}
                           for t in state.tokens.values()],
            }

