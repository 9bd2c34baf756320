"""The jinja2 environment of the page's templates (deployer/web/templates/): autoescape on, so every
value from a file, a cluster, a request or a log is escaped in text and attributes alike; the
filters are the small formatting rules the templates share."""

from __future__ import annotations

import datetime as dt

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from deployer.rollout.promotion import source_text
from deployer.web.jenkins_work import build_url_of
from deployer.web.jobs import Job, headline, meaning

STATUS_TEXT = {400: "Not done", 403: "Refused", 404: "Not found", 405: "Not allowed", 409: "Already running",
               500: "Something went wrong", 401: "Sign-in required"}


def when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short_digest(digest: str) -> str:
    """The first 12 hex digits, as container tools abbreviate image IDs (the page's tooltip has all)."""
    _, _, value = digest.partition(":")
    return (value or digest)[:12]


def status_text(status: int) -> str:
    return STATUS_TEXT.get(status, str(status))


def job_state(job: Job) -> str:
    return job.state if job.running else (job.outcome or "")


def no_csrf_field(request: object) -> Markup:
    """Sign-in (deployer.web.auth) replaces this global with the form's CSRF token field."""
    return Markup("")


def nobody_signed_in(request: object) -> str:
    """Sign-in (deployer.web.auth) replaces this global: whose session the request carries."""
    return ""


def make_environment() -> Environment:
    env = Environment(loader=PackageLoader("deployer.web", "templates"),
                      autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=when, short_digest=short_digest, status_text=status_text, source_text=source_text)
    env.globals.update(csrf_field=no_csrf_field, headline=headline, meaning=meaning, job_state=job_state)
    env.globals.update(build_url_of=build_url_of)  # a Jenkins-run job's build, named on its page
    env.globals.update(session_user=nobody_signed_in, sign_in_offered=False)
    return env
