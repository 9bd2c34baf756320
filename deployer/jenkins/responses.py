"""What Jenkins' remote API answers, read into typed values: pure functions over decoded JSON and
response headers, so every decision about a queue item, a build or a console chunk is tested from
recorded shapes (tests/unit/test_jenkins_responses.py) without a Jenkins.

Where the shapes come from (jenkinsci/jenkins, core):

- the crumb: ``hudson/security/csrf/CrumbIssuer.java`` exports ``crumb`` and ``crumbRequestField``
  (``Jenkins-Crumb`` by default); since 2.176.2 a crumb is valid only with the web session
  (``JSESSIONID`` cookie) it was issued in.
- queue items: ``hudson/model/Queue.java``. ``Item`` exports ``id``, ``blocked``, ``buildable``,
  ``stuck``, ``why``, ``params``, ``task``, ``url``; its subclasses are told apart by ``_class``:
  ``Queue$WaitingItem`` (quiet period), ``Queue$BlockedItem`` (``blocked: true``, for example the
  job's previous build still running), ``Queue$BuildableItem`` (``buildable: true``, waiting for an
  executor), ``Queue$LeftItem`` (left the queue: ``cancelled`` and ``executable``, the build, with
  ``number`` and ``url``; ``executable`` stays null for a moment after the item leaves).
- builds: ``hudson/model/Run.java`` exports ``building``, ``result`` (null while it runs, then
  ``SUCCESS``, ``UNSTABLE``, ``FAILURE``, ``NOT_BUILT`` or ``ABORTED``: ``hudson/model/Result.java``),
  ``number``, ``url``, ``timestamp`` and ``duration`` (milliseconds), and ``artifacts`` (each
  ``displayPath``, ``fileName``, ``relativePath``, served under ``artifact/<relativePath>``).
- the console: ``hudson/console/AnnotatedLargeText.java`` and Stapler's ``LargeText.doProgressiveText``
  answer ``logText/progressiveText?start=N`` with the bytes from offset N, ``X-Text-Size`` (the
  offset to ask from next) and ``X-More-Data: true`` while the log may still grow.
- pending inputs (jenkinsci/pipeline-stage-view-plugin, ``rest-api``: ``PendingInputActionsExt`` served
  at ``<build>/wfapi/pendingInputActions``): a list of ``{id, proceedText, message, inputs,
  proceedUrl, abortUrl, redirectApprovalUrl}``, URLs relative to Jenkins' root (its context path
  included). The input step itself (jenkinsci/pipeline-input-step-plugin, ``InputStepExecution``)
  proceeds on ``POST <build>/input/<id>/proceedEmpty`` and aborts on ``POST <build>/input/<id>/abort``
  (the build ends ABORTED); its id defaults to the message's MD5, capitalised (``InputStep.getId``).
- ``buildWithParameters`` answers ``201 Created`` with ``Location`` the queue item's URL
  (``hudson/model/ParametersDefinitionProperty.java``, since Jenkins 1.519).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlsplit

QueueStatus = Literal["waiting", "blocked", "buildable", "leaving", "cancelled", "started"]
"""Where a queue item is: in its quiet period, blocked, waiting for an executor, just left the
queue with its build not yet named, cancelled before it started, or started as a build."""

FINISHED_RESULTS = ("SUCCESS", "UNSTABLE", "FAILURE", "NOT_BUILT", "ABORTED")


class UnexpectedResponse(ValueError):
    """A response that does not have the shape Jenkins documents (the client turns it into a
    ``JenkinsError`` naming the call)."""


@dataclass(frozen=True)
class Crumb:
    field: str
    """The request header to send it in (``Jenkins-Crumb`` unless the administrator changed it)."""
    value: str


@dataclass(frozen=True)
class QueueItem:
    status: QueueStatus
    why: str | None
    """Jenkins' own words for why it is still queued (``In the quiet period``, ``Build #3 is already
    in progress``, ``Waiting for next available executor``)."""
    build_url: str | None = None
    build_number: int | None = None


@dataclass(frozen=True)
class Artifact:
    relative_path: str
    file_name: str


@dataclass(frozen=True)
class Build:
    url: str
    number: int
    building: bool
    result: str | None
    artifacts: tuple[Artifact, ...]
    timestamp_ms: int | None
    duration_ms: int | None

    @property
    def finished(self) -> bool:
        return not self.building and self.result in FINISHED_RESULTS


@dataclass(frozen=True)
class ConsoleChunk:
    data: bytes
    next_start: int
    more: bool
    """Whether the log may still grow (the build runs): ask again from ``next_start``."""


@dataclass(frozen=True)
class PendingInput:
    """An input step a build waits at: the question, its proceed button's words, and the page in
    Jenkins where a person approves it."""

    id: str
    message: str
    proceed_text: str
    approve_url: str
    """Absolute: ``<build>input/``, the build's page for its pending inputs."""


