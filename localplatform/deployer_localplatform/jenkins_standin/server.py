"""The HTTP face of the Jenkins stand-in: the parts of Jenkins' remote API the deploy page's
executor calls, answering as Jenkins documents them (shapes: deployer/jenkins/responses.py).

- ``GET /crumbIssuer/api/json``: a crumb bound to the web session (``JSESSIONID`` cookie, set on
  first contact), as Jenkins issues them since 2.176.2;
- ``POST /job/<folder>/job/<name>/buildWithParameters``: ``201 Created``, ``Location`` = the queue
  item; a POST without the session's crumb is refused with 403 ("No valid crumb was included in
  the request");
- ``GET /queue/item/N/api/json``: ``Queue$WaitingItem`` (quiet period), ``Queue$BuildableItem``
  (waiting for an executor), ``Queue$LeftItem`` (``executable`` once started, ``cancelled``);
  ``POST /queue/cancelItem?id=N`` (302, as Jenkins' forwardToPreviousPage);
- ``GET .../N/api/json`` (WorkflowRun), ``GET .../N/logText/progressiveText?start=K``
  (``X-Text-Size``, ``X-More-Data: true`` while building), ``GET .../N/artifact/PATH``,
  ``POST .../N/stop`` (302 to the build).

Every call needs HTTP basic authentication with a configured user and API token (401 otherwise).
Each request leaves one log line: method, path, status; never a header, a query or a body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from deployer_localplatform.jenkins_standin.builds import Build, Credential, Job

LOG = logging.getLogger("deployer_localplatform.jenkins_standin")
MAX_BODY = 1 << 20
_BUILD_PATH = re.compile(r"^/((?:job/[^/]+/)+)(?:buildWithParameters|(\d+)/(api/json|logText/progressiveText|stop|"
                         r"wfapi/pendingInputActions|input/[^/]+/(?:proceedEmpty|abort)|artifact/(.+)))$")


@dataclass
class QueueItem:
    id: int
    job: Job
    params: dict[str, str]
    user: str
    since_ms: int
    buildable_at: float
    cancelled: bool = False
    build: Build | None = None

    def to_json(self, base: str) -> dict[str, Any]:
        task = {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": self.job.name.rsplit("/", 1)[-1],
                "url": base + job_path(self.job.name), "color": "notbuilt"}
        common = {"actions": [{"_class": "hudson.model.ParametersAction",
                               "parameters": [{"name": k, "value": v} for k, v in self.params.items()]}],
                  "id": self.id, "inQueueSince": self.since_ms, "params": "".join(f"\n{k}={v}" for k, v in
                                                                                   self.params.items()),
                  "stuck": False, "task": task, "url": f"queue/item/{self.id}/"}
        if self.cancelled or self.build is not None:
            executable = None if self.build is None else {
                "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": self.build.number,
                "url": self.build.url}
            return {"_class": "hudson.model.Queue$LeftItem", **common, "blocked": False, "buildable": False,
                    "why": None, "cancelled": self.cancelled, "executable": executable}
        if time.monotonic() < self.buildable_at:
            left = self.buildable_at - time.monotonic()
            return {"_class": "hudson.model.Queue$WaitingItem", **common, "blocked": False, "buildable": False,
                    "why": f"In the quiet period. Expires in {left:.1f} sec",
                    "timestamp": self.since_ms + int((self.buildable_at - time.monotonic()) * 1000)}
        return {"_class": "hudson.model.Queue$BuildableItem", **common, "blocked": False, "buildable": True,
                "why": "Waiting for next available executor", "pending": False,
                "buildableStartMilliseconds": self.since_ms}


def job_path(name: str) -> str:
    return "".join(f"job/{quote(part, safe='')}/" for part in name.split("/"))


class Jenkins:
    """The controller's state: jobs, credentials, users, the queue and the builds."""

    def __init__(self, config: dict[str, Any], state_dir: Path) -> None:
        self.state_dir = state_dir
        self.users: dict[str, str] = dict(config["users"])
        self.jobs = {name: Job(name, j["jenkinsfile"], j["workspace"], j.get("env", {}), j.get("agentEnv", {}),
                               j.get("libraries", {}), j.get("inputs", []), j.get("notRun", []),
                               wait_for_input=bool(j.get("waitForInput", False)))
                     for name, j in config["jobs"].items()}
        self.credentials = {cid: Credential(c["kind"], c["secret"], c.get("fileName", "secret"))
                            for cid, c in config.get("credentials", {}).items()}
        self.quiet_period = float(config.get("quietPeriod", 0.5))
        self.executors = int(config.get("executors", 2))
        self.soft_kill_wait = float(config.get("softKillWaitSeconds", 5))
        self.base = ""
        self.queue: dict[int, QueueItem] = {}
        self.builds: dict[tuple[str, int], Build] = {}
        self._next_item = 1
        self._salt = secrets.token_bytes(16)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._scheduler = threading.Thread(target=self._schedule, name="queue", daemon=True)
        self._scheduler.start()

    def crumb(self, session: str, user: str) -> str:
        return hmac.new(self._salt, f"{session}:{user}".encode(), hashlib.sha256).hexdigest()

    def enqueue(self, job: Job, params: dict[str, str], user: str, quiet_period: float | None = None) -> QueueItem:
        with self._lock:
            item = QueueItem(self._next_item, job, params, user, int(time.time() * 1000),
                             time.monotonic() + (self.quiet_period if quiet_period is None else quiet_period))
            self.queue[item.id] = item
            self._next_item += 1
        self._wake.set()
        return item

    def cancel(self, item_id: int) -> None:
        with self._lock:
            item = self.queue.get(item_id)
            if item is not None and item.build is None:
                item.cancelled = True

    def _schedule(self) -> None:
        # Jenkins' Queue.maintain: a waiting item becomes buildable after its quiet period and starts
        # on a free executor. This thread is the stand-in's scheduler, not a wait in a test.
        while not self._closing.is_set():
            self._wake.wait(0.1)
            self._wake.clear()
            with self._lock:
                running = sum(1 for b in self.builds.values() if b.building)
                for item in sorted(self.queue.values(), key=lambda i: i.id):
                    if item.build is not None or item.cancelled or time.monotonic() < item.buildable_at:
                        continue
                    if running >= self.executors:
                        break
                    job = item.job
                    number, job.next_number = job.next_number, job.next_number + 1
                    build = Build(job, number, f"{self.base}{job_path(job.name)}{number}/", item.params, item.id,
                                  item.user, self.credentials, self.soft_kill_wait, self.state_dir)
                    self.builds[(job.name, number)] = build
                    item.build = build
                    running += 1
                    build.thread.start()

    def close(self) -> None:
        self._closing.set()
        for build in list(self.builds.values()):
            build.stop("the stand-in shutting down")
        for build in list(self.builds.values()):
            build.thread.join(timeout=self.soft_kill_wait + 5)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, doc: Any, *headers: tuple[str, str]) -> Reply:
    return Reply(status, json.dumps(doc).encode(), headers=headers)


