"""Versioned schema migrations and the small runner that applies them.

Why not Alembic: its environment and ini files would have to ship inside
the package and be found at run time, it drives synchronous connections,
and the store's other backend families (CQL, MongoDB) cannot use it at all.
What the store needs is small, and the same on every backend: a
``schema_version`` table, an ordered list of migrations, each a list of
statements per dialect, and a runner that applies the missing ones, each in
its own transaction, recording its version in that same transaction (or,
for an index built without blocking writes, statement by statement and the
version last). A migration that fails in its transaction leaves no trace
(both databases roll DDL back), and two processes migrating at once are
serialised by the database (SQLite's write lock, a PostgreSQL advisory lock
of the session taken before each migration; the runner re-reads the version
under it), so each migration runs exactly once.

Migrations are never edited once released: a change is a new migration.
Statements are plain SQL text, not built from :mod:`._schema`, so that an
old migration keeps meaning what it meant when the schema moves on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from timerkernel import StorageError

from .._floor import refuse_below_floor
from ._dialects import Dialect
from ._schema import SCHEMA_VERSION, STORE_META

logger = logging.getLogger(__name__)


@attrs.frozen
class Migration:
    """One step of the schema: its version, what it does, and its statements.

    ``statements`` maps a dialect name to the statements that take that
    dialect's schema from ``version - 1`` to ``version``. For the dialects
    in ``online`` they run outside a transaction, one by one, so that they
    can be of the kind that does not block writes while it works (an index
    built ``CONCURRENTLY``); such statements must be safe to run again,
    since a process that dies between them and the version row leaves the
    migration to the next one.
    """

    version: int
    description: str
    statements: Mapping[str, Sequence[str]]
    online: frozenset[str] = frozenset()
    floor: int | None = None
    """For a contract migration: the oldest schema version whose code still
    works once it is applied (see :mod:`timerbackends._floor`)."""


_BOOTSTRAP = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY,"
        " description TEXT NOT NULL,"
        " applied_at INTEGER NOT NULL)"
    ),
    "postgresql": (
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY,"
        " description TEXT NOT NULL,"
        " applied_at BIGINT NOT NULL)"
    ),
}

# -- SQLite: version 1 -------------------------------------------------------

_CREATE_TIMERS = """
CREATE TABLE timers (
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    shard INTEGER NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    fire_at INTEGER NOT NULL,
    next_attempt_at INTEGER,
    attempts INTEGER NOT NULL,
    attempt_seq INTEGER NOT NULL,
    first_attempt_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    executed_at INTEGER,
    initial_fire_at INTEGER,
    definition_digest TEXT NOT NULL,
    callback_url TEXT NOT NULL,
    callback_timeout REAL NOT NULL,
    callback_headers TEXT NOT NULL,
    payload TEXT NOT NULL,
    max_attempts INTEGER NOT NULL,
    initial_interval REAL NOT NULL,
    backoff_coefficient REAL NOT NULL,
    max_interval REAL NOT NULL,
    max_duration REAL,
    error_at INTEGER,
    error_kind TEXT,
    error_message TEXT,
    error_status INTEGER,
    PRIMARY KEY (namespace, id)
)
"""

# The runner's poll: per shard, the scheduled timers by due time. Partial,
# so finished timers cost nothing in it, and covering (status is listed
# only so that SQLite can answer the query from the index alone).
_CREATE_DUE_INDEX = """
CREATE INDEX timers_due
    ON timers (shard, next_attempt_at, namespace, id, version, status)
    WHERE status = 'scheduled' AND next_attempt_at IS NOT NULL
"""

# Listing a namespace in (fire_at, id) order, with keyset pagination.
_CREATE_LIST_INDEX = "CREATE INDEX timers_list ON timers (namespace, fire_at, id)"

# Retention: the finished timers, oldest change first.
_CREATE_FINISHED_INDEX = """
CREATE INDEX timers_finished
    ON timers (updated_at, namespace, id)
    WHERE status <> 'scheduled'
