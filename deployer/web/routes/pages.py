"""The overview ("/"), the static files and /healthz.

    GET  /                     services; per environment the release each cluster is on; buttons
    GET  /healthz              "ok"
    GET  /static/app.js|style.css
"""

from __future__ import annotations

from importlib.resources import files

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from deployer.errors import DeployerError
from deployer.web.routes.respond import context_of, error, page

STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}


def overview(request: Request) -> Response:
    """Sync: Starlette runs it in its thread pool (it reads every cluster)."""
    from deployer.app import App
    from deployer.web.actions import ServiceState, overview

    ctx = context_of(request)
    problem = None
    services: list[ServiceState] = []
    try:
        with App(ctx.load()) as app:
            services = overview(app)
    except DeployerError as exc:
        problem = (exc.message, exc.hint or "")
    running = {(j.form.service, j.form.environment): j for j in ctx.jobs.running()}
    return page(request, "index.html", services=services, jobs=ctx.jobs.recent(10), running=running, error=problem)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return error(request, 404, f"there is no page {request.url.path}")
    body = (files("deployer.web") / "static" / name).read_bytes()
    return Response(body, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


def routes() -> list[BaseRoute]:
    return [Route("/", overview, methods=["GET"]), Route("/healthz", healthz, methods=["GET"]),
            Route("/static/{name:path}", static, methods=["GET"])]