def _text(status: int, text: str, *headers: tuple[str, str]) -> Reply:
    return Reply(status, text.encode(), "text/plain;charset=utf-8", headers)


class Handler(BaseHTTPRequestHandler):
    server_version = "Jetty(stand-in)"
    jenkins: Jenkins

    def log_message(self, fmt: str, *args: Any) -> None:  # _serve logs one line per request instead
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_BODY)) if length else b""
        split = urlsplit(self.path)
        try:
            reply = self._route(method, unquote(split.path), parse_qs(split.query), body)
        except Exception as exc:   # a stand-in bug: answer 500 as Jenkins would, and say so in the log
            LOG.exception("%s %s failed", method, split.path)
            reply = _text(500, f"stand-in error: {type(exc).__name__}")
        LOG.info("%s %s %d", method, split.path, reply.status)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("X-Jenkins", "2.528.2")
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _user(self) -> str | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, token = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        expected = self.jenkins.users.get(user)
        return user if expected is not None and hmac.compare_digest(expected, token) else None

    def _session(self) -> str | None:
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "JSESSIONID":
                return value
        return None

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        jenkins = self.jenkins
        user = self._user()
        if user is None:
            return _text(401, "Invalid password/token for user", ("WWW-Authenticate", 'Basic realm="Jenkins"'))
        if path == "/crumbIssuer/api/json" and method == "GET":
            session = self._session()
            headers: tuple[tuple[str, str], ...] = ()
            if session is None:
                session = secrets.token_hex(16)
                headers = (("Set-Cookie", f"JSESSIONID={session}; Path=/; HttpOnly"),)
            return _json(200, {"_class": "hudson.security.csrf.DefaultCrumbIssuer",
                               "crumb": jenkins.crumb(session, user), "crumbRequestField": "Jenkins-Crumb"}, *headers)
        if method == "POST":
            session = self._session()
            crumb = self.headers.get("Jenkins-Crumb")
            if session is None or crumb is None or not hmac.compare_digest(crumb, jenkins.crumb(session, user)):
                return _text(403, "No valid crumb was included in the request")
        queue = re.fullmatch(r"/queue/item/(\d+)/api/json", path)
        if queue and method == "GET":
            item = jenkins.queue.get(int(queue.group(1)))
            return _json(200, item.to_json(jenkins.base)) if item else _text(404, "Not Found")
        if path == "/queue/cancelItem" and method == "POST":
            jenkins.cancel(int((query.get("id") or ["0"])[0]))
            return Reply(302, headers=(("Location", jenkins.base + "queue/"),))
        match = _BUILD_PATH.fullmatch(path)
        if not match:
            return _text(404, "Not Found")
        job = jenkins.jobs.get("/".join(unquote(p) for p in match.group(1).split("/")[1::2]))
        if job is None:
            return _text(404, "Not Found")
        if match.group(2) is None:
            if method != "POST":
                return _text(405, "Method Not Allowed")
            form = {k: v[-1] for k, v in parse_qs(body.decode()).items()} if body else {}
            params = {**{k: v[-1] for k, v in query.items()}, **form}
            # `delay=Nsec` sets this item's quiet period, as in Jenkins; it is not a build parameter.
            delay = params.pop("delay", None)
            quiet = float(delay.removesuffix("sec")) if delay else None
            item = jenkins.enqueue(job, params, user, quiet)
            return Reply(201, headers=(("Location", f"{jenkins.base}queue/item/{item.id}/"),))
        build = jenkins.builds.get((job.name, int(match.group(2))))
        if build is None:
            return _text(404, "Not Found")
        what = match.group(3)
        if what == "api/json" and method == "GET":
            return _json(200, build.to_json())
        if what == "logText/progressiveText" and method == "GET":
            start = int((query.get("start") or ["0"])[0])
            building = build.building   # read before the log: the last chunk is complete once it is False
            data, size = build.console.read(start)
            headers = [("X-Text-Size", str(size))] + ([("X-More-Data", "true")] if building else [])
            return Reply(200, data, "text/plain;charset=utf-8", tuple(headers))
        if what == "wfapi/pendingInputActions" and method == "GET":
            return _json(200, build.pending_inputs_json(urlsplit(build.url).path))
        answer = re.fullmatch(r"input/([^/]+)/(proceedEmpty|abort)", what or "")
        if answer and method == "POST":
            # InputStepExecution.doProceedEmpty / doAbort: 404 when no such input is pending; both
            # answer with a redirect to the build.
            done = build.answer_input(answer.group(1), "proceed" if answer.group(2) == "proceedEmpty" else "abort",
                                      user)
            return Reply(302, headers=(("Location", build.url),)) if done else _text(404, "Not Found")
        if what == "stop" and method == "POST":
            build.stop(user)
            return Reply(302, headers=(("Location", build.url),))
        if match.group(4) is not None and method == "GET":
            file = build.artifact(match.group(4))
            if file is None:
                return _text(404, "Not Found")
            return Reply(200, file.read_bytes(), "application/octet-stream")
        return _text(405, "Method Not Allowed")


class JenkinsStandIn:
    """The stand-in in process: ``start()`` serves from a background thread and returns the root URL."""

    def __init__(self, config: dict[str, Any], state_dir: Path, *, port: int = 0,
                 tls: tuple[Path, Path] | None = None) -> None:
        """``tls``: (certificate, key) PEM files to serve HTTPS with, as a Jenkins behind TLS."""
        self.jenkins = Jenkins(config, state_dir)
        handler = type("BoundHandler", (Handler,), {"jenkins": self.jenkins})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.jenkins.base = f"{scheme}://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self.server.serve_forever, name="jenkins-standin", daemon=True)

    def start(self) -> str:
        self._thread.start()
        return self.jenkins.base

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.jenkins.close()
