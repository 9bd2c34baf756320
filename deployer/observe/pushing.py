"""Pushing a CLI run's metrics to a Prometheus Pushgateway (Jenkins runs the CLI once per deploy,
too briefly to be scraped).

A Pushgateway keeps what was pushed last per group and does not add: a counter pushed by each run
would read 1 forever. So a run first reads its group back from the gateway and pushes the sum
(counters and histograms added, gauges replaced), and Prometheus sees counters that only grow.
The group is ``job="deployer"`` and the service: two runs of one service that push at the same
moment can lose one run's counts (the deploy lock serialises most of them; see docs/metrics.md).

Never fails a deploy: a gateway that cannot be reached is one warning.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from deployer.observe.metrics import DeployMetrics
from deployer.redact import register, scrub

JOB = "deployer"
ADDED = ("counter", "histogram")
SampleKey = tuple[str, tuple[tuple[str, str], ...]]
_GROUPING_LABELS = ("job", "instance")


def describe(gateway: str) -> str:
    """The gateway as messages name it: scheme and host (a URL may carry a password)."""
    parts = urlsplit(gateway if "://" in gateway else f"http://{gateway}")
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def _key(name: str, labels: dict[str, str]) -> SampleKey:
    return name, tuple(sorted((k, v) for k, v in labels.items() if k not in _GROUPING_LABELS))


def read_group(gateway: str, service: str, timeout: float) -> dict[str, dict[SampleKey, float]]:
    """What the gateway holds for this service's group: per metric family, per sample, the value."""
    url = gateway if "://" in gateway else f"http://{gateway}"
    with urllib.request.urlopen(f"{url.rstrip('/')}/metrics", timeout=timeout) as answer:
        text = answer.read().decode()
    found: dict[str, dict[SampleKey, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("job") == JOB and sample.labels.get("service") == service:
                found.setdefault(family.name, {})[_key(sample.name, sample.labels)] = sample.value
    return found


class _Summed(Collector):
    """``registry``'s metrics plus what the gateway held: counters and histograms added, gauges kept
    where this run set nothing."""

    def __init__(self, registry: CollectorRegistry, previous: dict[str, dict[SampleKey, float]],
                 service: str) -> None:
        self.registry, self.previous, self.service = registry, previous, service

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            before = dict(self.previous.get(family.name, {}))
            summed = Metric(family.name, family.documentation, family.type, family.unit)
            for sample in family.samples:
                if sample.labels.get("service") != self.service:  # the group holds one service's series
                    continue
                key = _key(sample.name, sample.labels)
                held = before.pop(key, 0.0)
                added = family.type in ADDED and not sample.name.endswith("_created")
                summed.add_sample(sample.name, sample.labels, sample.value + held if added else sample.value)
            for (name, labels), value in before.items():  # series this run did not touch
                summed.add_sample(name, dict(labels), value)
            yield summed


def push(metrics: DeployMetrics, gateway: str, service: str, warn: Callable[[str], None],
         timeout: float = 5.0) -> bool:
    """Push ``metrics`` to ``gateway`` added to what it holds for ``service``; a warning (never an
    error) when the gateway cannot be reached. Whether the push went through."""
    register(gateway)
    where = describe(gateway)
    try:
        previous = read_group(gateway, service, timeout)
        summed = CollectorRegistry()
        summed.register(_Summed(metrics.registry, previous, service))
        push_to_gateway(gateway, job=JOB, registry=summed, grouping_key={"service": service}, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        warn(scrub(f"could not push metrics to the Pushgateway at {where}: {reason}; the run's result stands"))
        return False
    return True
