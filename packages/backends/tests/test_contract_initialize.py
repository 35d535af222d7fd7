"""The store contract, opening: shard count, migrations, reopening, ping."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend_support import NAMESPACE, SHARDS, Backend, at, make_timer
from timerkernel import StorageError
from timerkernel.abc import Store

pytestmark = pytest.mark.anyio


class TestInitialize:
    async def test_first_initialisation_records_the_shard_count(
        self, backend: Backend, tmp_path: Path
    ) -> None:
        store = backend.make(tmp_path)
        try:
            first = await store.initialize(shard_count=12)
            second = await store.initialize(shard_count=99)
        finally:
            await store.close()

        assert (first, second) == (12, 12)

    async def test_without_migrating_empty_storage_is_refused(
        self, backend: Backend, tmp_path: Path
    ) -> None:
        store = backend.make(tmp_path)
        try:
            with pytest.raises(StorageError):
                await store.initialize(shard_count=4, migrate=False)
        finally:
            await store.close()

    async def test_initialising_again_keeps_the_data(self, store: Store) -> None:
        timer = make_timer()
        await store.insert_timers([timer])
        await store.acquire_leases("r", [1], now=at(0), duration=10)

        count = await store.initialize(shard_count=SHARDS + 1)
        unmigrated = await store.initialize(shard_count=SHARDS + 2, migrate=False)

        assert (count, unmigrated) == (SHARDS, SHARDS)
        assert await store.get_timer(NAMESPACE, timer.id) == timer
        assert [lease.shard for lease in await store.list_leases()] == [1]

    async def test_ping_answers_when_open(self, store: Store) -> None:
        await store.ping()


class TestMigrations:
    async def test_a_schema_one_version_behind_is_refused_then_migrated(
        self, durable_backend: Backend, tmp_path: Path
    ) -> None:
        timer = make_timer()
        old = durable_backend.make(tmp_path)
        await old.initialize(shard_count=5)
        await old.insert_timers([timer])
        await old.close()

        assert durable_backend.add_migration is not None
        new = durable_backend.make(tmp_path)
        durable_backend.add_migration(new)
        try:
            with pytest.raises(StorageError, match=r"this code needs \d+"):
                await new.initialize(shard_count=5, migrate=False)

            count = await new.initialize(shard_count=5)
            stored = await new.get_timer(NAMESPACE, timer.id)
        finally:
            await new.close()

        assert (count, stored) == (5, timer)

    async def test_the_older_code_keeps_working_on_the_newer_schema(
        self, durable_backend: Backend, tmp_path: Path
    ) -> None:
        # What a rolling upgrade needs: the release before still runs
        # while the next one has migrated.
        timer = make_timer()
        assert durable_backend.add_migration is not None
        new = durable_backend.make(tmp_path)
        durable_backend.add_migration(new)
        await new.initialize(shard_count=5)
        await new.insert_timers([timer])
        await new.close()

        old = durable_backend.make(tmp_path)
        try:
            count = await old.initialize(shard_count=5, migrate=False)
            stored = await old.get_timer(NAMESPACE, timer.id)
            again = await old.initialize(shard_count=5)
        finally:
            await old.close()

        assert (count, stored, again) == (5, timer, 5)

    async def test_code_below_the_floor_of_a_contract_migration_refuses(
        self, durable_backend: Backend, tmp_path: Path
    ) -> None:
        # Release N+1 adds; release N+2 removes what release N still used,
        # so its migration sets the floor at N+1: release N+1 keeps running
        # on its schema, release N refuses to start rather than fail on its
        # first write.
        add = durable_backend.add_migration
        assert add is not None
        newest = durable_backend.make(tmp_path)
        add(newest)
        expanded = newest._migrations[-1].version  # type: ignore[attr-defined]
        add(newest, floor=expanded)
        await newest.initialize(shard_count=5)
        await newest.close()

        one_behind = durable_backend.make(tmp_path)
        add(one_behind)
        two_behind = durable_backend.make(tmp_path)
        try:
            count = await one_behind.initialize(shard_count=5, migrate=False)
            too_old = rf"knows schema {expanded} or later"
            with pytest.raises(StorageError, match=too_old):
                await two_behind.initialize(shard_count=5, migrate=False)
            with pytest.raises(StorageError, match=r"run a newer release"):
                await two_behind.initialize(shard_count=5)
        finally:
            await one_behind.close()
            await two_behind.close()

        assert count == 5


class TestReopen:
    async def test_reopened_store_keeps_everything(
        self, durable_backend: Backend, tmp_path: Path
    ) -> None:
        timer = make_timer()
        writer = durable_backend.make(tmp_path)
        await writer.initialize(shard_count=5)
        await writer.insert_timers([timer])
        await writer.acquire_leases("r", [2], now=at(0), duration=10)
        await writer.close()

        reader = durable_backend.make(tmp_path)
        try:
            count = await reader.initialize(shard_count=50, migrate=False)
            stored = await reader.get_timer(NAMESPACE, timer.id)
            leases = await reader.list_leases()
        finally:
            await reader.close()

        assert count == 5
        assert stored == timer
        assert [(lease.shard, lease.owner, lease.epoch) for lease in leases] == [
            (2, "r", 1)
        ]

    async def test_closed_store_can_be_initialised_again(
        self, durable_backend: Backend, tmp_path: Path
    ) -> None:
        timer = make_timer()
        store = durable_backend.make(tmp_path)
        await store.initialize(shard_count=5)
        await store.insert_timers([timer])
        await store.close()

        try:
            await store.initialize(shard_count=5)
            stored = await store.get_timer(NAMESPACE, timer.id)
        finally:
            await store.close()

        assert stored == timer
