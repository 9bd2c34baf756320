"""The page's push queues: which queue a service's deploy joins, the store over the page's
database, and what a turn sets off (the queue-turn notification, the wait-time histogram)."""

from __future__ import annotations

import datetime as dt
import sys
import threading
from typing import TYPE_CHECKING

from deployer.notify.events import Event
from deployer.observe.metrics import DeployMetrics
from deployer.web.queue.rules import Entry
from deployer.web.queue.store import QueueKey, QueueStore

if TYPE_CHECKING:
    from deployer.web.context import WebContext


def turn_event(key: QueueKey, entry: Entry, now: float) -> Event:
    """The queue-turn event: whose turn it is, where, and how long they waited."""
    return Event("queue-turn", key.queue, key.environment, "queue", entry.actor, entry.id,
                 dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds"),
                 summary=f"{entry.actor}: your turn to deploy {key.queue} to {key.environment}",
                 seconds=max(0.0, now - entry.joined), details={"queue": key.name})


class PageQueues:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.metrics = DeployMetrics()
        """The page's /metrics registry (deployer.web.routes.metrics adds the job counts at its first scrape)."""
        self.collecting = False
        self.store = QueueStore(ctx.store.engine, turn_seconds=ctx.settings.queue_turn_seconds,
                                on_turn=self._turn)

    def key(self, service: str, environment: str) -> QueueKey:
        groups = self.ctx.settings.queue_groups
        name = groups.get(service, service)
        members = sorted({s for s, g in groups.items() if g == name} | {service})
        return QueueKey(name, environment, tuple(members))

    def sweep(self) -> int:
        """Pass on every turn that is due in every queue; returns how many queues were looked at.
        Reading a queue passes its turn on, but a queue nobody watches would otherwise give the
        next person the turn (and their queue-turn notification) only when someone next looks."""
        names = self.store.queues()
        for name, environment in names:
            self.store.entries(self.key(name, environment))
        return len(names)

    def start_sweeping(self, interval: float = 1.0) -> Sweeper:
        sweeper = Sweeper(self, interval)
        sweeper.start()
        return sweeper

    def _turn(self, key: QueueKey, entry: Entry) -> None:
        event = turn_event(key, entry, self.store.clock())
        self.metrics.queue_wait.labels(key.name).observe(event.seconds or 0.0)
        try:
            from deployer.notify.sender import Notifier

            notifier = Notifier(self.ctx.load(), warn=lambda line: print(line, file=sys.stderr, flush=True))
            if notifier.configured:
                notifier(event)  # its own thread delivers (with retries): the request does not wait
        except Exception as exc:  # noqa: BLE001 -- a notification never stops the queue
            print(f"deployer web: the queue-turn notification of {key.name} failed: {type(exc).__name__}",
                  file=sys.stderr, flush=True)


class Sweeper:
    """``deployer web``'s background pass over the queues, every ``interval`` seconds until stopped."""

    def __init__(self, queues: PageQueues, interval: float) -> None:
        self.queues, self.interval = queues, interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="queue-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.queues.sweep()
            except Exception as exc:  # noqa: BLE001 -- a database hiccup waits for the next pass
                print(f"deployer web: the queues could not be swept this pass: {type(exc).__name__}",
                      file=sys.stderr, flush=True)
