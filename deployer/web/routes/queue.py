"""The push queue of a service (or its group) and environment: the page, its JSON twin, and the
changes people and bots make (the same handlers answer a form with a redirect, the API with JSON).

    GET  /queues/{service}/{env}                  the queue, refreshed live (static/queue.js polls the API)
    GET  /api/queues/{service}/{env}              the queue as JSON: entries in order, who has the turn, your place
    POST /queues/{service}/{env}/join|leave       join or leave it (as yourself)
    POST /api/queues/{service}/{env}/join|leave
    POST /queues/{service}/{env}/move             entry, to: an administrator puts an entry at a place
    POST /queues/{service}/{env}/remove           entry: an administrator removes an entry
    (and their /api/ twins)

Joining needs the right to deploy there (``WebContext.authorize``); moving and removing need the
configured administrators' group (``WebSettings.queue_admin_group``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from deployer.errors import DeployerError
from deployer.web.context import Refused, WebContext
from deployer.web.forms import MAX_BODY, same_origin
from deployer.web.queue.rules import Entry, place
from deployer.web.queue.store import QueueKey
from deployer.web.routes.respond import context_of, error, json, page


def to_dict(ctx: WebContext, key: QueueKey, entries: tuple[Entry, ...], you: str) -> dict[str, Any]:
    turn = ctx.settings.queue_turn_seconds
    return {
        "queue": key.queue, "environment": key.environment, "services": list(key.members),
        "turnSeconds": turn, "length": len(entries),
        "you": {"actor": you, "place": place(entries, you)},
        "entries": [{"id": e.id, "place": i, "actor": e.actor, "joined": e.joined,
                     "turn": e.turn_since is not None, "turnEndsAt": None if e.turn_since is None or e.job_id
                     else e.turn_since + turn, "job": e.job_id} for i, e in enumerate(entries, 1)],
    }


def _key(request: Request) -> QueueKey | Response:
    ctx = context_of(request)
    service, environment = request.path_params["service"], request.path_params["env"]
    try:
        config = ctx.load()
    except DeployerError as exc:
        return error(request, 500, exc.message, exc.hint or "")
    svc = config.services.get(service)
    if svc is None or environment not in svc.environments:
        return error(request, 404, f"there is no queue for {service} in {environment}",
                     "Queues exist per service (or group) and environment of the configuration folder.")
    return ctx.queues.key(service, environment)


async def show(request: Request) -> Response:
    ctx = context_of(request)
    key = await run_in_threadpool(_key, request)
    if isinstance(key, Response):
        return key
    entries = await run_in_threadpool(ctx.queues.store.entries, key)
    data = to_dict(ctx, key, entries, ctx.viewer_actor(request))
    if request.url.path.startswith("/api/"):
        return json(data)
    return page(request, "queue.html", queue=data, service=request.path_params["service"],
                placed=request.query_params.get("placed") == "1")


async def change(request: Request) -> Response:
    ctx = context_of(request)
    what = request.path_params["what"]
    if what not in ("join", "leave", "move", "remove"):
        return error(request, 404, f"there is no queue action {what}", "Actions: join, leave, move, remove.")
    api = request.url.path.startswith("/api/")
    if not api and not same_origin(request.headers.get("Origin"), request.headers.get("Referer"),
                                   request.headers.get("Host")):
        return error(request, 403, "this request came from another site's page",
                     "Press the button on the deployer page itself.")
    key = await run_in_threadpool(_key, request)
    if isinstance(key, Response):
        return key
    body = await request.body()
    if len(body) > MAX_BODY:
        return error(request, 400, f"the form is longer than {MAX_BODY} bytes")
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if "json" in request.headers.get("Content-Type", ""):
        import json as _json

        try:
            loaded = _json.loads(body or b"{}")
        except ValueError:
            return error(request, 400, "the request body is not JSON")
        form = {k: str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
    service = request.path_params["service"]
    try:
        actor = await run_in_threadpool(ctx.authorize, request, "deploy", service, key.environment)
    except Refused as exc:
        return error(request, getattr(exc, "http_status", 403), exc.message, exc.hint or "")
    store = ctx.queues.store
    if what == "join":
        entries = await run_in_threadpool(store.join, key, actor)
    elif what == "leave":
        entries = await run_in_threadpool(store.leave, key, actor)
    else:
        if ctx.settings.queue_admin_group not in ctx.groups_of(request):
            return error(request, 403, f"only members of {ctx.settings.queue_admin_group} may {what} queue entries",
                         "Ask an administrator, or leave the queue yourself.")
        entry = form.get("entry", "")
        if entry not in {e.id for e in await run_in_threadpool(store.entries, key)}:
            return error(request, 404, f"there is no entry {entry!r} in the queue {key.name}")
        if what == "remove":
            entries = await run_in_threadpool(store.remove, key, entry)
        else:
            try:
                to = int(form.get("to", ""))
            except ValueError:
                return error(request, 400, f"to={form.get('to', '')!r} is not a place (1 is the head)")
            entries = await run_in_threadpool(store.move, key, entry, to)
    if api:
        return json(to_dict(ctx, key, entries, actor))
    return RedirectResponse(f"/queues/{service}/{key.environment}", 303)


def routes() -> list[BaseRoute]:
    return [Route("/queues/{service}/{env}", show, methods=["GET"]),
            Route("/api/queues/{service}/{env}", show, methods=["GET"]),
            Route("/queues/{service}/{env}/{what}", change, methods=["POST"]),
            Route("/api/queues/{service}/{env}/{what}", change, methods=["POST"])]
