"""Loading and validating a deployer configuration directory.

A configuration directory holds ``clusters/*.yaml``, ``services/*.yaml`` and ``charts/``. Loading
reads every file, validates each against its model, then checks what only the set can tell
(unique names, services targeting declared clusters and namespaces, roles the chart defines).
Every problem of every file is gathered and raised together as one ``ConfigError``, each naming
file, line, column and field. Nothing here talks to a cluster.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from deployer.config import certs, filecache
from deployer.config.models import Cluster, FieldError, JenkinsSettings, Service, Settings, Source
from deployer.config.yamlsafe import ConfigFileError, Positioned, dotted, load_yaml, parse_yaml, read_text
from deployer.errors import ConfigError, ConfigProblem

CHART_NAME = "cluster-base"
Model = TypeVar("Model", bound=BaseModel)

# Values that are secrets themselves rather than references to them. Matching is on shape, and
# the message never repeats the value.
_SECRET_SHAPES = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\bya29\.[A-Za-z0-9_-]{10,}"), "a Google access token"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), "a JSON web token"),
    (re.compile(r"\"private_key\"\s*:"), "a service-account key"),
    (re.compile(r"hooks\.slack\.com/(services|workflows|triggers)/"), "a Slack webhook URL (give it by urlEnv)"),
]
_SECRET_KEYS = re.compile(r"^(token|password|secret|privateKey|private_key|apiKey|clientSecret)$", re.I)


@dataclass(frozen=True)
class Config:
    """A validated configuration directory."""

    root: Path
    clusters: dict[str, Cluster] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    cluster_files: dict[str, Path] = field(default_factory=dict)
    service_files: dict[str, Path] = field(default_factory=dict)
    chart_roles: tuple[str, ...] = ()
    settings: Settings = field(default_factory=Settings)
    """deployer.yaml: what holds for every service (global notifications)."""

    @property
    def chart_dir(self) -> Path:
        return self.root / "charts" / CHART_NAME

    def cluster(self, name: str) -> Cluster:
        from deployer.errors import UsageError

        if name not in self.clusters:
            known = ", ".join(sorted(self.clusters)) or "none"
            raise UsageError(f"no cluster named {name!r} in {self.root / 'clusters'}",
                             hint=f"Known clusters: {known}.")
        return self.clusters[name]

    def service(self, name: str) -> Service:
        from deployer.errors import UsageError

        if name not in self.services:
            known = ", ".join(sorted(self.services)) or "none"
            raise UsageError(f"no service named {name!r} in {self.root / 'services'}",
                             hint=f"Known services: {known}.")
        return self.services[name]

    def resolve(self, relative: str, base: Path | None = None) -> Path:
        """A path from a file, relative to ``base`` (default: the configuration directory)."""
        return resolve_path(self.root, relative, base)


def resolve_path(root: Path, relative: str, base: Path | None = None) -> Path:
    """A path from a file, relative to ``base`` (default: the configuration directory ``root``)."""
    path = Path(os.path.expanduser(relative))
    return path if path.is_absolute() else (base or root) / path


def _ca_problems(cluster: Cluster, root: Path, doc: Positioned, shown: str) -> list[ConfigProblem]:
    """The CA bundle must load: read here from where the client will read it."""
    if cluster.ca is None:
        return []
    if cluster.ca.file:
        problem, field = certs.problem_of_file(resolve_path(root, cluster.ca.file)), "file"
    else:
        problem, field = certs.problem_of_text(cluster.ca.inline or ""), "inline"
    if problem is None:
        return []
    line, col = doc.position(("ca", field))
    return [ConfigProblem(shown, line, col, f"ca.{field}", problem)]


def _display(path: Path, root: Path) -> str:
    # The folder is resolved, the file's own name kept: a file that is a link is named as the
    # user sees it in clusters/, not by where it points.
    where = path.parent.resolve() / path.name
    try:
        return str(where.relative_to(Path.cwd().resolve()))
    except ValueError:
        try:
            return str(where.relative_to(root.resolve()))
        except ValueError:
            return str(path)


def _scan_secrets(value: Any, path: tuple[str | int, ...], doc: Positioned, shown: str) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    if isinstance(value, dict):
        for key, item in value.items():
            sub = path + (key,)
            if isinstance(key, str) and _SECRET_KEYS.match(key) and isinstance(item, str | int):
                line, col = doc.position(sub)
                problems.append(ConfigProblem(shown, line, col, dotted(sub),
                                              "a secret value does not belong in a deployer file; "
                                              "reference it with credential env/file/fileEnv instead"))
            else:
                problems.extend(_scan_secrets(item, sub, doc, shown))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            problems.extend(_scan_secrets(item, path + (i,), doc, shown))
    elif isinstance(value, str):
        for pattern, what in _SECRET_SHAPES:
            if pattern.search(value):
                line, col = doc.position(path)
                problems.append(ConfigProblem(shown, line, col, dotted(path),
                                              f"this value looks like {what}; secrets never go in deployer "
                                              "files: bind them in Jenkins and reference the variable or "
                                              "file by name"))
                break
    return problems


def _pydantic_problems(exc: ValidationError, doc: Positioned, shown: str) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(part for part in err["loc"] if not (isinstance(part, str) and _is_union_tag(part)))
        message = err["msg"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            loc, message = loc + cause.path, str(cause)
        line, col = doc.position(loc)
        if isinstance(cause, FieldError):
            pass
        elif err["type"] == "extra_forbidden":
            message = "unknown field (check its spelling; `deployer schema` lists the fields)"
        elif err["type"] == "missing":
            message = "required field is missing"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        elif err["type"] == "string_pattern_mismatch":
            message = f"does not match the required form {err.get('ctx', {}).get('pattern', '')}".rstrip()
        problems.append(ConfigProblem(shown, line, col, dotted(loc), message))
    return problems


def _is_union_tag(part: str) -> bool:
    # pydantic puts the chosen union member's tag or a function name in the location
    # ('token', 'function-after[...]'); they are not keys of the file.
    return part in ("token", "serviceAccountKey", "applicationDefault", "built-image", "prebuilt-image") or "[" in part


def validate_document(model: type[Model], doc: Positioned, shown: str) -> tuple[Model | None, list[ConfigProblem]]:
    problems = _scan_secrets(doc.data, (), doc, shown)
    if problems:
        return None, problems
    try:
        return model.model_validate(doc.data), []
    except ValidationError as exc:
        return None, _pydantic_problems(exc, doc, shown)


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    # Every YAML name but hidden ones (an editor's lock or backup, such as emacs's dangling
    # ``.#name.yaml`` link; no cluster or service name starts with a dot). A link that leads
    # nowhere, a folder or a pipe under a YAML name is read, and refused with its name, rather
    # than leaving a cluster out of ``--all`` without a word.
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.startswith("."))


def read_chart_roles(chart_dir: Path) -> tuple[tuple[str, ...], list[ConfigProblem]]:
    """The roles the chart defines, from ``charts/cluster-base/chart.yaml`` (``roles:``)."""
    meta = chart_dir / "chart.yaml"
    if not meta.is_file():
        return (), [ConfigProblem(str(meta), None, None, "", "chart metadata is missing")]
    try:
        doc = load_yaml(meta)
    except ConfigFileError as exc:
        return (), [exc.problem]
    roles = doc.data.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        line, col = doc.position(("roles",))
        return (), [ConfigProblem(str(meta), line, col, "roles", "must be a list of role names")]
    return tuple(roles), []


def _read_files(paths: list[Path], model: type[Model], kind: str, root: Path, problems: list[ConfigProblem]
                ) -> dict[str, tuple[Model, Path, Positioned, str]]:
    """Parse and validate each file; name -> (model, path, document, shown path). Problems, and
    a name defined twice, are appended to ``problems``."""
    found: dict[str, tuple[Model, Path, Positioned, str]] = {}
    for path in paths:
        shown = _display(path, root)
        try:
            text = read_text(path, shown)
            key = filecache.key_of(model, text)
            cached = filecache.load(key, model)
            if cached is None:
                doc = parse_yaml(text, shown)
                validated, item_problems = validate_document(model, doc, shown)
                problems += item_problems
                if validated is None:
                    continue
                filecache.store(key, validated, doc)
                cached = validated, doc
            item, doc = cached
        except ConfigFileError as exc:
            problems.append(exc.problem)
            continue
        name = item.name  # type: ignore[attr-defined]
        if name in found:
            line, col = doc.position(("name",))
            problems.append(ConfigProblem(shown, line, col, "name", f"{kind} {name!r} is also defined in "
                                                                    f"{_display(found[name][1], root)}"))
            continue
        found[name] = (item, path, doc, shown)
    return found


def _api_server_of(cluster: Cluster) -> str:
    """One spelling per API server: scheme and host in lower case, the default port and a trailing
    slash dropped; a GKE cluster without a server override is its project, location and name."""
    if cluster.server is None:
        gke = cluster.gke
        return f"gke://{gke.project}/{gke.location}/{gke.cluster}" if gke else f"cluster://{cluster.name}"
    parts = urlsplit(cluster.server)
    try:
        port = parts.port or 443
    except ValueError:  # not a number: compared as written
        return cluster.server.rstrip("/").lower()
    return f"https://{(parts.hostname or '').lower()}:{port}{parts.path.rstrip('/')}"


def _shared_api_servers(cluster_docs: dict[str, tuple[Cluster, Path, Positioned, str]]) -> list[ConfigProblem]:
    """Two cluster files for one API server would share one inventory and prune each other's
    objects: the second file (by name) is refused, naming the first."""
    problems = []
    first: dict[str, str] = {}
    for name in sorted(cluster_docs):
        cluster, _path, doc, shown = cluster_docs[name]
        other = first.setdefault(_api_server_of(cluster), name)
        if other != name:
            field = "server" if cluster.server is not None else "gke.cluster"
            line, col = doc.position(tuple(field.split(".")))
            problems.append(ConfigProblem(shown, line, col, field,
                                          f"cluster {name!r} names the same API server as cluster {other!r} "
                                          f"(clusters/{other}.yaml): one file per API server, or the two would "
                                          "prune each other's objects; merge them into one file"))
    return problems


def load_config(root: Path, only: Iterable[Path] | None = None) -> Config:
    """Load and validate the configuration directory ``root``.

    ``only`` restricts which cluster/service files are read (as ``deployer validate PATH...``
    does); cross-file checks still see every cluster so a service's targets resolve.
    """
    root = root.resolve() if root.exists() else root
    problems: list[ConfigProblem] = []
    chart_roles, chart_problems = read_chart_roles(root / "charts" / CHART_NAME)
    problems += chart_problems

    cluster_paths = _yaml_files(root / "clusters")
    service_paths = _yaml_files(root / "services")
    if only is not None:
        picked = [p.resolve() for p in only]
        extra = [p for p in picked if p not in {c.resolve() for c in cluster_paths + service_paths}]
        for p in extra:
            if not p.exists():
                problems.append(ConfigProblem(str(p), None, None, "", "no such file"))
            elif p.parent.name == "clusters":
                cluster_paths.append(p)
            elif p.parent.name == "services":
                service_paths.append(p)
            else:
                problems.append(ConfigProblem(str(p), None, None, "",
                                              "not under a clusters/ or services/ folder, so its kind is unknown"))
        selected = set(picked)
    else:
        selected = None

    cluster_docs = _read_files(cluster_paths, Cluster, "cluster", root, problems)
    clusters = {name: item[0] for name, item in cluster_docs.items()}
    cluster_files = {name: item[1] for name, item in cluster_docs.items()}
    docs = {name: (item[2], item[3]) for name, item in cluster_docs.items()}
    for name, (_cluster, path, doc, shown) in cluster_docs.items():
        if path.stem != name:
            line, col = doc.position(("name",))
            problems.append(ConfigProblem(shown, line, col, "name",
                                          f"cluster {name!r} must live in clusters/{name}.yaml "
                                          "so that one file is one cluster"))

    for name, cluster in clusters.items():
        doc, shown = docs[name]
        for i, binding in enumerate(cluster.access):
            if chart_roles and binding.role not in chart_roles:
                line, col = doc.position(("access", i, "role"))
                problems.append(ConfigProblem(shown, line, col, f"access[{i}].role",
                                              f"role {binding.role!r} is not defined by charts/{CHART_NAME} "
                                              f"(it defines: {', '.join(chart_roles)})"))
        if cluster.gke and chart_roles and cluster.gke.deployer_account.role not in chart_roles:
            line, col = doc.position(("gke", "deployerAccount", "role"))
            problems.append(ConfigProblem(shown, line, col, "gke.deployerAccount.role",
                                          f"role {cluster.gke.deployer_account.role!r} is not defined by "
                                          f"charts/{CHART_NAME}"))
        problems += _ca_problems(cluster, root, doc, shown)

    problems += _shared_api_servers(cluster_docs)

    services: dict[str, Service] = {}
    service_files: dict[str, Path] = {}
    for service, path, doc, shown in _read_files(service_paths, Service, "service", root, problems).values():
        for env_name, env in service.environments.items():
            for i, target in enumerate(env.clusters):
                line, col = doc.position(("environments", env_name, "clusters", i))
                field_path = f"environments.{env_name}.clusters[{i}]"
                if target not in clusters:
                    known = ", ".join(sorted(clusters)) or "none"
                    problems.append(ConfigProblem(shown, line, col, field_path,
                                                  f"unknown cluster {target!r} (known: {known})"))
                    continue
                namespace = service.namespace_of(env_name)
                if namespace not in clusters[target].namespace_names:
                    problems.append(ConfigProblem(shown, line, col, field_path,
                                                  f"cluster {target!r} does not declare namespace "
                                                  f"{namespace!r}; add it to "
                                                  f"clusters/{target}.yaml first"))
        problems += _unknown_prometheus(service, clusters, shown, doc)
        problems += _missing_source_paths(service, path, shown, doc)
        services[service.name] = service
        service_files[service.name] = path

    settings = _read_settings(root, problems)
    if selected is not None:
        chosen = {str(p) for p in selected}
        keep_files = {_display(p, root) for p in selected} | chosen
        problems = [p for p in problems if p.file in keep_files or p.file.startswith(str(root / "charts"))]
    if problems:
        raise ConfigError(problems)
    return Config(root=root, clusters=clusters, services=services, cluster_files=cluster_files,
                  service_files=service_files, chart_roles=chart_roles, settings=settings)


SETTINGS_FILE = "deployer.yaml"


def _read_settings(root: Path, problems: list[ConfigProblem]) -> Settings:
    """``deployer.yaml`` at the top of the configuration folder, when there is one."""
    path = root / SETTINGS_FILE
    if not path.is_file():
        # Nothing to validate: the defaults, without building the model's validator (issue 13).
        return Settings.model_construct()
    shown = _display(path, root)
    try:
        doc = load_yaml(path, shown)
    except ConfigFileError as exc:
        problems.append(exc.problem)
        return Settings()
    settings, found = validate_document(Settings, doc, shown)
    problems += found
    return settings or Settings()


def _unknown_prometheus(service: Service, clusters: dict[str, Cluster], shown: str, doc: Positioned
                        ) -> list[ConfigProblem]:
    """Each metric check names a Prometheus the service file or every target cluster's file declares
    (a cluster's own wins: each cluster's gate asks the server next to it)."""
    problems = []
    for env_name, env in service.environments.items():
        for i, check in enumerate(env.gate.metrics):
            lacking = [c for c in env.clusters if c in clusters and check.prometheus not in clusters[c].prometheus]
            if check.prometheus in service.prometheus or not lacking:
                continue
            where = ("environments", env_name, "gate", "metrics", i, "prometheus")
            line, col = doc.position(where)
            problems.append(ConfigProblem(
                shown, line, col, f"environments.{env_name}.gate.metrics[{i}].prometheus",
                f"no Prometheus named {check.prometheus!r}: declare it under prometheus: in {shown} or in "
                f"the cluster file of {', '.join(lacking)}"))
    return problems


def _missing_source_paths(service: Service, path: Path, shown: str, doc: Positioned) -> list[ConfigProblem]:
    """Every folder or file a used manifest source reads must exist (checked here, before any
    render or build). The service-level source counts only when an environment uses it."""
    located: list[tuple[tuple[str | int, ...], Source]] = [
        (("environments", name, "source"), env.source)
        for name, env in service.environments.items() if env.source is not None]
    if any(env.source is None for env in service.environments.values()):
        located.append((("source",), service.source) if service.source is not None
                       else ((), Source(jinja=service.manifests)))
    problems = []
    for prefix, source in located:
        for field_path, relative in source.paths():
            # ``manifests: DIR`` is the jinja source written the old way: name that field.
            where = (*prefix, *field_path) if prefix else ("manifests",)
            target = path.parent / relative
            wanted_dir = field_path[0] != "helm" or (field_path[1] == "chart" and not relative.endswith(".tgz"))
            if (target.is_dir() if wanted_dir else target.is_file()):
                continue
            line, col = doc.position(where)
            problems.append(ConfigProblem(shown, line, col, ".".join(str(p) for p in where),
                                          f"no such {'folder' if wanted_dir else 'file'}: {relative}"))
    return problems


JENKINS_SETTINGS_FILE = "jenkins.yaml"


def load_jenkins_settings(root: Path) -> JenkinsSettings | None:
    """``<root>/jenkins.yaml``, validated (problems name the file, line and field); None when the
    folder has none. ``tokenFile`` and ``caFile`` are made absolute against ``root``."""
    path = root / JENKINS_SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        doc = load_yaml(path, JENKINS_SETTINGS_FILE)
    except ConfigFileError as exc:
        raise ConfigError([exc.problem]) from None
    settings, problems = validate_document(JenkinsSettings, doc, JENKINS_SETTINGS_FILE)
    if settings is None:
        raise ConfigError(problems)
    return settings.model_copy(update={
        "token_file": str(root / settings.token_file),
        "ca_file": str(root / settings.ca_file) if settings.ca_file else None})
