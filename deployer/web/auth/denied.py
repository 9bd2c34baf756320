"""The refusal ``authorize`` raises: the page's ``Refused``, with the HTTP status that says whether
signing in could help (401) or not (403)."""

from __future__ import annotations

from deployer.web.context import Refused


class AccessDenied(Refused):
    """Nobody is signed in (``signed_in`` False: 401), or the signed-in user is not in a group the
    service file names for that action, or the sign-in could not be trusted (403)."""

    def __init__(self, message: str, *, hint: str | None = None, signed_in: bool = True) -> None:
        super().__init__(message, hint=hint)
        self.signed_in = signed_in

    @property
    def http_status(self) -> int:
        return 403 if self.signed_in else 401
