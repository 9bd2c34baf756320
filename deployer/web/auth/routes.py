"""The sign-in's own pages: /login, /auth/callback, /logout and /auth/session (JSON for scripts:
who is signed in, and the CSRF token to send with POSTs)."""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from deployer.errors import UsageError
from deployer.web.auth import csrf
from deployer.web.auth.denied import AccessDenied
from deployer.web.auth.oidc import OidcSignIn
from deployer.web.auth.sessions import store_user
from deployer.web.auth.settings import AuthSettings

NEXT_KEY = "next"


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: a path on this site only (never //host or a scheme)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _page(status: int, title: str, text: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
                        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p><p><a href=\"/\">Back</a></p>",
                        status_code=status)


class SignInRoutes:
    def __init__(self, settings: AuthSettings, signin: OidcSignIn | None, clock: Callable[[], float] = time.time,
                 identity_of: Callable[[Request], Any] = lambda r: None) -> None:
        self.settings = settings
        self.signin = signin
        self.clock = clock
        self.identity_of = identity_of

    def routes(self) -> list[Route]:
        return [Route("/login", self.login, methods=["GET"], name="login"),
                Route("/auth/callback", self.callback, methods=["GET"], name="auth_callback"),
                Route("/logout", self.logout, methods=["POST"], name="logout"),
                Route("/auth/session", self.session, methods=["GET"], name="auth_session")]

    def redirect_uri(self, request: Request) -> str:
        if self.settings.public_url:
            return self.settings.public_url + "/auth/callback"
        return str(request.url_for("auth_callback"))

    async def login(self, request: Request) -> Response:
        if self.signin is None:
            return _page(404, "Sign-in is not configured",
                         "This server signs nobody in: start it with --oidc-client-id (and --oidc-issuer), or "
                         "put it behind a proxy named by --trusted-proxy.")
        request.session[NEXT_KEY] = safe_next(request.query_params.get("next"))
        try:
            redirect: Response = await self.signin.redirect(request, self.redirect_uri(request),
                                                            request.query_params.get("login_hint"))
        except UsageError as exc:
            return _page(502, "The identity provider cannot be reached", f"{exc.message} {exc.hint}")
        return redirect

    async def callback(self, request: Request) -> Response:
        if self.signin is None:
            return _page(404, "Sign-in is not configured", "")
        try:
            identity = await self.signin.finish(request)
        except AccessDenied as exc:
            return _page(400, "Sign-in failed", f"{exc.message}. {exc.hint}")
        except UsageError as exc:
            return _page(502, "The identity provider cannot be reached", f"{exc.message} {exc.hint}")
        target = safe_next(request.session.get(NEXT_KEY))
        store_user(request.session, identity, self.clock())
        csrf.token_of(request.session)
        return RedirectResponse(target, status_code=303)

    async def logout(self, request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    async def session(self, request: Request) -> Response:
        identity = self.identity_of(request)
        return JSONResponse({
            "signedIn": identity is not None and identity.via != "none",
            "email": identity.email if identity else None,
            "groups": sorted(identity.groups) if identity else [],
            "via": identity.via if identity else None,
            "csrfToken": csrf.token_of(request.session),
        }, headers={"Cache-Control": "no-store"})
