"""The page under uvicorn in a background thread, for the tests that talk HTTP to it."""

from __future__ import annotations

from pathlib import Path

from deployer.web.asgi import create_app
from deployer.web.context import WebContext, WebSettings
from deployer.web.serve import Serving


def serve(config_dir: Path, state_dir: Path, keep_alive: float) -> tuple[WebContext, Serving]:
    """The page over ``config_dir`` on a free port, its database SQLite in ``state_dir`` (no
    workers: a test runs its own)."""
    web = WebContext(config_dir, state_dir, WebSettings(keep_alive=keep_alive))
    return web, Serving(create_app(web))
