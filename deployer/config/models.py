"""The declared shape of cluster and service files.

Models are frozen and reject unknown keys, so a typo is an error rather than a silently ignored
setting. Keys are camelCase in YAML (as in Kubernetes manifests) and snake_case in Python.
Credentials are declared by reference only (the name of an environment variable or a file that
Jenkins binds): a secret value in a file is refused by the loader before these models run.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from pydantic.alias_generators import to_camel

from deployer.notify.events import EVENT_TYPES, EventType

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Name = Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
EnvVarName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
LabelValue = Annotated[str, Field(pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", max_length=63)]
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def label_key(key: str) -> str:
    """A Kubernetes label key: an optional DNS-subdomain prefix (253 characters at most) and a name
    of 63 at most (apimachinery's IsQualifiedName), checked here so the API server never has to
    refuse it half-way through a sync."""
    prefix, slash, name = key.rpartition("/")
    if slash and not (prefix and len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix)):
        raise ValueError(f"label key {key[:80]!r}: the prefix before '/' must be a DNS subdomain of at most 253 "
                         "characters (lower-case letters, digits, '-' and '.')")
    if not (len(name) <= 63 and _LABEL_NAME.fullmatch(name)):
        raise ValueError(f"label key {key[:80]!r}: the name must be 63 characters at most, start and end with a "
                         "letter or digit, and hold only letters, digits, '-', '_' and '.'")
    return key


Labels = dict[Annotated[str, AfterValidator(label_key)], LabelValue]

_DURATION = re.compile(r"^(?:(\d{1,6})h)?(?:(\d{1,6})m(?!s))?(?:(\d{1,6})s)?$")
# No timeout or lock wait deployer takes is longer than a week; anything longer is a slip (an extra
# zero, a unit forgotten) and would hold a deploy lock for ever.
MAX_DURATION_SECONDS = 7 * 24 * 3600


def parse_duration(value: Any) -> float:
    """Seconds from 300, 300.5, "300s", "5m", "1h30m". Used for timeouts and lock waits."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 300, '90s', '5m' or '1h30m'")
    if isinstance(value, int) and abs(value) > MAX_DURATION_SECONDS:
        seconds = float(MAX_DURATION_SECONDS + 1)  # a 400-digit integer has no float: compare it as it is
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{1,12}(\.\d{1,9})?", text):
            seconds = float(text)
        else:
            match = _DURATION.fullmatch(text)
            if not text or not match:
                raise ValueError(f"{value!r} is not a duration such as 300, '90s', '5m' or '1h30m'")
            hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
            seconds = float(hours * 3600 + minutes * 60 + secs)
    else:
        raise ValueError("expected a duration such as 300, '90s', '5m' or '1h30m'")
    if not math.isfinite(seconds):
        raise ValueError("a duration must be a finite number of seconds")
    if seconds <= 0:
        raise ValueError("a duration must be greater than zero")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"a duration must be at most a week ({MAX_DURATION_SECONDS} seconds)")
    return seconds


Duration = Annotated[float | int | str, AfterValidator(parse_duration)]


class Strict(BaseModel):
    # defer_build: a model's validator is built when it first validates, not at import; a run
    # whose files come from the configuration cache (config/filecache.py) never builds one.
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel,
                              populate_by_name=True, str_strip_whitespace=False, defer_build=True)


class FieldError(ValueError):
    """A cross-field check that knows which field is wrong, relative to the model it runs in.

    pydantic locates model-level errors at the model itself; the loader reads ``path`` from this
    error so the message still names the exact field and its line.
    """

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def _exactly_one(model: BaseModel, *fields: str) -> None:
    given = [f for f in fields if getattr(model, f) not in (None, False)]
    names = " or ".join(to_camel(f) for f in fields)
    if len(given) != 1:
        raise ValueError(f"set exactly one of {names}")


# --- how to reach a cluster ---------------------------------------------------------------------

