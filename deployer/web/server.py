"""The routes of the deploy-button page, over the standard library's threading HTTP server.

    GET  /                     services; per environment the release each cluster is on; buttons
    POST /jobs                 action, service, environment[, revision][, confirm] -> 303 /jobs/<id>
    GET  /jobs/<id>            the job page with its live log
    GET  /jobs/<id>/events     the log as Server-Sent Events, ending with a "done" event
    GET  /api/jobs/<id>        the job as JSON (log, outcome, exit code, report)
    GET  /healthz              "ok"
    GET  /static/app.js|style.css

Meant to listen on localhost behind an authenticating proxy that sets X-Forwarded-User; the actor
recorded in locks, release records and the audit log is ``web:<that user>`` (else the address).
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from deployer.errors import DeployerError, UsageError
from deployer.redact import scrub
from deployer.stopping import Stop
from deployer.web import pages, sse
from deployer.web.audit import AuditLog
from deployer.web.forms import MAX_BODY, actor_of, parse_job_form, same_origin
from deployer.web.jobs import Busy, Job, JobRegistry

if TYPE_CHECKING:
    from deployer.config.loader import Config

Query = dict[str, list[str]]

STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    # Scripts and styles come from this server only, so injected markup could not run anyway.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_JOB = re.compile(r"^/jobs/([0-9a-f]{1,32})$")
_EVENTS = re.compile(r"^/jobs/([0-9a-f]{1,32})/events$")
_API_JOB = re.compile(r"^/api/jobs/([0-9a-f]{1,32})$")


class WebApp:
    """What every request shares: the configuration folder (read afresh per request, so edits to
    services/ show without a restart), the job registry and the audit log."""

    def __init__(self, config_dir: Path, state_dir: Path, *, keep_alive: float = 15.0) -> None:
        self.config_dir = config_dir
        self.audit = AuditLog(state_dir)
        self.jobs = JobRegistry(on_start=self.audit.started, on_end=self.audit.ended)
        self.keep_alive = keep_alive

    def load(self) -> Config:
        from deployer.config.loader import load_config

        return load_config(self.config_dir)


class Handler(BaseHTTPRequestHandler):
    server_version = "deployer-web"
    timeout = 60  # seconds a silent client may hold a connection (reads and writes)
    server: WebServer

    @property
    def app(self) -> WebApp:
        return self.server.app

    @property
    def actor(self) -> str:
        headers = getattr(self, "headers", None)  # absent when the request line itself was malformed
        return actor_of(headers.get("X-Forwarded-User") if headers else None, self.client_address[0])

    # --- dispatch ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._guarded(self._get)

    def do_POST(self) -> None:
        self._guarded(self._post)

    def _guarded(self, handle: Callable[[SplitResult], None]) -> None:
        self._sent = False
        try:
            handle(urlsplit(self.path))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the viewer went away
        except Exception as exc:  # noqa: BLE001 - a bug: the page says so once, the server's log has the traceback
            print(scrub(f"deployer web: {self.command} {self.path} failed:\n{traceback.format_exc()}"),
                  file=sys.stderr, flush=True)
            if not self._sent:
                self._page(500, pages.error_page(500, f"internal error: {type(exc).__name__}: {exc}",
                                                 "This is a bug in deployer; the server's log has the traceback.",
                                                 actor=self.actor))

    def _get(self, url: SplitResult) -> None:
        path, query = url.path, parse_qs(url.query)
        if path == "/":
            return self._index()
        if path == "/healthz":
            return self._send(200, b"ok\n", "text/plain; charset=utf-8")
        if path.startswith("/static/") and path[len("/static/"):] in STATIC:
            name = path[len("/static/"):]
            return self._send(200, (Path(__file__).parent / name).read_bytes(), STATIC[name],
                              {"Cache-Control": "no-cache"})
        for pattern, show in ((_JOB, self._job), (_EVENTS, self._events), (_API_JOB, self._api_job)):
            match = pattern.match(path)
            if match:
                job = self.app.jobs.get(match.group(1))
                if job is None:
                    return self._not_found(f"there is no job {match.group(1)} in this server",
                                           "Jobs live in the server's memory; after a restart, the audit log "
                                           "and `deployer history` have the record.")
                return show(job, query)
        if path == "/jobs":
            return self._send(405, b"", "text/plain", {"Allow": "POST"})
        return self._not_found(f"there is no page {path}", "")

    def _post(self, url: SplitResult) -> None:
        if url.path != "/jobs":
            return self._not_found(f"there is nothing to POST to at {url.path}", "Buttons post to /jobs.")
        if not same_origin(self.headers.get("Origin"), self.headers.get("Referer"), self.headers.get("Host")):
            return self._page(403, pages.error_page(403, "this request came from another site's page",
                                                    "Press the button on the deployer page itself.",
                                                    actor=self.actor))
        from deployer.web.actions import admit, job_work

        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        try:
            if not 0 <= length <= MAX_BODY:
                raise UsageError(f"the form's length ({self.headers.get('Content-Length')}) is not between 0 and "
                                 f"{MAX_BODY} bytes")
            form = parse_job_form(self.rfile.read(length), self.headers.get("Content-Type", ""))
            config = self.app.load()
            admit(config, form)
            stop = Stop()
            job = self.app.jobs.start(form, self.actor, job_work(config, form, self.actor, stop), stop=stop)
        except Busy as exc:
            return self._page(409, pages.error_page(409, exc.message, exc.hint or "", actor=self.actor,
                                                    link=(f"/jobs/{exc.job.id}", "Watch that job")))
        except UsageError as exc:
            return self._page(400, pages.error_page(400, exc.message, exc.hint or "", actor=self.actor))
        except DeployerError as exc:  # an invalid configuration folder, an unwritable audit log: the operator's
            return self._page(500, pages.error_page(500, exc.message, exc.hint or "", actor=self.actor))
        self._send(303, b"", "text/plain", {"Location": f"/jobs/{job.id}"})

    # --- pages --------------------------------------------------------------------------------------

    def _index(self) -> None:
        from deployer.app import App
        from deployer.web.actions import overview

        error = None
        services = []
        try:
            with App(self.app.load()) as app:
                services = overview(app)
        except DeployerError as exc:
            error = (exc.message, exc.hint or "")
        running = {(j.form.service, j.form.environment): j for j in self.app.jobs.running()}
        self._page(200, pages.index_page(services, self.app.jobs.recent(10), running, actor=self.actor, error=error))

    def _job(self, job: Job, query: Query) -> None:
        self._page(200, pages.job_page(job, actor=self.actor))

    def _api_job(self, job: Job, query: Query) -> None:
        self._json(200, job.to_dict())

    def _events(self, job: Job, query: Query) -> None:
        start = sse.resume_from(self.headers.get("Last-Event-ID"), next(iter(query.get("from") or []), None))
        self._head(200, "text/event-stream; charset=utf-8", {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        for chunk in sse.stream(lambda index, wait: self.app.jobs.follow(job, index, wait), start,
                                keep_alive=self.app.keep_alive):
            self.wfile.write(chunk)
            self.wfile.flush()

    # --- responses ------------------------------------------------------------------------------------

    def _not_found(self, message: str, hint: str) -> None:
        if self.path.startswith("/api/"):
            return self._json(404, {"error": message, "hint": hint})
        self._page(404, pages.error_page(404, message, hint, actor=self.actor))

    def _page(self, status: int, html: str) -> None:
        self._send(status, html.encode("utf-8"), "text/html; charset=utf-8")

    def _json(self, status: int, data: Any) -> None:
        self._send(status, (json.dumps(data, indent=2) + "\n").encode("utf-8"), "application/json")

    def _head(self, status: int, content_type: str, headers: dict[str, str] | None = None,
              length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for name, value in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self._sent = True

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self._head(status, content_type, headers, len(body))
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        sys.stderr.write(scrub(f"{self.address_string()} {self.actor} [{self.log_date_time_string()}] "
                               f"{format % args}\n"))


class WebServer(ThreadingHTTPServer):
    daemon_threads = True  # live-log viewers must not keep the process from stopping

    def __init__(self, address: tuple[str, int], app: WebApp) -> None:
        super().__init__(address, Handler)
        self.app = app


def make_server(app: WebApp, host: str, port: int) -> WebServer:
    """Bind (port 0 picks a free one); the audit file is created first, so a bad state folder
    stops the start rather than the first job."""
    try:
        app.audit.prepare()
    except OSError as exc:
        raise UsageError(f"cannot write the audit log {app.audit.path}: {exc.strerror}",
                         hint="Pass --state-dir with a folder this user can write.") from exc
    try:
        return WebServer((host, port), app)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         hint="Pick another --port, or stop what is listening there.") from exc

