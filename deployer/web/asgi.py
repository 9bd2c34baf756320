"""The page as an ASGI application (Starlette), served by uvicorn (deployer.web.serve).

``create_app`` assembles the routes of deployer.web.routes over one ``WebContext``; sign-in and
the other pages add theirs through ``middleware`` and ``extra_routes`` (they run inside the
security headers, so every answer carries them).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from deployer.redact import scrub
from deployer.web.context import WebContext
from deployer.web.headers import AccessLog, SecurityHeaders
from deployer.web.routes import charts, jobs, metrics, pages, queue, services, waves
from deployer.web.routes.respond import error


def create_app(ctx: WebContext, *, middleware: Sequence[Middleware] = (),
               extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    app = Starlette(
        routes=[*extra_routes, *pages.routes(), *services.routes(), *jobs.routes(), *waves.routes(),
                *queue.routes(), *metrics.routes(), *charts.routes()],
        middleware=[Middleware(AccessLog), Middleware(SecurityHeaders), *middleware],
        exception_handlers={HTTPException: _http_error, Exception: _bug},
    )
    app.state.web = ctx
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, wrong method) as the page's error pages."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error(request, 404, f"there is no page {request.url.path}", headers=exc.headers)
    if exc.status_code == 405:
        return Response(b"", 405, headers=exc.headers)
    return error(request, exc.status_code, str(exc.detail), headers=exc.headers)


async def _bug(request: Request, exc: Exception) -> Response:
    """A bug: the page says so once, the server's log has the traceback."""
    print(scrub(f"deployer web: {request.method} {request.url.path} failed:\n{traceback.format_exc()}"),
          file=sys.stderr, flush=True)
    return error(request, 500, scrub(f"internal error: {type(exc).__name__}: {exc}"),
                 "This is a bug in deployer; the server's log has the traceback.")
