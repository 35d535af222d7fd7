"""The SQLite store beyond the contract: pragmas, plans, batching, errors."""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from backend_support import NAMESPACE, SHARDS, at, failed_outcome, make_timer
from timerbackends.sql import SQLAlchemyStore
from timerkernel import (
    Callback,
    StorageError,
    StorageUnavailable,
    Timer,
    TimerKernelError,
    TimerQuery,
    TimerStatus,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "timers.db"


@pytest.fixture
async def sqlite_store(database: Path) -> AsyncIterator[SQLAlchemyStore]:
    store = SQLAlchemyStore(f"sqlite:///{database}")
    await store.initialize(shard_count=SHARDS)
    try:
        yield store
    finally:
        await store.close()


@contextmanager
def statements_run(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """Collect the SQL and parameters that *engine* sends to the driver."""
    seen: list[tuple[str, Any]] = []

    def before(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any
    ) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


def query_plan(database: Path, statement: str, parameters: Any) -> list[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return [str(row[3]) for row in rows]


async def driver_threads_ended() -> None:
    """Wait for aiosqlite's threads of failed connections to end.

    On a failed connect aiosqlite stops its thread without waiting for it;
    the thread then reports to the event loop, which must still be running.
    """
    for thread in threading.enumerate():
        if thread.name.endswith("(_connection_worker_thread)"):
            await anyio.to_thread.run_sync(thread.join, 5)


def commits_of(store: SQLAlchemyStore) -> list[None]:
    commits: list[None] = []
    event.listen(
        store._engines.writer.sync_engine, "commit", lambda _conn: commits.append(None)
    )
    return commits


class TestConnections:
    async def test_database_is_in_wal_mode(
        self, sqlite_store: SQLAlchemyStore, database: Path
    ) -> None:
        with sqlite3.connect(database) as connection:
            (mode,) = connection.execute("PRAGMA journal_mode").fetchone()

        assert mode == "wal"

    async def test_writer_syncs_normally_and_waits_for_locks(
        self, database: Path
    ) -> None:
        store = SQLAlchemyStore(f"sqlite:///{database}", busy_timeout=2.5)
        await store.initialize(shard_count=SHARDS)
        try:
            async with store._engines.writer.connect() as connection:
                synchronous = await connection.scalar(sa.text("PRAGMA synchronous"))
                timeout = await connection.scalar(sa.text("PRAGMA busy_timeout"))
        finally:
            await store.close()

        assert (synchronous, timeout) == (1, 2500)

    async def test_readers_cannot_write(self, sqlite_store: SQLAlchemyStore) -> None:
        async with sqlite_store._engines.readers.connect() as connection:
            with pytest.raises(sa.exc.OperationalError, match="readonly"):
                await connection.execute(sa.text("DELETE FROM timers"))

    async def test_plain_sqlite_urls_map_to_aiosqlite(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        store = SQLAlchemyStore("sqlite:///./timers.db")
        try:
            await store.initialize(shard_count=2)
        finally:
            await store.close()

        assert store._engines.writer.url.drivername == "sqlite+aiosqlite"
        assert (tmp_path / "timers.db").is_file()

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            pytest.param("sqlite://", "in-memory", id="no-path"),
            pytest.param("sqlite:///:memory:", "in-memory", id="memory"),
            pytest.param(
                "sqlite:///file:x?mode=memory&uri=true", "in-memory", id="memory-uri"
            ),
            pytest.param("sqlite+pysqlite:///timers.db", "aiosqlite", id="sync-driver"),
            pytest.param(
                "mysql+aiomysql://u@localhost/timers", "supported", id="mysql"
            ),
            pytest.param("::not a url::", "not a database URL", id="malformed"),
        ],
    )
    def test_unsupported_urls_are_refused(self, url: str, reason: str) -> None:
        with pytest.raises(ValueError, match=reason):
            SQLAlchemyStore(url)


class TestQueryPlans:
    async def test_due_query_searches_the_due_index_of_each_shard(
        self, sqlite_store: SQLAlchemyStore, database: Path
    ) -> None:
        await sqlite_store.insert_timers(
            [make_timer(f"t{n}", shard=n % SHARDS) for n in range(200)]
        )
        shards = [0, 2, 3, 5, 7]

        with statements_run(sqlite_store._engines.readers) as seen:
            due = await sqlite_store.fetch_due(shards, horizon=at(10**6), limit=50)

        ((statement, parameters),) = seen
        plan = query_plan(database, statement, parameters)
        on_table = [step for step in plan if "timers" in step.split()]
        assert len(due) == 50
        # Merged lazily in index order: nothing is sorted.
        assert not [step for step in plan if "TEMP B-TREE" in step]
        assert on_table == [
            "SEARCH timers USING COVERING INDEX timers_due "
            "(shard=? AND next_attempt_at<?)"
        ] * len(shards)

    async def test_due_query_of_one_shard(
        self, sqlite_store: SQLAlchemyStore, database: Path
    ) -> None:
        with statements_run(sqlite_store._engines.readers) as seen:
            await sqlite_store.fetch_due([4], horizon=at(10), limit=50)

        ((statement, parameters),) = seen
        assert query_plan(database, statement, parameters) == [
            "SEARCH timers USING COVERING INDEX timers_due "
            "(shard=? AND next_attempt_at<?)"
        ]

    async def test_due_query_for_many_shards_is_split_and_merged(
        self, database: Path
    ) -> None:
        store = SQLAlchemyStore(f"sqlite:///{database}")
        await store.initialize(shard_count=1000)
        timers = [
            make_timer(f"t{n}", shard=n, next_attempt_at=at(-n)) for n in range(600)
        ]
        try:
            await store.insert_timers(timers)
            with statements_run(store._engines.readers) as seen:
                due = await store.fetch_due(range(1000), horizon=at(0), limit=5)
        finally:
            await store.close()

        assert len(seen) > 1
        assert [entry.id for entry in due] == ["t599", "t598", "t597", "t596", "t595"]

    async def test_list_query_reads_the_list_index_in_order(
        self, sqlite_store: SQLAlchemyStore, database: Path
    ) -> None:
        query = TimerQuery(
            statuses=frozenset({TimerStatus.scheduled}),
            fire_after=at(1),
            fire_before=at(100),
            after=(at(5), "x"),
            id_prefix="t",
        )

        with statements_run(sqlite_store._engines.readers) as seen:
            await sqlite_store.list_timers(NAMESPACE, query)

        ((statement, parameters),) = seen
        plan = query_plan(database, statement, parameters)
        assert len(plan) == 1
        assert plan[0].startswith("SEARCH timers USING INDEX timers_list (namespace=?")

    async def test_purge_finds_finished_timers_by_index(
        self, sqlite_store: SQLAlchemyStore, database: Path
    ) -> None:
        await sqlite_store.insert_timers(
            [make_timer("old", status=TimerStatus.failed, updated_at=at(1))]
        )

        with statements_run(sqlite_store._engines.writer) as seen:
            assert await sqlite_store.purge_finished(before=at(2), limit=10) == 1

        finding = next(item for item in seen if item[0].lstrip().startswith("SELECT"))
        plan = query_plan(database, *finding)
        assert plan == ["SEARCH timers USING INDEX timers_finished (updated_at<?)"]

    async def test_claim_looks_timers_up_by_key(
        self, sqlite_store: SQLAlchemyStore, database: Path
    ) -> None:
        timers = [
            make_timer(f"t{n}", namespace=f"ns{n % 3}", shard=0) for n in range(9)
        ]
        await sqlite_store.insert_timers(timers)
        due = await sqlite_store.fetch_due([0], horizon=at(10**6), limit=20)

        with statements_run(sqlite_store._engines.readers) as seen:
            assert len(await sqlite_store.claim_timers(due)) == 9

        # One statement per namespace, each an index range with an IN list.
        assert len(seen) == 3
        by_key = (
            "SEARCH timers USING INDEX sqlite_autoindex_timers_1 (namespace=? AND id=?)"
        )
        for statement, parameters in seen:
            plan = query_plan(database, statement, parameters)
            assert plan == [by_key]


class TestGroupCommit:
    async def test_concurrent_creates_share_transactions(
        self, sqlite_store: SQLAlchemyStore
    ) -> None:
        commits = commits_of(sqlite_store)
        results: list[list[Timer | None]] = []

        async def create(n: int) -> None:
            results.append(await sqlite_store.insert_timers([make_timer(f"t{n}")]))

        async with anyio.create_task_group() as group:
            for n in range(200):
                group.start_soon(create, n)

        assert results == [[None]] * 200
        assert len(commits) <= 3
        listed = await sqlite_store.list_timers(NAMESPACE, TimerQuery(limit=1000))
        assert len(listed) == 200

    async def test_a_transaction_takes_at_most_max_batch_writes(
        self, database: Path
    ) -> None:
        store = SQLAlchemyStore(f"sqlite:///{database}", max_batch=16)
        await store.initialize(shard_count=SHARDS)
        commits = commits_of(store)
        try:
            async with anyio.create_task_group() as group:
                for n in range(200):
                    group.start_soon(store.insert_timers, [make_timer(f"t{n}")])
        finally:
            await store.close()

        assert 13 <= len(commits) <= 15

    async def test_different_writes_share_a_transaction(
        self, sqlite_store: SQLAlchemyStore
    ) -> None:
        timer = make_timer("busy", shard=1)
        await sqlite_store.insert_timers([timer])
        epochs = await sqlite_store.acquire_leases("r", [1], now=at(0), duration=60)
        commits = commits_of(sqlite_store)
        outcome = failed_outcome(timer, epoch=epochs[1])

        async with anyio.create_task_group() as group:
            group.start_soon(sqlite_store.insert_timers, [make_timer("new")])
            group.start_soon(sqlite_store.record_outcomes, [outcome])
            group.start_soon(partial(sqlite_store.heartbeat, "r", now=at(0), ttl=10))
            group.start_soon(sqlite_store.delete_timer, NAMESPACE, "absent")

        assert len(commits) == 1
        assert await sqlite_store.get_timer(NAMESPACE, "busy") == outcome.timer
        assert await sqlite_store.get_timer(NAMESPACE, "new") is not None

    async def test_a_failing_write_fails_alone(
        self, sqlite_store: SQLAlchemyStore
    ) -> None:
        # SQLite stores NaN as NULL, which the column refuses.
        broken = make_timer("broken", callback=Callback("https://x.example/", math.nan))
        outcomes: dict[str, object] = {}

        async def create(timer: Timer) -> None:
            try:
                outcomes[timer.id] = await sqlite_store.insert_timers([timer])
            except StorageError as exc:
                outcomes[timer.id] = exc

        async with anyio.create_task_group() as group:
            for n in range(5):
                group.start_soon(create, make_timer(f"good-{n}"))

            group.start_soon(create, broken)

        assert isinstance(outcomes.pop("broken"), StorageError)
        assert outcomes == {f"good-{n}": [None] for n in range(5)}


class TestAttemptHistory:
    async def test_keeps_the_latest_twenty_attempts(
        self, sqlite_store: SQLAlchemyStore, database: Path
    ) -> None:
        timer = make_timer(shard=0)
        await sqlite_store.insert_timers([timer])
        epochs = await sqlite_store.acquire_leases("r", [0], now=at(0), duration=60)
        for _ in range(27):
            outcome = failed_outcome(timer, epoch=epochs[0])
            await sqlite_store.record_outcomes([outcome])
            timer = outcome.timer

        with sqlite3.connect(database) as connection:
            seqs = [
                seq for (seq,) in connection.execute("SELECT seq FROM timer_attempts")
            ]

        assert sorted(seqs) == list(range(8, 28))


class TestErrors:
    async def test_missing_directory_is_an_error_that_names_it(
        self, tmp_path: Path
    ) -> None:
        # A folder that is not there is a setting to fix: retrying, as for
        # an outage, would only hide it.
        store = SQLAlchemyStore(f"sqlite:///{tmp_path / 'absent' / 'timers.db'}")

        with pytest.raises(StorageError) as caught:
            await store.initialize(shard_count=4)

        await store.close()
        await driver_threads_ended()
        assert not isinstance(caught.value, StorageUnavailable)
        assert str(tmp_path / "absent") in str(caught.value)
        assert not (tmp_path / "absent").exists()

    async def test_database_locked_past_the_busy_timeout_is_unavailable(
        self, database: Path
    ) -> None:
        store = SQLAlchemyStore(f"sqlite:///{database}", busy_timeout=0)
        await store.initialize(shard_count=SHARDS)
        blocker = sqlite3.connect(database, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StorageUnavailable, match="locked"):
                await store.insert_timers([make_timer()])

            # Readers are not blocked by a writer in WAL mode.
            assert await store.get_timer(NAMESPACE, "t-1") is None
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

        try:
            assert await store.insert_timers([make_timer()]) == [None]
        finally:
            await store.close()

    async def test_broken_schema_is_an_error_not_an_outage(
        self, sqlite_store: SQLAlchemyStore, database: Path
    ) -> None:
        with sqlite3.connect(database) as connection:
            connection.execute("DROP TABLE timer_attempts")

        with pytest.raises(StorageError) as caught:
            await sqlite_store.list_attempts(NAMESPACE, "t-1", limit=5)

        assert not isinstance(caught.value, StorageUnavailable)
        assert "no such table" in str(caught.value)
        assert isinstance(caught.value.__cause__, sa.exc.SQLAlchemyError)

    async def test_out_of_range_value_is_a_storage_error(
        self, sqlite_store: SQLAlchemyStore
    ) -> None:
        with pytest.raises(StorageError):
            await sqlite_store.insert_timers([make_timer(version=2**70)])

    async def test_payload_that_is_not_json_is_refused_before_writing(
        self, sqlite_store: SQLAlchemyStore
    ) -> None:
        with pytest.raises(ValueError, match="not JSON compliant"):
            await sqlite_store.insert_timers([make_timer(payload=math.inf)])

    async def test_calls_before_initialize_are_refused(self, database: Path) -> None:
        store = SQLAlchemyStore(f"sqlite:///{database}")

        with pytest.raises(StorageError, match="not initialised"):
            await store.get_timer(NAMESPACE, "x")

        with pytest.raises(StorageUnavailable):
            await store.ping()

        await store.close()

    async def test_calls_after_close_are_refused(
        self, sqlite_store: SQLAlchemyStore
    ) -> None:
        await sqlite_store.close()

        with pytest.raises(StorageError):
            await sqlite_store.insert_timers([make_timer()])

        with pytest.raises(StorageUnavailable):
            await sqlite_store.ping()

    async def test_no_driver_exception_escapes(
        self, sqlite_store: SQLAlchemyStore, database: Path
    ) -> None:
        with sqlite3.connect(database) as connection:
            connection.execute("DROP TABLE timers")

        calls = [
            sqlite_store.get_timer(NAMESPACE, "x"),
            sqlite_store.insert_timers([make_timer()]),
            sqlite_store.replace_timer(
                attrs.evolve(make_timer(), version=2), expected_version=1
            ),
            sqlite_store.delete_timer(NAMESPACE, "x"),
            sqlite_store.list_timers(NAMESPACE, TimerQuery()),
            sqlite_store.count_timers(),
            sqlite_store.purge_finished(before=at(0), limit=5),
            sqlite_store.fetch_due([0, 1], horizon=at(0), limit=5),
            sqlite_store.record_outcomes([failed_outcome(make_timer(), epoch=1)]),
        ]
        for call in calls:
            with pytest.raises(TimerKernelError) as caught:
                await call

            assert type(caught.value).__module__.startswith("timerkernel")
