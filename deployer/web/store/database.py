"""Opening the page's database and bringing its schema up to date.

``--database`` takes a SQLAlchemy URL: ``sqlite:///PATH`` (the default, ``web.db`` in the state
folder) or ``postgresql://USER@HOST/DB`` (psycopg 3; ``postgresql://`` is read as
``postgresql+psycopg://``). ``upgrade`` applies the migrations shipped in ``migrations/`` and
refuses a database whose schema is newer than this deployer knows; it runs under a lock (an
advisory lock on PostgreSQL, a file lock beside a SQLite file) so a web and its workers starting
together migrate once.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from deployer.errors import UsageError

FILE_NAME = "web.db"
_MIGRATIONS = "deployer.web.store:migrations"
_ADVISORY_LOCK = 0x6465706C  # "depl": one key for deployer's schema upgrades on a PostgreSQL server


class SchemaTooNew(UsageError):
    """The database was migrated by a newer deployer than this one."""


def default_url(state_dir: Path) -> str:
    return f"sqlite:///{state_dir / FILE_NAME}"


def parse_url(text: str) -> URL:
    """The URL as SQLAlchemy reads it, with PostgreSQL through psycopg 3; any other database is
    refused (the schema and the claim are written for these two)."""
    try:
        url = make_url(text)
    except ArgumentError:
        raise UsageError("--database is not a database URL", hint="Give sqlite:///PATH or "
                         "postgresql://USER@HOST:PORT/NAME.") from None
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return url.set(drivername="postgresql+psycopg")
    if url.drivername == "sqlite" and url.database not in (None, "", ":memory:"):
        return url
    raise UsageError(f"--database {url.render_as_string(hide_password=True)} is not supported",
                     hint="Give sqlite:///PATH (one machine) or postgresql://USER@HOST:PORT/NAME (a team).")


def shown(url: URL | str) -> str:
    """The URL as printed in messages: never with its password."""
    return (make_url(url) if isinstance(url, str) else url).render_as_string(hide_password=True)


def create(url: URL | str) -> Engine:
    """An engine for ``url``. SQLite: WAL (readers never wait for the writer), a 30 s busy
    timeout, foreign keys on, and transactions begun by SQLAlchemy (``BEGIN IMMEDIATE`` when a
    connection asks with ``execution_options(immediate=True)``, so a claim takes the write lock
    before it reads)."""
    url = parse_url(url) if isinstance(url, str) else url
    if url.get_backend_name() == "sqlite":
        assert url.database
        try:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise UsageError(f"cannot create the folder of {url.database}: {exc.strerror}",
                             hint="Pass --state-dir (or --database) with a folder this user can write.") from exc
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)


def _sqlite_connect(dbapi_connection: sqlite3.Connection, record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's BEGIN, not pysqlite's own
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # WAL with NORMAL: a commit is not synced to disk, so a log line costs no fsync (a power cut
    # may lose the last ones; the database itself stays consistent).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get("immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def open_database(url: URL | str) -> Engine:
    """An engine on an up-to-date schema: the migrations applied, a newer schema refused."""
    engine = create(url)
    try:
        upgrade(engine)
    except SchemaTooNew:
        engine.dispose()
        raise
    except (OperationalError, SQLAlchemyError) as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise UsageError(f"cannot open the database {shown(engine.url)}: {reason}",
                         hint="Check --database: the server is reachable, the database exists and this user "
                              "may create tables in it.") from None
    return engine


def upgrade(engine: Engine, target: str = "head") -> None:
    """Migrate to ``target`` (the newest revision unless a test asks for an older one)."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", _MIGRATIONS)
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    with _upgrade_lock(engine) as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        if current is not None and current not in {r.revision for r in script.walk_revisions()}:
            raise SchemaTooNew(f"the database {shown(engine.url)} has schema revision {current}, newer than this "
                               f"deployer knows (its newest is {head})",
                               hint="Upgrade deployer on this machine to the version the other web and worker "
                                    "processes run; a newer schema is never downgraded.")
        if current != (head if target == "head" else target):
            config.attributes["connection"] = connection
            command.upgrade(config, target)
        if connection.in_transaction():
            connection.commit()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _upgrade_lock(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({_ADVISORY_LOCK})")
            connection.commit()
            try:
                yield connection
            finally:
                if connection.in_transaction():
                    connection.rollback()
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_ADVISORY_LOCK})")
                connection.commit()
        return
    assert engine.url.database
    with open(f"{engine.url.database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with engine.connect() as connection:
            yield connection
