"""Prometheus metrics of deploys, fed by the run's events (an ``Events`` subscriber), kept in a
registry of their own so the page's ``/metrics`` (``asgi_app``) and the CLI's Pushgateway push
(``deployer.observe.pushing``) serve exactly the same series.

Counted per cluster at the end of a run (``deploy-succeeded``/``deploy-failed``): one deploy per
target cluster, labelled with its outcome (a cluster the run stopped before is ``skipped``). The
queue's gauge and histogram are defined here for the page's push queue, which sets them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app

from deployer.notify.events import Event

DURATION_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
"""Seconds: a deploy takes from seconds (nothing to change) to its rollout timeout (minutes)."""
LOCK_WAIT_BUCKETS = (0.1, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0)
QUEUE_WAIT_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0)


class DeployMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.deploys = Counter("deployer_deploys", "Deploys per cluster, by outcome (succeeded, unchanged, "
                               "failed, rolled-back, skipped).", ["service", "environment", "cluster", "outcome"],
                               registry=r)
        self.runs = Counter("deployer_runs", "Deploy and promote runs, by outcome (succeeded or failed).",
                            ["service", "environment", "action", "outcome"], registry=r)
        self.duration = Histogram("deployer_deploy_duration_seconds", "How long a deploy or promote run took, "
                                  "from its start to its report.", ["service", "environment", "outcome"],
                                  buckets=DURATION_BUCKETS, registry=r)
        self.lock_wait = Histogram("deployer_lock_wait_seconds", "How long a run waited for a cluster's deploy "
                                   "lock.", ["service", "environment", "cluster"], buckets=LOCK_WAIT_BUCKETS,
                                   registry=r)
        self.rollbacks = Counter("deployer_rollbacks", "Rollbacks per cluster (onFailure's and `deployer "
                                 "rollback`'s), by outcome.", ["service", "environment", "cluster", "outcome"],
                                 registry=r)
        self.drift = Counter("deployer_drift_found", "Releases status found drifted.",
                             ["service", "environment", "cluster"], registry=r)
        self.last_run = Gauge("deployer_last_run_timestamp_seconds", "When the last deploy run of a service "
                              "and environment ended, by outcome (Unix time).",
                              ["service", "environment", "outcome"], registry=r)
        self.queue_length = Gauge("deployer_queue_length", "People waiting in a push queue (set by the page).",
                                  ["queue"], registry=r)
        self.queue_wait = Histogram("deployer_queue_wait_seconds", "How long a queue entry waited for its turn "
                                    "(observed by the page).", ["queue"], buckets=QUEUE_WAIT_BUCKETS, registry=r)

    def __call__(self, event: Event) -> None:
        service, env = event.service, event.environment
        if event.type in ("deploy-succeeded", "deploy-failed"):
            outcome = "succeeded" if event.type == "deploy-succeeded" else "failed"
            self.runs.labels(service, env, event.action, outcome).inc()
            if event.seconds is not None:
                self.duration.labels(service, env, outcome).observe(event.seconds)
            for cluster in event.clusters:
                self.deploys.labels(service, env, cluster.cluster, cluster.outcome).inc()
                if cluster.lock_wait_seconds is not None:
                    self.lock_wait.labels(service, env, cluster.cluster).observe(cluster.lock_wait_seconds)
            self.last_run.labels(service, env, outcome).set_to_current_time()
        elif event.type == "rollback" and event.cluster is not None:
            self.rollbacks.labels(service, env, event.cluster, event.outcome).inc()
        elif event.type == "drift-found" and event.cluster is not None:
            self.drift.labels(service, env, event.cluster).inc()


def asgi_app(metrics: DeployMetrics) -> Callable[..., Any]:
    """The ASGI app the page mounts at ``/metrics`` (Prometheus' text format)."""
    return make_asgi_app(registry=metrics.registry)
