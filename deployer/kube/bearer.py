"""What a client needs from a credential: a bearer token, a way to drop it after a 401, and words
for messages. ``kube`` owns the protocol so that it never has to import ``credentials``; each
credential kind in ``deployer.credentials`` satisfies it, and ``deployer.app`` puts the two together.
"""

from __future__ import annotations

from typing import Protocol


class BearerSource(Protocol):
    def token(self) -> str:
        """A valid bearer token (cached; refreshed when near expiry)."""

    def invalidate(self) -> None:
        """Forget the cached token; the client calls it once after a 401, then retries once."""

    def describe(self) -> str:
        """What the token comes from, without any secret."""
