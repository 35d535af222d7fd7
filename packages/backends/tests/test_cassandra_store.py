"""What the store contract does not say about the Cassandra store.

Its schema and statements (no filtering scans), its migrations (cut off
half-way, run by two processes at once), the self-tidying due index and
its frontier, and a node that goes away and comes back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import attrs
import pytest

from backend_support import NAMESPACE, SHARDS, make_timer, succeeded_outcome
from cassandra_support import CASSANDRA
from timerbackends._rows import timer_to_row
from timerbackends.cassandra import SCHEMA_VERSION, CassandraStore
from timerbackends.cassandra._migrations import MIGRATIONS
from timerbackends.cassandra._store import _statements
from timerbackends.testing.cassandra import CassandraNode
from timerkernel import StorageError, StorageUnavailable, from_millis, to_millis

pytestmark = [pytest.mark.anyio, pytest.mark.cassandra]

TABLES = {
    "store_meta",
    "schema_version",
    "timers",
    "due_timers",
    "due_buckets",
    "timers_by_fire",
    "namespace_days",
    "finished_timers",
    "finished_buckets",
    "namespace_counts",
    "timer_attempts",
    "shard_leases",
    "runners",
}


def keyspace_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def tables_of(keyspace: str) -> set[str]:
    rows = CASSANDRA.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
        keyspace,
    )
    return {row.table_name for row in rows}


def now_millis() -> datetime:
    return from_millis(to_millis(datetime.now(UTC)))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CassandraStore]:
    # A skew of a millisecond: the frontier follows the wall clock closely.
    store = CassandraStore(CASSANDRA.url_for(tmp_path) + "?clock_skew=0.001")
    try:
        await store.initialize(shard_count=SHARDS)
        yield store
    finally:
        await store.close()


def test_no_statement_filters_and_no_table_has_a_secondary_index() -> None:
    texts = [*_statements().values()]
    texts += [
        statement for migration in MIGRATIONS for statement in migration.statements
    ]

    assert not [text for text in texts if "ALLOW FILTERING" in text.upper()]
    assert not [text for text in texts if "CREATE INDEX" in text.upper()]
    assert not [text for text in texts if "CUSTOM INDEX" in text.upper()]


class TestMigrations:
    async def test_from_empty_every_table_is_made_and_the_version_recorded(
        self, tmp_path: Path
    ) -> None:
        url = CASSANDRA.url_for(tmp_path)
        store = CassandraStore(url)
        try:
            await store.initialize(shard_count=3)
        finally:
            await store.close()

        keyspace = keyspace_of(url)
        applied = CASSANDRA.execute(
            f"SELECT version FROM {keyspace}.schema_version WHERE scope = 'applied'"
        )
        assert tables_of(keyspace) >= TABLES
        assert [row.version for row in applied] == [SCHEMA_VERSION]

    async def test_a_migration_cut_off_half_way_runs_again(
        self, tmp_path: Path
    ) -> None:
        url = CASSANDRA.url_for(tmp_path)
        keyspace = keyspace_of(url)
        CASSANDRA.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        CASSANDRA.session().set_keyspace(keyspace)
        try:
            # The first half of the first migration, and no record of it.
            half = MIGRATIONS[0].statements[: len(MIGRATIONS[0].statements) // 2]
            for statement in half:
                CASSANDRA.execute(statement)
        finally:
            CASSANDRA.session().set_keyspace("system")

        unmigrated = CassandraStore(url)
        try:
            with pytest.raises(StorageError, match="migrate"):
                await unmigrated.initialize(shard_count=3, migrate=False)
        finally:
            await unmigrated.close()

        store = CassandraStore(url)
        try:
            assert await store.initialize(shard_count=3) == 3
            await store.insert_timers([make_timer()])
            assert await store.get_timer(NAMESPACE, "t-1") == make_timer()
        finally:
            await store.close()

        assert tables_of(keyspace) >= TABLES

    async def test_two_stores_migrating_at_once_agree(self, tmp_path: Path) -> None:
        url = CASSANDRA.url_for(tmp_path)
        stores = [CassandraStore(url), CassandraStore(url)]
        counts: list[int] = []

        async def initialize(store: CassandraStore, shards: int) -> None:
            counts.append(await store.initialize(shard_count=shards))

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(initialize, stores[0], 4)
                group.start_soon(initialize, stores[1], 9)
        finally:
            for store in stores:
                await store.close()

        applied = CASSANDRA.execute(
            f"SELECT version FROM {keyspace_of(url)}.schema_version "
            "WHERE scope = 'applied'"
        )
        # One of the two shard counts, recorded once, for both.
        assert counts[0] == counts[1]
        assert counts[0] in (4, 9)
        assert [row.version for row in applied] == [SCHEMA_VERSION]


class TestDueIndex:
    @staticmethod
    def due_rows(store: CassandraStore, shard: int) -> list[tuple[str, int]]:
        rows = CASSANDRA.execute(
            f"SELECT shard, bucket, id, version FROM {store.keyspace}.due_timers"
        )
        return sorted((row.id, row.version) for row in rows if row.shard == shard)

    async def test_a_stale_entry_is_not_claimed_and_is_removed(
        self, store: CassandraStore
    ) -> None:
        timer = make_timer(shard=1, version=2)
        await store.insert_timers([timer])
        due_ms = to_millis(timer.fire_at)
        # What a writer that died between its steps leaves behind: an entry
        # of a version the timer is not at.
        CASSANDRA.execute(
            f"INSERT INTO {store.keyspace}.due_timers (shard, bucket, due_key, "
            "namespace, id, version, next_attempt_at, updated_at) "
            "VALUES (1, %s, %s, %s, %s, 1, %s, %s)",
            due_ms // 60_000,
            due_ms + 1000,
            NAMESPACE,
            timer.id,
            due_ms + 1000,
            to_millis(timer.updated_at),
        )

        horizon = timer.fire_at + timedelta(seconds=2)
        due = await store.fetch_due([1], horizon=horizon, limit=10)
        claimed = await store.claim_timers(due)

        assert sorted(entry.version for entry in due) == [1, 2]
        assert claimed == [timer]
        assert self.due_rows(store, 1) == [(timer.id, 2)]

    async def test_an_entry_whose_create_is_under_way_is_kept(
        self, tmp_path: Path
    ) -> None:
        # A create writes its entry, then the timer's row. A runner that
        # claims in between finds no row, and must leave the entry: the row
        # may land a moment later, and a timer without its entry would
        # never fire. The skew bounds how long a write may take.
        store = CassandraStore(CASSANDRA.url_for(tmp_path) + "?clock_skew=30")
        await store.initialize(shard_count=SHARDS)
        try:
            now = now_millis()
            timer = make_timer(shard=3, fire_at=now, created_at=now, updated_at=now)
            due_key = store._due_key(timer)
            horizon = now + timedelta(seconds=5)
            await store._write_index(timer, due_key)

            early = await store.fetch_due([3], horizon=horizon, limit=10)
            claimed_early = await store.claim_timers(early)
            row = timer_to_row(timer)
            assert await store._applied("timer_insert", *row.values(), due_key)
            later = await store.fetch_due([3], horizon=horizon, limit=10)
            claimed_later = await store.claim_timers(later)
        finally:
            await store.close()

        assert [entry.id for entry in early] == [timer.id]
        assert claimed_early == []
        assert [entry.id for entry in later] == [timer.id]
        assert claimed_later == [timer]

    async def test_an_entry_of_a_change_under_way_is_kept(self, tmp_path: Path) -> None:
        # A change writes the new version's entry before the row moves to
        # it: a claim in between takes the old version and leaves the new
        # entry for the row that is on its way, which a later poll claims.
        store = CassandraStore(CASSANDRA.url_for(tmp_path) + "?clock_skew=30")
        await store.initialize(shard_count=SHARDS)
        try:
            now = now_millis()
            timer = make_timer(shard=4, fire_at=now, created_at=now, updated_at=now)
            await store.insert_timers([timer])
            changed = attrs.evolve(
                timer,
                version=2,
                fire_at=now + timedelta(seconds=2),
                next_attempt_at=now + timedelta(seconds=2),
            )
            due_key = store._due_key(changed)
            await store._write_index(changed, due_key, old=timer)

            horizon = now + timedelta(seconds=5)
            early = await store.fetch_due([4], horizon=horizon, limit=10)
            claimed_early = await store.claim_timers(
                [entry for entry in early if entry.version == 2]
            )
            row = timer_to_row(changed)
            del row["namespace"], row["id"]
            assert await store._applied(
                "timer_replace", *row.values(), due_key, timer.namespace, timer.id, 1
            )
            later = await store.fetch_due([4], horizon=horizon, limit=10)
            claimed_later = await store.claim_timers(later)
        finally:
            await store.close()

        assert sorted(entry.version for entry in early) == [1, 2]
        assert claimed_early == []
        assert [entry.version for entry in later if entry.id == timer.id] == [1, 2]
        assert claimed_later == [changed]

    async def test_the_frontier_passes_what_was_delivered(
        self, store: CassandraStore
    ) -> None:
        now = now_millis()
        timers = [
            make_timer(f"t{n}", shard=2, fire_at=now - timedelta(minutes=5))
            for n in range(3)
        ]
        await store.insert_timers(timers)
        epochs = await store.acquire_leases("r", [2], now=now, duration=60)
        horizon = now + timedelta(seconds=5)

        due = await store.fetch_due([2], horizon=horizon, limit=10)
        claimed = await store.claim_timers(due)
        outcomes = [succeeded_outcome(timer, epoch=epochs[2]) for timer in claimed]
        assert await store.record_outcomes(outcomes) == [True, True, True]

        await anyio.sleep(0.01)
        assert await store.fetch_due([2], horizon=horizon, limit=10) == []
        frontier = store._frontiers[2]
        late = make_timer("late", shard=2, fire_at=now - timedelta(minutes=5))
        await store.insert_timers([late])
        again = await store.fetch_due([2], horizon=horizon, limit=10)

        # Queued at its writer's clock: ahead of the frontier, so found.
        assert frontier > to_millis(now)
        assert [entry.id for entry in again] == ["late"]
        assert self.due_rows(store, 2) == [("late", 1)]


@pytest.mark.slow
async def test_a_node_that_goes_away_is_unavailable_then_back(
    cassandra_node: CassandraNode, tmp_path: Path
) -> None:
    store = CassandraStore(CASSANDRA.url_for(tmp_path) + "?request_timeout=2")
    await store.initialize(shard_count=SHARDS)
    try:
        await store.insert_timers([make_timer()])
        cassandra_node.stop()
        try:
            with pytest.raises(StorageUnavailable):
                await store.ping()

            with pytest.raises(StorageUnavailable):
                await store.get_timer(NAMESPACE, "t-1")
        finally:
            cassandra_node.start()

        # The driver reconnects by itself.
        with anyio.fail_after(60):
            while True:
                try:
                    found = await store.get_timer(NAMESPACE, "t-1")
                    break
                except StorageUnavailable:
                    await anyio.sleep(0.5)

        assert found == make_timer()
    finally:
        await store.close()
