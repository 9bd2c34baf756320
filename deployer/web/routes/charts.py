"""The DORA charts of a service's environment, as SVG images the service page shows.

    GET /services/{name}/charts/{env}/{chart}.svg    chart: deploys-per-day, lead-time,
                                                     change-failure-rate, time-to-restore (30 days)

Drawn by deployer.observe.charts from `deployer stats`' own figures (deployer.pipeline.stats), read
through the page's shared App; served as images so the page's CSP (img-src 'self') shows them.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from deployer.errors import DeployerError
from deployer.observe import charts
from deployer.observe.dora import Figures
from deployer.web.routes.respond import error
from deployer.web.routes.services import _read

DAYS = 30
CHARTS: dict[str, Callable[[Figures], str]] = {
    "deploys-per-day": charts.deploys_per_day, "lead-time": charts.lead_time,
    "change-failure-rate": charts.change_failure_rate, "time-to-restore": charts.time_to_restore}


async def chart(request: Request) -> Response:
    from deployer.pipeline.stats import stats

    name, environment, which = (request.path_params[k] for k in ("name", "env", "chart"))
    draw = CHARTS.get(which)
    if draw is None:
        return error(request, 404, f"there is no chart {which}", f"Charts: {', '.join(CHARTS)}.")
    try:
        found = await _read(request, lambda app: stats(app, name, environment, DAYS))
    except DeployerError as exc:
        return error(request, 404 if name not in exc.message else 400, exc.message, exc.hint or "")
    return Response(draw(found.figures), media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})


def routes() -> list[BaseRoute]:
    return [Route("/services/{name}/charts/{env}/{chart}.svg", chart, methods=["GET"])]
