"""What the integration tests share: the admin's independent view of a cluster, and the one small
web Deployment most tests deploy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

CLUSTERS = ("local-onprem", "local-gke")

# One container, one replica; pods on the clusters named in values.neverReadyOn (if any) carry the
# label the platform's kwok Stage keeps from ever becoming Ready, so a rollout there fails.
WEB_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ service.name }}
  namespace: {{ service.namespace }}
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{ service.name }}}
  template:
    metadata:
      labels:
        app: {{ service.name }}
{% if cluster.name in (values.neverReadyOn | default([])) %}
        deployer.test/never-ready: "true"
{% endif %}
    spec:
      containers:
        - name: web
          image: {{ image }}
"""


def copy_cluster_files(folder: Any, edit: Callable[[dict[str, Any]], None]) -> Any:
    """Replace the config folder's clusters/ (a link to the synced files) by copies, each passed
    through ``edit`` (a cluster file's document, changed in place); returns the new folder."""
    import yaml

    linked = folder / "clusters"
    source = linked.resolve()
    linked.unlink()
    linked.mkdir()
    for path in source.glob("*.yaml"):
        document = yaml.safe_load(path.read_text())
        edit(document)
        (linked / path.name).write_text(yaml.safe_dump(document, sort_keys=False))
    return linked


def admin_api(cluster: Any) -> Any:
    """The official client as the cluster's admin (a ``ClusterInfo``): the independent witness of
    what a cluster holds. Use it in a ``with`` block, which closes it."""
    from kubernetes import client

    config = client.Configuration()
    config.host, config.ssl_ca_cert = cluster.server, str(cluster.ca_file)
    config.api_key = {"authorization": "Bearer " + cluster.admin_token_file.read_text().strip()}
    return client.ApiClient(config)


def or_none(read: Callable[[], T]) -> T | None:
    """``read()``, or None when the API server answers 404."""
    from kubernetes.client.exceptions import ApiException

    try:
        return read()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
