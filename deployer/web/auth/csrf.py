"""CSRF tokens: one random token per session, sent back with every POST as the ``csrf_token`` form
field or the ``X-CSRF-Token`` header (for scripts), compared in constant time.

A cookie rides along with any cross-site form post; the token does not, since another site cannot
read this page. Requests that authenticate with a bearer ID token carry no ambient credential and
need no token.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs

FIELD = "csrf_token"
HEADER = "x-csrf-token"
SESSION_KEY = "csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def token_of(session: dict[str, Any]) -> str:
    """This session's token, made on first use."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = session[SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def token_in_form(body: bytes) -> str | None:
    try:
        values = parse_qs(body.decode("utf-8"), max_num_fields=100).get(FIELD)
    except (UnicodeDecodeError, ValueError):
        return None
    return values[0] if values else None


def matches(session: dict[str, Any], sent: str | None) -> bool:
    expected = session.get(SESSION_KEY)
    return (isinstance(expected, str) and bool(sent)
            and secrets.compare_digest(expected.encode(), (sent or "").encode()))
