"""What differs between the SQL databases the store runs on.

The store's queries are written once, in SQL that SQLite and PostgreSQL both
accept (``INSERT ... ON CONFLICT``, ``RETURNING``, row values). What cannot be
shared lives in a :class:`Dialect`: how engines are made and configured,
which driver errors mean "unreachable", and the dialect's ``INSERT``
construct. A PostgreSQL dialect will add its own engines and, for the
runner's reads, ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import logging
import sqlite3
from abc import ABC, abstractmethod
from typing import Any

import attrs
import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from timerkernel import StorageError

logger = logging.getLogger(__name__)


@attrs.frozen
class Engines:
    """The engines of one store.

    ``writer`` runs every write; the store sends it one batch at a time.
    ``readers`` runs reads and may be the same engine.
    """

    writer: AsyncEngine
    readers: AsyncEngine


class Dialect(ABC):
    """The database-specific part of :class:`~timerbackends.sql.SQLAlchemyStore`."""

    #: The key of this dialect's statements in every migration.
    name: str

    @abstractmethod
    def create_engines(
        self, url: URL, *, pool_size: int, busy_timeout: float
    ) -> Engines:
        """Return the configured engines for *url*; connect to nothing yet."""

    @abstractmethod
    def insert(self, table: sa.Table) -> Any:
        """Return this dialect's ``INSERT`` for *table*, with ``on_conflict_*``."""

    @abstractmethod
    def is_unavailable(self, exc: BaseException) -> bool:
        """Say whether *exc* means the database cannot be reached right now."""

    @abstractmethod
    async def check_server(self, engines: Engines) -> None:
        """Raise ``StorageError`` if the database lacks what the store needs."""


# Primary result codes that say the database is busy, out of resources or
# unreachable, rather than that the statement was wrong: retrying may work.
_SQLITE_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
    }
)

# RETURNING arrived in SQLite 3.35.
_SQLITE_MINIMUM = (3, 35, 0)


class SQLiteDialect(Dialect):
    """SQLite through aiosqlite: one writer connection, a pool of readers.

    SQLite lets one connection write at a time, so the store gives it
    exactly one writing connection (which starts every transaction with
    ``BEGIN IMMEDIATE`` to take the write lock at once rather than fail on
    upgrading a read lock) and separate read-only connections, which WAL
    mode lets read while the writer writes.
    """

    name = "sqlite"

    @staticmethod
    def engine_url(url: URL) -> URL:
        """Return *url* for the aiosqlite driver.

        :raises ValueError: for another driver or an in-memory database,
            which would be lost on close and cannot be shared between the
            writer and the readers; ``memory://`` is the store for that.
        """
        if url.drivername not in ("sqlite", "sqlite+aiosqlite"):
            raise ValueError(
                f"the SQLite store runs on aiosqlite, not {url.drivername!r}; "
                "use a sqlite:/// URL"
            )

        database = url.database or ""
        if database in ("", ":memory:") or "mode=memory" in database:
            raise ValueError(
                "an in-memory SQLite database is not supported; use a file "
                "path (sqlite:///./timers.db) or the memory:// store"
            )

        if url.query.get("mode") == "memory":
            raise ValueError("an in-memory SQLite database is not supported")

        return url.set(drivername="sqlite+aiosqlite")

    def create_engines(
        self, url: URL, *, pool_size: int, busy_timeout: float
    ) -> Engines:
        url = self.engine_url(url)
        timeout_ms = max(0, round(busy_timeout * 1000))
        # Both pools skip the reset on check-in: every write transaction is
        # committed or rolled back by the store, and readers never open one,
        # so the reset would only cost a round trip to the driver's thread.
        writer = create_async_engine(
            url, pool_size=1, max_overflow=0, pool_reset_on_return=None
        )
        readers = create_async_engine(
            url, pool_size=pool_size, max_overflow=0, pool_reset_on_return=None
        )

        def connect_writer(dbapi_connection: Any, _record: Any) -> None:
            # Transactions are begun by the "begin" hook below, not by the
            # driver, which would begin them lazily and without IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
                cursor.execute("PRAGMA journal_mode = WAL")
                (mode,) = cursor.fetchone()
                if str(mode).lower() != "wal":
                    logger.warning(
                        "SQLite refused WAL mode (journal mode is %s): readers "
                        "will wait for writers",
                        mode,
                        extra={"action": "sqlite_connect"},
                    )

                # In WAL mode, NORMAL syncs the log at checkpoints, not at
                # every commit. A committed transaction is in the log file
                # when COMMIT returns, so killing the process (kill -9, a
                # crash) loses nothing; only an OS crash or power cut can
                # undo the last commits. Losing no acknowledged timer when a
                # process is killed is the promise, and NORMAL keeps it at a
                # fraction of FULL's cost of one fsync per commit.
                cursor.execute("PRAGMA synchronous = NORMAL")
            finally:
                cursor.close()

        def begin_immediate(connection: sa.Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        def connect_reader(dbapi_connection: Any, _record: Any) -> None:
            # Autocommit: each read is its own snapshot, and a reader never
            # holds a transaction open that would keep the WAL from being
            # checkpointed.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
                cursor.execute("PRAGMA query_only = ON")
            finally:
                cursor.close()

        event.listen(writer.sync_engine, "connect", connect_writer)
        event.listen(writer.sync_engine, "begin", begin_immediate)
        event.listen(readers.sync_engine, "connect", connect_reader)
        return Engines(writer=writer, readers=readers)

    def insert(self, table: sa.Table) -> sqlite.Insert:
        return sqlite.insert(table)

    def is_unavailable(self, exc: BaseException) -> bool:
        if isinstance(
            exc,
            sqlalchemy.exc.TimeoutError | sqlalchemy.exc.DisconnectionError | OSError,
        ):
            return True

        driver_error: BaseException | None = exc
        if isinstance(exc, sqlalchemy.exc.DBAPIError):
            if exc.connection_invalidated:
                return True

            driver_error = exc.orig

        code = getattr(driver_error, "sqlite_errorcode", None)
        if code is None:
            return isinstance(
                exc, sqlalchemy.exc.OperationalError | sqlite3.OperationalError
            )

        return (code & 0xFF) in _SQLITE_UNAVAILABLE

    async def check_server(self, engines: Engines) -> None:
        if sqlite3.sqlite_version_info < _SQLITE_MINIMUM:
            needed = ".".join(map(str, _SQLITE_MINIMUM))
            raise StorageError(
                f"SQLite {sqlite3.sqlite_version} is too old: the store needs "
                f"{needed} or newer"
            )


def dialect_for(url: URL) -> Dialect:
    """Return the dialect that serves *url*.

    :raises ValueError: if no dialect of this package serves it.
    """
    if url.get_backend_name() == "sqlite":
        return SQLiteDialect()

    raise ValueError(
        f"the SQL store does not support {url.get_backend_name()!r} databases "
        "yet; supported: sqlite"
    )
