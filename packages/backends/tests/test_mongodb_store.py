"""What the store contract does not say about the MongoDB store.

Its keys, its migrations (indexes, cut off half-way), and a server that goes
away and comes back; run against FerretDB.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from backend_support import NAMESPACE, SHARDS, at, make_timer, succeeded_outcome
from mongo_support import MONGO
from timerbackends.mongodb import SCHEMA_VERSION, MongoStore
from timerbackends.mongodb._migrations import MIGRATIONS
from timerbackends.mongodb._store import _key
from timerbackends.testing.ferretdb import FerretDBServer
from timerkernel import StorageError, StorageUnavailable

pytestmark = [pytest.mark.anyio, pytest.mark.mongodb]


def database_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_keys_of_different_pairs_differ() -> None:
    pairs = [("a/b", "c"), ("a", "b/c"), ("a", "b"), ("ab", ""), ("", "ab")]

    assert len({_key(namespace, timer_id) for namespace, timer_id in pairs}) == 5


class TestMigrations:
    async def test_from_empty_every_index_is_made_and_the_version_recorded(
        self, tmp_path: Path
    ) -> None:
        url = MONGO.url_for(tmp_path)
        store = MongoStore(url)
        try:
            await store.initialize(shard_count=3)
        finally:
            await store.close()

        database = MONGO.client()[database_of(url)]
        wanted = {
            (index.collection, index.name)
            for migration in MIGRATIONS
            for index in migration.indexes
        }
        made = {
            (collection, index["name"])
            for collection in database.list_collection_names()
            for index in database[collection].list_indexes()
        }
        versions = [document["_id"] for document in database["schema_version"].find()]
        assert wanted <= made
        assert versions == [SCHEMA_VERSION]

    async def test_a_migration_cut_off_half_way_runs_again(
        self, tmp_path: Path
    ) -> None:
        url = MONGO.url_for(tmp_path)
        database = MONGO.client()[database_of(url)]
        first = MIGRATIONS[0].indexes[0]
        database[first.collection].create_index(list(first.keys), name=first.name)

        unmigrated = MongoStore(url)
        try:
            with pytest.raises(StorageError, match="migrate"):
                await unmigrated.initialize(shard_count=3, migrate=False)
        finally:
            await unmigrated.close()

        store = MongoStore(url)
        try:
            assert await store.initialize(shard_count=3) == 3
            await store.insert_timers([make_timer()])
            assert await store.get_timer(NAMESPACE, "t-1") == make_timer()
        finally:
            await store.close()

    async def test_two_stores_migrating_at_once_agree(self, tmp_path: Path) -> None:
        url = MONGO.url_for(tmp_path)
        stores = [MongoStore(url), MongoStore(url)]
        counts: list[int] = []

        async def initialize(store: MongoStore, shards: int) -> None:
            counts.append(await store.initialize(shard_count=shards))

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(initialize, stores[0], 4)
                group.start_soon(initialize, stores[1], 9)
        finally:
            for store in stores:
                await store.close()

        assert counts[0] == counts[1]
        assert counts[0] in (4, 9)


@pytest.mark.slow
async def test_a_server_that_goes_away_is_unavailable_then_back(
    ferretdb_server: FerretDBServer, tmp_path: Path
) -> None:
    store = MongoStore(MONGO.url_for(tmp_path), timeout=2)
    await store.initialize(shard_count=SHARDS)
    try:
        await store.insert_timers([make_timer()])
        ferretdb_server.stop()
        try:
            with pytest.raises(StorageUnavailable):
                await store.ping()

            with pytest.raises(StorageUnavailable):
                await store.get_timer(NAMESPACE, "t-1")
        finally:
            ferretdb_server.start()

        with anyio.fail_after(30):
            while True:
                try:
                    found = await store.get_timer(NAMESPACE, "t-1")
                    break
                except StorageUnavailable:
                    await anyio.sleep(0.2)

        assert found == make_timer()
    finally:
        await store.close()


async def test_the_bulk_path_of_mongodb_proper_agrees(tmp_path: Path) -> None:
    # The path a MongoDB server takes: one $in query per batch of keys and
    # one bulk write per batch of outcomes, where FerretDB gets one call each.
    store = MongoStore(MONGO.url_for(tmp_path))
    await store.initialize(shard_count=SHARDS)
    store._ferretdb = False
    try:
        timers = [make_timer(f"t{n}", shard=0) for n in range(3)]
        assert await store.insert_timers(timers) == [None, None, None]
        assert await store.insert_timers(timers[:1]) == [timers[0]]
        epochs = await store.acquire_leases("r", [0], now=at(0), duration=60)

        due = await store.fetch_due([0], horizon=at(10**6), limit=10)
        claimed = await store.claim_timers(due)
        outcomes = [succeeded_outcome(timer, epoch=epochs[0]) for timer in claimed]
        stale = succeeded_outcome(timers[0], epoch=epochs[0])

        assert sorted(timer.id for timer in claimed) == ["t0", "t1", "t2"]
        assert await store.record_outcomes([*outcomes, stale]) == [
            True,
            True,
            True,
            False,
        ]
        assert await store.get_timer(NAMESPACE, "t0") == outcomes[0].timer
    finally:
        await store.close()
