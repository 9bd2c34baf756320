"""The page's HTML, rendered on the server from plain data through the jinja2 templates in
templates/ (autoescape: every value that comes from a file, a cluster, a request or a log is
escaped, in text and in attributes alike); the script (``static/app.js``) writes log lines as text
nodes only. Nothing here names a cluster's provider: people see services, environments, cluster
names and releases.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment

from deployer.web.jobs import Job
from deployer.web.templating import make_environment

_DEFAULT: list[Environment] = []


def render(name: str, *, templates: Environment | None = None, **values: Any) -> str:
    """``name`` rendered with ``values``; ``templates`` is the WebContext's environment (whose
    globals sign-in extends), else a plain one."""
    if templates is None:
        if not _DEFAULT:
            _DEFAULT.append(make_environment())
        templates = _DEFAULT[0]
    values.setdefault("request", None)
    values.setdefault("actor", "")
    return templates.get_template(name).render(**values)


def error_page(status: int, message: str, hint: str = "", *, actor: str = "",
               link: tuple[str, str] | None = None, **context: Any) -> str:
    return render("error.html", status=status, message=message, hint=hint, actor=actor, link=link, **context)


def job_page(job: Job, *, actor: str = "", **context: Any) -> str:
    return render("job.html", job=job, actor=actor, **context)
