"""The SQL store's schema and its migrations, on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator

import anyio
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from timerbackends.sql import SQLAlchemyStore
from timerbackends.sql._migrations import MIGRATIONS, Migration
from timerbackends.sql._schema import metadata
from timerkernel import StorageError

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

_TYPES = {
    sa.Integer: "integer",
    sa.BigInteger: "bigint",
    sa.Text: "text",
    sa.Double: "double precision",
}

KNOWN = [migration.version for migration in MIGRATIONS]
LATEST = KNOWN[-1]
NEXT = LATEST + 1

EXTRA_TABLE = Migration(
    NEXT,
    "an extra table",
    {
        "sqlite": ("CREATE TABLE extra (x INTEGER)",),
        "postgresql": ("CREATE TABLE extra (x INTEGER)",),
    },
)


@pytest.fixture
async def raw(postgres_url: str) -> AsyncIterator[AsyncConnection]:
    engine = create_async_engine(
        postgres_url.replace("postgresql://", "postgresql+asyncpg://"),
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


def store_at(url: str, *extra: Migration) -> SQLAlchemyStore:
    store = SQLAlchemyStore(url)
    store._migrations = (*MIGRATIONS, *extra)
    return store


async def versions(raw: AsyncConnection) -> list[int]:
    rows = await raw.execute(
        sa.text("SELECT version FROM schema_version ORDER BY version")
    )
    return [int(version) for (version,) in rows]


async def test_every_migration_has_postgresql_statements() -> None:
    assert all("postgresql" in migration.statements for migration in MIGRATIONS)


async def test_migrated_tables_match_the_tables_queries_are_built_on(
    postgres_url: str, raw: AsyncConnection
) -> None:
    store = store_at(postgres_url)
    await store.initialize(shard_count=4)
    await store.close()

    for table in metadata.sorted_tables:
        rows = await raw.execute(
            sa.text(
                "SELECT c.column_name, c.data_type, c.is_nullable = 'NO', "
                "k.column_name IS NOT NULL "
                "FROM information_schema.columns AS c "
                "LEFT JOIN information_schema.key_column_usage AS k "
                "ON k.table_name = c.table_name AND k.column_name = c.column_name "
                "AND k.table_schema = c.table_schema "
                "WHERE c.table_name = :table AND c.table_schema = current_schema() "
                "ORDER BY c.ordinal_position"
            ),
            {"table": table.name},
        )
        expected = [
            (
                column.name,
                _TYPES[type(column.type)],
                not column.nullable,
                column.primary_key,
            )
            for column in table.columns
        ]
        assert [tuple(row) for row in rows] == expected, table.name


async def test_indexes_exist(postgres_url: str, raw: AsyncConnection) -> None:
    store = store_at(postgres_url)
    await store.initialize(shard_count=4)
    await store.close()

    rows = await raw.execute(
        sa.text(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND indexname NOT LIKE '%pkey'"
        )
    )
    assert sorted(name for (name,) in rows) == [
        "timers_due",
        "timers_finished",
        "timers_list",
        "timers_status_list",
    ]


async def test_running_the_migrations_again_changes_nothing(
    postgres_url: str, raw: AsyncConnection
) -> None:
    store = store_at(postgres_url)
    await store.initialize(shard_count=4)
    before = (await raw.execute(sa.text("SELECT * FROM schema_version"))).all()
    await store.close()

    again = store_at(postgres_url)
    assert await again.initialize(shard_count=9) == 4
    await again.close()

    assert (await raw.execute(sa.text("SELECT * FROM schema_version"))).all() == before
    assert await versions(raw) == KNOWN


async def test_an_older_schema_is_refused_without_migrating(
    postgres_url: str, raw: AsyncConnection
) -> None:
    old = store_at(postgres_url)
    await old.initialize(shard_count=4)
    await old.close()

    new = store_at(postgres_url, EXTRA_TABLE)
    with pytest.raises(
        StorageError, match=rf"version {LATEST} and this code needs {NEXT}"
    ):
        await new.initialize(shard_count=4, migrate=False)

    await new.initialize(shard_count=4)
    await new.close()
    assert await versions(raw) == [*KNOWN, NEXT]


async def test_a_failing_migration_leaves_no_trace(
    postgres_url: str, raw: AsyncConnection
) -> None:
    broken = Migration(
        NEXT,
        "half right",
        {"postgresql": ("CREATE TABLE extra (x INTEGER)", "CREATE TABLE oops (")},
    )
    store = store_at(postgres_url, broken)

    with pytest.raises(StorageError) as caught:
        await store.initialize(shard_count=4)

    await store.close()
    assert "syntax error" in str(caught.value)
    assert await versions(raw) == KNOWN
    assert await raw.scalar(sa.text("SELECT to_regclass('extra')")) is None


async def test_stores_migrating_at_once_apply_each_migration_once(
    postgres_url: str, raw: AsyncConnection
) -> None:
    stores = [store_at(postgres_url, EXTRA_TABLE) for _ in range(6)]
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

    assert await versions(raw) == [*KNOWN, NEXT]
    assert len(counts) == 6
    assert len(set(counts)) == 1


async def test_processes_migrating_at_once_apply_each_migration_once(
    postgres_url: str, raw: AsyncConnection
) -> None:
    program = textwrap.dedent(
        f"""
        import asyncio, sys
        from timerbackends.sql import SQLAlchemyStore

        async def main():
            store = SQLAlchemyStore({postgres_url!r})
            try:
                print(await store.initialize(shard_count=int(sys.argv[1])))
            finally:
                await store.close()

        asyncio.run(main())
        """
    )
    results: list[subprocess.CompletedProcess[bytes]] = []

    async def run(shard_count: int) -> None:
        results.append(
            await anyio.run_process(
                [sys.executable, "-c", program, str(shard_count)], check=False
            )
        )

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for n in range(4):
                group.start_soon(run, 20 + n)

    assert [result.returncode for result in results] == [0] * 4, [
        result.stderr for result in results
    ]
    assert len({result.stdout.strip() for result in results}) == 1
    assert await versions(raw) == KNOWN
    applied = await raw.scalar(sa.text("SELECT count(*) FROM schema_version"))
    assert applied == LATEST


async def test_the_status_index_is_built_online_and_left_valid(
    postgres_url: str, raw: AsyncConnection
) -> None:
    store = store_at(postgres_url)
    await store.initialize(shard_count=4)
    await store.close()

    valid = await raw.scalar(
        sa.text(
            "SELECT indisvalid FROM pg_index "
            "WHERE indexrelid = to_regclass('timers_status_list')"
        )
    )
    assert valid is True


async def test_an_online_migration_cut_short_is_applied_again(
    postgres_url: str, raw: AsyncConnection
) -> None:
    # A process that dies after the index and before the version row leaves
    # this state behind: the next one must finish the migration.
    store = store_at(postgres_url)
    await store.initialize(shard_count=4)
    await store.insert_timers([])
    await store.close()
    await raw.execute(sa.text("DELETE FROM schema_version WHERE version = 2"))

    again = store_at(postgres_url)
    assert await again.initialize(shard_count=4) == 4
    await again.close()

    assert await versions(raw) == KNOWN
    index = await raw.scalar(sa.text("SELECT to_regclass('timers_status_list')"))
    assert index is not None
