"""Trusted-proxy sign-in: an authenticating proxy in front of the page (oauth2-proxy, IAP, an
nginx with auth_request) names the user in ``X-Forwarded-User`` (or ``X-Forwarded-Email``) and
their groups in ``X-Forwarded-Groups`` (comma-separated).

Those headers are believed only from the configured proxy addresses (``--trusted-proxy CIDR``).
From anywhere else they are a forgery and the request is refused, never just ignored: ignoring it
would let the request go on as whoever else the page would take it for.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from deployer.web.auth.policy import Identity
from deployer.web.auth.settings import Network

USER_HEADERS = ("x-forwarded-user", "x-forwarded-email")
GROUPS_HEADER = "x-forwarded-groups"
IDENTITY_HEADERS = (*USER_HEADERS, GROUPS_HEADER)
_SAFE = re.compile(r"^[A-Za-z0-9@._+\-]{1,128}$")


class ForgedProxyHeader(Exception):
    def __init__(self, header: str, address: str) -> None:
        super().__init__(f"{header} came from {address}, which is not a trusted proxy")
        self.header = header
        self.address = address


def is_trusted(address: str | None, proxies: tuple[Network, ...]) -> bool:
    if not address or not proxies:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def proxy_identity(address: str | None, headers: Mapping[str, str], proxies: tuple[Network, ...]) -> Identity | None:
    """The user a trusted proxy names, None when the request carries no identity header; raises
    ForgedProxyHeader when one comes from an address that is not a trusted proxy."""
    present = [h for h in IDENTITY_HEADERS if h in headers]
    if not present:
        return None
    if not is_trusted(address, proxies):
        raise ForgedProxyHeader(present[0], address or "an unknown address")
    user = next((headers[h].strip() for h in USER_HEADERS if headers.get(h, "").strip()), "")
    if not _SAFE.match(user):
        # A proxy that sends groups but no usable user is misconfigured: nobody to record.
        raise ForgedProxyHeader("X-Forwarded-User (missing or not a plain name)", address or "?")
    groups = frozenset(g.strip() for g in headers.get(GROUPS_HEADER, "").split(",") if g.strip())
    return Identity(user, groups, "proxy")
