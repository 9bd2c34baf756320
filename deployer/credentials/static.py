"""On-prem bearer tokens: read from an environment variable or a file that Jenkins binds."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from deployer import redact
from deployer.errors import CredentialsError


class StaticToken:
    """A token from ``$env`` or from a file. The file is read again after a 401, so a token that
    Jenkins or a sidecar rotated on disk is picked up without restarting the run."""

    def __init__(self, cluster: str, *, env: str | None = None, file: Path | None = None) -> None:
        if (env is None) == (file is None):
            raise ValueError("exactly one of env and file")
        self._cluster = cluster
        self._env = env
        self._file = file
        self._token: str | None = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"token from environment variable {self._env}" if self._env else f"token from file {self._file}"

    def token(self) -> str:
        with self._lock:
            if self._token is None:
                self._token = self._read()
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _read(self) -> str:
        if self._env is not None:
            value = os.environ.get(self._env)
            if value is None:
                raise CredentialsError(
                    f"cluster {self._cluster}: environment variable {self._env} is not set",
                    hint=f"Bind the cluster's token to {self._env} (Jenkins: withCredentials string).")
        else:
            assert self._file is not None
            try:
                value = self._file.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise CredentialsError(f"cluster {self._cluster}: token file {self._file} does not exist",
                                       hint="Check the path in the cluster file's credential.file.") from None
            except OSError as exc:
                raise CredentialsError(f"cluster {self._cluster}: cannot read token file {self._file}: "
                                       f"{exc.strerror}") from None
        value = value.strip()
        if not value:
            raise CredentialsError(f"cluster {self._cluster}: the {self.describe()} is empty")
        if any(c.isspace() for c in value):
            raise CredentialsError(f"cluster {self._cluster}: the {self.describe()} holds more than one word; "
                                   "it must hold exactly one bearer token")
        redact.register(value)
        return value

    def __repr__(self) -> str:
        return f"StaticToken({self.describe()})"
