"""One ``App`` for the web process's page reads, so every page load reuses one client per cluster
instead of opening new ones (the old overview opened clients on every load and never closed them).

The ``App`` is rebuilt when the configuration folder changes (a cluster or service file edited,
added or removed: pages show edits without a restart, as before), and the replaced one is closed
once the last request using it finishes. ``close`` (the server's shutdown) closes the current one.
Jobs do not use it: each job builds its own ``App`` in its worker, with its own stop and progress.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from deployer.app import App
from deployer.config.loader import Config

Fingerprint = tuple[tuple[str, int, int], ...]
WATCHED = ("clusters", "services")
"""The folders whose files decide what the pages read (the chart templates do not)."""


def fingerprint(config_dir: Path) -> Fingerprint:
    """(path, size, mtime) of every file the configuration is loaded from: any edit changes it."""
    found = []
    for name in WATCHED:
        for root, _dirs, files in os.walk(config_dir / name, followlinks=True):
            for file in files:
                path = Path(root) / file
                try:
                    stat = path.stat()
                except OSError:  # removed while walking: the next request sees the folder settled
                    continue
                found.append((str(path.relative_to(config_dir)), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(found))


@dataclass
class _Entry:
    app: App
    fingerprint: Fingerprint
    users: int = 0
    retired: bool = False


class SharedApp:
    def __init__(self, config_dir: Path, *, load: Callable[[Path], Config] | None = None,
                 make: Callable[[Config], App] = App) -> None:
        from deployer.config.loader import load_config

        self.config_dir = config_dir
        self._load = load or load_config
        self._make = make
        self._current: _Entry | None = None
        self._closed = False
        self._lock = threading.Lock()

    @contextmanager
    def use(self) -> Iterator[App]:
        """The App for the folder as it is now; a folder that no longer loads raises its error
        (``ConfigError``, naming file and line) and keeps the previous App for when it is fixed."""
        seen = fingerprint(self.config_dir)
        retired = None
        with self._lock:
            if self._closed:
                raise RuntimeError("the web process is shutting down")
            if self._current is None or self._current.fingerprint != seen:
                fresh = _Entry(self._make(self._load(self.config_dir)), seen)
                retired, self._current = self._current, fresh
                if retired is not None:
                    retired.retired = True
                    retired = retired if retired.users == 0 else None
            entry = self._current
            entry.users += 1
        if retired is not None:
            retired.app.close()
        try:
            yield entry.app
        finally:
            with self._lock:
                entry.users -= 1
                done = entry.retired and entry.users == 0
            if done:
                entry.app.close()

    def close(self) -> None:
        """Close the current App (the server's shutdown); requests still running close theirs as they end."""
        with self._lock:
            self._closed = True
            entry, self._current = self._current, None
            if entry is not None:
                entry.retired = True
                idle = entry.users == 0
        if entry is not None and idle:
            entry.app.close()
