"""Who may deploy, promote and roll back each environment (deployer.web.auth.policy), as a table."""

from __future__ import annotations

import pytest

from deployer.config.models import Service
from deployer.web.auth.policy import Identity, decide

BASE = {"name": "pay", "namespace": "payments", "image": {"name": "pay", "context": "."}}


def service(access: dict | None = None, **environments: dict) -> Service:
    data = {**BASE, "environments": environments or {"staging": {"clusters": ["a"]},
                                                      "production": {"clusters": ["b"]}}}
    if access is not None:
        data["access"] = access
    return Service.model_validate(data)


ALICE = Identity("alice@example.com", frozenset({"payments-oncall", "staff"}), "oidc")
BOB = Identity("bob@example.com", frozenset({"staff"}), "oidc")
ONCALL = {"deploy": ["payments-oncall"], "promote": ["payments-oncall"], "rollback": ["payments-oncall", "sre"]}

CASES = [
    # (who, service, environment, action, cluster environments, allowed, words in the reason or hint)
    ("anonymous check", None, service(), "staging", "check", (), False, "signed-in"),
    ("check needs no group", BOB, service(), "production", "check", (), True, "dry run"),
    ("open staging", BOB, service(), "staging", "deploy", (), True, "every signed-in"),
    ("production names no group", ALICE, service(), "production", "deploy", (), False,
     "environments.production.access.deploy"),
    ("prod is production too", ALICE, service(prod={"clusters": ["b"]}), "prod", "rollback", (), False,
     "refused to everyone"),
    ("a production cluster restricts any name", BOB, service(live={"clusters": ["b"]}), "live", "deploy",
     ("production",), False, "refused to everyone"),
    ("restricted: true", BOB, service(qa={"clusters": ["a"], "access": {"restricted": True}}), "qa", "deploy", (),
     False, "refused to everyone"),
    ("member of the service-wide group", ALICE, service(ONCALL), "production", "deploy", (), True,
     "payments-oncall"),
    ("non-member", BOB, service(ONCALL), "production", "promote", (), False, "membership of payments-oncall"),
    ("groups apply to staging too", BOB, service(ONCALL), "staging", "deploy", (), False, "payments-oncall"),
    ("environment overrides the service per action", BOB,
     service(ONCALL, staging={"clusters": ["a"], "access": {"deploy": ["staff"]}}, production={"clusters": ["b"]}),
     "staging", "deploy", (), True, "staff"),
    ("the override is per action: rollback still the service's", BOB,
     service(ONCALL, staging={"clusters": ["a"], "access": {"deploy": ["staff"]}}, production={"clusters": ["b"]}),
     "staging", "rollback", (), False, "payments-oncall, sre"),
    ("an empty list allows no one", ALICE,
     service(ONCALL, production={"clusters": ["b"], "access": {"deploy": []}}), "production", "deploy", (), False,
     "membership of no group"),
    ("unknown environment", ALICE, service(ONCALL), "qa", "deploy", (), False, "no environment qa"),
    ("unknown action", ALICE, service(ONCALL), "staging", "delete", (), False, "unknown action"),
]


@pytest.mark.parametrize("who, svc, environment, action, clusters, allowed, words", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_policy_table(who, svc, environment, action, clusters, allowed, words) -> None:
    decision = decide(who, svc, environment, action, clusters)
    assert decision.allowed is allowed, decision
    assert words in decision.reason + " " + decision.hint, decision


def test_identity_is_recorded_as_web_email() -> None:
    assert ALICE.actor == "web:alice@example.com"
