"""Last-line defence against leaking secrets: every secret deployer reads is registered here, and
text leaving the process through the CLI's error edge, logs and reports is scrubbed of them.

The first line of defence is never putting a secret into a message at all; this catches what a
third-party library might echo back (a response body, a header dump).
"""

from __future__ import annotations

import re
import threading

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "[redacted]"

# Shapes worth masking even when we did not read them ourselves.
_SHAPES = [
    re.compile(r"(?i)(authorization:\s*bearer\s+)\S+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{16,}"),
    re.compile(r"()ya29\.[A-Za-z0-9_-]{10,}"),
    re.compile(r"()-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
]


def register(secret: str | None) -> None:
    """Remember a secret value so ``scrub`` masks it. Short values are ignored (too many false hits)."""
    if secret and len(secret) >= 8:
        with _lock:
            _secrets.add(secret)


def scrub(text: str) -> str:
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    for shape in _SHAPES:
        text = shape.sub(lambda m: m.group(1) + MASK, text)
    return text
