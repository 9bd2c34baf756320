"""Turning a cluster's declared credential into a bearer token, one source per cluster.

A source only ever serves its own cluster; tokens are cached in memory, refreshed before expiry
and once after a 401, registered with ``redact`` so they can never be printed, and never written
to disk. Sources satisfy ``deployer.kube.bearer.BearerSource``; nothing here builds a Kubernetes
request: the one credential that needs one (a TokenRequest exchange) is handed the call.
"""

from __future__ import annotations

from deployer.config.loader import Config
from deployer.config.models import (
    ApplicationDefaultCredential,
    Cluster,
    ServiceAccountKeyCredential,
    TokenCredential,
)
from deployer.credentials.static import StaticToken
from deployer.credentials.tokenrequest import RequestedToken, TokenExchange
from deployer.kube.bearer import BearerSource

__all__ = ["BearerSource", "TokenExchange", "bearer_source"]


def bearer_source(cluster: Cluster, config: Config, *, admin: bool = False,
                  exchange: TokenExchange | None = None) -> BearerSource:
    """The source of ``cluster``'s deploy credential (with ``admin``, its adminCredential, falling
    back to the deploy credential). ``exchange`` makes the TokenRequest call for a credential that
    declares ``tokenRequest``."""
    cred = (cluster.admin_credential or cluster.credential) if admin else cluster.credential
    if isinstance(cred, TokenCredential):
        if cred.env:
            static = StaticToken(cluster.name, env=cred.env)
        else:
            static = StaticToken(cluster.name, file=config.resolve(cred.file or ""))
        if cred.token_request is None:
            return static
        if exchange is None:
            raise TypeError(f"cluster {cluster.name}: a tokenRequest credential needs a token exchange")
        wanted = cred.token_request
        return RequestedToken(cluster.name, static,
                              lambda source: exchange(source, wanted.namespace, wanted.service_account,
                                                      wanted.expiration_seconds),
                              service_account=wanted.service_account, namespace=wanted.namespace,
                              seconds=wanted.expiration_seconds)
    from deployer.credentials import google

    google_api = cluster.gke.google_api_endpoint if cluster.gke else None
    if isinstance(cred, ServiceAccountKeyCredential):
        if cred.file_env:
            path = google.key_path_from_env(cluster.name, cred.file_env)
            return google.key_file_token(cluster.name, path, via=f"named by {cred.file_env}")
        path = config.resolve(cred.file or "")
        return google.key_file_token(cluster.name, path, via=str(cred.file))
    if isinstance(cred, ApplicationDefaultCredential):
        return google.application_default_token(cluster.name, impersonate=cred.impersonate, google_api=google_api)
    raise TypeError(f"unknown credential type {type(cred).__name__}")