def _mapping(doc: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise UnexpectedResponse(f"{what}: expected a JSON object, got {type(doc).__name__}")
    return doc


def read_crumb(doc: Any) -> Crumb:
    doc = _mapping(doc, "crumb issuer")
    field, value = doc.get("crumbRequestField"), doc.get("crumb")
    if not (isinstance(field, str) and field and isinstance(value, str) and value):
        raise UnexpectedResponse("crumb issuer: no crumb or crumbRequestField in its answer")
    return Crumb(field, value)


def read_queue_item(doc: Any) -> QueueItem:
    doc = _mapping(doc, "queue item")
    kind = str(doc.get("_class", ""))
    why = doc.get("why") if isinstance(doc.get("why"), str) else None
    if doc.get("cancelled") is True:
        return QueueItem("cancelled", why)
    executable = doc.get("executable")
    if isinstance(executable, Mapping) and isinstance(executable.get("url"), str):
        number = executable.get("number")
        return QueueItem("started", why, executable["url"], number if isinstance(number, int) else None)
    if kind.endswith("$LeftItem"):
        return QueueItem("leaving", why)
    if doc.get("blocked") is True:
        return QueueItem("blocked", why)
    if doc.get("buildable") is True:
        return QueueItem("buildable", why)
    if "blocked" not in doc and "buildable" not in doc:
        raise UnexpectedResponse("queue item: neither blocked, buildable, cancelled nor started")
    return QueueItem("waiting", why)


def read_build(doc: Any) -> Build:
    doc = _mapping(doc, "build")
    url, number, building = doc.get("url"), doc.get("number"), doc.get("building")
    if not (isinstance(url, str) and isinstance(number, int) and isinstance(building, bool)):
        raise UnexpectedResponse("build: url, number or building missing")
    result = doc.get("result")
    if result is not None and result not in FINISHED_RESULTS:
        raise UnexpectedResponse(f"build: unknown result {str(result)[:40]!r}")
    artifacts = []
    for item in doc.get("artifacts") or []:
        item = _mapping(item, "build artifact")
        path = item.get("relativePath")
        if not isinstance(path, str) or not path:
            raise UnexpectedResponse("build artifact: no relativePath")
        artifacts.append(Artifact(path, str(item.get("fileName") or path.rsplit("/", 1)[-1])))
    timestamp, duration = doc.get("timestamp"), doc.get("duration")
    return Build(url, number, building, result, tuple(artifacts),
                 timestamp if isinstance(timestamp, int) else None,
                 duration if isinstance(duration, int) and not building else None)


def read_console(data: bytes, headers: Mapping[str, str], start: int) -> ConsoleChunk:
    """A ``progressiveText`` answer. ``headers`` must look names up case-insensitively (as
    ``requests``' do)."""
    size = headers.get("X-Text-Size")
    if size is None:
        next_start = start + len(data)
    else:
        try:
            next_start = int(size)
        except ValueError:
            raise UnexpectedResponse(f"console: X-Text-Size is not a number: {size[:40]!r}") from None
    if next_start < start:
        raise UnexpectedResponse(f"console: X-Text-Size {next_start} is before the offset asked for ({start})")
    return ConsoleChunk(data, next_start, headers.get("X-More-Data", "").lower() == "true")


_QUEUE_PATH = re.compile(r"/queue/item/(\d+)/?$")


def queue_item_url(location: str | None) -> str:
    """The queue item a ``buildWithParameters`` answer's ``Location`` names, ending in ``/``."""
    if not location or not _QUEUE_PATH.search(urlsplit(location).path):
        raise UnexpectedResponse(f"buildWithParameters: Location {str(location)[:200]!r} is not a queue item")
    return location if location.endswith("/") else location + "/"


def queue_item_id(url: str) -> int:
    match = _QUEUE_PATH.search(urlsplit(url).path)
    if not match:
        raise UnexpectedResponse(f"{url[:200]!r} is not a queue item URL")
    return int(match.group(1))


def job_path(job: str) -> str:
    """``deploy/hello`` -> ``job/deploy/job/hello/``: each folder is a ``job/<name>`` step."""
    return "".join(f"job/{quote(part, safe='')}/" for part in job.split("/"))


def same_origin(url: str, base: str) -> bool:
    """Whether ``url`` (a URL Jenkins handed back) is on the Jenkins ``base`` names: the API token
    goes to no other host, whatever a response says."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port) and a.path.startswith(b.path.rstrip("/"))


class LineSplitter:
    """Cuts a console's byte stream into lines. A chunk may end in the middle of a line (or of a
    UTF-8 character): the rest is kept until the next chunk or ``flush``."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[str]:
        *lines, self._rest = (self._rest + data).split(b"\n")
        return [line.rstrip(b"\r").decode("utf-8", errors="replace") for line in lines]

    def flush(self) -> list[str]:
        rest, self._rest = self._rest, b""
        return [rest.rstrip(b"\r").decode("utf-8", errors="replace")] if rest else []


_INPUT_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def read_pending_inputs(doc: Any, build_url: str) -> tuple[PendingInput, ...]:
    """A ``wfapi/pendingInputActions`` answer for the build at ``build_url`` (ending in ``/``)."""
    if not isinstance(doc, list):
        raise UnexpectedResponse(f"pending inputs: expected a JSON list, got {type(doc).__name__}")
    found = []
    for item in doc:
        item = _mapping(item, "pending input")
        input_id, message = item.get("id"), item.get("message")
        if not (isinstance(input_id, str) and _INPUT_ID.match(input_id) and isinstance(message, str)):
            raise UnexpectedResponse("pending input: no id or message")
        proceed = item.get("proceedText")
        found.append(PendingInput(input_id, message, proceed if isinstance(proceed, str) and proceed else "Proceed",
                                  build_url + "input/"))
    return tuple(found)
