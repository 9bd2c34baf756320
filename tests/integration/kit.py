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


# The variables the Jenkins tests' cluster files read their deploy credential from, the Jenkins way.
JENKINS_VARIABLES = {"local-onprem": "LOCAL_ONPREM_DEPLOYER_TOKEN", "local-gke": "LOCAL_GKE_KEY_FILE"}


def write_jenkins_cluster_files(platform: Any, platform_config_dir: Any, folder: Any, namespaces: list[str],
                                label: str) -> None:
    """``folder/clusters``: the platform's cluster files with their deploy credential declared the
    Jenkins way (``env:`` for the on-prem token, ``fileEnv:`` for the GKE key), ``namespaces`` added
    (labelled ``team: label``) and the GKE deployer account bound to the deployer role in them
    (what ``deployer cluster provision`` does on real GKE)."""
    import yaml

    (folder / "clusters").mkdir(parents=True)
    for name in CLUSTERS:
        doc = yaml.safe_load((platform_config_dir / "clusters" / f"{name}.yaml").read_text())
        if doc["provider"] == "onprem":
            doc["credential"] = {"type": "token", "env": JENKINS_VARIABLES[name]}
        else:
            doc["credential"] = {"type": "serviceAccountKey", "fileEnv": JENKINS_VARIABLES[name]}
            doc["access"].append({"role": "deployer", "namespaces": list(namespaces),
                                  "subjects": [{"kind": "User", "name": platform.cluster(name).service_account_email}]})
        for ours in namespaces:
            doc["namespaces"].append({"name": ours, "labels": {"team": label}})
        for binding in doc["access"]:
            if "apps" in binding.get("namespaces", []):
                binding["namespaces"] += list(namespaces)
        (folder / "clusters" / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def platform_secrets(platform: Any) -> list[str]:
    """Every cluster credential the local platform issued: each cluster's admin and user tokens, and
    the GKE service-account key's private key (its first line of base64) and key id."""
    import json

    found = [p.read_text().strip() for c in platform.clusters.values()
             for p in [c.admin_token_file, *c.user_token_files.values()]]
    key = json.loads(platform.cluster("local-gke").service_account_key_file.read_text())
    return found + [key["private_key"].splitlines()[1], key["private_key_id"]]
