"""Pressing a button, and following the job it started.

    POST /jobs                 action, service, environment[, revision][, from][, confirm] -> 303 /jobs/<id>
    GET  /jobs/<id>            the job page with its live log
    POST /jobs/<id>/cancel     cancel a queued job, or stop a running one -> 303 /jobs/<id>
    POST /jobs/<id>/approve    approve the production input its Jenkins build waits at -> 303 /jobs/<id>
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
from deployer.web import sse
from deployer.web.context import Refused, WebContext
from deployer.web.forms import MAX_BODY, JobForm, parse_job_form, same_origin
from deployer.web.jobs import Busy, Job
from deployer.web.routes.respond import context_of, error, json, page

_JOB_ID = re.compile(r"^[0-9a-f]{1,32}$")


async def _job_or_404(request: Request) -> Job | Response:
    job_id = request.path_params["job_id"]
    job = await run_in_threadpool(_read_job, context_of(request), job_id) if _JOB_ID.match(job_id) else None
    if job is None:
        return error(request, 404, f"there is no job {job_id} in this server",
                     "Job ids come from the page's buttons; the overview lists the recent ones.")
    return job


def _read_job(ctx: WebContext, job_id: str) -> Job | None:
    """Blocking: notices a dead worker's job first, so the page shows it interrupted."""
    ctx.store.reap(ctx.settings.stale_after)
    return ctx.store.get(job_id)


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
        if job is None:  # others are queued: the press joined the push queue instead of running around it
            return RedirectResponse(f"/queues/{form.service}/{form.environment}?placed=1", 303)
    except Busy as exc:
        return error(request, 409, exc.message, exc.hint or "", link=(f"/jobs/{exc.job.id}", "Watch that job"))
    except Refused as exc:  # sign-in's refusals say 401 when signing in could help
        return error(request, getattr(exc, "http_status", 403), exc.message, exc.hint or "")
    except UsageError as exc:
        return error(request, 400, exc.message, exc.hint or "")
    except DeployerError as exc:  # an invalid configuration folder, an unwritable audit log: the operator's
        return error(request, 500, exc.message, exc.hint or "")
    return RedirectResponse(f"/jobs/{job.id}", 303)


def _start(ctx: WebContext, request: Request, form: JobForm) -> Job | None:
    """Blocking (reads the configuration, writes the audit line): run in the thread pool. None: the
    deploy went into the service's push queue (deployer.web.queue); a dry-run check never queues."""
    from deployer.web.actions import admit

    actor = ctx.authorize(request, form.action, form.service, form.environment)  # refused: nothing is read
    config = ctx.load()
    admit(config, form)
    if form.action == "check":
        return ctx.store.submit(form, actor)
    key = ctx.queues.key(form.service, form.environment)
    if ctx.queues.store.press(key, actor) != "run":
        return None
    job = ctx.store.submit(form, actor)
    ctx.queues.store.started(key, actor, job.id)
    return job


async def job_page(request: Request) -> Response:
    job = await _job_or_404(request)
    if isinstance(job, Response):
        return job
    from deployer.web.jenkins_work import approval_of

    approval = approval_of(job.lines) if job.running else None
    may_approve = approval is not None and await run_in_threadpool(
        context_of(request).may_deploy, request, job.form.service, job.form.environment)
    return page(request, "job.html", job=job, approval=approval, may_approve=may_approve)


async def api_job(request: Request) -> Response:
    job = await _job_or_404(request)
    if isinstance(job, Response):
        return job
    return json(job.to_dict())


async def events(request: Request) -> Response:
    from sse_starlette.sse import EventSourceResponse

    job = await _job_or_404(request)
    if isinstance(job, Response):
        return job
    ctx = context_of(request)
    start = sse.resume_from(request.headers.get("Last-Event-ID"), request.query_params.get("from"))
    chunks = sse.stream(lambda index, wait: ctx.store.follow(job.id, index, wait), start,
                        keep_alive=ctx.settings.keep_alive)
    # sse.stream frames each event itself (its framing is tested on its own) and blocks while it
    # waits for the next line, so sse-starlette steps it in the thread pool; it stops the stream
    # when the viewer goes away or the server shuts down, and pings a silent one.
    return EventSourceResponse(chunks, headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache"},
                               sep="\n", ping=max(1.0, ctx.settings.keep_alive * 2))


async def _authorized_post(request: Request, action: str | None) -> tuple[Job, str] | Response:
    """A POST about a job, from the page itself, by someone who may do ``action`` (None: the job's
    own action) on the job's service and environment: the job and the actor, or the refusal."""
    job = await _job_or_404(request)
    if isinstance(job, Response):
        return job
    if not same_origin(request.headers.get("Origin"), request.headers.get("Referer"), request.headers.get("Host")):
        return error(request, 403, "this request came from another site's page",
                     "Press the button on the deployer page itself.")
    ctx = context_of(request)
    try:
        actor = await run_in_threadpool(ctx.authorize, request, action or job.form.action, job.form.service,
                                        job.form.environment)
    except Refused as exc:
        return error(request, 403, exc.message, exc.hint or "")
    return job, actor


async def cancel(request: Request) -> Response:
    """Whoever may run the job's action may cancel it; a running job stops as a signalled CLI run
    does (its worker polls the request with its heartbeat)."""
    allowed = await _authorized_post(request, None)
    if isinstance(allowed, Response):
        return allowed
    job, actor = allowed
    await run_in_threadpool(context_of(request).store.cancel, job.id, actor)
    return RedirectResponse(f"/jobs/{job.id}", 303)


async def approve(request: Request) -> Response:
    """Approve in Jenkins the input the job's build waits at (a production deploy's promotion): only
    a user who may deploy the job's environment by the service's access groups may; the page relays
    it with its Jenkins API token, so Jenkins records the page's Jenkins user and the audit log the
    page's user."""
    allowed = await _authorized_post(request, "deploy")
    if isinstance(allowed, Response):
        return allowed
    (job, actor), ctx = allowed, context_of(request)
    from deployer.web.jenkins_work import approve_in_jenkins

    try:
        if not job.running:
            raise UsageError(f"job {job.id} has ended; there is nothing to approve")
        build_url = await run_in_threadpool(lambda: approve_in_jenkins(ctx.load(), job.lines))
        await run_in_threadpool(ctx.store.approved, job, actor, build_url)
    except UsageError as exc:
        return error(request, 409, exc.message, exc.hint or "")
    except DeployerError as exc:   # Jenkins refused or is unreachable: say so, the build still waits
        return error(request, 502, exc.message, exc.hint or "")
    return RedirectResponse(f"/jobs/{job.id}", 303)


def routes() -> list[BaseRoute]:
    return [Route("/jobs", press, methods=["POST"]),
            Route("/jobs/{job_id}/cancel", cancel, methods=["POST"]),
            Route("/jobs/{job_id}/approve", approve, methods=["POST"]),
            Route("/jobs/{job_id}", job_page, methods=["GET"]),
            Route("/jobs/{job_id}/events", events, methods=["GET"]),
            Route("/api/jobs/{job_id}", api_job, methods=["GET"])]