"""

_CREATE_ATTEMPTS = """
CREATE TABLE timer_attempts (
    namespace TEXT NOT NULL,
    timer_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    fire_at INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    status_code INTEGER,
    error_at INTEGER,
    error_kind TEXT,
    error_message TEXT,
    error_status INTEGER,
    PRIMARY KEY (namespace, timer_id, seq)
)
"""

_CREATE_LEASES = """
CREATE TABLE shard_leases (
    shard INTEGER PRIMARY KEY,
    owner TEXT,
    epoch INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
)
"""

_CREATE_RUNNERS = """
CREATE TABLE runners (
    runner_id TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
)
"""

_CREATE_META = """
CREATE TABLE store_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
)
"""

# -- PostgreSQL: version 1 ---------------------------------------------------
#
# The same tables with PostgreSQL's types: times and versions BIGINT, floats
# DOUBLE PRECISION. Keys and runner ids are COLLATE "C", so that they compare
# bytewise, whatever the database's locale: ORDER BY id then sorts as Python,
# SQLite and the memory store do, and keyset pages agree with them.

_PG_CREATE_TIMERS = """
CREATE TABLE timers (
    namespace TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    shard INTEGER NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    fire_at BIGINT NOT NULL,
    next_attempt_at BIGINT,
    attempts INTEGER NOT NULL,
    attempt_seq BIGINT NOT NULL,
    first_attempt_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    executed_at BIGINT,
    initial_fire_at BIGINT,
    definition_digest TEXT NOT NULL,
    callback_url TEXT NOT NULL,
    callback_timeout DOUBLE PRECISION NOT NULL,
    callback_headers TEXT NOT NULL,
    payload TEXT NOT NULL,
    max_attempts INTEGER NOT NULL,
    initial_interval DOUBLE PRECISION NOT NULL,
    backoff_coefficient DOUBLE PRECISION NOT NULL,
    max_interval DOUBLE PRECISION NOT NULL,
    max_duration DOUBLE PRECISION,
    error_at BIGINT,
    error_kind TEXT,
    error_message TEXT,
    error_status INTEGER,
    PRIMARY KEY (namespace, id)
)
"""

# In the order of the due query's ORDER BY within one shard, so that each
# arm is an ordered index range and the arms merge without a sort. The
# columns the query returns are in it, for index-only scans where the
# visibility map allows.
_PG_CREATE_DUE_INDEX = """
CREATE INDEX timers_due
    ON timers (shard, next_attempt_at, namespace, id, version)
    WHERE status = 'scheduled' AND next_attempt_at IS NOT NULL
"""

_PG_CREATE_ATTEMPTS = """
CREATE TABLE timer_attempts (
    namespace TEXT COLLATE "C" NOT NULL,
    timer_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    fire_at BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    status_code INTEGER,
    error_at BIGINT,
    error_kind TEXT,
    error_message TEXT,
    error_status INTEGER,
    PRIMARY KEY (namespace, timer_id, seq)
)
"""

_PG_CREATE_LEASES = """
CREATE TABLE shard_leases (
    shard INTEGER PRIMARY KEY,
    owner TEXT COLLATE "C",
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
)
"""

_PG_CREATE_RUNNERS = """
CREATE TABLE runners (
    runner_id TEXT COLLATE "C" PRIMARY KEY,
    expires_at BIGINT NOT NULL
)
"""

_PG_CREATE_META = """
CREATE TABLE store_meta (
    key TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
)
"""

# -- version 2 -----------------------------------------------------------------

# A namespace's timers of one status in (fire_at, id) order: a list filtered
# by status (as the web UI's are) reads a range of it in order, where the
# list index reads every timer of the namespace and skips the others. The
# counts by namespace and status can read it instead of the table.
_CREATE_STATUS_LIST_INDEX = (
    "CREATE INDEX IF NOT EXISTS timers_status_list"
    " ON timers (namespace, status, fire_at, id)"
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "timers, their attempts, shard leases, runners and store settings",
        {
            "sqlite": (
                _CREATE_TIMERS,
                _CREATE_DUE_INDEX,
                _CREATE_LIST_INDEX,
                _CREATE_FINISHED_INDEX,
                _CREATE_ATTEMPTS,
                _CREATE_LEASES,
                _CREATE_RUNNERS,
                _CREATE_META,
            ),
            "postgresql": (
                _PG_CREATE_TIMERS,
                _PG_CREATE_DUE_INDEX,
                _CREATE_LIST_INDEX,
                _CREATE_FINISHED_INDEX,
                _PG_CREATE_ATTEMPTS,
                _PG_CREATE_LEASES,
                _PG_CREATE_RUNNERS,
                _PG_CREATE_META,
            ),
        },
    ),
    Migration(
        2,
        "an index of each namespace's timers by status and fire time",
        {
            "sqlite": (_CREATE_STATUS_LIST_INDEX,),
            # Built without blocking writes, while the previous release
            # serves on; a build cut short leaves an invalid index, which
            # the next try drops first.
            "postgresql": (
                "DROP INDEX CONCURRENTLY IF EXISTS timers_status_list",
                "CREATE INDEX CONCURRENTLY timers_status_list"
                " ON timers (namespace, status, fire_at, id)",
            ),
        },
        online=frozenset({"postgresql"}),
    ),
)
"""Every migration, in order; versions run 1, 2, 3... without gaps.

