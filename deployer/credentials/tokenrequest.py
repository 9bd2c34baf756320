"""On-prem: exchange the long-lived token Jenkins holds for a short-lived ServiceAccount token.

The TokenRequest API (``deployer.kube.tokens``) issues a bound, expiring token, so what deploys
carry for most of a run is a token that dies on its own within the hour. The long-lived token
only needs ``create`` on that one ``serviceaccounts/token`` subresource. This module decides when
to ask again; the request itself is the ``exchange`` it is given (``deployer.app`` wires it).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from deployer import redact
from deployer.errors import CredentialsError, DeployerError
from deployer.kube.bearer import BearerSource

TokenExchange = Callable[[BearerSource, str, str, int], tuple[str, dt.datetime]]
"""(long-lived source, namespace, service account, seconds) -> (token, expiry)."""

# Ask for a new token when less than this fraction of the lifetime is left.
REFRESH_FRACTION = 0.2


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RequestedToken:
    def __init__(self, cluster: str, long_lived: BearerSource,
                 exchange: Callable[[BearerSource], tuple[str, dt.datetime]], *, service_account: str,
                 namespace: str, seconds: int,
                 now: Callable[[], dt.datetime] = _utcnow) -> None:
        self._cluster = cluster
        self._long_lived = long_lived
        self._exchange = exchange
        self._what = f"ServiceAccount {namespace}/{service_account}"
        self._seconds = seconds
        self._now = now
        self._token: str | None = None
        self._expiry: dt.datetime | None = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"short-lived token of {self._what} (requested with the {self._long_lived.describe()})"

    def token(self) -> str:
        with self._lock:
            margin = dt.timedelta(seconds=self._seconds * REFRESH_FRACTION)
            if self._token is None or self._expiry is None or self._expiry - self._now() < margin:
                try:
                    self._token, self._expiry = self._exchange(self._long_lived)
                except CredentialsError:
                    raise
                except DeployerError as exc:
                    raise CredentialsError(f"cluster {self._cluster}: could not get a token for {self._what}: "
                                           f"{exc.message}", hint="The long-lived token needs `create` on "
                                           "serviceaccounts/token for that ServiceAccount.") from None
                redact.register(self._token)
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None
        self._long_lived.invalidate()
