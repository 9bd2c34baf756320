"""google-auth's transport interface (``google.auth.transport.Request``) over deployer's stdlib
HTTP client: how a key becomes a token (and how impersonation and the metadata server are asked).

google-auth ships transports for requests and urllib3; importing either cost a GKE run 40 ms to
0.1 s for the one POST to the token endpoint (issue 13). This one keeps google-auth's contract:
``status``, ``headers`` and ``data`` on the answer, and ``TransportError`` for anything that got
no answer, which google-auth turns into its own messages and retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import google.auth.exceptions
import google.auth.transport

from deployer import httpclient

DEFAULT_TIMEOUT = 30.0


class _Response(google.auth.transport.Response):
    def __init__(self, answer: httpclient.Answer) -> None:
        self._answer = answer

    @property
    def status(self) -> int:
        return self._answer.status

    @property
    def headers(self) -> Mapping[str, str]:
        return dict(self._answer.headers.items())

    @property
    def data(self) -> bytes:
        return self._answer.data


class _Request(google.auth.transport.Request):
    def __call__(self, url: str, method: str = "GET", body: bytes | str | None = None,
                 headers: Mapping[str, str] | None = None, timeout: float | None = None, **_kwargs: Any) -> _Response:
        payload = body.encode() if isinstance(body, str) else body
        try:
            answer = httpclient.request_once(url, method=method, headers=list((headers or {}).items()), body=payload,
                                             timeout=timeout or DEFAULT_TIMEOUT)
        except (httpclient.NoAnswer, ValueError) as exc:
            raise google.auth.exceptions.TransportError(exc) from exc  # type: ignore[no-untyped-call]
        return _Response(answer)


def transport() -> google.auth.transport.Request:
    """A google-auth transport: each request on a connection of its own (a run asks for one token
    per credential, refreshed at most once)."""
    return _Request()
