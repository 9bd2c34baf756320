"""The client's retry loop with its sleep injected: a port nothing listens on refuses every
connection, so each verb is retried (nothing was sent) within the policy's attempts, each retry
announced, and the waits are the policy's backoff, taken through the injected sleep (no real wait)."""

from __future__ import annotations

import socket

import pytest

from deployer.errors import UnreachableError
from deployer.kube.client import ClientOptions, Endpoint, KubeClient
from deployer.kube.retry import RetryPolicy


class FixedToken:
    def __init__(self) -> None:
        self.invalidated = 0

    def token(self) -> str:
        return "not-a-real-token"

    def invalidate(self) -> None:
        self.invalidated += 1

    def describe(self) -> str:
        return "a fixed test token"


def dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_refused_connections_are_retried_with_backoff_through_the_injected_sleep(method: str) -> None:
    slept: list[float] = []
    said: list[str] = []
    client = KubeClient(Endpoint("c1", f"https://127.0.0.1:{dead_port()}"), FixedToken(),
                        ClientOptions(connect_timeout=1.0, retry_policy=RetryPolicy(max_attempts=4)),
                        sleep=slept.append, on_retry=said.append)
    try:
        with pytest.raises(UnreachableError, match="cluster c1: cannot reach the API server") as caught:
            client.request(method, "/api/v1/namespaces", what="list namespaces",
                           body={"kind": "Namespace"} if method == "POST" else None)
    finally:
        client.close()
    assert slept == [0.5, 1.0, 2.0]
    assert said == [f"could not connect during list namespaces, retrying in {d:.1f} s ({n}/4)"
                    for d, n in ((0.5, 2), (1.0, 3), (2.0, 4))]
    assert "not-a-real-token" not in caught.value.message
