"""The web page's sign-in settings: the ``auth:`` section of ``deployer web --settings FILE`` and
the flags over it, resolved into one frozen ``AuthSettings`` (secrets read from their files or the
environment here, once, and never put in a message).

Example settings file::

    auth:
      publicUrl: https://deploy.example.com      # what users type; redirect URI and Secure cookies
      allowedHosts: [deploy.example.com]
      trustedProxies: [10.0.0.0/24]               # only these may send X-Forwarded-User
      sessionLifetime: 8h
      sessionSecretFile: /etc/deployer/session-secret
      oidc:
        issuer: https://accounts.google.com       # the default
        clientId: 1234.apps.googleusercontent.com
        clientSecretFile: /etc/deployer/oidc-client-secret   # or clientSecretEnv: NAME
        groupsClaim: groups                       # a claim in the ID token or userinfo, if any
        groupsFile: /etc/deployer/groups.yaml     # group -> members (emails)
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from deployer.config.models import Duration, EnvVarName, GroupName, Strict, parse_duration
from deployer.errors import UsageError

GOOGLE = "https://accounts.google.com"
DEFAULT_SESSION_LIFETIME = 8 * 3600.0
SECRET_ENV = "DEPLOYER_OIDC_CLIENT_SECRET"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class OidcSection(Strict):
    issuer: Annotated[str, Field(pattern=r"^https?://[^\s?#]+$")] = GOOGLE
    client_id: Annotated[str, Field(min_length=1, max_length=512)]
    client_secret_file: str | None = None
    client_secret_env: EnvVarName | None = None
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    groups_claim: str | None = "groups"
    groups_file: str | None = None


class AuthSection(Strict):
    public_url: Annotated[str, Field(pattern=r"^https?://[^/\s?#]+/?$")] | None = None
    allowed_hosts: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9.\-\[\]:]+$", max_length=260)]] = \
        Field(default_factory=list)
    trusted_proxies: list[str] = Field(default_factory=list)
    session_lifetime: Duration = DEFAULT_SESSION_LIFETIME
    session_secret_file: str | None = None
    oidc: OidcSection | None = None


class SettingsFile(Strict):
    """``deployer web --settings FILE``: sections for each part of the page; ``auth`` is sign-in's."""

    auth: AuthSection = Field(default_factory=AuthSection)


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]
    groups_claim: str | None
    # email (lower case) -> the groups the mapping file gives it
    group_map: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def metadata_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


@dataclass(frozen=True)
class AuthSettings:
    allowed_hosts: tuple[str, ...]
    trusted_proxies: tuple[Network, ...] = ()
    session_lifetime: float = DEFAULT_SESSION_LIFETIME
    session_secret: bytes = field(default=b"", repr=False)
    public_url: str | None = None
    oidc: OidcSettings | None = None

    @property
    def https(self) -> bool:
        """Cookies are Secure when users reach the page over https (behind a TLS proxy, say)."""
        return bool(self.public_url and self.public_url.startswith("https://"))


@dataclass(frozen=True)
class AuthOptions:
    """What the command line gave (None or empty: not given), over the settings file's section."""

    host: str = "127.0.0.1"
    settings_file: Path | None = None
    state_dir: Path | None = None
    allowed_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    public_url: str | None = None
    session_lifetime: str | None = None
    session_secret_file: Path | None = None
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret_file: Path | None = None
    groups_claim: str | None = None
    groups_file: Path | None = None
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)


def load_settings_file(path: Path) -> SettingsFile:
    from deployer.web.auth.files import read_model

    return read_model(path, SettingsFile, "settings file")


