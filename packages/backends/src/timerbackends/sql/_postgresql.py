"""The PostgreSQL dialect of the SQL store.

Reads run on a pool of autocommit connections: one round trip per query, no
``BEGIN``/``ROLLBACK`` around it. Writes run on one more connection, in the
group commit's transactions, at READ COMMITTED; the store locks what a write
depends on (see ``locks_rows``). That connection is pinged when it is taken
from its pool, so that a write after a restart of the server never fails on
a connection that died meanwhile; a read that meets such a connection is
tried once more by the store instead, which costs nothing when all is well.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import anyio
import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from timerkernel import StorageError

from ._dialects import BASE_DRIVER_ERRORS, Dialect, Engines

#: The driver that ``postgresql://`` and ``postgres://`` URLs get; chosen by
#: measurement (``bench/sql_drivers.py``).
DEFAULT_DRIVER = "asyncpg"

DRIVERS = ("asyncpg", "psycopg")

#: Seconds to wait for a new connection, so that an unreachable server
#: fails a call in bounded time rather than at the driver's one-minute
#: default.
CONNECT_TIMEOUT = 5.0

# Any 64-bit number, the same in every process that migrates this schema.
logger = logging.getLogger(__name__)

_MIGRATION_LOCK_KEY = 0x74696D65725F6D67
_MIGRATION_LOCK_POLL_SECONDS = 0.1

# Server errors that mean "not now" rather than "wrong": the connection
# failed (class 08), the server is short of resources (class 53: too many
# connections, disk full, out of memory), it is shutting down or starting
# up, a statement or lock wait timed out, or I/O failed.
_UNAVAILABLE_CLASSES = frozenset({"08", "53"})
_UNAVAILABLE_CODES = frozenset(
    {
        "57014",  # query_canceled (statement_timeout)
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
        "57P05",  # idle_session_timeout
        "55P03",  # lock_not_available (lock_timeout)
        "58030",  # io_error
        "40001",  # serialization_failure, once retries are used up
        "40P01",  # deadlock_detected, likewise
    }
)
_RETRYABLE_CODES = frozenset({"40001", "40P01"})

# ON CONFLICT and SKIP LOCKED arrived in 9.5; nothing older than 10 is
# supported by the drivers any more.
_MINIMUM_VERSION = 100000


def _sqlstate(exc: BaseException) -> str | None:
    """Return the SQLSTATE of *exc* or of the driver error it wraps."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None

        code = getattr(seen, "sqlstate", None)
        if isinstance(code, str) and code:
            return code

        if isinstance(seen, sqlalchemy.exc.DBAPIError):
            seen = seen.orig
        else:
            seen = seen.__cause__

    return None


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 6:
        chain.append(seen)
        if isinstance(seen, sqlalchemy.exc.DBAPIError) and seen.orig is not None:
            seen = seen.orig
        else:
            seen = seen.__cause__ or seen.__context__

    return chain


