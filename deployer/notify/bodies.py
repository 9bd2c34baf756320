"""The two forms a webhook receives: deployer's own JSON body (``json_body``, schema
``deployer.event/v1``, documented in docs/notifications.md) and a Slack-compatible message
(``slack_body``: ``text`` for notifications and clients without blocks, ``blocks`` for the channel).
Pure functions of the event."""

from __future__ import annotations

from typing import Any

from deployer.notify.events import SCHEMA, Event

_ICONS = {"deploy-started": ":rocket:", "deploy-succeeded": ":white_check_mark:", "deploy-failed": ":x:",
          "rollback": ":leftwards_arrow_with_hook:", "drift-found": ":warning:", "queue-turn": ":raising_hand:"}


def json_body(event: Event) -> dict[str, Any]:
    return {
        "schema": SCHEMA, "type": event.type, "time": event.time, "runId": event.run_id,
        "service": event.service, "environment": event.environment, "action": event.action,
        "actor": event.actor, "cluster": event.cluster, "commit": event.commit or None,
        "revision": event.revision, "outcome": event.outcome or None, "summary": event.summary,
        "seconds": event.seconds, "clusters": [c.to_dict() for c in event.clusters], "details": event.details,
    }


def _escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters (api.slack.com/reference/surfaces/formatting).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(event: Event) -> dict[str, Any]:
    icon = _ICONS.get(event.type, "")
    text = f"{icon} {event.summary}".strip()
    facts = [f"*{event.service}* {event.environment}", f"by {event.actor}"]
    if event.commit:
        facts.append(f"commit {event.commit[:12]}")
    if event.seconds is not None:
        facts.append(f"{event.seconds:.0f} s")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _escape(text)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _escape(" · ".join(facts))}]},
    ]
    if event.clusters:
        lines = [f"• {c.cluster}: {c.outcome}" + (f" ({c.release})" if c.release else "") for c in event.clusters]
        blocks.insert(1, {"type": "section", "text": {"type": "mrkdwn", "text": _escape("\n".join(lines))}})
    return {"text": _escape(text), "blocks": blocks}