def resolve(options: AuthOptions) -> AuthSettings:
    """The settings in force: flags over the file's ``auth:`` section over the defaults."""
    from deployer.web.auth.groups import load_group_map
    from deployer.web.auth.sessions import session_secret

    section = load_settings_file(options.settings_file).auth if options.settings_file else AuthSection()
    public_url = options.public_url or section.public_url
    hosts = options.allowed_hosts or tuple(section.allowed_hosts) or default_hosts(options.host, public_url)
    proxies = tuple(_network(text, source) for text, source in
                    [(p, "--trusted-proxy") for p in options.trusted_proxies]
                    or [(p, f"{options.settings_file}: auth.trustedProxies") for p in section.trusted_proxies])
    lifetime = section.session_lifetime if options.session_lifetime is None else _lifetime(options.session_lifetime)
    secret_file = options.session_secret_file or _path(section.session_secret_file)
    oidc = _oidc(options, section.oidc)
    return AuthSettings(allowed_hosts=hosts, trusted_proxies=proxies, session_lifetime=float(lifetime),
                        session_secret=session_secret(secret_file, options.state_dir),
                        public_url=public_url.rstrip("/") if public_url else None,
                        oidc=oidc if oidc is None else _with_groups(oidc, options, section.oidc, load_group_map))


def describe(settings: AuthSettings) -> str:
    """One line for the start-up log: how people are signed in, and which hosts are answered."""
    ways = []
    if settings.oidc is not None:
        ways.append(f"OpenID Connect via {settings.oidc.issuer}")
    if settings.trusted_proxies:
        ways.append("X-Forwarded-User from " + ", ".join(str(p) for p in settings.trusted_proxies))
    signed = " and ".join(ways) or "nobody (no --oidc-client-id or --trusted-proxy): production is refused"
    return f"sign-in: {signed}; answers to Host {', '.join(settings.allowed_hosts)}"


def default_hosts(bound: str, public_url: str | None) -> tuple[str, ...]:
    """The bound address and the loopback names (a wildcard address is no Host anyone types), and
    the public URL's host."""
    from urllib.parse import urlsplit

    hosts = ["localhost", "127.0.0.1", "[::1]"]
    if bound not in ("0.0.0.0", "::", ""):
        hosts.append(f"[{bound}]" if ":" in bound else bound)
    if public_url:
        hosts.append(urlsplit(public_url).netloc)
    return tuple(dict.fromkeys(h.lower() for h in hosts))


def _network(text: str, source: str) -> Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise UsageError(f"{source}: {text!r} is not an address or CIDR range",
                         hint="Name the proxy's address, for example 10.0.0.7 or 10.0.0.0/24.") from None


def _lifetime(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--session-lifetime: {exc}") from None


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None


def _oidc(options: AuthOptions, section: OidcSection | None) -> OidcSettings | None:
    client_id = options.oidc_client_id or (section.client_id if section else None)
    if client_id is None:
        if options.oidc_issuer or options.oidc_client_secret_file:
            raise UsageError("--oidc-issuer and --oidc-client-secret-file need --oidc-client-id",
                             hint="Pass the OAuth client's id (for Google: NNN.apps.googleusercontent.com).")
        return None
    issuer = options.oidc_issuer or (section.issuer if section else GOOGLE)
    return OidcSettings(issuer=issuer.rstrip("/"), client_id=client_id,
                        client_secret=_client_secret(options, section),
                        scopes=tuple(section.scopes if section else ("openid", "email", "profile")),
                        groups_claim=options.groups_claim or (section.groups_claim if section else "groups"))


def _client_secret(options: AuthOptions, section: OidcSection | None) -> str:
    path = options.oidc_client_secret_file or _path(section.client_secret_file if section else None)
    env_name = (section.client_secret_env if section else None) or SECRET_ENV
    if path is not None:
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read the OIDC client secret file {path}: {exc.strerror}") from None
        where = str(path)
    else:
        secret, where = options.environ.get(env_name, "").strip(), f"${env_name}"
    if not secret:
        raise UsageError(f"the OIDC client secret is empty or missing ({where})",
                         hint=f"Put it in a file (--oidc-client-secret-file) or the environment variable {SECRET_ENV}.")
    return secret


def _with_groups(oidc: OidcSettings, options: AuthOptions, section: OidcSection | None, load: Any) -> OidcSettings:
    path = options.groups_file or _path(section.groups_file if section else None)
    if path is None:
        return oidc
    return OidcSettings(oidc.issuer, oidc.client_id, oidc.client_secret, oidc.scopes, oidc.groups_claim, load(path))


__all__ = ["AuthOptions", "AuthSettings", "GroupName", "OidcSettings", "SettingsFile", "resolve"]
