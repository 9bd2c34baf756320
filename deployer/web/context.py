"""What every request of the page shares: where the configuration and state live, the templates,
the job store (jobs, their logs and the audit trail, in the database), and the two hooks that say
who is asking and whether they may.

The configuration folder is read afresh per request (edits to services/ show without a restart).
``identify`` and ``authorize`` are plain attributes so sign-in (deployer.web.auth) can replace them;
the default trusts an authenticating proxy's X-Forwarded-User, else names the client's address.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment
from starlette.requests import Request

from deployer.errors import DeployerError, ExitCode
from deployer.web.forms import actor_of
from deployer.web.shared_app import SharedApp
from deployer.web.store.database import default_url, open_database
from deployer.web.store.jobs import JobStore
from deployer.web.templating import make_environment

if TYPE_CHECKING:
    from deployer.config.loader import Config

Identify = Callable[[Request], str]
"""Who sends a request, as shown on the page ("you are ...")."""
Authorize = Callable[[Request, str, str, str], str]
"""``authorize(request, action, service, environment)``: the actor recorded in locks, release
records and the audit log; raises ``Refused`` when the request may not do that."""


class Refused(DeployerError):
    """A request that may not do what it asks (the page answers 403; nothing is started)."""

    exit_code = ExitCode.USAGE


def proxy_user(request: Request) -> str:
    """Today's default: the user an authenticating proxy names, else the client's address."""
    return actor_of(request.headers.get("X-Forwarded-User"), request.client.host if request.client else "")


def trust_proxy_user(request: Request, action: str, service: str, environment: str) -> str:
    return proxy_user(request)


@dataclass
class WebSettings:
    keep_alive: float = 15.0
    """Seconds between keep-alive comments on a quiet live log."""
    stale_after: float = 10.0
    """Seconds without a heartbeat after which a running job is shown interrupted."""
    queue_turn_seconds: float = 300.0
    """How long the head of a push queue has to start its deploy before the turn passes on."""
    queue_groups: dict[str, str] = field(default_factory=dict)
    """service -> group: services of one group share one push queue per environment."""
    queue_admin_group: str = "deployer-admins"
    """Members of this group may move and remove anyone's queue entry."""


class WebContext:
    """``database`` is a URL (default: SQLite in ``state_dir``); opening it brings its schema up
    to date (or refuses a newer one)."""

    def __init__(self, config_dir: Path, state_dir: Path, settings: WebSettings | None = None, *,
                 database: str | None = None) -> None:
        self.config_dir = config_dir
        self.state_dir = state_dir
        self.settings = settings or WebSettings()
        self.templates: Environment = make_environment()
        self.database_url = database or default_url(state_dir)
        self.store = JobStore(open_database(self.database_url))
        self.identify: Identify = proxy_user
        self.authorize: Authorize = trust_proxy_user
        self.reads = SharedApp(config_dir)
        """The one App (one client per cluster) the pages read through; closed at shutdown."""
        from deployer.web.queue.wiring import PageQueues

        self.queues = PageQueues(self)
        """The push queues (deployer.web.queue), and the page's /metrics registry."""
        self.groups_of: Callable[[Request], frozenset[str]] = lambda request: frozenset()
        """The groups sign-in says the requester belongs to (queue administrators are one)."""
        self.viewer_actor: Identify = proxy_user
        """The actor the requester's queue entries carry (as ``authorize`` records it)."""
        self.may_deploy: Callable[[Request, str, str], bool] = lambda request, service, environment: True
        """``may_deploy(request, service, environment)``: whether to show a button that deploys
        there (an Approve button); the POST still asks ``authorize``."""

    def close(self) -> None:
        self.store.engine.dispose()
        self.reads.close()

    def load(self) -> Config:
        from deployer.config.loader import load_config

        return load_config(self.config_dir)
