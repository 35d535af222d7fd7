"""What differs between the SQL databases the store runs on.

The store's queries are written once, in SQL that SQLite and PostgreSQL both
accept (``INSERT ... ON CONFLICT``, ``RETURNING``, row values). What cannot be
shared lives in a :class:`Dialect`: how engines are made and configured,
which driver errors mean "unreachable" and which are worth a retry, the
dialect's ``INSERT`` construct, whether rows must be locked (SQLite's single
writer makes locks moot; PostgreSQL's concurrent writers need them), and
how migrations are serialised between processes.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

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


#: What the drivers under SQLAlchemy may raise, whatever the database.
#: SQLAlchemy wraps nearly all of it, but not every path (a failing connect
#: hook, a dying driver thread), so the raw kinds are caught too; sqlite3
#: raises OverflowError, unwrapped, for an integer beyond 64 bits.
BASE_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.SQLAlchemyError,
    OSError,
    OverflowError,
)


class Dialect(ABC):
    """The database-specific part of :class:`~timerbackends.sql.SQLAlchemyStore`."""

    #: The key of this dialect's statements in every migration.
    name: ClassVar[str]

    #: Pool sizes when the store's caller does not choose.
    default_pool_size: ClassVar[int]
    default_max_overflow: ClassVar[int]

    #: Whether other connections write concurrently, so that rows whose
    #: values a write depends on must be locked (``FOR UPDATE``).
    locks_rows: ClassVar[bool] = False

    #: Whether each arm of the due query needs its own ORDER BY and LIMIT
    #: for the planner to read it in index order (see ``due_statement``).
    orders_due_arms: ClassVar[bool] = False

    #: Whether timers are read by key with arrays of keys, one statement
    #: for any number (see ``select_by_key_arrays``), rather than by IN
    #: lists of ids per namespace.
    reads_keys_by_array: ClassVar[bool] = False

    #: Whether text columns can hold the NUL character.
    text_holds_nul: ClassVar[bool] = True

    #: Whether plain reads go through the driver's own fetch (asyncpg's),
    #: past SQLAlchemy's adaptation of each row.
    fetches_through_driver: bool = False

    #: Every exception the driver may raise; the store translates these.
    driver_errors: tuple[type[BaseException], ...] = BASE_DRIVER_ERRORS

    @abstractmethod
    def create_engines(
        self,
        url: URL,
        *,
        pool_size: int,
        max_overflow: int,
        pool_timeout: float,
        busy_timeout: float,
    ) -> Engines:
        """Return the configured engines for *url*; connect to nothing yet."""

    @abstractmethod
    def insert(self, table: sa.Table) -> Any:
        """Return this dialect's ``INSERT`` for *table*, with ``on_conflict_*``."""

    @abstractmethod
    def is_unavailable(self, exc: BaseException) -> bool:
        """Say whether *exc* means the database cannot be reached right now."""

    def is_retryable(self, exc: BaseException) -> bool:
        """Say whether a transaction that failed with *exc* may simply run again.

        Deadlocks and serialisation failures between concurrent writers are;
        a database with one writer has none.
        """
        return False

    @abstractmethod
    async def check_server(self, engines: Engines) -> None:
        """Raise ``StorageError`` if the database lacks what the store needs."""

    @contextlib.asynccontextmanager
    async def migration_lock(self, connection: AsyncConnection) -> AsyncIterator[None]:
        """Keep other processes from migrating while the block runs.

        The block opens its own transaction, or none. Nothing by default: a
        database that serialises the transactions that write (SQLite) needs
        no more.
        """
        yield


def _set_wal(cursor: Any, busy_timeout: float) -> str:
    """Put the database in WAL mode; return the journal mode it is in.

    Switching a new database to WAL takes an exclusive lock, and SQLite
    answers "database is locked" at once, without its busy handler, to a
    connection that asks while another is switching it: processes that
    open a new file together (a cluster's first start) retry here for as
    long as the busy timeout.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            (mode,) = cursor.fetchone()
            return str(mode)
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() >= deadline:
                raise

        time.sleep(0.01)


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
    default_pool_size = 4
    default_max_overflow = 0
    driver_errors = (*BASE_DRIVER_ERRORS, sqlite3.Error)

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
        self,
        url: URL,
        *,
        pool_size: int,
        max_overflow: int,
        pool_timeout: float,
        busy_timeout: float,
    ) -> Engines:
        url = self.engine_url(url)
        timeout_ms = max(0, round(busy_timeout * 1000))
        # Both pools skip the reset on check-in: every write transaction is
        # committed or rolled back by the store, and readers never open one,
        # so the reset would only cost a round trip to the driver's thread.
        writer = create_async_engine(
            url,
            pool_size=1,
            max_overflow=0,
            pool_timeout=pool_timeout,
            pool_reset_on_return=None,
        )
        readers = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_reset_on_return=None,
        )

        def connect_writer(dbapi_connection: Any, _record: Any) -> None:
            # Transactions are begun by the "begin" hook below, not by the
            # driver, which would begin them lazily and without IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
                mode = _set_wal(cursor, busy_timeout)
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
        # SQLite cannot open a file in a folder that is not there, and no
        # retry makes one: that is a setting to fix, not an outage.
        database = engines.writer.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).parent
            if not folder.is_dir():
                raise StorageError(
                    f"the folder {str(folder)!r} of the SQLite database does "
                    "not exist or is not a folder"
                )

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
    backend = url.get_backend_name()
    if backend == "sqlite":
        return SQLiteDialect()

    if backend in ("postgresql", "postgres"):
        # Imported here so that SQLite alone never loads a PostgreSQL driver.
        from ._postgresql import PostgreSQLDialect

        return PostgreSQLDialect(url)

    raise ValueError(
        f"the SQL store does not support {backend!r} databases; supported: "
        "sqlite, postgresql"
    )
