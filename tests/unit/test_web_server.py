"""The page's routes in process, over the repository's own example configuration: everything that
is decided before a job talks to a cluster (the platform tests run real jobs)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator

import pytest

from deployer.pipeline.report import ClusterReport, End, EndState, RunReport
from deployer.polling import poll_until
from deployer.web.context import WebContext
from deployer.web.forms import JobForm
from deployer.web.worker import Worker
from tests.conftest import REPO
from tests.webserver import serve


@pytest.fixture
def app(tmp_path) -> Iterator[tuple[WebContext, int]]:
    web, serving = serve(REPO, tmp_path / "state", keep_alive=0.2)
    with serving:
        yield web, serving.port


def request(port: int, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    sent = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
    conn.request(method, path, body=body, headers={**sent, **(headers or {})})
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    return response, text


def test_health_static_and_security_headers(app) -> None:
    _, port = app
    response, text = request(port, "GET", "/healthz")
    assert (response.status, text) == (200, "ok\n")
    response, text = request(port, "GET", "/static/app.js")
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/javascript")
    assert "EventSource" in text
    assert "script-src 'self'" in response.getheader("Content-Security-Policy")
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert request(port, "GET", "/static/../server.py")[0].status == 404
    assert request(port, "GET", "/jobs")[0].status == 405


def test_unknown_jobs_are_not_found(app) -> None:
    _, port = app
    response, text = request(port, "GET", "/jobs/0123abcd")
    assert response.status == 404 and "there is no job 0123abcd" in text
    response, text = request(port, "GET", "/api/jobs/0123abcd")
    assert response.status == 404 and json.loads(text)["error"] == "there is no job 0123abcd in this server"
    assert request(port, "GET", "/jobs/<script>")[0].status == 404


@pytest.mark.parametrize(("body", "status", "says"), [
    ("action=deploy&service=hello&environment=production", 400,
     "deploy of hello to production changes production and was not confirmed"),
    ("action=rollback&service=hello&environment=production&confirm=nope", 400, "was not confirmed"),
    ("action=deploy&service=nope&environment=staging", 400, "no service named &#39;nope&#39;"),
    ("action=deploy&service=hello&environment=qa", 400, "service hello has no environment &#39;qa&#39;"),
    ("action=promote&service=hello&environment=staging&from=qa", 400, "service hello has no environment &#39;qa&#39;"),
    ("action=promote&service=hello&environment=production&from=staging", 400, "was not confirmed"),
    ("action=deploy&service=%3Cscript%3E&environment=qa", 400, "&#39;&lt;script&gt;&#39; is not a valid name"),
])
def test_a_press_that_cannot_run_is_refused_before_any_job(app, body: str, status: int, says: str) -> None:
    web, port = app
    response, text = request(port, "POST", "/jobs", body)
    assert response.status == status and says in text, text
    assert web.store.recent() == [] and web.store.audit() == []


def test_a_post_from_another_site_is_refused(app) -> None:
    web, port = app
    response, text = request(port, "POST", "/jobs", "action=check&service=hello&environment=staging",
                             {"Origin": "https://evil.example"})
    assert response.status == 403 and "another site" in text
    assert web.store.recent() == []


def test_a_second_press_is_told_who_runs_it_and_the_first_streams_to_its_end(app) -> None:
    web, port = app
    go = threading.Event()

    def work(progress):
        progress("c1", "<b>applying</b>")
        go.wait(5)
        progress("c1", "done")
        return RunReport("deploy", "hello", "staging",
                         [ClusterReport("c1", "succeeded", end=EndState(End.NEW, 1))])

    # A worker in this process, on the page's database, whose job runs ``work``.
    job = web.store.submit(JobForm("deploy", "hello", "staging"), "web:alice")
    runner = Worker(web.store, REPO, name="w1", work_for=lambda *args: work)
    running = threading.Thread(target=runner.run_one)
    running.start()
    assert poll_until(lambda: web.store.lines(job.id) or None, 10, interval=0.02)
    response, text = request(port, "POST", "/jobs", "action=check&service=hello&environment=staging",
                             {"X-Forwarded-User": "bob"})
    assert response.status == 409
    assert f"web:alice is already deploying hello in staging (job {job.id})" in text
    assert f'href="/jobs/{job.id}"' in text and "you are web:bob" in text

    response, text = request(port, "GET", f"/jobs/{job.id}")
    assert response.status == 200 and "&lt;b&gt;applying&lt;/b&gt;" in text and 'data-state="running"' in text

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/jobs/{job.id}/events", headers={"Last-Event-ID": "0"})
    stream = conn.getresponse()
    assert stream.getheader("Content-Type").startswith("text/event-stream")
    go.set()
    events = stream.read().decode()
    conn.close()
    assert "<b>applying</b>" not in events  # resumed after event 0
    assert "id: 1\ndata: " in events and events.split("id: 1\ndata: ")[1].split("\n")[0].endswith("[c1] done")
    final = json.loads(events.split("event: done\ndata: ")[1])
    assert (final["outcome"], final["exitCode"]) == ("succeeded", 0)
    assert final["report"] == "c1  succeeded    on the new release r1"

    running.join(10)
    data = json.loads(request(port, "GET", f"/api/jobs/{job.id}")[1])
    assert (data["state"], data["exitCode"], len(data["log"]), data["worker"]) == ("finished", 0, 2, "w1")


def test_the_command_refuses_an_invalid_folder_and_a_taken_port(tmp_path) -> None:
    import socket

    from tests.conftest import run_cli

    invalid = run_cli("--config-dir", str(tmp_path), "web", "--port", "0", "--state-dir", str(tmp_path / "s"))
    assert invalid.exit_code == 3, invalid.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_cli("--config-dir", str(REPO), "web", "--port", str(port), "--state-dir", str(tmp_path / "s"))
    assert busy.exit_code == 2
    assert f"deployer: error: cannot listen on 127.0.0.1:{port}" in busy.stderr and "--port" in busy.stderr
    unwritable = run_cli("--config-dir", str(REPO), "web", "--port", "0", "--state-dir", "/proc/deployer-web")
    assert unwritable.exit_code == 2 and "cannot create the folder of /proc/deployer-web/web.db" in unwritable.stderr


def test_the_authorize_hook_names_the_actor_and_its_refusal_starts_nothing(app) -> None:
    from deployer.web.context import Refused

    web, port = app
    asked: list[tuple[str, str, str]] = []

    def authorize(request, action: str, service: str, environment: str) -> str:
        asked.append((action, service, environment))
        raise Refused(f"you may not {action} {service} in {environment}", hint="Ask for the group.")

    web.authorize = authorize
    response, text = request(port, "POST", "/jobs", "action=check&service=hello&environment=staging",
                             {"X-Forwarded-User": "mallory"})
    assert response.status == 403 and "you may not check hello in staging" in text
    assert "Ask for the group." in text and response.getheader("Content-Security-Policy")
    assert asked == [("check", "hello", "staging")]
    assert web.store.recent() == [] and web.store.audit() == []


def test_approve_is_refused_from_another_site_to_a_non_member_and_when_nothing_waits(app) -> None:
    from deployer.web.context import Refused

    web, port = app
    job = web.store.submit(JobForm("deploy", "hello", "production", confirm="hello"), "web:alice")
    response, text = request(port, "POST", f"/jobs/{job.id}/approve", "", {"Origin": "https://evil.example"})
    assert response.status == 403 and "another site" in text
    asked: list[tuple[str, str, str]] = []

    def authorize(request, action: str, service: str, environment: str) -> str:
        asked.append((action, service, environment))
        if request.headers.get("X-Forwarded-User") != "oncall":
            raise Refused(f"you may not {action} {service} in {environment}")
        return "web:oncall"

    web.authorize = authorize
    response, text = request(port, "POST", f"/jobs/{job.id}/approve", "", {"X-Forwarded-User": "mallory"})
    assert response.status == 403 and "you may not deploy hello in production" in text
    # A member, but the job's log names no input its build waits at: nothing is sent to Jenkins.
    response, text = request(port, "POST", f"/jobs/{job.id}/approve", "", {"X-Forwarded-User": "oncall"})
    assert response.status == 409 and "does not wait for an approval" in text
    assert asked == [("deploy", "hello", "production")] * 2
    assert all(entry["event"] != "approved" for entry in web.store.audit())
