"""When a request to the API server is sent again, and after how long: a pure decision over data.

The API server asks for a retry in two ways, and the network fails in a third; client-go's
``rest.Request`` (``checkWait``, ``retryOnError``) is the model:

- **429 Too Many Requests** (priority and fairness, max-in-flight) is refused before any handler
  runs, so it is retried for every verb, after the ``Retry-After`` the server sends (capped).
- **5xx that say "try again"**: 503 and 504, and a 500 whose reason is a server timeout (etcd
  leader changes answer ``etcdserver: request timed out``). A 500 about the object itself
  (an undeclared field) is not retried. These may have been acted on (a 504 "may still be
  processing"), so only idempotent requests are sent again.
- **The network**: a connection that could not be opened carried nothing, so any verb is retried;
  a reset, a closed connection or a read timeout may come after the server acted, so only
  idempotent requests are retried.

Idempotent here means sending it twice leaves what sending it once leaves: GET/HEAD, server-side
apply (a PATCH of ``application/apply-patch+yaml`` states the whole intent), and a PUT carrying a
``resourceVersion`` precondition (a replay after success gets 409, never overwrites). POST (create)
and DELETE are not: their callers resolve an unknown outcome themselves (a release record is
read back, see ``deployer.kube.releases``).

Every retry waits, with exponential backoff or the server's ``Retry-After``, within a number of
attempts and a total budget of waiting; when either would be exceeded the last answer stands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

APPLY_PATCH = "application/apply-patch+yaml"

Transport = Literal["connect", "reset", "timeout"]
"""How a request failed without an HTTP answer: ``connect`` (never sent), ``reset`` (the
connection broke after sending), ``timeout`` (no answer in time)."""

# 500s whose Status says the server, not the request, failed for now (k8s.io/apimachinery
# StatusReasonServerTimeout / InternalError with an etcd timeout message).
_RETRYABLE_500_REASONS = ("ServerTimeout", "Timeout")
_RETRYABLE_500_MESSAGES = ("etcdserver: request timed out", "etcdserver: leader changed",
                           "the server was unable to return a response in the time allotted")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    """Sends in all, the first included."""
    budget: float = 20.0
    """Seconds of waiting between attempts, in all, for one request."""
    first_delay: float = 0.5
    max_delay: float = 4.0
    retry_after_cap: float = 10.0
    """A Retry-After above this is waited this long (a server asking for minutes is not waited)."""


@dataclass(frozen=True)
class Sent:
    """What was sent: enough to tell whether sending it again is safe."""

    method: str
    content_type: str = ""
    has_resource_version: bool = False

    @property
    def idempotent(self) -> bool:
        method = self.method.upper()
        if method in ("GET", "HEAD", "OPTIONS"):
            return True
        if method == "PATCH":
            return self.content_type.startswith(APPLY_PATCH)
        if method == "PUT":
            return self.has_resource_version
        return False


@dataclass(frozen=True)
class Failure:
    """How one attempt failed: an HTTP status (with its Retry-After and Status reason/message) or,
    without an answer, a transport failure."""

    status: int | None = None
    retry_after: str | None = None
    reason: str = ""
    message: str = ""
    transport: Transport | None = None

    def describe(self) -> str:
        if self.transport == "connect":
            return "could not connect"
        if self.transport == "reset":
            return "connection reset"
        if self.transport == "timeout":
            return "no answer in time"
        if self.asked_to_retry:
            return f"API server asked to retry ({self.status})"
        return f"API server answered {self.status}{f' {self.reason}' if self.reason else ''}"

    @property
    def asked_to_retry(self) -> bool:
        return self.status == 429 or self.retry_after is not None


@dataclass(frozen=True)
class Retry:
    delay: float
    why: str


def decide(policy: RetryPolicy, sent: Sent, failure: Failure, attempt: int, waited: float) -> Retry | None:
    """Retry after ``attempt`` (1 = the first send) failed as ``failure``, having waited ``waited``
    seconds so far; None when the failure stands."""
    if attempt >= policy.max_attempts or not _retryable(sent, failure):
        return None
    delay = _delay(policy, failure, attempt)
    if waited + delay > policy.budget:
        return None
    return Retry(delay, failure.describe())


def _retryable(sent: Sent, failure: Failure) -> bool:
    if failure.transport == "connect":
        return True
    if failure.transport is not None:
        return sent.idempotent
    status = failure.status or 0
    if status == 429:
        return True
    if status in (503, 504):
        return sent.idempotent
    if status == 500:
        return sent.idempotent and (failure.reason in _RETRYABLE_500_REASONS
                                    or any(m in failure.message for m in _RETRYABLE_500_MESSAGES))
    return False


def _delay(policy: RetryPolicy, failure: Failure, attempt: int) -> float:
    asked = parse_retry_after(failure.retry_after)
    if asked is not None:
        return min(asked, policy.retry_after_cap)
    backoff: float = policy.first_delay * 2.0 ** (attempt - 1)
    return min(backoff, policy.max_delay)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header; the API server sends whole seconds (an HTTP date, which it
    never sends, or garbage is ignored, falling back to backoff)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds
