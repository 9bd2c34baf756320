"""The sign-in flags of `deployer web` (deployer.web.auth.settings resolves them over the settings
file's ``auth:`` section)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

FILE = click.Path(dir_okay=False, path_type=Path)
OPTIONS = [
    click.option("--settings", "settings_file", type=FILE, default=None,
                 help="A YAML settings file; its auth: section holds the options below (flags win)."),
    click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="HOST[:PORT]",
                 help="A Host this page answers to (repeat); any other is refused with 400, which stops DNS "
                      "rebinding. Default: localhost, 127.0.0.1, [::1], --host and --public-url's host."),
    click.option("--trusted-proxy", "trusted_proxies", multiple=True, metavar="CIDR",
                 help="An authenticating proxy's address (repeat): only it may name the user in X-Forwarded-User "
                      "and the groups in X-Forwarded-Groups; those headers from anywhere else are refused."),
    click.option("--public-url", default=None, metavar="URL",
                 help="The URL people open (https://deploy.example.com): the OIDC redirect URI is URL/auth/callback, "
                      "and cookies are Secure when it is https."),
    click.option("--session-lifetime", default=None, metavar="DURATION",
                 help="How long a sign-in lasts, used or not (default 8h)."),
    click.option("--session-secret-file", type=FILE, default=None,
                 help="The key that signs session cookies (default: STATE_DIR/session-secret, made 0600 on first "
                      "start)."),
    click.option("--oidc-issuer", default=None, metavar="URL",
                 help="The OpenID Connect issuer (default https://accounts.google.com when --oidc-client-id is "
                      "set)."),
    click.option("--oidc-client-id", default=None, metavar="ID",
                 help="This page's OAuth client id at the issuer; setting it turns sign-in on."),
    click.option("--oidc-client-secret-file", type=FILE, default=None,
                 help="A file holding the client secret (else the environment variable "
                      "DEPLOYER_OIDC_CLIENT_SECRET)."),
    click.option("--groups-claim", default=None, metavar="CLAIM",
                 help="The ID-token (or userinfo) claim listing the user's groups (default: groups)."),
    click.option("--groups-file", type=FILE, default=None,
                 help="A YAML file mapping groups to members' emails (groups: {payments-oncall: [a@x.com]}), "
                      "for issuers such as Google that send no groups."),
]
NAMES = ("settings_file", "allowed_hosts", "trusted_proxies", "public_url", "session_lifetime",
         "session_secret_file", "oidc_issuer", "oidc_client_id", "oidc_client_secret_file", "groups_claim",
         "groups_file")


def auth_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(OPTIONS):
        command = option(command)
    return command


def pop_auth_options(kwargs: dict[str, Any], host: str, state_dir: Path) -> Any:
    """The AuthOptions from the command's keyword arguments (taken out of ``kwargs``)."""
    from deployer.web.auth.settings import AuthOptions

    given = {name: kwargs.pop(name) for name in NAMES}
    return AuthOptions(host=host, state_dir=state_dir, **given)
