from __future__ import annotations

import datetime as dt

import pytest

from deployer.credentials.static import StaticToken
from deployer.credentials.tokenrequest import RequestedToken
from deployer.errors import CredentialsError, ForbiddenError

T0 = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def make(monkeypatch, answers, clock):
    monkeypatch.setenv("LONG_LIVED", "long-lived-token-value")
    calls = []

    def exchange(source: StaticToken):
        calls.append(source.token())
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    token = RequestedToken("dc1", StaticToken("dc1", env="LONG_LIVED"), exchange, service_account="robot",
                           namespace="ci", seconds=600, now=lambda: clock[0])
    return token, calls


def test_refreshes_when_most_of_the_lifetime_is_gone(monkeypatch) -> None:
    clock = [T0]
    token, calls = make(monkeypatch, [("short-1", T0 + dt.timedelta(seconds=600)),
                                      ("short-2", T0 + dt.timedelta(seconds=1200))], clock)
    assert token.token() == "short-1"
    clock[0] = T0 + dt.timedelta(seconds=400)  # 200 s left: more than 20 % of 600
    assert token.token() == "short-1"
    clock[0] = T0 + dt.timedelta(seconds=500)  # 100 s left: refresh
    assert token.token() == "short-2"
    assert calls == ["long-lived-token-value", "long-lived-token-value"]


def test_a_refused_exchange_is_a_credentials_error(monkeypatch) -> None:
    token, _ = make(monkeypatch, [ForbiddenError("cluster dc1: forbidden")], [T0])
    with pytest.raises(CredentialsError, match="could not get a token for ServiceAccount ci/robot"):
        token.token()


def test_invalidate_asks_again(monkeypatch) -> None:
    clock = [T0]
    token, calls = make(monkeypatch, [("short-1", T0 + dt.timedelta(hours=1)), ("short-2", T0 + dt.timedelta(hours=1))],
                        clock)
    assert token.token() == "short-1"
    token.invalidate()
    assert token.token() == "short-2"
    assert "environment variable LONG_LIVED" in token.describe()
    assert "long-lived-token-value" not in token.describe() + repr(token)
