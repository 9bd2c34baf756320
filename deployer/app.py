"""The composition root: builds the real dependencies of the stories once, for the CLI and the
web page alike (they call the same pipeline functions with them)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from deployer.config.loader import Config
from deployer.config.models import Cluster, Service

if TYPE_CHECKING:  # the Kubernetes client is imported only when a client is built
    from deployer.credentials import TokenExchange
    from deployer.kube.client import ClientOptions, Endpoint, KubeClient


def connect(cluster: Cluster, config: Config, *, admin: bool = False,
            options: ClientOptions | None = None) -> KubeClient:
    """A client for ``cluster`` authenticating with its own credential: the deploy ``credential``,
    or with ``admin`` its ``adminCredential`` (falling back to ``credential``). Built from that
    one cluster's file, so no token ever travels to another cluster's API server."""
    from deployer.credentials import bearer_source
    from deployer.kube.client import ClientOptions, KubeClient
    from deployer.kube.endpoint import endpoint_of

    endpoint = endpoint_of(cluster, config)
    bearer = bearer_source(cluster, config, admin=admin, exchange=_token_exchange(endpoint))
    which = "admin credential" if admin and cluster.admin_credential is not None else "credential"
    return KubeClient(endpoint, bearer, options or ClientOptions(),
                      identity=f"the cluster's {which} ({bearer.describe()})")


def _token_exchange(endpoint: Endpoint) -> TokenExchange:
    """A TokenRequest to ``endpoint``, sent with the long-lived token it exchanges."""

    def exchange(long_lived: Any, namespace: str, service_account: str, seconds: int) -> Any:
        from deployer.kube.client import KubeClient
        from deployer.kube.tokens import request_token

        client = KubeClient(endpoint, long_lived, identity=long_lived.describe())
        try:
            return request_token(client, namespace, service_account, seconds)
        finally:
            client.close()

    return exchange


def client_factory(config: Config, *, admin: bool = False) -> Callable[[Cluster], Any]:
    """One client per cluster for the whole run (each with that cluster's own credential)."""
    clients: dict[str, Any] = {}
    lock = threading.Lock()

    def get(cluster: Cluster) -> Any:
        with lock:
            if cluster.name not in clients:
                clients[cluster.name] = connect(cluster, config, admin=admin)
            return clients[cluster.name]

    return get


def image_publisher(config: Config, progress: Callable[[str, str], None]) -> Callable[..., dict[str, Any]]:
    def publish(service: Service, clusters: list[Cluster], request: Any) -> dict[str, Any]:
        from deployer.images import backends
        from deployer.images.publish import image_tag, source_commit
        from deployer.images.publish import publish as do_publish

        service_dir = config.service_files[service.name].parent
        context = (service_dir / service.image.context).resolve()
        commit = request.commit or os.environ.get("DEPLOYER_COMMIT") or source_commit(context)
        return do_publish(service, service_dir, clusters, image_tag(commit[:40], request.environment),
                          backend=lambda: backends.backend(request.builder), registry=backends.Registry(),
                          progress=lambda message: progress("", message), dry_run=request.dry_run)

    return publish


def deploy_deps(config: Config, progress: Callable[[str, str], None]) -> Any:
    from deployer.pipeline.deploy import Deps

    return Deps(config=config, connect=client_factory(config), publish=image_publisher(config, progress),
                progress=progress, connect_admin=client_factory(config, admin=True))
