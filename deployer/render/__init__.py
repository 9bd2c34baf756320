"""Desired state from templates: jinja2 over ``charts/`` and service manifests, strict and safe.

``render_templates(folder, context)`` renders any folder of ``*.yaml.j2`` templates (the cluster
chart, a service's manifests); ``render_chart(cluster, chart)`` renders the cluster chart for one
cluster. Both return plain, checked Kubernetes objects and never talk to a cluster.
"""

from deployer.render.chart import Chart, cluster_role_name, load_chart, render_chart
from deployer.render.objects import is_namespaced
from deployer.render.templates import render_templates

__all__ = ["Chart", "cluster_role_name", "is_namespaced", "load_chart", "render_chart", "render_templates"]
