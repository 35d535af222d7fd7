"""The SQL store's schema and its migrations, on SQLite."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa

from backend_support import NAMESPACE, make_timer
from timerbackends.sql import SQLAlchemyStore
from timerbackends.sql._migrations import MIGRATIONS, Migration
from timerbackends.sql._schema import metadata
from timerkernel import StorageError

pytestmark = pytest.mark.anyio

_AFFINITY = {
    sa.Integer: "INTEGER",
    sa.BigInteger: "INTEGER",
    sa.Text: "TEXT",
    sa.Double: "REAL",
}


def sqlite_rows(database: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(query).fetchall()


def versions(database: Path) -> list[int]:
    rows = sqlite_rows(database, "SELECT version FROM schema_version ORDER BY version")
    return [int(version) for (version,) in rows]  # type: ignore[call-overload]


def store_at(database: Path, *extra: Migration) -> SQLAlchemyStore:
    store = SQLAlchemyStore(f"sqlite:///{database}")
    store._migrations = (*MIGRATIONS, *extra)
    return store


KNOWN = [migration.version for migration in MIGRATIONS]
LATEST = KNOWN[-1]
NEXT = LATEST + 1

EXTRA_TABLE = Migration(
    NEXT, "an extra table", {"sqlite": ("CREATE TABLE extra (x INTEGER)",)}
)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "timers.db"


async def test_versions_run_from_one_without_gaps() -> None:
    assert [migration.version for migration in MIGRATIONS] == list(
        range(1, len(MIGRATIONS) + 1)
    )
    assert all("sqlite" in migration.statements for migration in MIGRATIONS)


async def test_migrated_tables_match_the_tables_queries_are_built_on(
    database: Path,
) -> None:
    store = store_at(database)
    await store.initialize(shard_count=4)
    await store.close()

    for table in metadata.sorted_tables:
        info = sqlite_rows(database, f"PRAGMA table_info({table.name})")
        columns = [
            (name, declared, bool(not_null) or bool(key), bool(key))
            for _cid, name, declared, not_null, _default, key in info
        ]
        expected = [
            (
                column.name,
                _AFFINITY[type(column.type)],
                not column.nullable,
                column.primary_key,
            )
            for column in table.columns
        ]
        assert columns == expected, table.name


async def test_indexes_exist(database: Path) -> None:
    store = store_at(database)
    await store.initialize(shard_count=4)
    await store.close()

    rows = sqlite_rows(
        database,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    )
    assert sorted(str(name) for (name,) in rows) == [
        "timers_due",
        "timers_finished",
        "timers_list",
        "timers_status_list",
    ]


async def test_running_the_migrations_again_changes_nothing(database: Path) -> None:
    store = store_at(database)
    await store.initialize(shard_count=4)
    await store.insert_timers([make_timer()])
    before = sqlite_rows(database, "SELECT * FROM schema_version")
    await store.close()

    again = store_at(database)
    await again.initialize(shard_count=4)
    try:
        assert await again.get_timer(NAMESPACE, "t-1") == make_timer()
    finally:
        await again.close()

    assert sqlite_rows(database, "SELECT * FROM schema_version") == before
    assert versions(database) == KNOWN


async def test_an_older_schema_is_refused_without_migrating(database: Path) -> None:
    old = store_at(database)
    await old.initialize(shard_count=4)
    await old.close()

    new = store_at(database, EXTRA_TABLE)
    with pytest.raises(
        StorageError, match=rf"version {LATEST} and this code needs {NEXT}"
    ):
        await new.initialize(shard_count=4, migrate=False)

    await new.initialize(shard_count=4)
    await new.close()
    assert versions(database) == [*KNOWN, NEXT]
    assert sqlite_rows(database, "SELECT count(*) FROM extra") == [(0,)]


async def test_a_failing_migration_leaves_no_trace(database: Path) -> None:
    broken = Migration(
        NEXT,
        "half right",
        {"sqlite": ("CREATE TABLE extra (x INTEGER)", "CREATE TABLE oops (")},
    )
    store = store_at(database, broken)

    with pytest.raises(StorageError):
        await store.initialize(shard_count=4)

    await store.close()
    assert versions(database) == KNOWN
    tables = sqlite_rows(
        database, "SELECT name FROM sqlite_master WHERE name = 'extra'"
    )
    assert tables == []


async def test_a_migration_without_statements_for_the_dialect_is_an_error(
    database: Path,
) -> None:
    store = store_at(database, Migration(NEXT, "elsewhere only", {"postgresql": ("",)}))

    with pytest.raises(StorageError, match="no statements for sqlite"):
        await store.initialize(shard_count=4)

    await store.close()


async def test_a_newer_schema_is_used_with_a_warning(
    database: Path, caplog: pytest.LogCaptureFixture
) -> None:
    newer = store_at(database, EXTRA_TABLE)
    await newer.initialize(shard_count=4)
    await newer.close()

    store = store_at(database)
    with caplog.at_level(logging.WARNING, logger="timerbackends"):
        assert await store.initialize(shard_count=9, migrate=False) == 4
        await store.close()

    assert "newer than this code" in caplog.text
    assert versions(database) == [*KNOWN, NEXT]


async def test_stores_migrating_at_once_apply_each_migration_once(
    database: Path,
) -> None:
    stores = [store_at(database, EXTRA_TABLE) for _ in range(4)]
    counts: list[int] = []

    async def initialize(store: SQLAlchemyStore, shard_count: int) -> None:
        counts.append(await store.initialize(shard_count=shard_count))

    try:
        async with anyio.create_task_group() as group:
            for n, store in enumerate(stores):
                group.start_soon(initialize, store, 10 + n)
    finally:
        for store in stores:
            await store.close()

    assert versions(database) == [*KNOWN, NEXT]
    assert len(set(counts)) == 1
