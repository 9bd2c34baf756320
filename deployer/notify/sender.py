"""The background sender: events become HTTP POSTs on worker threads, one per webhook, so a slow
or failing receiver never blocks or slows a deploy, and one slow receiver never delays another.

- ``Notifier.__call__`` (an ``Events`` subscriber) only puts the delivery on the webhook's bounded
  queue; a full queue drops the event with a warning rather than wait.
- A delivery answered with a 5xx or 429, or not answered at all (refused, timed out), is retried
  with exponential backoff (``RetryPolicy.delays``); any other 4xx is not (the receiver refuses
  that body; sending it again would not change its mind).
- ``flush`` waits, bounded, for the queues to drain at the end of a run, then gives up on what is
  left and says how many events were not delivered.
- The URL is read (from the file, the environment variable or ``url``) on the worker, registered
  with ``deployer.redact`` and never put in a message: warnings name the webhook by ``label_of``.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deployer.config.loader import Config
from deployer.config.models import Webhook
from deployer.notify.bodies import json_body, slack_body
from deployer.notify.events import Event
from deployer.notify.routing import Route, hears, is_repeat, repeat_key, routes
from deployer.redact import register, scrub

USER_AGENT = "deployer-notify/1"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    first_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0
    timeout: float = 5.0
    """Seconds one POST may take (connect and answer) before it counts as failed."""

    def delays(self) -> list[float]:
        """The waits before the second, third, ... attempt: 0.5, 1, 2, 4, 8 s by default."""
        return [min(self.first_delay * self.factor ** n, self.max_delay) for n in range(self.attempts - 1)]


class PermanentFailure(Exception):
    """The receiver refused the body (a 4xx other than 429): retrying would not help."""


class TransientFailure(Exception):
    """No answer, or a 5xx/429: worth another try after a pause."""


Post = Callable[[str, bytes, float], None]


def post(url: str, body: bytes, timeout: float) -> None:
    """POST ``body`` as JSON; raise ``TransientFailure``/``PermanentFailure`` with a message that
    names no URL (urllib's own messages name only the status or the socket error)."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise TransientFailure(f"HTTP {exc.code}") from None
        raise PermanentFailure(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out, DNS
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise TransientFailure(f"no answer ({type(reason).__name__}: {reason})") from None


def webhook_url(hook: Webhook, config: Config) -> str:
    """The webhook's URL, registered as a secret. Raises ``PermanentFailure`` naming where it was
    looked for when it is not there."""
    if hook.url_env:
        url = os.environ.get(hook.url_env, "").strip()
        if not url:
            raise PermanentFailure(f"${hook.url_env} is not set")
    elif hook.url_file:
        path = config.resolve(hook.url_file)
        try:
            url = Path(path).read_text().strip()
        except OSError as exc:
            raise PermanentFailure(f"cannot read {path}: {exc.strerror}") from None
    else:
        url = hook.url or ""
    register(url)
    return url


@dataclass(frozen=True)
class Delivery:
    event: Event
    body: bytes


class _Lane:
    """One webhook's queue and worker thread."""

    def __init__(self, route: Route, notifier: Notifier, size: int) -> None:
        self.route = route
        self.notifier = notifier
        self.queue: queue.Queue[Delivery] = queue.Queue(maxsize=size)
        self.pending = 0
        self.done = threading.Condition()
        self.thread = threading.Thread(target=self._work, name=f"notify {route.label}", daemon=True)
        self.thread.start()

    def offer(self, delivery: Delivery) -> bool:
        with self.done:
            try:
                self.queue.put_nowait(delivery)
            except queue.Full:
                return False
            self.pending += 1
            return True

    def _work(self) -> None:
        while True:
            delivery = self.queue.get()
            try:
                self.notifier._deliver(self.route, delivery)
            finally:
                with self.done:
                    self.pending -= 1
                    self.done.notify_all()

    def wait_idle(self, seconds: float) -> int:
        """Wait up to ``seconds`` for the queue to drain; the number of events still pending."""
        with self.done:
            self.done.wait_for(lambda: self.pending == 0, timeout=max(seconds, 0.0))
            return self.pending


class Notifier:
    """An ``Events`` subscriber that sends each event to the webhooks that hear it."""

    def __init__(self, config: Config, *, warn: Callable[[str], None], policy: RetryPolicy | None = None,
                 queue_size: int = 256, send: Post = post, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.policy = policy or RetryPolicy()
        self._warn = warn
        self._send = send
        self._clock = clock
        self._queue_size = queue_size
        self._routes = routes(config)
        self._lanes: dict[int, _Lane] = {}
        self._last_sent: dict[str, float] = {}
        self._lock = threading.Lock()
        self._giving_up = threading.Event()
        """Set when a flush's wait is over: workers stop retrying and drop what is left."""

    @property
    def configured(self) -> bool:
        return bool(self._routes)

    def __call__(self, event: Event) -> None:
        heard = [(i, route) for i, route in enumerate(self._routes) if hears(route, event, self.config)]
        if not heard:
            return
        key = repeat_key(event)
        with self._lock:
            if is_repeat(key, self._last_sent, self._clock()):
                return
            if key is not None:
                self._last_sent[key] = self._clock()
        for i, route in heard:
            form = slack_body(event) if route.hook.format == "slack" else json_body(event)
            delivery = Delivery(event, json.dumps(form).encode())
            with self._lock:
                lane = self._lanes.get(i)
                if lane is None:
                    lane = self._lanes[i] = _Lane(route, self, self._queue_size)
            if not lane.offer(delivery):
                self._warn(f"{route.label}: {self._queue_size} events are already waiting to be sent; "
                           f"dropped the {event.type} event of {event.service}")

    def _deliver(self, route: Route, delivery: Delivery) -> None:
        if self._giving_up.is_set():
            return
        event = f"the {delivery.event.type} event of {delivery.event.service}"
        what = f"{event} to {route.label}"
        try:
            url = webhook_url(route.hook, self.config)
        except PermanentFailure as exc:
            self._warn(scrub(f"could not send {what} ({route.declared_in}): {exc}"))
            return
        delays = self.policy.delays()
        for attempt in range(self.policy.attempts):
            try:
                self._send(url, delivery.body, self.policy.timeout)
                return
            except PermanentFailure as exc:
                self._warn(scrub(f"{route.label} refused {event}: {exc}; not retried"))
                return
            except TransientFailure as exc:
                if attempt == len(delays):
                    self._warn(scrub(f"could not send {what} after {self.policy.attempts} attempts: {exc}"))
                    return
                # The wait ends early when a flush gives up: the run is ending.
                if self._giving_up.wait(delays[attempt]):
                    return

    def flush(self, seconds: float) -> int:
        """Wait up to ``seconds`` in all for every queued event to be delivered (or given up on);
        then stop retrying. The number of events left undelivered, with a warning when any."""
        deadline = self._clock() + seconds
        with self._lock:
            lanes = list(self._lanes.values())
        left = sum(lane.wait_idle(deadline - self._clock()) for lane in lanes)
        self._giving_up.set()
        if left:
            self._warn(f"{left} notification(s) not delivered within {seconds:g}s at the end of the run; "
                       "given up (the receivers' errors are above)")
        return left
