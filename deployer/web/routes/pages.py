"""The static files and /healthz (the overview, "/", is deployer.web.routes.services').

    GET  /healthz              "ok"
    GET  /static/app.js|style.css
"""

from __future__ import annotations

from importlib.resources import files

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from deployer.web.routes.respond import error

STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8",
          "queue.js": "text/javascript; charset=utf-8"}
STATIC["waves.js"] = "text/javascript; charset=utf-8"  # the live waves of a job page (routes/waves.py)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return error(request, 404, f"there is no page {request.url.path}")
    body = (files("deployer.web") / "static" / name).read_bytes()
    return Response(body, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


def routes() -> list[BaseRoute]:
    return [Route("/healthz", healthz, methods=["GET"]),
            Route("/static/{name:path}", static, methods=["GET"])]
