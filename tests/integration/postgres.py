"""A real PostgreSQL server for tests: initdb and pg_ctl from Debian's packages
(/usr/lib/postgresql/<version>/bin, installed by scripts/test-prerequisites.sh), in a temporary
folder, on a free 127.0.0.1 port with its unix socket in that folder. Run as root, the server runs
as the ``postgres`` user (initdb refuses root). Each test gets a database of its own
(``PostgresServer.database()``).

    with PostgresServer.start() as server:
        url = server.database()       # postgresql://postgres@127.0.0.1:PORT/test_<hex>
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from types import TracebackType

import pytest


def binaries() -> Path | None:
    """The newest installed server's bin folder ($DEPLOYER_TEST_POSTGRES_BIN overrides)."""
    if os.environ.get("DEPLOYER_TEST_POSTGRES_BIN"):
        return Path(os.environ["DEPLOYER_TEST_POSTGRES_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    def __init__(self, bin_dir: Path, folder: Path, port: int) -> None:
        self.bin_dir, self.folder, self.port = bin_dir, folder, port
        self.data = folder / "data"
        self.log = folder / "server.log"

    @classmethod
    def start(cls) -> PostgresServer:
        bin_dir = binaries()
        if bin_dir is None:
            pytest.skip("PostgreSQL's server binaries are not installed (scripts/test-prerequisites.sh installs "
                        "Debian's postgresql)")
        folder = Path(tempfile.mkdtemp(prefix="deployer-pg-"))
        server = cls(bin_dir, folder, _free_port())
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        server._run("initdb", "-D", str(server.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        server._run("pg_ctl", "-D", str(server.data), "-l", str(server.log), "-w", "-t", "60", "-o",
                    f"-p {server.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c max_connections=100", "start")
        return server

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        log = self.log.read_text() if self.log.exists() else ""
        assert result.returncode == 0, f"{tool} failed:\n{result.stdout}{result.stderr}\n{log[-3000:]}"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database; its URL."""
        import psycopg

        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
