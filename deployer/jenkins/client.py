"""The door to Jenkins' remote API: exactly the calls the Jenkins executor makes, and nothing else.

Authentication is HTTP basic with a Jenkins user and that user's API token (a Jenkins credential,
never a cluster one). The token is held in the session's auth only: it is registered with
``deployer.redact`` and never put in a message, and it is sent to no host but the configured
Jenkins (URLs Jenkins hands back are checked against it before they are followed). Every POST
carries a CSRF crumb, asked for in the same web session (cookie) it is then sent back with, as
Jenkins requires since 2.176.2. Errors are translated here into ``JenkinsError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import requests

from deployer import redact
from deployer.errors import JenkinsError
from deployer.jenkins import responses
from deployer.jenkins.responses import Build, ConsoleChunk, Crumb, PendingInput, QueueItem

T = TypeVar("T")

_HINTS = {
    401: "Jenkins did not accept the user and API token: check jenkins.yaml's user and the token in its "
         "tokenFile (create one under the user's Security page, docs/jenkins.md).",
    403: "The Jenkins user may not do this: give it Job/Build, Job/Read and Job/Cancel on the job.",
    404: "No such job or build in Jenkins: check the service's jenkinsJob (default deploy/<service>).",
}


class JenkinsClient:
    def __init__(self, url: str, user: str, token: str, *, ca_file: str | None = None,
                 timeout: float = 30.0) -> None:
        redact.register(token)
        self.base = url.rstrip("/") + "/"
        self.timeout = timeout
        self._session = requests.Session()
        self._session.auth = (user, token)
        # Passed with every request: requests lets REQUESTS_CA_BUNDLE override a session's verify.
        self._verify: str | bool = ca_file or True
        self._session.headers["Accept"] = "application/json, text/plain"
        self._crumb: Crumb | None = None
        self._crumb_fetched = False

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> JenkinsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the calls --------------------------------------------------------------------------------

    def trigger(self, job: str, parameters: Mapping[str, str]) -> str:
        """Queue a build of ``job`` with ``parameters``; return its queue item's URL."""
        response = self._post(self.base + responses.job_path(job) + "buildWithParameters", f"trigger job {job}",
                              data=dict(parameters))
        if response.status_code != 201:
            raise JenkinsError(f"Jenkins answered {response.status_code} to a build of job {job}, not 201 Created "
                               "with its queue item", status=response.status_code)
        try:
            url = responses.queue_item_url(response.headers.get("Location"))
        except responses.UnexpectedResponse as exc:
            raise JenkinsError(f"job {job}: {exc}") from None
        return self._checked(url, f"job {job}'s queue item")

    def queue_item(self, url: str) -> QueueItem:
        return self._read(url, "queue item", responses.read_queue_item)

    def cancel_queue_item(self, url: str) -> None:
        """Take a build that has not started yet out of the queue (Queue.doCancelItem)."""
        item = responses.queue_item_id(url)
        self._post(self.base + f"queue/cancelItem?id={item}", f"cancel queue item {item}", allow_redirects=False)

    def build(self, url: str) -> Build:
        return self._read(url, "build", responses.read_build)

    def console(self, build_url: str, start: int) -> ConsoleChunk:
        response = self._send("GET", self._checked(build_url, "build") + f"logText/progressiveText?start={start}",
                              f"read the console of {build_url}")
        try:
            return responses.read_console(response.content, response.headers, start)
        except responses.UnexpectedResponse as exc:
            raise JenkinsError(f"build {build_url}: {exc}") from None

    def artifact(self, build_url: str, relative_path: str) -> bytes:
        path = "/".join(quote(part, safe="") for part in relative_path.split("/"))
        return self._send("GET", self._checked(build_url, "build") + "artifact/" + path,
                          f"download {relative_path} of {build_url}").content

    def stop(self, build_url: str) -> None:
        """Abort a running build, as its Abort button does (Run.doStop: the sh step's process is
        interrupted, then killed)."""
        self._post(self._checked(build_url, "build") + "stop", f"stop {build_url}", allow_redirects=False)

    def pending_inputs(self, build_url: str) -> tuple[PendingInput, ...]:
        """The input steps the build waits at (pipeline-stage-view's wfapi/pendingInputActions)."""
        url = self._checked(build_url, "build")
        response = self._send("GET", url + "wfapi/pendingInputActions", f"read the pending inputs of {build_url}")
        try:
            return responses.read_pending_inputs(response.json(), url)
        except (json.JSONDecodeError, responses.UnexpectedResponse) as exc:
            raise JenkinsError(f"build {build_url}: Jenkins' pending inputs are not what its API documents: "
                               f"{exc}") from None

    def answer_input(self, build_url: str, input_id: str, proceed: bool) -> None:
        """Proceed (approve) or abort the build's pending input, as its buttons do."""
        verb = "proceedEmpty" if proceed else "abort"
        self._post(self._checked(build_url, "build") + f"input/{quote(input_id, safe='')}/{verb}",
                   f"{'approve' if proceed else 'abort'} input {input_id} of {build_url}", allow_redirects=False)

    # --- the request pipeline: check, send, translate ------------------------------------------

    def _checked(self, url: str, what: str) -> str:
        if not responses.same_origin(url, self.base):
            raise JenkinsError(f"Jenkins named {what} at {url[:200]}, which is not under {self.base}; "
                               "the API token is sent to the configured Jenkins only",
                               hint="Set Jenkins' own URL (Manage Jenkins -> System -> Jenkins URL) to the url in "
                                    "jenkins.yaml.")
        return url if url.endswith("/") else url + "/"

    def _read(self, url: str, what: str, parse: Callable[[Any], T]) -> T:
        response = self._send("GET", self._checked(url, what) + "api/json", f"read {what} {url}")
        try:
            return parse(response.json())
        except (json.JSONDecodeError, responses.UnexpectedResponse) as exc:
            raise JenkinsError(f"{what} {url}: Jenkins' answer is not what its API documents: {exc}") from None

    def _post(self, url: str, what: str, **options: Any) -> requests.Response:
        headers = {}
        crumb = self._crumb_for_session()
        if crumb is not None:
            headers[crumb.field] = crumb.value
        return self._send("POST", url, what, headers=headers, **options)

    def _crumb_for_session(self) -> Crumb | None:
        if not self._crumb_fetched:
            response = self._send("GET", self.base + "crumbIssuer/api/json", "ask Jenkins for a crumb",
                                  missing_ok=True)
            # 404: CSRF protection is off (or the crumb issuer is disabled); POSTs need no crumb.
            if response.status_code != 404:
                try:
                    self._crumb = responses.read_crumb(response.json())
                except (json.JSONDecodeError, responses.UnexpectedResponse) as exc:
                    raise JenkinsError(f"Jenkins' crumb issuer answered something else than a crumb: {exc}") from None
                redact.register(self._crumb.value)
            self._crumb_fetched = True
        return self._crumb

    def _send(self, method: str, url: str, what: str, *, missing_ok: bool = False,
              **options: Any) -> requests.Response:
        try:
            response = self._session.request(method, url, timeout=self.timeout, verify=self._verify, **options)
        except requests.exceptions.SSLError as exc:
            raise JenkinsError(f"could not {what}: Jenkins' TLS certificate was not accepted "
                               f"({type(exc).__name__})",
                               hint="Set caFile in jenkins.yaml to the CA bundle that signed Jenkins' "
                                    "certificate.") from None
        except requests.RequestException as exc:
            raise JenkinsError(f"could not {what}: {type(exc).__name__}: {redact.scrub(str(exc))[:300]}",
                               hint="Check jenkins.yaml's url and that Jenkins is up.") from None
        if response.status_code >= 400 and not (missing_ok and response.status_code == 404):
            raise JenkinsError(f"could not {what}: Jenkins answered {response.status_code} {response.reason}",
                               hint=_HINTS.get(response.status_code), status=response.status_code)
        return response
