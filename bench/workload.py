"""What every tool is given, as data: the bench's cluster files (about 500 objects per cluster),
the service of 50 Deployments and 50 Services (deployer's templates, and the same objects as plain
YAML for kubectl and a Helm chart). Pure: suite.py writes these out."""

from __future__ import annotations

from typing import Any

import yaml

LABEL = ("bench", "cluster-sync")
DEPLOY_NAMESPACE = "apps"
NEVER_READY = ("deployer.test/never-ready", "true")  # kwok keeps such pods unready (the platform's stage)


def cluster_file(platform_doc: dict[str, Any], namespaces: int) -> dict[str, Any]:
    """A platform cluster file with ``namespaces`` namespaces (the deploy namespace first), each
    granting three roles and holding a ResourceQuota: 99 namespaces render 498 objects."""
    doc = dict(platform_doc)
    names = [DEPLOY_NAMESPACE] + [f"bench-{i:03d}" for i in range(namespaces - 1)]
    gke = doc["provider"] == "gke"
    doc["namespaces"] = [{"name": n, "labels": {LABEL[0]: LABEL[1]}} for n in names]
    group = (lambda g: f"{g}@example.com") if gke else (lambda g: g)
    doc["access"] = [
        {"role": "viewer", "namespaces": list(names), "subjects": [{"kind": "Group", "name": group("developers")}]},
        {"role": "namespace-admin", "namespaces": list(names),
         "subjects": [{"kind": "Group", "name": group("oncall")}]},
    ]
    if not gke:  # on GKE the chart binds the deployer account's email in every namespace itself
        doc["access"].append({"role": "deployer", "namespaces": list(names),
                              "subjects": [{"kind": "User", "name": "jenkins-deployer"}]})
    # A quota on cpu and memory makes every pod declare requests (the service's do); pods: room
    # for every round's 50 pods per tool in the deploy namespace.
    doc["values"] = {"resourceQuota": {"cpu": "8", "memory": "16Gi", "pods": "2000"}}
    return doc


def service_spec(name: str, clusters: list[str], *, image_context: str, timeout: str = "5m",
                 never_ready: bool = False) -> dict[str, Any]:
    return {
        "name": name, "namespace": DEPLOY_NAMESPACE,
        "image": {"name": "web", "context": image_context},
        "manifests": f"{name}-manifests",
        "values": {"apps": 50, "neverReady": never_ready},
        "environments": {"staging": {"clusters": clusters}},
        "rollout": {"timeout": timeout, "onFailure": "rollback-all"},
    }


# deployer's template: the loop makes 50 Deployments (one replica each) and 50 Services.
SERVICE_TEMPLATE = """\
{% for i in range(values.apps) %}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ service.name ~ '-' ~ i }}
  namespace: {{ service.namespace }}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {{ service.name ~ '-' ~ i }}
  template:
    metadata:
      labels:
        app: {{ service.name ~ '-' ~ i }}
{% if values.neverReady %}
        deployer.test/never-ready: "true"
{% endif %}
    spec:
      containers:
        - name: web
          image: {{ image }}
          ports:
            - containerPort: 8080
          resources:
            requests: {cpu: 5m, memory: 8Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ service.name ~ '-' ~ i }}
  namespace: {{ service.namespace }}
spec:
  selector:
    app: {{ service.name ~ '-' ~ i }}
  ports:
    - port: 80
      targetPort: 8080
{% endfor %}
"""


def service_objects(name: str, image: str, *, apps: int = 50, never_ready: bool = False) -> list[dict[str, Any]]:
    """The same objects as SERVICE_TEMPLATE renders, for kubectl and Helm."""
    objects: list[dict[str, Any]] = []
    for i in range(apps):
        app = f"{name}-{i}"
        labels = {"app": app} | ({NEVER_READY[0]: NEVER_READY[1]} if never_ready else {})
        objects.append({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": app, "namespace": DEPLOY_NAMESPACE},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "web", "image": image,
                                                           "ports": [{"containerPort": 8080}],
                                                           "resources": {"requests": {"cpu": "5m",
                                                                                      "memory": "8Mi"}}}]}}}})
        objects.append({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": app, "namespace": DEPLOY_NAMESPACE},
            "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]}})
    return objects


def as_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)


def helm_chart_yaml(name: str) -> str:
    return yaml.safe_dump({"apiVersion": "v2", "name": name, "version": "0.1.0"})
