"""The per-user cache folders of deployer (``$XDG_CACHE_HOME/deployer/<kind>``, default
``~/.cache``), shared by the caches that make a repeated run cheap (rendered documents, validated
configuration files).

Every key includes ``code_stamp()``: the size and modification time of every module of deployer,
so a changed check, filter or model can never be served an entry an older one made. Entries are
written whole and renamed into place (a concurrent run reads the old entry or the new, never
half), at most ``MAX_ENTRIES`` per kind. A folder that cannot be written costs the next run the
work, nothing else.

Entries are only read from a folder this user owns that nobody else may write to, as ssh treats
``~/.ssh``: anyone who could write an entry there could make deployer believe a file or a
template says what it does not.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
from pathlib import Path

# Entries kept per kind; the oldest beyond this are removed when a new one is written.
MAX_ENTRIES = 256
_DEPLOYER_PACKAGE = Path(__file__).resolve().parent


def folder(kind: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "deployer" / kind


def private(path: Path) -> bool:
    """``path`` (a cache folder) and its parent belong to this user, and only this user may write
    to them."""
    try:
        for checked in (path, path.parent):
            status = checked.lstat()
            if (not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid()
                    or status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
                return False
    except OSError:
        return False
    return True


def read(kind: str, key: str) -> bytes | None:
    """The entry ``key`` of ``kind``, or None when there is none or the folder is not private to
    this user."""
    where = folder(kind)
    if not private(where):
        return None
    try:
        return (where / key).read_bytes()
    except OSError:
        return None


def write(kind: str, key: str, payload: bytes) -> None:
    where = folder(kind)
    temporary = where / f".{key}.{os.getpid()}.tmp"
    try:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(payload)
        os.replace(temporary, where / key)
        _prune(where)
    except OSError:
        temporary.unlink(missing_ok=True)


def _prune(where: Path) -> None:
    entries = [p for p in where.iterdir() if not p.name.startswith(".")]
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda p: p.stat().st_mtime_ns)
    for old in entries[:len(entries) - MAX_ENTRIES]:
        old.unlink(missing_ok=True)


@functools.cache
def code_stamp() -> str:
    # Size and mtime of every module of deployer: a changed filter, check or model property is a
    # new key. About 200 stat calls, a millisecond; once per process.
    stamps = []
    for path in sorted(_DEPLOYER_PACKAGE.rglob("*.py")):
        status = path.stat()
        stamps.append(f"{path.relative_to(_DEPLOYER_PACKAGE)}:{status.st_size}:{status.st_mtime_ns}")
    return hashlib.sha256("\n".join(stamps).encode()).hexdigest()
