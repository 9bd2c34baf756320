"""What a run tells the world: one ``Event`` per thing worth hearing about, and the ``Events``
publisher the stories call (through ``App.events``), which hands each event to its subscribers
(the webhook notifier, the metrics). Pure data and a fan-out: no I/O here.

A subscriber never breaks a deploy: ``Events.publish`` catches what a subscriber raises and
reports it through ``warn``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

EventType = Literal["deploy-started", "deploy-succeeded", "deploy-failed", "rollback", "drift-found", "queue-turn"]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
"""Every event type, in the order a run can publish them. ``queue-turn`` is defined for the page's
push queue and published by it."""

SCHEMA = "deployer.event/v1"
"""The version of the JSON body (docs/notifications.md). A field is only ever added within v1."""


@dataclass(frozen=True)
class ClusterResult:
    """How one cluster ended a run (the run's report, reduced to what a listener needs)."""

    cluster: str
    outcome: str
    """succeeded, unchanged, failed, rolled-back or skipped (the report's outcome)."""
    revision: int | None = None
    release: str = ""
    """Which release it is on, in words: "back on r1's release as r3 (r2 failed)"."""
    lock_wait_seconds: float | None = None
    """How long this run waited for the cluster's deploy lock (None: it never took it)."""

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "outcome": self.outcome, "revision": self.revision,
                "release": self.release, "lockWaitSeconds": self.lock_wait_seconds}


@dataclass(frozen=True)
class Event:
    type: EventType
    service: str
    environment: str
    action: str
    """The story that published it: deploy, promote, rollback, status (or the page's queue)."""
    actor: str
    run_id: str
    time: str
    """ISO 8601, UTC, from the run's clock."""
    cluster: str | None = None
    """The cluster a per-cluster event (rollback, drift-found) is about; None for the whole run."""
    commit: str = ""
    revision: int | None = None
    outcome: str = ""
    summary: str = ""
    """One line for people: what happened to which thing."""
    clusters: tuple[ClusterResult, ...] = ()
    seconds: float | None = None
    """How long the run took, on its end event."""
    details: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]


def _ignore(message: str) -> None:
    pass


class Events:
    """The publisher the stories call. Subscribers run on the publishing thread, so each must be
    quick (the notifier only queues; the metrics only count)."""

    def __init__(self, subscribers: list[Subscriber] | None = None, warn: Callable[[str], None] = _ignore) -> None:
        self._subscribers = list(subscribers or [])
        self._warn = warn
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)

    def publish(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception as exc:  # noqa: BLE001 -- a listener's bug must never fail or stop a deploy
                self._warn(f"a listener of {event.type} events failed: {type(exc).__name__}: {exc}")
