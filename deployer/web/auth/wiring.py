"""Plugging sign-in into the page: ``install`` sets the WebContext's hooks (authorize, identify)
and the templates' ``csrf_field`` and ``may`` globals, and returns the middleware and routes for
``create_app``."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import BaseRoute

from deployer.web.auth import WebAuth, identity_of
from deployer.web.auth.gate import Refusal
from deployer.web.auth.settings import AuthSettings
from deployer.web.context import WebContext


def refusal_entry(refusal: Refusal) -> dict[str, Any]:
    """The audit line of a refused request: who (as far as known), from where, what, why, when."""
    return {"time": dt.datetime.fromtimestamp(refusal.at, dt.UTC).isoformat(timespec="seconds"),
            "event": "refused", "actor": refusal.actor, "address": refusal.address, "action": refusal.action,
            "service": refusal.service, "environment": refusal.environment, "reason": refusal.reason}


def viewer(request: Request) -> str:
    """Who the page says you are."""
    identity = identity_of(request)
    return identity.email if identity is not None else "not signed in"


def session_user(request: Request) -> str:
    """The email of the user signed in with a session of this page ("" for nobody, the anonymous
    user, or a user named by a trusted proxy: signing out is the proxy's, not ours)."""
    identity = identity_of(request)
    return identity.email if identity is not None and identity.via not in ("none", "proxy") else ""


def install(ctx: WebContext, settings: AuthSettings,
            clock: Callable[[], float] = time.time) -> tuple[list[Middleware], list[BaseRoute]]:
    auth = WebAuth(settings, ctx.load, on_refusal=lambda refusal: ctx.store.refused(refusal_entry(refusal)),
                   clock=clock)
    ctx.authorize = auth.authorize
    ctx.may_deploy = lambda request, service, environment: auth.may(request, "deploy", service, environment)
    ctx.identify = viewer
    ctx.viewer_actor = lambda request: getattr(identity_of(request), "actor", "")
    ctx.groups_of = lambda request: getattr(identity_of(request), "groups", frozenset())
    ctx.templates.globals.update(csrf_field=auth.csrf_field, may=auth.may, csrf_token=auth.csrf_token)
    ctx.templates.globals.update(session_user=session_user, sign_in_offered=auth.signin is not None)
    return auth.middleware(), list(auth.routes())
