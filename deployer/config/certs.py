"""Whether a cluster file's CA bundle can verify anything, checked when the files are loaded.

A CA path that is a folder, a file that cannot be read, or text that holds no PEM certificate is
then a problem with a file, line and field at ``deployer validate``, instead of a TLS failure at
the first request of a sync (or, before this check, an internal error). The bundle is loaded the
way the client will load it (OpenSSL, through ``ssl``), so what passes here is what the client
accepts. A bundle that loads but names the wrong CA can only be found by connecting: the client
says so then, naming ``ca``.
"""

from __future__ import annotations

import ssl
from pathlib import Path

MAX_BUNDLE_BYTES = 4 * 1024 * 1024


def problem_of_file(path: Path) -> str | None:
    """What is wrong with the CA bundle at ``path``, or None when OpenSSL can load it."""
    if not path.exists():
        return f"no such file: {path}"
    if not path.is_file():
        return f"{path} is not a file (a CA bundle is one PEM file)"
    try:
        with path.open("rb") as file:
            data = file.read(MAX_BUNDLE_BYTES + 1)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if len(data) > MAX_BUNDLE_BYTES:
        return f"{path} is over {MAX_BUNDLE_BYTES} bytes: not a CA bundle (all of Mozilla's roots are about 0.2 MB)"
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return f"{path} is not a PEM file (it is binary; a DER certificate must be converted to PEM)"
    problem = problem_of_text(text)
    return f"{path}: {problem}" if problem else None


def problem_of_text(text: str) -> str | None:
    """What is wrong with a PEM bundle's text, or None when OpenSSL can load it."""
    if "-----BEGIN CERTIFICATE-----" not in text:
        return "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=text)
    except (ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        return f"holds a certificate OpenSSL cannot load ({str(reason).split(' (_ssl.c')[0]})"
    return None
