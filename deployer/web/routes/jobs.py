"""Pressing a button, and following the job it started.

    POST /jobs                 action, service, environment[, revision][, confirm] -> 303 /jobs/<id>
    GET  /jobs/<id>            the job page with its live log
    GET  /jobs/<id>/events     the log as Server-Sent Events, ending with a "done" event
    GET  /api/jobs/<id>        the job as JSON (log, outcome, exit code, report)
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from deployer.errors import DeployerError, UsageError
from deployer.stopping import Stop
from deployer.web import sse
from deployer.web.context import Refused, WebContext
from deployer.web.forms import MAX_BODY, JobForm, parse_job_form, same_origin
from deployer.web.jobs import Busy, Job
from deployer.web.routes.respond import context_of, error, json, page

_JOB_ID = re.compile(r"^[0-9a-f]{1,32}$")


def _job_or_404(request: Request) -> Job | Response:
    job_id = request.path_params["job_id"]
    job = context_of(request).jobs.get(job_id) if _JOB_ID.match(job_id) else None
    if job is None:
        return error(request, 404, f"there is no job {job_id} in this server",
                     "Jobs live in the server's memory; after a restart, the audit log and `deployer history` "
                     "have the record.")
    return job


async def press(request: Request) -> Response:
    if not same_origin(request.headers.get("Origin"), request.headers.get("Referer"), request.headers.get("Host")):
        return error(request, 403, "this request came from another site's page",
                     "Press the button on the deployer page itself.")
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = -1
    try:
        if not 0 <= length <= MAX_BODY:
            raise UsageError(f"the form's length ({request.headers.get('Content-Length')}) is not between 0 and "
                             f"{MAX_BODY} bytes")
        form = parse_job_form(await request.body(), request.headers.get("Content-Type", ""))
        job = await run_in_threadpool(_start, context_of(request), request, form)
    except Busy as exc:
        return error(request, 409, exc.message, exc.hint or "", link=(f"/jobs/{exc.job.id}", "Watch that job"))
    except Refused as exc:
        return error(request, 403, exc.message, exc.hint or "")
    except UsageError as exc:
        return error(request, 400, exc.message, exc.hint or "")
    except DeployerError as exc:  # an invalid configuration folder, an unwritable audit log: the operator's
        return error(request, 500, exc.message, exc.hint or "")
    return RedirectResponse(f"/jobs/{job.id}", 303)


def _start(ctx: WebContext, request: Request, form: JobForm) -> Job:
    """Blocking (reads the configuration, writes the audit line): run in the thread pool."""
    from deployer.web.actions import admit, job_work

    actor = ctx.authorize(request, form.action, form.service, form.environment)  # refused: nothing is read
    config = ctx.load()
    admit(config, form)
    stop = Stop()
    return ctx.jobs.start(form, actor, job_work(config, form, actor, stop), stop=stop)


async def job_page(request: Request) -> Response:
    job = _job_or_404(request)
    if isinstance(job, Response):
        return job
    return page(request, "job.html", job=job)


async def api_job(request: Request) -> Response:
    job = _job_or_404(request)
    if isinstance(job, Response):
        return job
    return json(job.to_dict())


async def events(request: Request) -> Response:
    from sse_starlette.sse import EventSourceResponse

    job = _job_or_404(request)
    if isinstance(job, Response):
        return job
    ctx = context_of(request)
    start = sse.resume_from(request.headers.get("Last-Event-ID"), request.query_params.get("from"))
    chunks = sse.stream(lambda index, wait: ctx.jobs.follow(job, index, wait), start,
                        keep_alive=ctx.settings.keep_alive)
    # sse.stream frames each event itself (its framing is tested on its own) and blocks while it
    # waits for the next line, so sse-starlette steps it in the thread pool; it stops the stream
    # when the viewer goes away or the server shuts down, and pings a silent one.
    return EventSourceResponse(chunks, headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache"},
                               sep="\n", ping=max(1.0, ctx.settings.keep_alive * 2))


def routes() -> list[BaseRoute]:
    return [Route("/jobs", press, methods=["POST"]),
            Route("/jobs/{job_id}", job_page, methods=["GET"]),
            Route("/jobs/{job_id}/events", events, methods=["GET"]),
            Route("/api/jobs/{job_id}", api_job, methods=["GET"])]