class PostgreSQLDialect(Dialect):
    """PostgreSQL through asyncpg (the default) or psycopg 3.

    :param url: the store's URL, ``postgresql://``, ``postgres://`` or with
        a driver named (``postgresql+psycopg://``).
    :raises ValueError: for another driver, or one that is not installed.
    """

    name = "postgresql"
    default_pool_size = 5
    default_max_overflow = 5
    locks_rows: ClassVar[bool] = True
    orders_due_arms: ClassVar[bool] = True
    reads_keys_by_array: ClassVar[bool] = True
    text_holds_nul: ClassVar[bool] = False

    def __init__(self, url: URL) -> None:
        self.driver = self.driver_of(url)
        if self.driver == "asyncpg":
            try:
                import asyncpg
            except ImportError:
                raise ValueError("the asyncpg driver is not installed") from None

            self.driver_errors = (
                *BASE_DRIVER_ERRORS,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
            )
            # SQLAlchemy's asyncpg adapter spends about 3 µs on each row it
            # passes on, ten times what asyncpg's own fetch does; a runner
            # reads a row for each timer it loads and each it claims.
            self.fetches_through_driver = True
        else:
            try:
                import psycopg
            except ImportError:
                raise ValueError(
                    "the psycopg driver is not installed (pip install psycopg)"
                ) from None

            self.driver_errors = (*BASE_DRIVER_ERRORS, psycopg.Error)

    @staticmethod
    def driver_of(url: URL) -> str:
        """Return the driver *url* names, or the default one.

        :raises ValueError: if it names one this store does not run on.
        """
        _, _, driver = url.drivername.partition("+")
        driver = driver or DEFAULT_DRIVER
        if driver not in DRIVERS:
            raise ValueError(
                f"the PostgreSQL store runs on {' or '.join(DRIVERS)}, not "
                f"{driver!r}; use a postgresql:// URL"
            )

        return driver

    def create_engines(
        self,
        url: URL,
        *,
        pool_size: int,
        max_overflow: int,
        pool_timeout: float,
        busy_timeout: float,
    ) -> Engines:
        url = url.set(drivername=f"postgresql+{self.driver}")
        connect_args = self._connect_args(busy_timeout)
        # One connection for the group commit, which writes one batch at a
        # time; reads never take it, so they cannot starve the writes.
        writer = create_async_engine(
            url,
            pool_size=1,
            max_overflow=0,
            pool_timeout=pool_timeout,
            pool_pre_ping=True,
            connect_args=connect_args,
        )
        readers = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            isolation_level="AUTOCOMMIT",
            connect_args=connect_args,
        )
        return Engines(writer=writer, readers=readers)

    def _connect_args(self, busy_timeout: float) -> dict[str, Any]:
        # lock_timeout 0 would mean "wait forever", not "do not wait".
        lock_timeout_ms = max(1, round(busy_timeout * 1000))
        settings = {
            "application_name": "timerkernel",
            "lock_timeout": str(lock_timeout_ms),
            # The store's queries are short; compiling one would take longer
            # than running it.
            "jit": "off",
        }
        if self.driver == "asyncpg":
            return {"timeout": CONNECT_TIMEOUT, "server_settings": settings}

        options = " ".join(
            f"-c {name}={value}"
            for name, value in settings.items()
            if name != "application_name"
        )
        return {
            # psycopg counts whole seconds, and at least 2.
            "connect_timeout": max(2, math.ceil(CONNECT_TIMEOUT)),
            "application_name": settings["application_name"],
            "options": options,
        }

    def insert(self, table: sa.Table) -> postgresql.Insert:
        return postgresql.insert(table)

    def is_unavailable(self, exc: BaseException) -> bool:
        if isinstance(
            exc,
            sqlalchemy.exc.TimeoutError | sqlalchemy.exc.DisconnectionError | OSError,
        ):
            return True

        if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
            return True

        code = _sqlstate(exc)
        if code is not None:
            return code[:2] in _UNAVAILABLE_CLASSES or code in _UNAVAILABLE_CODES

        # No answer from the server at all: the socket failed or was closed,
        # or the connection could not be made.
        for cause in _causes(exc):
            if isinstance(cause, OSError | ConnectionError):
                return True

            if type(cause).__name__ in (
                "OperationalError",
                "InterfaceError",
                "ConnectionDoesNotExistError",
            ):
                return True

        return False

    def is_retryable(self, exc: BaseException) -> bool:
        return _sqlstate(exc) in _RETRYABLE_CODES

    async def check_server(self, engines: Engines) -> None:
        async with engines.readers.connect() as connection:
            number = await connection.scalar(sa.text("SHOW server_version_num"))

        if int(number or 0) < _MINIMUM_VERSION:
            raise StorageError(
                f"PostgreSQL {number} is too old: the store needs version 10 or newer"
            )

    @contextlib.asynccontextmanager
    async def migration_lock(self, connection: AsyncConnection) -> AsyncIterator[None]:
        # A lock of the session, taken by polling between transactions: a
        # process that waited for it inside a transaction would hold a
        # snapshot, and an index built CONCURRENTLY by the one migrating
        # waits for every such snapshot to end, which would never happen.
        # Two processes starting on an empty database would otherwise both
        # create the tables (and one fail on a duplicate catalogue entry).
        lock = {"key": _MIGRATION_LOCK_KEY}
        waited = False
        while True:
            taken = await connection.scalar(
                sa.text("SELECT pg_try_advisory_lock(:key)"), lock
            )
            await connection.commit()
            if taken:
                break

            if not waited:
                logger.info("waiting for another process's schema migration")
                waited = True

            await anyio.sleep(_MIGRATION_LOCK_POLL_SECONDS)

        try:
            yield
        finally:
            await connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), lock)
            await connection.commit()