class CertificateSource(Strict):
    """A CA bundle: a file path (relative to the config directory) or inline PEM."""

    file: str | None = None
    inline: str | None = None

    @model_validator(mode="after")
    def _one(self) -> CertificateSource:
        _exactly_one(self, "file", "inline")
        if self.inline is not None and "BEGIN CERTIFICATE" not in self.inline:
            raise FieldError(("inline",), "inline must be a PEM certificate (-----BEGIN CERTIFICATE-----)")
        return self


class GkeLocation(Strict):
    project: Annotated[str, Field(pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")]
    location: Annotated[str, Field(pattern=r"^[a-z]+-[a-z]+[0-9](-[a-z])?$")]
    cluster: Name
    deployer_account: DeployerAccount = Field(default_factory=lambda: DeployerAccount())
    google_api_endpoint: Annotated[str, Field(pattern=r"^https?://[^\s/]+/?$")] | None = None
    """Where Google's APIs are, when not Google's own: a private endpoint, or the local platform's
    GCP stand-in. Provision points Terraform's provider (IAM, Resource Manager) at it; the cluster
    lookup (GKE's ``BASE/v1/projects/.../clusters/...``) and impersonation (IAM Credentials'
    ``BASE/v1/...:generateAccessToken``) go there too."""


class DeployerAccount(Strict):
    """The Google service account Terraform creates for deployer on this GKE cluster."""

    account_id: Annotated[str, Field(pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")] = "deployer"
    role: Name = "deployer"
    """The chart role bound to the account's email (kind: User) in the cluster's namespaces."""
    create_key: bool = False
    """Opt-in: the private key then lives in Terraform state. Prefer impersonation."""


class TokenRequest(Strict):
    """Exchange the long-lived token for a short-lived one through the TokenRequest API."""

    service_account: Name
    namespace: Name
    expiration_seconds: Annotated[int, Field(ge=600, le=86400)] = 3600


class TokenCredential(Strict):
    """On-prem: a bearer token from an environment variable or a file Jenkins binds."""

    type: Literal["token"]
    env: EnvVarName | None = None
    file: str | None = None
    token_request: TokenRequest | None = None

    @model_validator(mode="after")
    def _one(self) -> TokenCredential:
        _exactly_one(self, "env", "file")
        return self


class ServiceAccountKeyCredential(Strict):
    """GKE: a Google service-account key file. ``fileEnv`` names the variable holding its path."""

    type: Literal["serviceAccountKey"]
    file_env: EnvVarName | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ServiceAccountKeyCredential:
        _exactly_one(self, "file_env", "file")
        return self


class ApplicationDefaultCredential(Strict):
    """GKE: Google application default credentials, optionally impersonating an account."""

    type: Literal["applicationDefault"]
    impersonate: Email | None = None


Credential = Annotated[
    TokenCredential | ServiceAccountKeyCredential | ApplicationDefaultCredential,
    Field(discriminator="type"),
]


# --- what a cluster contains --------------------------------------------------------------------

class Namespace(Strict):
    name: Name
    labels: Labels = Field(default_factory=dict)


class Subject(Strict):
    kind: Literal["User", "Group", "ServiceAccount"]
    name: Annotated[str, Field(min_length=1, max_length=253)]
    namespace: Name | None = None

    @model_validator(mode="after")
    def _namespace(self) -> Subject:
        if self.kind == "ServiceAccount" and self.namespace is None:
            raise FieldError(("namespace",), "a ServiceAccount subject needs a namespace")
        if self.kind != "ServiceAccount" and self.namespace is not None:
            raise FieldError(("namespace",), f"namespace is only for ServiceAccount subjects, not {self.kind}")
        return self


class AccessBinding(Strict):
    """Grant a chart role to subjects in namespaces (or cluster-wide when namespaces is empty)."""

    role: Name
    namespaces: list[Name] = Field(default_factory=list)
    subjects: Annotated[list[Subject], Field(min_length=1)]


class RobotAccount(Strict):
    """An on-prem ServiceAccount for a robot deployer (for example Jenkins)."""

    name: Name
    namespace: Name


# --- progressive delivery: the gate between waves (docs/waves.md) -------------------------------

class PrometheusServer(Strict):
    """A Prometheus a metric check queries (its HTTP API, ``/api/v1/query``)."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s/@]+(/[^\s@]*)?$")]
    """Base URL, without credentials (``https://prometheus.example:9090``)."""
    bearer_token_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    """An environment variable holding a bearer token for it (bound by Jenkins); never printed."""


class MetricCheck(Strict):
    """A PromQL query that must stay at or under ``max`` for ``window`` after a wave is ready."""

    name: Name
    prometheus: Name
    """A server declared under ``prometheus:`` in a target cluster's file or the service file."""
    query: Annotated[str, Field(min_length=1)]
    """PromQL; ``$window`` is replaced by the window in seconds (``rate(x[$window])``)."""
    max: float
    """The gate fails when any sample the query returns is above this."""
    window: Duration = 60.0


class Gate(Strict):
    """What a wave must show before the next one starts."""

    bake: Duration = 60.0
    """How long the wave's release must stay healthy once it is ready."""
    max_restarts: Annotated[int, Field(ge=0)] = 0
    """Container restarts allowed in the wave's pods during the bake (summed per cluster)."""
    metrics: list[MetricCheck] = Field(default_factory=list)


class Cluster(Strict):
    name: Name
    provider: Literal["gke", "onprem"]
    environment: Name
    labels: Labels = Field(default_factory=dict)
    server: Annotated[str, Field(pattern=r"^https://[^\s/]+(/[^\s]*)?$")] | None = None
    """The API server URL: required on-prem; on GKE an optional override of the endpoint deployer
    otherwise looks up by name through the GKE API (as is ``ca``)."""
    ca: CertificateSource | None = None
    gke: GkeLocation | None = None
    credential: Credential
    """The identity deploys run as: least privilege (the chart's deployer role)."""
    admin_credential: Credential | None = None
    """The identity `cluster sync` and `provision` run as (creating roles needs more than deploys).
    Defaults to ``credential``. Any credential type is accepted here, on GKE too."""
    registry: Annotated[str, Field(pattern=r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._/-]+)?$")]
    """Where deployer pushes images for this cluster: host[:port][/path]."""
    namespaces: list[Namespace] = Field(default_factory=list)
    access: list[AccessBinding] = Field(default_factory=list)
    robot_accounts: list[RobotAccount] = Field(default_factory=list)
    values: dict[str, Any] = Field(default_factory=dict)
    """Free values passed to the chart as ``values``."""
    prometheus: dict[Name, PrometheusServer] = Field(default_factory=dict)
    """Prometheus servers by name, for the metric checks of services deployed here (docs/waves.md)."""

    @model_validator(mode="after")
    def _provider_fields(self) -> Cluster:
        if self.provider == "onprem":
            if self.server is None:
                raise FieldError(("server",), "an onprem cluster needs server (its API server URL)")
            if self.ca is None:
                raise FieldError(("ca",), "an onprem cluster needs ca (the API server's CA, file or inline)")
            if self.gke is not None:
                raise FieldError(("gke",), "gke is only for provider: gke")
            if not isinstance(self.credential, TokenCredential):
                raise FieldError(("credential", "type"), "an onprem cluster authenticates with credential type: token")
        else:
            if self.gke is None:
                raise FieldError(("gke",), "a gke cluster needs gke (project, location, cluster)")
            if isinstance(self.credential, TokenCredential):
                raise FieldError(("credential", "type"), "a gke cluster authenticates with credential type "
                                 "serviceAccountKey or applicationDefault")
            if self.robot_accounts:
                raise FieldError(("robotAccounts",),
                                 "robotAccounts are for onprem clusters; on GKE bind Google accounts")
        return self

    @model_validator(mode="after")
    def _references(self) -> Cluster:
        declared = [ns.name for ns in self.namespaces]
        duplicates = sorted({n for n in declared if declared.count(n) > 1})
        if duplicates:
            raise FieldError(("namespaces",), f"namespace declared twice: {', '.join(duplicates)}")
        for i, binding in enumerate(self.access):
            for j, ns in enumerate(binding.namespaces):
                if ns not in declared:
                    raise FieldError(("access", i, "namespaces", j),
                                     f"namespace {ns!r} is not declared in namespaces")
            if self.provider == "gke":
                for j, subject in enumerate(binding.subjects):
                    if subject.kind in ("User", "Group") and "@" not in subject.name:
                        raise FieldError(("access", i, "subjects", j, "name"),
                                         f"on GKE a {subject.kind} is a Google email, not {subject.name!r}")
        for i, robot in enumerate(self.robot_accounts):
            if robot.namespace not in declared:
                raise FieldError(("robotAccounts", i, "namespace"),
                                 f"namespace {robot.namespace!r} is not declared in namespaces")
        return self

    @property
    def namespace_names(self) -> list[str]:
        return [ns.name for ns in self.namespaces]


# --- services -----------------------------------------------------------------------------------

class ImageBuild(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$")]
    """Repository name under each cluster's registry."""
    context: str = "."
    """Build context, relative to the service file's folder."""
    dockerfile: str = "Dockerfile"
    """Relative to the context."""
    build_args: dict[str, str] = Field(default_factory=dict)


class BuiltImage(Strict):
    build: ImageBuild
    """Built once per commit, like ``image``."""


class PrebuiltImage(Strict):
    prebuilt: Annotated[str, Field(pattern=r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+(:[\w][\w.-]{0,127})?"
                                             r"(@sha256:[0-9a-f]{64})?$")]
    """``registry/path/name:tag`` (resolved to a digest once per run) or ``...@sha256:...``; copied by
    digest into each cluster's registry, and manifests naming its repository literally are pinned to it."""


def _image_source_kind(value: Any) -> str:
    # Chosen by key, so a bad prebuilt reference is reported at its field, not as a missing "build".
    return "prebuilt-image" if isinstance(value, dict) and "prebuilt" in value else "built-image"


ImageSource = Annotated[
    Annotated[BuiltImage, Tag("built-image")] | Annotated[PrebuiltImage, Tag("prebuilt-image")],
    Discriminator(_image_source_kind),
]

# --- where a service's manifests come from -------------------------------------------------------

KindName = Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*$", max_length=63)]


class HelmSource(Strict):
    """A Helm chart, rendered with `helm template`: release name the service's, namespace the
    environment's. Values: the chart's own, then ``values`` files in order, then the service file's
    ``values`` (environment's over service's), then ``set``."""

    chart: Annotated[str, Field(min_length=1)]
    """The chart's folder or packaged ``.tgz``, relative to the service file's folder."""
    values: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    """Values files, relative to the service file's folder, applied in order (like ``helm -f``)."""
    set: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")], Any] = Field(
        default_factory=dict)
    """``--set``-style values by dotted path (``image.pullPolicy: Always``); applied last. Passed to
    Helm as a generated values file, never on its command line."""


class Source(Strict):
    """Where an environment's manifests come from: exactly one of the four."""

    jinja: str | None = None
    """A folder of jinja2 ``*.yaml.j2`` templates (what ``manifests: DIR`` means)."""
    yaml: str | None = None
    """A folder of plain YAML (or JSON) files, taken as they are: no templating."""
    kustomize: str | None = None
    """A Kustomize directory or overlay (the folder holding kustomization.yaml)."""
    helm: HelmSource | None = None

    @model_validator(mode="after")
    def _one(self) -> Source:
        _exactly_one(self, "jinja", "yaml", "kustomize", "helm")
        return self

    @property
    def kind(self) -> Literal["jinja", "yaml", "kustomize", "helm"]:
        if self.helm is not None:
            return "helm"
        return "jinja" if self.jinja is not None else "yaml" if self.yaml is not None else "kustomize"

    def paths(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(field path, path relative to the service file's folder) of everything it reads."""
        if self.helm is not None:
            return [(("helm", "chart"), self.helm.chart),
                    *((("helm", "values", i), v) for i, v in enumerate(self.helm.values))]
        return [((self.kind,), getattr(self, self.kind))]


# A group as the sign-in names it: an OIDC groups claim value, a Google group's email, or a name
# from the web page's group mapping file.
GroupName = Annotated[str, Field(pattern=r"^[^\s,]+$", max_length=256)]
# Environments whose actions always need a named group, whatever their access block says.
PRODUCTION_NAMES = frozenset({"production", "prod"})


class Access(Strict):
    """Which groups' members may deploy, promote and roll back from the web page (and its API).

    Set on the service (the default for every environment) and on an environment (per action,
    over the service's). An action with no groups is open to every signed-in user, except in a
    restricted environment (named ``production`` or ``prod``, with a cluster whose file says
    ``environment: production``, or with ``restricted: true``), where it is refused to everyone
    until a group is named.
    """

    deploy: list[GroupName] | None = None
    promote: list[GroupName] | None = None
    rollback: list[GroupName] | None = None
    restricted: bool = False
    """Require group membership here even though the environment is not named production."""


class Environment(Strict):
    clusters: Annotated[list[Name], Field(min_length=1)]
    namespace: Name | None = None
    """Where this environment's objects live; default: the service's ``namespace``. Two
    environments that share a cluster need different namespaces (a release is one service and
    environment on one cluster and namespace)."""
    promote_from: Name | None = None
    """The environment this one takes its releases from: only a commit that succeeded there may be
    deployed here, and ``deployer promote --from <it>`` deploys exactly the digest it runs."""
    values: dict[str, Any] = Field(default_factory=dict)
    source: Source | None = None
    """This environment's manifest source, instead of the service's."""
    allow_namespaces: list[Name] = Field(default_factory=list)
    """More namespaces this environment's objects may name, on top of the service's."""
    allow_cluster_scoped: list[KindName] = Field(default_factory=list)
    """More cluster-scoped kinds this environment may deploy, on top of the service's."""
    access: Access | None = None
    """Who may act on this environment from the web page, over the service's ``access``."""

    @model_validator(mode="after")
    def _unique(self) -> Environment:
        if len(set(self.clusters)) != len(self.clusters):
            raise FieldError(("clusters",), "a cluster is listed twice")
        return self
    waves: list[Annotated[list[Name], Field(min_length=1)]] | None = None
    """The clusters in the order they are deployed: each wave in parallel, the next once the
    previous passed its ``gate``. Default: one wave of every cluster."""
    canary: Name | None = None
    """Shorthand for ``waves: [[canary], [every other cluster]]``."""
    gate: Gate = Field(default_factory=Gate)
    """What each wave but the last must show before the next starts."""

    @model_validator(mode="after")
    def _waves_cover_the_clusters(self) -> Environment:
        if self.waves is not None and self.canary is not None:
            raise FieldError(("canary",), "set waves or canary, not both (canary: C is waves: [[C], [the rest]])")
        if self.canary is not None and self.canary not in self.clusters:
            raise FieldError(("canary",), f"canary {self.canary!r} is not one of clusters ({', '.join(self.clusters)})")
        if self.waves is not None:
            seen: set[str] = set()
            for i, wave in enumerate(self.waves):
                for j, cluster in enumerate(wave):
                    if cluster not in self.clusters:
                        raise FieldError(("waves", i, j), f"cluster {cluster!r} is not one of clusters "
                                                          f"({', '.join(self.clusters)})")
                    if cluster in seen:
                        raise FieldError(("waves", i, j), f"cluster {cluster!r} is in more than one wave")
                    seen.add(cluster)
            left = [c for c in self.clusters if c not in seen]
            if left:
                raise FieldError(("waves",), f"waves must cover every cluster of the environment; missing: "
                                             f"{', '.join(left)}")
        return self

    def wave_plan(self) -> list[list[str]]:
        """The clusters in deploy order, one list per wave."""
        if self.canary is not None:
            rest = [c for c in self.clusters if c != self.canary]
            return [[self.canary], rest] if rest else [[self.canary]]
        return [list(w) for w in self.waves] if self.waves is not None else [list(self.clusters)]


class Rollout(Strict):
    timeout: Duration = 300.0
    """How long each cluster may take to finish its rollout."""
    on_failure: Literal["rollback-failed", "rollback-all", "leave"] = "rollback-failed"


class Webhook(Strict):
    """An outgoing webhook: where events are sent, in which form, and which of them
    (docs/notifications.md). The URL of a chat webhook is a secret: give it by ``urlEnv`` or
    ``urlFile`` (Jenkins binds both); ``url`` is for receivers whose address is no secret."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s]+$")] | None = None
    url_env: EnvVarName | None = None
    url_file: str | None = None
    format: Literal["json", "slack"] = "json"
    events: Annotated[list[EventType], Field(min_length=1)] = Field(default_factory=lambda: list(EVENT_TYPES))
    """Which events it hears (default: all)."""
    environments: list[Name] = Field(default_factory=list)
    """Only these environments' events (default: every environment)."""
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$")] | None = None
    """How warnings name it (default: where its URL comes from, never the URL itself)."""

    @model_validator(mode="after")
    def _one_url(self) -> Webhook:
        _exactly_one(self, "url", "url_env", "url_file")
        return self


class Settings(Strict):
    """``deployer.yaml`` at the top of the configuration folder: what holds for every service."""

    notifications: list[Webhook] = Field(default_factory=list)
    """Webhooks that hear every service's events."""


class Service(Strict):
    name: Name
    namespace: Name
    image: ImageBuild | None = None
    """The service's own image, built once per commit (``{{ image }}`` in templates)."""
    images: dict[Name, ImageSource] = Field(default_factory=dict)
    """More images by name (``{{ images.NAME }}``), one per container: built or prebuilt, each
    pinned by digest, the same on every cluster. A service may have none (a chart of upstream images)."""
    manifests: str = "manifests"
    """Folder of jinja2 manifest templates, relative to the service file's folder (the same as
    ``source: {jinja: DIR}``)."""
    source: Source | None = None
    """Where the manifests come from (jinja2 folder, plain YAML, Kustomize, Helm chart); an
    environment may name its own. Default: ``{jinja: <manifests>}``."""
    allow_namespaces: list[Name] = Field(default_factory=list)
    """Namespaces other than the environment's that objects may name in metadata.namespace. An
    object without one goes to the environment's namespace, as with ``kubectl apply -n``."""
    allow_cluster_scoped: list[KindName] = Field(default_factory=list)
    """Cluster-scoped kinds (CustomResourceDefinition, ClusterRole, ...) this service may deploy;
    they are owned, recorded and pruned like its other objects (a CustomResourceDefinition is never
    pruned: its custom objects would go with it). Any other is refused."""
    values: dict[str, Any] = Field(default_factory=dict)
    environments: Annotated[dict[Name, Environment], Field(min_length=1)]
    rollout: Rollout = Field(default_factory=Rollout)
    access: Access | None = None
    """Who may act on every environment from the web page (an environment's ``access`` overrides
    it per action)."""
    notifications: list[Webhook] = Field(default_factory=list)
    """Webhooks that hear this service's events, besides deployer.yaml's (docs/notifications.md)."""
    prometheus: dict[Name, PrometheusServer] = Field(default_factory=dict)
    """Prometheus servers by name for metric checks (a target cluster's file may declare its own)."""
    executor: Literal["local", "jenkins"] = "local"
    """Who runs the page's buttons for this service: the page's own workers (``local``, which then
    need every target cluster's credential) or the service's Jenkins job (``jenkins``: the page
    holds only a Jenkins API token; the clusters' credentials stay in Jenkins). docs/jenkins.md."""
    jenkins_job: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$",
                                       max_length=253)] | None = None
    """The Jenkins job that deploys this service, folders separated by ``/`` (default ``deploy/<name>``)."""

    @property
    def job_in_jenkins(self) -> str:
        return self.jenkins_job or f"deploy/{self.name}"

    @property
    def primary_build(self) -> ImageBuild | None:
        """The build release records name (image, digest, promotion): ``image``, else the first
        built entry of ``images``."""
        if self.image is not None:
            return self.image
        return next((i.build for i in self.images.values() if isinstance(i, BuiltImage)), None)

    @model_validator(mode="after")
    def _image_names(self) -> Service:
        if self.image is not None:
            for name, source in self.images.items():
                if isinstance(source, BuiltImage) and source.build.name == self.image.name:
                    raise FieldError(("images", name, "build", "name"),
                                     f"image {self.image.name!r} is built already as the service's image")
        return self

    def namespace_of(self, environment: str) -> str:
        """The namespace ``environment``'s objects live in."""
        return self.environments[environment].namespace or self.namespace

    def source_of(self, environment: str) -> Source:
        """Where ``environment``'s manifests come from."""
        return self.environments[environment].source or self.source or Source(jinja=self.manifests)

    def allowed_namespaces(self, environment: str) -> frozenset[str]:
        return frozenset([*self.allow_namespaces, *self.environments[environment].allow_namespaces])

    def allowed_cluster_scoped(self, environment: str) -> frozenset[str]:
        return frozenset([*self.allow_cluster_scoped, *self.environments[environment].allow_cluster_scoped])

    @model_validator(mode="after")
    def _one_source(self) -> Service:
        if self.source is not None and "manifests" in self.model_fields_set:
            raise FieldError(("source",), "set source or manifests, not both (manifests: DIR is source: {jinja: DIR})")
        return self

    @model_validator(mode="after")
    def _one_release_per_place(self) -> Service:
        # Two environments on one cluster and namespace would apply the same object names: each
        # deploy would overwrite the other's, and history and status would describe neither.
        placed: dict[tuple[str, str], str] = {}
        for env_name, env in self.environments.items():
            namespace = env.namespace or self.namespace
            for i, cluster in enumerate(env.clusters):
                other = placed.setdefault((cluster, namespace), env_name)
                if other != env_name:
                    raise FieldError(("environments", env_name, "clusters", i),
                                     f"environments {other} and {env_name} both deploy {self.name} to cluster "
                                     f"{cluster}, namespace {namespace}: their objects would overwrite each other; "
                                     f"give {env_name} a namespace of its own (environments.{env_name}.namespace) "
                                     "or different clusters")
        return self

    @model_validator(mode="after")
    def _promotion_sources(self) -> Service:
        for env_name, env in self.environments.items():
            source = env.promote_from
            if source is None:
                continue
            if source == env_name or source not in self.environments:
                others = ", ".join(sorted(e for e in self.environments if e != env_name)) or "none"
                raise FieldError(("environments", env_name, "promoteFrom"),
                                 f"promoteFrom must name another environment of {self.name} (its others: {others})")
            seen = [env_name]
            while source is not None and source not in seen:  # a chain of promotions must end somewhere
                seen.append(source)
                source = self.environments[source].promote_from
            if source is not None:
                raise FieldError(("environments", env_name, "promoteFrom"),
                                 f"promoteFrom makes a cycle: {' <- '.join([*seen, source])}; one environment "
                                 "must be built and deployed directly")
        return self



class JenkinsSettings(Strict):
    """``jenkins.yaml`` at the top of the configuration folder: how the deploy page (and
    ``deployer jenkins trigger``) reach Jenkins for services with ``executor: jenkins``. The API token
    is read from ``tokenFile`` when it is used, never from this file; it is a Jenkins credential of
    ``user``, not a cluster one."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")]
    user: Annotated[str, Field(min_length=1, max_length=256)]
    token_file: Annotated[str, Field(min_length=1)]
    """File holding the API token of ``user`` (relative paths: to the configuration folder)."""
    ca_file: Annotated[str, Field(min_length=1)] | None = None
    """PEM bundle that signed Jenkins' TLS certificate, when it is not a public CA."""
    poll_interval: Duration = 1.0
    """How often the queue item, the build and its console are read while a build runs."""
    queue_timeout: Duration = 1800.0
    """How long a build may wait in Jenkins' queue for an executor before the run gives up on it."""

