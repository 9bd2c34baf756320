"""The waves of a running deploy, and steering its gate from the page (docs/waves.md).

    GET  /api/jobs/<id>/waves                the job's waves: each one's state, message, bake time left
    POST /jobs/<id>/waves/<action>           pause | resume | abort -> 303 /jobs/<id>
    POST /api/jobs/<id>/waves/<action>       the same, answered with JSON

Pause, resume and abort are ``deployer wave``'s: ``deployer.pipeline.waves.control`` writes the
request to the clusters the deploy's lock holds, read by the gate within a second. Whoever may
deploy the environment may steer its deploy (``WebContext.authorize`` with the action ``deploy``);
each press is audited. The press is refused unless the job is a running deploy whose board shows a
wave baking or paused: a request sent at any other time would be ignored by the deploy anyway.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from deployer.errors import DeployerError, LockedError
from deployer.rollout.waves import Action
from deployer.web.context import Refused, WebContext
from deployer.web.forms import same_origin
from deployer.web.jobs import Job
from deployer.web.routes.jobs import _job_or_404
from deployer.web.routes.respond import context_of, error, json
from deployer.web.store import waves as stored
from deployer.web.views.common import RunningJob
from deployer.web.waves import as_of, phase, steering

ACTIONS: dict[str, Action] = {"pause": "pause", "resume": "resume", "abort": "abort"}
STEERED = ("deploy", "promote")
"""The jobs that deploy in waves (a check builds nothing; a rollback returns every cluster at once)."""


def board_of(ctx: WebContext, job: Job) -> dict[str, Any]:
    """Blocking: the job's waves as of now (``waves`` empty for a deploy in one wave)."""
    found = stored.load(ctx.store, job.id)
    if found is None:
        return {"job": job.id, "of": 0, "waves": [], "steerable": False}
    board, updated = found
    shown = as_of(board, updated, time.time())
    shown["steerable"] = shown["steerable"] and job.running and job.form.action in STEERED
    return {"job": job.id, **shown}


async def api_waves(request: Request) -> Response:
    job = await _job_or_404(request)
    if isinstance(job, Response):
        return job
    return json(await run_in_threadpool(board_of, context_of(request), job))


async def steer(request: Request) -> Response:
    job = await _job_or_404(request)
    if isinstance(job, Response):
        return job
    action = ACTIONS.get(request.path_params["action"])
    if action is None:
        return error(request, 404, f"there is no wave action {request.path_params['action']!r}",
                     "The actions: pause, resume, abort.")
    if not same_origin(request.headers.get("Origin"), request.headers.get("Referer"), request.headers.get("Host")):
        return error(request, 403, "this request came from another site's page",
                     "Press the button on the deployer page itself.")
    ctx = context_of(request)
    try:  # who may deploy the environment may steer its deploy
        actor = await run_in_threadpool(ctx.authorize, request, "deploy", job.form.service, job.form.environment)
    except Refused as exc:
        return error(request, getattr(exc, "http_status", 403), exc.message, exc.hint or "")
    board = await run_in_threadpool(board_of, ctx, job)
    wave = steering(board) if board["steerable"] else None
    if wave is None:
        return error(request, 409, f"job {job.id} has no wave baking or paused now, so there is nothing to {action}",
                     "Pause, resume and abort act on a running deploy while a wave bakes (docs/waves.md).",
                     link=(f"/jobs/{job.id}", "Back to the job"))
    try:
        sent = await run_in_threadpool(_send, ctx, job, action, actor)
    except DeployerError as exc:  # no lock held any more (the deploy ended meanwhile), a cluster unreachable
        return error(request, 409 if isinstance(exc, LockedError) else 502, exc.message, exc.hint or "",
                     link=(f"/jobs/{job.id}", "Back to the job"))
    await run_in_threadpool(stored.audit_steer, ctx.store, job, actor, action,
                            {"waveNumber": wave["wave"], "run": sent["run"], "clusters": sent["clusters"]})
    if request.url.path.startswith("/api/"):
        return json({**sent, "job": job.id, "actor": actor, "wave": wave["wave"]})
    return RedirectResponse(f"/jobs/{job.id}", 303)


def _send(ctx: WebContext, job: Job, action: Action, actor: str) -> dict[str, Any]:
    """Blocking: the CLI's ``deployer wave ACTION`` through the page's shared App."""
    from deployer.pipeline.waves import control

    with ctx.reads.use() as app:
        return control(app, job.form.service, job.form.environment, action, actor).to_dict()


def with_waves(ctx: WebContext, jobs: list[RunningJob]) -> list[RunningJob]:
    """Blocking: the overview's running jobs, each deploy in waves saying where it is."""
    shown = []
    for job in jobs:
        found = stored.load(ctx.store, job.id)
        shown.append(replace(job, waves=phase(as_of(found[0], found[1], time.time()))) if found else job)
    return shown


def routes() -> list[BaseRoute]:
    return [Route("/api/jobs/{job_id}/waves", api_waves, methods=["GET"]),
            Route("/jobs/{job_id}/waves/{action}", steer, methods=["POST"]),
            Route("/api/jobs/{job_id}/waves/{action}", steer, methods=["POST"])]
