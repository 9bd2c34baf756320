"""Responses every route module shares: an HTML page from a template, an error page (or JSON
under /api/), with the request's viewer named in the header."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from deployer.web import pages
from deployer.web.context import WebContext


def context_of(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.web
    return ctx


def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    ctx = context_of(request)
    values.setdefault("actor", ctx.identify(request))
    return HTMLResponse(pages.render(template, templates=ctx.templates, request=request, **values), status)


def error(request: Request, status: int, message: str, hint: str = "", *,
          link: tuple[str, str] | None = None, headers: Mapping[str, str] | None = None) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message, "hint": hint}, status, headers=headers)
    ctx = context_of(request)
    html = pages.error_page(status, message, hint, actor=ctx.identify(request), link=link,
                            templates=ctx.templates, request=request)
    return HTMLResponse(html, status, headers=headers)


def json(data: Any, status: int = 200) -> Response:
    """Indented, as the JSON API has always been (people read it with curl too)."""
    import json as _json

    return Response(_json.dumps(data, indent=2) + "\n", status, media_type="application/json")
