"""The retry decision (deployer.kube.retry): which failures of which requests are sent again, after
how long, within how many attempts and how much waiting."""

from __future__ import annotations

import pytest

from deployer.kube.retry import APPLY_PATCH, Failure, RetryPolicy, Sent, decide, parse_retry_after

POLICY = RetryPolicy(max_attempts=5, budget=20.0, first_delay=0.5, max_delay=4.0, retry_after_cap=10.0)

GET = Sent("GET")
APPLY = Sent("PATCH", APPLY_PATCH)
MERGE_PATCH = Sent("PATCH", "application/merge-patch+json")
PUT_WITH_VERSION = Sent("PUT", "application/json", has_resource_version=True)
PUT_BLIND = Sent("PUT", "application/json")
CREATE = Sent("POST", "application/json")
DELETE = Sent("DELETE")

TOO_MANY = Failure(status=429, retry_after="2")
UNAVAILABLE = Failure(status=503)
GATEWAY_TIMEOUT = Failure(status=504, retry_after="1")
ETCD_TIMEOUT = Failure(status=500, reason="InternalError", message="etcdserver: request timed out")
SERVER_TIMEOUT = Failure(status=500, reason="ServerTimeout")
BAD_OBJECT = Failure(status=500, reason="InternalError", message="failed to create typed patch object")
RESET = Failure(transport="reset")
REFUSED = Failure(transport="connect")
READ_TIMEOUT = Failure(transport="timeout")
TLS_REFUSED = Failure(transport=None)


@pytest.mark.parametrize(("sent", "failure", "delay"), [
    # The server refused before acting: every verb, after its Retry-After.
    (GET, TOO_MANY, 2.0), (CREATE, TOO_MANY, 2.0), (DELETE, TOO_MANY, 2.0),
    (CREATE, Failure(status=429), 0.5),  # no Retry-After: backoff
    # 5xx that may have been acted on: only what is safe to send twice.
    (GET, UNAVAILABLE, 0.5), (APPLY, UNAVAILABLE, 0.5), (PUT_WITH_VERSION, UNAVAILABLE, 0.5),
    (GET, GATEWAY_TIMEOUT, 1.0), (APPLY, ETCD_TIMEOUT, 0.5), (GET, SERVER_TIMEOUT, 0.5),
    (CREATE, UNAVAILABLE, None), (DELETE, GATEWAY_TIMEOUT, None), (MERGE_PATCH, UNAVAILABLE, None),
    (PUT_BLIND, UNAVAILABLE, None), (CREATE, ETCD_TIMEOUT, None),
    # A 500 about the object is an answer, not an outage.
    (APPLY, BAD_OBJECT, None), (GET, Failure(status=500), None),
    # The network: nothing sent is safe to send again; a broken exchange only when idempotent.
    (CREATE, REFUSED, 0.5), (DELETE, REFUSED, 0.5),
    (GET, RESET, 0.5), (APPLY, RESET, 0.5), (PUT_WITH_VERSION, READ_TIMEOUT, 0.5),
    (CREATE, RESET, None), (DELETE, RESET, None), (CREATE, READ_TIMEOUT, None),
    (GET, TLS_REFUSED, None),
    # Answers that retrying would not change.
    (GET, Failure(status=403), None), (GET, Failure(status=404), None), (CREATE, Failure(status=409), None),
    (APPLY, Failure(status=422), None), (GET, Failure(status=401), None),
])
def test_what_is_retried_and_after_how_long(sent: Sent, failure: Failure, delay: float | None) -> None:
    decision = decide(POLICY, sent, failure, attempt=1, waited=0.0)
    assert (decision.delay if decision else None) == delay


def test_backoff_doubles_up_to_its_ceiling_and_stops_at_the_last_attempt() -> None:
    delays = [decide(POLICY, GET, UNAVAILABLE, attempt=n, waited=0.0) for n in range(1, 6)]
    assert [d.delay if d else None for d in delays] == [0.5, 1.0, 2.0, 4.0, None]
    assert decide(RetryPolicy(max_attempts=9, max_delay=4.0), GET, UNAVAILABLE, attempt=7, waited=0.0).delay == 4.0


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    assert decide(POLICY, GET, Failure(status=429, retry_after="7"), 1, 0.0).delay == 7.0
    assert decide(POLICY, GET, Failure(status=429, retry_after="3600"), 1, 0.0).delay == 10.0
    # A 503 that names a Retry-After is the server asking: its wait, not the backoff.
    assert decide(POLICY, GET, Failure(status=503, retry_after="3"), 1, 0.0).delay == 3.0


def test_the_budget_of_waiting_stops_retries_before_it_is_exceeded() -> None:
    assert decide(POLICY, GET, TOO_MANY, attempt=2, waited=18.0).delay == 2.0
    assert decide(POLICY, GET, TOO_MANY, attempt=2, waited=18.5) is None


@pytest.mark.parametrize(("header", "seconds"), [
    ("1", 1.0), (" 2 ", 2.0), ("0", 0.0), ("0.5", 0.5),
    (None, None), ("", None), ("soon", None), ("-1", None), ("nan", None), ("inf", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", None),
])
def test_retry_after_header_values(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_the_reason_a_retry_is_announced_with() -> None:
    assert decide(POLICY, GET, TOO_MANY, 1, 0.0).why == "API server asked to retry (429)"
    assert decide(POLICY, GET, UNAVAILABLE, 1, 0.0).why == "API server answered 503"
    assert decide(POLICY, GET, RESET, 1, 0.0).why == "connection reset"
    assert decide(POLICY, CREATE, REFUSED, 1, 0.0).why == "could not connect"
