"""The service pages and their JSON twins.

    GET  /                                       every service; per environment each cluster's release,
                                                 drift flagged, the job in progress
    GET  /services/{name}                        every release record per environment and cluster, with
                                                 "Roll back to this release" buttons
    GET  /services/{name}/promote?from=&to=      what a promotion would ship, what the target runs, and
                                                 the commits between; the Promote button
    GET  /api/services                           the overview as JSON
    GET  /api/services/{name}                    the history as JSON
    GET  /api/services/{name}/promote?from=&to=  the promote preview as JSON

Every read goes through the web process's one ``App`` (``deployer.web.shared_app``) and the
stories' own functions (``deployer.web.reads``); the routes only pick the view and the format.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from deployer.app import App
from deployer.errors import DeployerError, UsageError
from deployer.web import reads
from deployer.web.jobs import Job, headline
from deployer.web.routes.respond import context_of, error, json, page
from deployer.web.routes.waves import with_waves
from deployer.web.shared_app import SharedApp
from deployer.web.views.common import RunningJob
from deployer.web.views.history import ServiceHistory
from deployer.web.views.promote import PromotePreview

T = TypeVar("T")


def shared_app(request: Request) -> SharedApp:
    """The web process's one App for page reads (``WebContext.reads``)."""
    found: SharedApp = context_of(request).reads
    return found


def running_jobs(jobs: list[Job]) -> list[RunningJob]:
    return [RunningJob(j.id, j.form.action, j.form.service, j.form.environment, j.actor, headline(j)) for j in jobs]


async def _read(request: Request, read: Callable[[App], T]) -> T:
    """``read`` with the shared App, in the thread pool (it waits on every cluster)."""
    shared = shared_app(request)

    def run() -> T:
        with shared.use() as app:
            return read(app)

    return await run_in_threadpool(run)


async def overview(request: Request) -> Response:
    ctx = context_of(request)
    await run_in_threadpool(ctx.store.reap, ctx.settings.stale_after)  # a dead worker's job shows as interrupted
    jobs = running_jobs(await run_in_threadpool(ctx.store.active))
    jobs = await run_in_threadpool(with_waves, ctx, jobs)  # a deploy baking a wave says so
    problem = None
    services: list[Any] = []
    try:
        services = await _read(request, lambda app: reads.overview(app, jobs))
    except DeployerError as exc:  # the configuration folder does not load: its error names file and line
        problem = (exc.message, exc.hint or "")
    if request.url.path.startswith("/api/"):
        if problem:
            return error(request, 500, *problem)
        return json({"services": [s.to_dict() for s in services], "jobs": [j.to_dict() for j in jobs]})
    recent = await run_in_threadpool(ctx.store.recent, 10)
    return page(request, "overview.html", services=services, jobs=recent, error=problem)


async def service(request: Request) -> Response:
    name = request.path_params["name"]
    return await _view(request, "service.html", lambda app: reads.service_page(app, _known(app, name)))


async def promote(request: Request) -> Response:
    name = request.path_params["name"]
    source, target = request.query_params.get("from", ""), request.query_params.get("to", "")
    if not source or not target:
        return error(request, 400, "say which environments: ?from=SOURCE&to=TARGET",
                     hint=f"For example /services/{name}/promote?from=staging&to=production.")
    return await _view(request, "promote.html",
                       lambda app: reads.promote_page(app, _known(app, name), source, target))


class _UnknownService(UsageError):
    pass


def _known(app: App, name: str) -> str:
    """``name``, or a 404's error: the service is not in the configuration folder."""
    if name not in app.config.services:
        try:
            app.config.service(name)
        except UsageError as exc:
            raise _UnknownService(exc.message, hint=exc.hint) from None
    return name


async def _view(request: Request, template: str, read: Callable[[App], ServiceHistory | PromotePreview]
                ) -> Response:
    """One page and its /api/ twin: the view read with the shared App, as HTML or JSON; an unknown
    service is 404, a request the story refuses 400, a configuration that does not load 500."""
    try:
        view = await _read(request, read)
    except _UnknownService as exc:
        return error(request, 404, exc.message, exc.hint or "")
    except UsageError as exc:
        return error(request, 400, exc.message, exc.hint or "")
    except DeployerError as exc:
        return error(request, 500, exc.message, exc.hint or "")
    if request.url.path.startswith("/api/"):
        return json(view.to_dict())
    return page(request, template, view=view)


def routes() -> list[BaseRoute]:
    return [Route("/", overview, methods=["GET"]),
            Route("/api/services", overview, methods=["GET"]),
            Route("/services/{name}", service, methods=["GET"]),
            Route("/api/services/{name}", service, methods=["GET"]),
            Route("/services/{name}/promote", promote, methods=["GET"]),
            Route("/api/services/{name}/promote", promote, methods=["GET"])]
