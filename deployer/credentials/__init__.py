"""Turning a cluster's declared credential into a bearer token, one source per cluster.

A source only ever serves its own cluster; tokens are cached in memory, refreshed before expiry
and once after a 401, registered with ``redact`` so they can never be printed, and never written
to disk.
"""

from __future__ import annotations

from typing import Protocol

from deployer.config.loader import Config
from deployer.config.models import (
    ApplicationDefaultCredential,
    Cluster,
    ServiceAccountKeyCredential,
    TokenCredential,
)


class BearerSource(Protocol):
    def token(self) -> str:
        """A valid bearer token (cached; refreshed when near expiry)."""

    def invalidate(self) -> None:
        """Forget the cached token; call once after a 401, then retry once."""

    def describe(self) -> str:
        """What the token comes from, without any secret."""


def bearer_source(cluster: Cluster, config: Config, *, admin: bool = False) -> BearerSource:
    from deployer.credentials.static import StaticToken

    cred = (cluster.admin_credential or cluster.credential) if admin else cluster.credential
    if isinstance(cred, TokenCredential):
        if cred.env:
            static = StaticToken(cluster.name, env=cred.env)
        else:
            static = StaticToken(cluster.name, file=config.resolve(cred.file or ""))
        if cred.token_request is None:
            return static
        from deployer.credentials.tokenrequest import request_token

        exchange = cred.token_request
        return request_token(cluster, config, static, service_account=exchange.service_account,
                             namespace=exchange.namespace, seconds=exchange.expiration_seconds)
    from deployer.credentials import google

    if isinstance(cred, ServiceAccountKeyCredential):
        if cred.file_env:
            path = google.key_path_from_env(cluster.name, cred.file_env)
            return google.key_file_token(cluster.name, path, via=f"named by {cred.file_env}")
        path = config.resolve(cred.file or "")
        return google.key_file_token(cluster.name, path, via=str(cred.file))
    if isinstance(cred, ApplicationDefaultCredential):
        return google.application_default_token(cluster.name, impersonate=cred.impersonate)
    raise TypeError(f"unknown credential type {type(cred).__name__}")
