"""Sign-in and who may do what, for the deploy page (issue 14).

``WebAuth`` is what the web app plugs in: its ``middleware()`` (outermost first), its
``routes()``, ``authorize`` (the ``WebContext.authorize`` hook) and ``csrf_field`` (the template
global every POST form includes).

- ``hosts``: the Host allowlist (refuses DNS-rebound requests with 400, before anything runs).
- ``sessions``: the session cookie's secret and the signed-in user in it.
- ``proxy``: trusted-proxy sign-in (X-Forwarded-User/-Groups from configured addresses only).
- ``oidc``: OpenID Connect sign-in (authlib), and bearer ID tokens for API callers.
- ``csrf``: the per-session token every POST carries.
- ``gate``: the middleware that applies proxy, bearer, session and CSRF to every request.
- ``policy``: the pure decision: may this identity do this action here?
- ``groups``: the email -> groups mapping file.
- ``settings``: flags and the settings file's ``auth:`` section, resolved.
- ``routes``: /login, /auth/callback, /logout, /auth/session.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.routing import Route

from deployer.web.auth import csrf
from deployer.web.auth.denied import AccessDenied
from deployer.web.auth.gate import Gatekeeper, Refusal, RefusalHook
from deployer.web.auth.hosts import HostAllowlist
from deployer.web.auth.oidc import OidcSignIn
from deployer.web.auth.policy import Identity, decide
from deployer.web.auth.routes import SignInRoutes
from deployer.web.auth.sessions import COOKIE
from deployer.web.auth.settings import AuthSettings

if TYPE_CHECKING:
    from deployer.config.loader import Config

__all__ = ["AuthSettings", "Identity", "Refusal", "WebAuth"]


class WebAuth:
    def __init__(self, settings: AuthSettings, load_config: Callable[[], Config], *,
                 on_refusal: RefusalHook | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.load_config = load_config
        self.on_refusal = on_refusal
        self.clock = clock
        self.signin = OidcSignIn(settings.oidc) if settings.oidc else None

    def middleware(self) -> list[Middleware]:
        """Outermost first: the Host check before anything reads the request, the session before
        the gate that reads it."""
        return [
            Middleware(HostAllowlist, allowed=self.settings.allowed_hosts),
            Middleware(SessionMiddleware, secret_key=self.settings.session_secret.decode("latin-1"),
                       session_cookie=COOKIE, max_age=int(self.settings.session_lifetime), same_site="lax",
                       https_only=self.settings.https),
            Middleware(Gatekeeper, settings=self.settings, signin=self.signin, on_refusal=self.on_refusal,
                       clock=self.clock),
        ]

    def routes(self) -> list[Route]:
        return SignInRoutes(self.settings, self.signin, self.clock, identity_of).routes()

    def authorize(self, request: Request, action: str, service: str, environment: str) -> str:
        """The actor to record (``web:<email>``) when the request's user may do ``action`` on
        ``service``'s ``environment``; raises AccessDenied (401 or 403) otherwise, after
        auditing the refusal."""
        identity = identity_of(request)
        config = self.load_config()
        decision = None
        if service in config.services:
            svc = config.services[service]
            clusters = svc.environments[environment].clusters if environment in svc.environments else []
            decision = decide(identity, svc, environment, action,
                              [config.clusters[c].environment for c in clusters if c in config.clusters])
        if decision is not None and decision.allowed and identity is not None:
            return identity.actor
        message = decision.reason if decision else f"there is no service {service}"
        hint = decision.hint if decision else "Pick a service the page lists."
        if self.on_refusal is not None:
            address = request.client.host if request.client else ""
            self.on_refusal(Refusal(identity.actor if identity else f"web:unknown@{address}", address, action,
                                    service, environment, message, self.clock()))
        raise AccessDenied(message, hint=hint, signed_in=identity is not None)

    def may(self, request: Request, action: str, service: str, environment: str) -> bool:
        """Whether to show a button (the server still checks on the POST)."""
        try:
            identity = identity_of(request)
            config = self.load_config()
            svc = config.services[service]
            clusters = svc.environments[environment].clusters
            return decide(identity, svc, environment, action,
                          [config.clusters[c].environment for c in clusters if c in config.clusters]).allowed
        except KeyError:
            return False

    @staticmethod
    def csrf_field(request: Request) -> Markup:
        token = csrf.token_of(request.session)
        return Markup('<input type="hidden" name="{}" value="{}">').format(csrf.FIELD, token)

    @staticmethod
    def csrf_token(request: Request) -> str:
        return csrf.token_of(request.session)


def identity_of(request: Any) -> Identity | None:
    """Who the gate found this request to be (None: nobody signed in)."""
    identity = request.scope.get("state", {}).get("identity")
    return identity if isinstance(identity, Identity) else None