Each keeps the previous release working on the schema it leaves (see
docs/operations/availability.md): migrations add; what a release stops
using is removed one release later at the earliest, by a migration that
declares its ``floor``.
"""


async def _has_version_table(connection: AsyncConnection) -> bool:
    return await connection.run_sync(
        lambda sync: sa.inspect(sync).has_table(SCHEMA_VERSION.name)
    )


async def _current_version(connection: AsyncConnection) -> int:
    result = await connection.execute(sa.select(sa.func.max(SCHEMA_VERSION.c.version)))
    return result.scalar_one() or 0


async def read_version(engine: AsyncEngine) -> int | None:
    """Return the schema version of the database, ``None`` if it has none."""
    async with engine.connect() as connection:
        if not await _has_version_table(connection):
            return None

        return await _current_version(connection)


async def upgrade(
    engine: AsyncEngine, dialect: Dialect, migrations: Sequence[Migration]
) -> int:
    """Apply the migrations the database lacks; return its version after.

    Each migration runs in its own transaction with the row recording it,
    or, where it is ``online``, statement by statement with the row last.
    A database newer than *migrations* is left alone, with a warning, or
    refused when a contract migration has put its floor above them.

    :raises StorageError: if a migration has no statements for *dialect*.
    """
    latest = migrations[-1].version if migrations else 0
    known = await read_version(engine)
    if known is not None and known >= latest:
        await _check_newer(engine, known, latest)
        return known

    version = known or 0
    for migration in migrations:
        if migration.version <= version:
            continue

        statements = migration.statements.get(dialect.name)
        if statements is None:
            raise StorageError(
                f"migration {migration.version} has no statements for {dialect.name}"
            )

        if dialect.name in migration.online:
            applied = await _apply_online(engine, dialect, migration, statements)
        else:
            applied = await _apply(engine, dialect, migration, statements)

        version = migration.version
        if not applied:
            continue

        logger.info(
            "applied schema migration %d: %s",
            migration.version,
            migration.description,
            extra={"action": "migrate", "version": migration.version},
        )

    return version


async def _apply(
    engine: AsyncEngine,
    dialect: Dialect,
    migration: Migration,
    statements: Sequence[str],
) -> bool:
    """Apply *migration* in one transaction; False if another process had."""
    async with (
        engine.connect() as connection,
        dialect.migration_lock(connection),
        connection.begin(),
    ):
        await connection.exec_driver_sql(_BOOTSTRAP[dialect.name])
        # Another process may have applied it since the version was read.
        if await _current_version(connection) >= migration.version:
            return False

        for statement in statements:
            await connection.exec_driver_sql(statement)

        await _raise_floor(connection, migration)
        await connection.execute(_version_row(migration))

    return True


async def _apply_online(
    engine: AsyncEngine,
    dialect: Dialect,
    migration: Migration,
    statements: Sequence[str],
) -> bool:
    """Apply *migration* statement by statement, outside a transaction.

    The migration lock is held by the connection's session, so that two
    processes still apply it once.
    """
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        async with dialect.migration_lock(autocommit):
            await autocommit.exec_driver_sql(_BOOTSTRAP[dialect.name])
            if await _current_version(autocommit) >= migration.version:
                return False

            for statement in statements:
                await autocommit.exec_driver_sql(statement)

            # The floor first: older code refused a moment early is better
            # than older code let in on a schema it no longer fits.
            await _raise_floor(autocommit, migration)
            await autocommit.execute(_version_row(migration))

    return True


_FLOOR_KEY = "schema_floor"


async def _raise_floor(connection: AsyncConnection, migration: Migration) -> None:
    if migration.floor is None:
        return

    # The same text on both dialects (SQLite has had ON CONFLICT since 3.24).
    await connection.execute(
        sa.text(
            "INSERT INTO store_meta (key, value) VALUES (:key, :value)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        ),
        {"key": _FLOOR_KEY, "value": str(migration.floor)},
    )


async def _read_floor(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        found = await connection.scalar(
            sa.select(STORE_META.c.value).where(STORE_META.c.key == _FLOOR_KEY)
        )

    return int(found) if found is not None else 0


async def _check_newer(engine: AsyncEngine, known: int, latest: int) -> None:
    """Let older code run on a newer schema, unless the schema's floor forbids."""
    if known <= latest:
        return

    floor = await _read_floor(engine)
    backend = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(
        engine.dialect.name, engine.dialect.name
    )
    refuse_below_floor(backend=backend, version=known, floor=floor, latest=latest)
    # Below the floor, migrations only add: older code keeps working on a
    # newer schema during a rolling upgrade; say so, but do not refuse.
    logger.warning(
        "the database schema is at version %d, newer than this code's %d",
        known,
        latest,
        extra={"action": "migrate", "version": known},
    )


def _version_row(migration: Migration) -> sa.Insert:
    return sa.insert(SCHEMA_VERSION).values(
        version=migration.version,
        description=migration.description,
        applied_at=round(time.time() * 1000),
    )


async def check(engine: AsyncEngine, migrations: Sequence[Migration]) -> int:
    """Return the schema version, if it is the one *migrations* leads to.

    :raises StorageError: if the schema is missing or older, or newer with
        a floor above this code's version.
    """
    latest = migrations[-1].version if migrations else 0
    known = await read_version(engine)
    if known is None:
        raise StorageError(
            "the database has no timer schema; run the migrations first "
            "(timerserver migrate)"
        )

    if known < latest:
        raise StorageError(
            f"the database schema is at version {known} and this code needs "
            f"{latest}; run the migrations first (timerserver migrate)"
        )

    await _check_newer(engine, known, latest)
    return known
