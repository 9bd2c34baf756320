"""The composition root: builds the real dependencies of the stories once, for the CLI and the
web page alike (they call the same pipeline functions with them)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from deployer.config.loader import Config
from deployer.config.models import Cluster, Service


def client_factory(config: Config, *, admin: bool = False) -> Callable[[Cluster], Any]:
    """One client per cluster for the whole run (each with that cluster's own credential)."""
    from deployer.kube.connect import connect

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
