"""Which webhooks hear an event, how a webhook is named in messages, and which drift reports are
repeats. Pure: the URL itself is read only by the sender, and never shown."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from deployer.config.loader import Config
from deployer.config.models import Webhook
from deployer.notify.events import Event


@dataclass(frozen=True)
class Route:
    hook: Webhook
    label: str
    """How messages name it: its name, or where its URL comes from; never the URL's path."""
    declared_in: str
    """deployer.yaml, or services/NAME.yaml."""


def label_of(hook: Webhook) -> str:
    if hook.name:
        return f"webhook {hook.name!r}"
    if hook.url_env:
        return f"the webhook in ${hook.url_env}"
    if hook.url_file:
        return f"the webhook in file {hook.url_file}"
    parts = urlsplit(hook.url or "")
    # The path and query of a webhook URL often carry its token (Slack's do): only the host shows.
    return f"the webhook at {parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def routes(config: Config) -> list[Route]:
    """Every declared webhook: deployer.yaml's, then each service's."""
    found = [Route(hook, label_of(hook), "deployer.yaml") for hook in config.settings.notifications]
    for name in sorted(config.services):
        found += [Route(hook, label_of(hook), f"services/{name}.yaml")
                  for hook in config.services[name].notifications]
    return found


def hears(route: Route, event: Event, config: Config) -> bool:
    """A service's own webhooks hear only that service; deployer.yaml's hear every service. Each
    hears only its ``events`` and, when it names some, its ``environments``."""
    if route.declared_in != "deployer.yaml" and route.declared_in != f"services/{event.service}.yaml":
        return False
    if event.type not in route.hook.events:
        return False
    return not route.hook.environments or event.environment in route.hook.environments


def repeat_key(event: Event) -> str | None:
    """Drift is reported each time status reads it (the page reads it on every view): the same
    findings on the same release are one notification, not one per read. Other events are never
    repeats."""
    if event.type != "drift-found":
        return None
    return json.dumps([event.service, event.environment, event.cluster, event.revision,
                       event.details.get("findings")], sort_keys=True, default=str)


REPEAT_SECONDS = 3600.0
"""How long the same drift stays one notification in a long-running process (the page)."""


def is_repeat(key: str | None, last_sent: dict[str, float], now: float, window: float = REPEAT_SECONDS) -> bool:
    if key is None:
        return False
    sent = last_sent.get(key)
    return sent is not None and now - sent < window
