"""The session cookie's secret and what a session holds.

The cookie itself is Starlette's SessionMiddleware: the session dict, JSON, signed (itsdangerous,
HMAC) and time-stamped, HttpOnly, SameSite=Lax, Secure when the page is served over https, and
refused by the server once older than its max age. The signed-in user is stored with the time of
sign-in, and dropped once that is older than the lifetime too, so a session that is used every
minute still ends (the cookie's own stamp is renewed on every answer).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Any

from deployer.errors import UsageError
from deployer.web.auth.policy import Identity

COOKIE = "deployer_session"
SECRET_FILE = "session-secret"
USER_KEY = "user"


def session_secret(path: Path | None, state_dir: Path | None) -> bytes:
    """The key that signs session cookies: from ``path``, else ``state_dir/session-secret``,
    created (0600, 32 random bytes) on first start so sessions survive a restart."""
    if path is None:
        if state_dir is None:
            return secrets.token_bytes(32)  # no folder to keep it in: sessions end with the process
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / SECRET_FILE
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as out:
                out.write(secrets.token_urlsafe(32) + "\n")
    try:
        mode = path.stat().st_mode
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise UsageError(f"cannot read the session secret {path}: {exc.strerror}",
                         hint="Pass --session-secret-file with a readable file, or a --state-dir this user "
                              "owns.") from None
    if stat.S_IMODE(mode) & 0o077:
        raise UsageError(f"the session secret {path} is readable by other users (mode {stat.S_IMODE(mode):o})",
                         hint=f"chmod 600 {path}: anyone who reads it can sign a session as anyone.")
    if len(secret) < 16:
        raise UsageError(f"the session secret {path} is shorter than 16 bytes",
                         hint="Fill it with random bytes, for example: head -c 32 /dev/urandom | base64 > FILE")
    return secret


def store_user(session: dict[str, Any], identity: Identity, now: float) -> None:
    """Sign in: a fresh session (nothing from before sign-in carries over, so a session planted
    before sign-in is useless after it), holding who and since when."""
    session.clear()
    session[USER_KEY] = {"email": identity.email, "groups": sorted(identity.groups), "via": identity.via,
                         "at": int(now)}


def user_of(session: dict[str, Any], lifetime: float, now: float) -> Identity | None:
    """The signed-in user, or None when nobody is or the sign-in is older than ``lifetime``."""
    user = session.get(USER_KEY)
    if not isinstance(user, dict):
        return None
    at = user.get("at")
    if not isinstance(at, int) or not (at <= now + 60 and now - at < lifetime):
        session.pop(USER_KEY, None)
        return None
    email, groups = user.get("email"), user.get("groups")
    if not isinstance(email, str) or not isinstance(groups, list):
        return None
    return Identity(email, frozenset(str(g) for g in groups), str(user.get("via") or "oidc"))
