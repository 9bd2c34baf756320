"""Notifications: which webhook hears what, the two body forms, and the background sender against
a real HTTP receiver (tests/receiver.py): retried with backoff, never blocking the publisher, a
bounded flush, and no webhook URL in any message."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from deployer.config.loader import load_config
from deployer.errors import ConfigError
from deployer.notify.bodies import json_body, slack_body
from deployer.notify.events import EVENT_TYPES, ClusterResult, Event, Events
from deployer.notify.routing import is_repeat, label_of, repeat_key
from deployer.notify.sender import Notifier, RetryPolicy
from tests.receiver import receiving

REPO = Path(__file__).resolve().parents[2]


def config_with(tmp_path: Path, settings: dict | None = None, hooks: dict[str, list[dict]] | None = None):
    """The repository's clusters, two services (hello, other) and an optional deployer.yaml."""
    (tmp_path / "charts").symlink_to(REPO / "charts")
    (tmp_path / "clusters").symlink_to(REPO / "clusters")
    (tmp_path / "services").mkdir()
    base = yaml.safe_load((REPO / "services" / "hello.yaml").read_text())
    for name in ("hello", "other"):
        spec = dict(base, name=name, notifications=(hooks or {}).get(name, []))
        spec.pop("image", None)
        spec["manifests"] = "m"
        (tmp_path / "services" / "m").mkdir(exist_ok=True)
        (tmp_path / "services" / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    if settings is not None:
        (tmp_path / "deployer.yaml").write_text(yaml.safe_dump(settings))
    return load_config(tmp_path)


def event(type_: str = "deploy-succeeded", service: str = "hello", environment: str = "staging", **kw) -> Event:
    kw.setdefault("summary", f"{service} {type_}")
    return Event(type_, service, environment, "deploy", "alice@laptop", "run1",  # type: ignore[arg-type]
                 "2026-11-29T10:00:00+00:00", **kw)


def test_the_json_body_is_versioned_and_the_slack_form_has_text_and_blocks() -> None:
    e = event("deploy-failed", commit="abc123def4567890", seconds=42.0, outcome="failed",
              clusters=(ClusterResult("gke-prod", "rolled-back", 3, "back on r1's release as r3", 0.25),))
    body = json_body(e)
    assert body["schema"] == "deployer.event/v1" and body["type"] == "deploy-failed"
    assert body["clusters"] == [{"cluster": "gke-prod", "outcome": "rolled-back", "revision": 3,
                                 "release": "back on r1's release as r3", "lockWaitSeconds": 0.25}]
    assert body["commit"] == "abc123def4567890" and body["seconds"] == 42.0
    slack = slack_body(e)
    assert slack["text"] == ":x: hello deploy-failed"
    texts = [b["text"]["text"] for b in slack["blocks"] if b["type"] == "section"]
    assert "gke-prod: rolled-back (back on r1's release as r3)" in texts[1]
    context = slack["blocks"][-1]["elements"][0]["text"]
    assert "commit abc123def456" in context and "42 s" in context
    # mrkdwn control characters are escaped: a summary cannot inject a link
    assert slack_body(event(summary="<http://x|click>"))["text"].endswith("&lt;http://x|click&gt;")


def test_webhooks_hear_their_service_their_events_and_their_environments(tmp_path: Path) -> None:
    config = config_with(tmp_path, settings={"notifications": [{"url": "http://127.0.0.1:9/all", "name": "all"}]},
                         hooks={"hello": [{"url": "http://127.0.0.1:9/hello", "events": ["deploy-failed"],
                                           "environments": ["production"], "format": "slack"}]})
    from deployer.notify.routing import hears, routes

    found = routes(config)
    assert [(r.declared_in, r.hook.format) for r in found] == [("deployer.yaml", "json"),
                                                               ("services/hello.yaml", "slack")]
    everything, hello = found
    assert everything.hook.events == list(EVENT_TYPES)
    assert hears(everything, event(service="other"), config)
    assert hears(hello, event("deploy-failed", environment="production"), config)
    assert not hears(hello, event("deploy-failed", environment="staging"), config)
    assert not hears(hello, event("deploy-succeeded", environment="production"), config)
    assert not hears(hello, event("deploy-failed", service="other", environment="production"), config)


def test_a_slack_url_in_a_file_is_refused_naming_file_line_and_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        config_with(tmp_path, settings={"notifications": [
            {"url": "https://hooks.slack.com/services/T000/B000/XXXXXXXX"}]})
    problem = refused.value.problems[0]
    assert (problem.file, problem.line, problem.field) == ("deployer.yaml", 2, "notifications[0].url")
    assert "Slack webhook URL" in problem.message and "XXXXXXXX" not in problem.message
    assert refused.value.exit_code == 3


def test_a_webhook_needs_exactly_one_url_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        config_with(tmp_path, hooks={"hello": [{"urlEnv": "A", "url": "http://x/y"}]})
    problem = refused.value.problems[0]
    assert problem.file.endswith("services/hello.yaml") and problem.field == "notifications[0]"
    assert "exactly one of url or urlEnv or urlFile" in problem.message


def test_labels_never_show_the_path_of_a_url() -> None:
    from deployer.config.models import Webhook

    assert label_of(Webhook(url="https://chat.example.com:8443/hooks/T0KEN")) == \
        "the webhook at https://chat.example.com:8443"
    assert label_of(Webhook(url_env="SLACK_URL")) == "the webhook in $SLACK_URL"
    assert label_of(Webhook(url_env="SLACK_URL", name="team")) == "webhook 'team'"


def test_the_same_drift_is_one_notification_per_window() -> None:
    drift = event("drift-found", cluster="gke", revision=4, details={"findings": [{"object": "Deployment a"}]})
    key = repeat_key(drift)
    assert repeat_key(event()) is None
    assert not is_repeat(key, {}, 100.0)
    assert is_repeat(key, {key: 100.0}, 100.0 + 3599)
    assert not is_repeat(key, {key: 100.0}, 100.0 + 3601)
    other = event("drift-found", cluster="gke", revision=5, details=drift.details)
    assert repeat_key(other) != key


def test_a_receiver_answering_500_is_retried_with_growing_pauses(tmp_path: Path) -> None:
    warnings: list[str] = []
    with receiving(answers=[500, 500, 503, 200]) as receiver:
        config = config_with(tmp_path, hooks={"hello": [{"url": receiver.url}]})
        notifier = Notifier(config, warn=warnings.append, policy=RetryPolicy(first_delay=0.1, factor=2.0))
        notifier(event())
        assert notifier.flush(10.0) == 0
        times = [r.at for r in receiver.received]
    assert len(times) == 4 and receiver.bodies()[0] == receiver.bodies()[3]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # 0.1, 0.2, 0.4 s of backoff (each plus the request's own time, a few ms)
    assert 0.1 <= gaps[0] < 0.2 <= gaps[1] < 0.4 <= gaps[2] < 0.8, gaps
    assert warnings == []


def test_a_refusing_receiver_is_not_retried_and_the_warning_hides_the_url(tmp_path: Path) -> None:
    warnings: list[str] = []
    with receiving(answers=[404]) as receiver:
        config = config_with(tmp_path, hooks={"hello": [{"url": receiver.url}]})
        notifier = Notifier(config, warn=warnings.append, policy=RetryPolicy(first_delay=0.05))
        notifier(event())
        notifier.flush(5.0)
    assert len(receiver.received) == 1
    assert warnings == [f"the webhook at http://127.0.0.1:{receiver.url.split(':')[2].split('/')[0]} refused "
                        "the deploy-succeeded event of hello: HTTP 404; not retried"]


def test_publishing_never_waits_for_a_hanging_receiver_and_the_flush_is_bounded(tmp_path: Path) -> None:
    warnings: list[str] = []
    with receiving(delay=10.0) as receiver:
        config = config_with(tmp_path, hooks={"hello": [{"urlEnv": "HOOK_URL_FOR_TEST"}]})
        import os

        os.environ["HOOK_URL_FOR_TEST"] = receiver.url
        try:
            notifier = Notifier(config, warn=warnings.append, policy=RetryPolicy(timeout=8.0))
            events = Events([notifier])
            started = time.monotonic()
            for _ in range(20):
                events.publish(event())
            published = time.monotonic() - started
            flushed_from = time.monotonic()
            left = notifier.flush(0.5)
            flushing = time.monotonic() - flushed_from
        finally:
            del os.environ["HOOK_URL_FOR_TEST"]
    assert published < 0.05, f"20 publishes took {published:.3f}s"
    assert 0.5 <= flushing < 1.0 and left == 20
    assert warnings == ["20 notification(s) not delivered within 0.5s at the end of the run; given up (the "
                        "receivers' errors are above)"]
    assert all("T0KEN" not in w for w in warnings)


def test_a_full_queue_drops_with_a_warning_instead_of_waiting(tmp_path: Path) -> None:
    warnings: list[str] = []
    with receiving(delay=10.0) as receiver:
        config = config_with(tmp_path, settings={"notifications": [{"url": receiver.url, "name": "ops"}]})
        notifier = Notifier(config, warn=warnings.append, queue_size=2)
        for _ in range(4):  # one is taken by the worker (hanging), two wait, the fourth finds the queue full
            notifier(event())
        notifier.flush(0.1)
    assert any("webhook 'ops': 2 events are already waiting to be sent; dropped the deploy-succeeded event of hello"
               in w for w in warnings), warnings


def test_a_listener_that_raises_never_reaches_the_publisher() -> None:
    warnings: list[str] = []

    def broken(e: Event) -> None:
        raise RuntimeError("bug")

    heard: list[str] = []
    Events([broken, lambda e: heard.append(e.type)], warn=warnings.append).publish(event())
    assert heard == ["deploy-succeeded"]
    assert warnings == ["a listener of deploy-succeeded events failed: RuntimeError: bug"]


def test_the_schema_of_deployer_yaml_lists_the_webhook_fields() -> None:
    from deployer.config.schema import json_schemas

    settings = json_schemas()["settings"]
    assert settings["title"] == "deployer.yaml" and settings["additionalProperties"] is False
    webhook = settings["$defs"]["Webhook"]["properties"]
    assert {"url", "urlEnv", "urlFile", "format", "events", "environments", "name"} <= set(webhook)
