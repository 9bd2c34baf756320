"""What exists in the stand-in's little Google: projects, service accounts, keys, issued tokens.

All of it lives in one JSON file in the state folder, replaced atomically after every change, so
a restarted stand-in keeps the accounts, keys and tokens the local platform already handed out.
Like Google, the stand-in never keeps the private half of a key it created: the file holds public
keys and certificates, IAM policies, and SHA-256 digests of issued access tokens, never the
tokens themselves.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_FILE = "gcp-standin-state.json"
STATE_FORMAT = 1
DEFAULT_TOKEN_TTL = 3600
# The etag Google's IAM policies carry before anything was ever set (Cloud Storage, Pub/Sub and
# Resource Manager all answer it for an empty policy).
EMPTY_POLICY_ETAG = "ACAB"


@dataclass
class ServiceAccount:
    project_id: str
    account_id: str
    unique_id: str
    display_name: str = ""
    description: str = ""
    disabled: bool = False

    @property
    def email(self) -> str:
        return f"{self.account_id}@{self.project_id}.iam.gserviceaccount.com"

    @property
    def name(self) -> str:
        return f"projects/{self.project_id}/serviceAccounts/{self.email}"


@dataclass
class ServiceAccountKey:
    key_id: str
    email: str
    project_id: str
    key_algorithm: str
    public_key_pem: str
    certificate_pem: str
    valid_after: str
    valid_before: str
    disabled: bool = False

    @property
    def name(self) -> str:
        return f"projects/{self.project_id}/serviceAccounts/{self.email}/keys/{self.key_id}"


@dataclass
class Policy:
    etag: str = EMPTY_POLICY_ETAG
    version: int = 1
    bindings: list[dict] = field(default_factory=list)
    audit_configs: list[dict] = field(default_factory=list)


@dataclass
class Project:
    project_id: str
    project_number: str
    create_time: str
    policy: Policy = field(default_factory=Policy)


@dataclass
class IssuedToken:
    email: str
    unique_id: str  # a re-created account of the same email must not inherit old tokens
    key_id: str  # "" for a token minted by generateAccessToken (impersonation): no key of its own
    scopes: list[str]
    expires_at: float


@dataclass
class GkeCluster:
    """A GKE cluster as ``clusters.get`` describes it: the local platform registers its clusters."""

    project_id: str
    location: str
    name: str
    endpoint: str
    """host[:port] of the API server (Google answers an IP; the local one adds its port)."""
    ca_certificate: str
    """base64 of the CA's PEM, as ``masterAuth.clusterCaCertificate`` carries it."""
    create_time: str

    @property
    def resource(self) -> str:
        return f"projects/{self.project_id}/locations/{self.location}/clusters/{self.name}"


@dataclass
class State:
    projects: dict[str, Project] = field(default_factory=dict)
    accounts: dict[str, ServiceAccount] = field(default_factory=dict)  # by email
    keys: dict[str, ServiceAccountKey] = field(default_factory=dict)  # by key id
    tokens: dict[str, IssuedToken] = field(default_factory=dict)  # by SHA-256 hex of the token
    token_ttl: int = DEFAULT_TOKEN_TTL
    gke_clusters: dict[str, GkeCluster] = field(default_factory=dict)  # by resource name

    def to_json(self) -> dict:
        return {"format": STATE_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> State:
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown state format {data.get('format')!r} (expected {STATE_FORMAT})")
        return cls(
            projects={k: Project(**{**v, "policy": Policy(**v["policy"])}) for k, v in data["projects"].items()},
            accounts={k: ServiceAccount(**v) for k, v in data["accounts"].items()},
            keys={k: ServiceAccountKey(**v) for k, v in data["keys"].items()},
            tokens={k: IssuedToken(**v) for k, v in data["tokens"].items()},
            token_ttl=int(data["token_ttl"]),
            # absent from files written before the stand-in served clusters.get
            gke_clusters={k: GkeCluster(**v) for k, v in data.get("gke_clusters", {}).items()},
        )


class StateStore:
    """The state plus the lock that guards it; ``change()`` saves when the block succeeds."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / STATE_FILE
        self.lock = threading.RLock()
        self.state = self._load()

    def _load(self) -> State:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return State()
        try:
            return State.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"the stand-in's state file {self.path} is unreadable ({exc}); "
                             f"move it away to start empty") from None

    @contextmanager
    def change(self) -> Iterator[State]:
        with self.lock:
            yield self.state
            self.save()

    def save(self) -> None:
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(self.state.to_json(), out, indent=1, sort_keys=True)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
