"""GET /metrics: the page's Prometheus metrics (the prometheus_client text format).

The page's deploys run in worker processes, so their counts are read from the job store at scrape
time (``deployer_page_jobs_total``: every process sharing the database agrees); the push queues'
length is set from the database on each scrape, and their wait-time histogram is observed as turns
are given (deployer.web.queue.wiring). Workers still publish their runs' events to webhooks as the
CLI does, from their own process: the page adds no second sender.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from deployer.web.context import WebContext
from deployer.web.routes.respond import context_of
from deployer.web.store.schema import jobs


class PageJobs(Collector):
    """Ended page jobs by action, service, environment and outcome, counted in the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("deployer_page_jobs", "Jobs the page ran (deploy, promote, rollback, check), "
                                     "by outcome (succeeded, partial, failed, interrupted, cancelled).",
                                     labels=["action", "service", "environment", "outcome"])
        outcome = sa.case((jobs.c.state != "finished", jobs.c.state), (jobs.c.exit_code == 0, "succeeded"),
                          (jobs.c.exit_code == 8, "partial"), else_="failed")
        query = (sa.select(jobs.c.action, jobs.c.service, jobs.c.environment, outcome, sa.func.count())
                 .where(jobs.c.state.in_(("finished", "interrupted", "cancelled")))
                 .group_by(jobs.c.action, jobs.c.service, jobs.c.environment, outcome))
        with self.engine.connect() as db:
            for action, service, environment, ended, count in db.execute(query).all():
                family.add_metric([action, service, environment, ended], float(count))
        yield family


_registering = threading.Lock()


def _scrape(ctx: WebContext) -> bytes:
    queues = ctx.queues
    with _registering:  # the first scrapes may come at once; the collector is registered once
        if not queues.collecting:
            queues.metrics.registry.register(PageJobs(ctx.store.engine))
            queues.collecting = True
    lengths = queues.store.queues()
    queues.metrics.queue_length.clear()
    for (queue, environment), length in lengths.items():
        queues.metrics.queue_length.labels(f"{queue}/{environment}").set(length)
    return generate_latest(queues.metrics.registry)


async def metrics(request: Request) -> Response:
    body = await run_in_threadpool(_scrape, context_of(request))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def routes() -> list[BaseRoute]:
    return [Route("/metrics", metrics, methods=["GET"])]
