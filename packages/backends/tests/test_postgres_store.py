"""The PostgreSQL store beyond the contract: URLs, pools, locks, plans, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import anyio
import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from backend_support import NAMESPACE, SHARDS, at, failed_outcome, make_timer
from postgres_support import commits_of, plan_nodes, plan_of, statements_run
from timerbackends import create_store
from timerbackends.sql import SQLAlchemyStore
from timerkernel import (
    Callback,
    DueTimer,
    StorageError,
    StorageUnavailable,
    Timer,
    TimerKernelError,
    TimerQuery,
    TimerStatus,
)

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
async def pg_store(postgres_url: str) -> AsyncIterator[SQLAlchemyStore]:
    store = SQLAlchemyStore(postgres_url)
    await store.initialize(shard_count=SHARDS)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def raw(postgres_url: str) -> AsyncIterator[AsyncConnection]:
    """A connection of the test's own, beside the store's."""
    engine = create_async_engine(
        postgres_url.replace("postgresql://", "postgresql+asyncpg://")
    )
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


async def stores(url: str, count: int) -> list[SQLAlchemyStore]:
    made = [SQLAlchemyStore(url) for _ in range(count)]
    for store in made:
        await store.initialize(shard_count=SHARDS)

    return made


async def close_all(made: list[SQLAlchemyStore]) -> None:
    for store in made:
        await store.close()


async def wait_for_lock_waiters(connection: AsyncConnection, count: int) -> None:
    """Wait until *count* sessions of this database wait for a lock."""
    with anyio.fail_after(10):
        while True:
            waiting = await connection.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                    "current_database() AND wait_event_type = 'Lock'"
                )
            )
            if waiting >= count:
                return

            await anyio.sleep(0.02)


class TestUrlsAndPools:
    @pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
    async def test_plain_urls_run_on_asyncpg(
        self, postgres_url: str, scheme: str
    ) -> None:
        url = postgres_url.replace("postgresql://", f"{scheme}://")
        store = create_store(url)
        try:
            assert await store.initialize(shard_count=3) == 3
            await store.ping()
        finally:
            await store.close()

        assert isinstance(store, SQLAlchemyStore)
        assert store._engines.writer.url.drivername == "postgresql+asyncpg"
        assert store._engines.readers.url.drivername == "postgresql+asyncpg"

    def test_pool_options_size_the_readers_and_the_writer_has_one(self) -> None:
        store = SQLAlchemyStore(
            "postgresql://u@127.0.0.1:9/db",
            pool_size=7,
            max_overflow=3,
            pool_timeout=4.5,
        )
        readers = store._engines.readers.sync_engine.pool
        writer = store._engines.writer.sync_engine.pool

        assert (readers.size(), readers._max_overflow, readers._timeout) == (  # type: ignore[attr-defined]
            7,
            3,
            4.5,
        )
        assert (writer.size(), writer._max_overflow) == (1, 0)  # type: ignore[attr-defined]

    def test_pool_defaults(self) -> None:
        store = SQLAlchemyStore("postgresql://u@127.0.0.1:9/db")
        readers = store._engines.readers.sync_engine.pool

        assert (readers.size(), readers._max_overflow, readers._timeout) == (  # type: ignore[attr-defined]
            5,
            5,
            10.0,
        )

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            pytest.param({"pool_size": 0}, "pool_size", id="pool-size"),
            pytest.param({"max_overflow": -1}, "max_overflow", id="overflow"),
            pytest.param({"pool_timeout": 0}, "pool_timeout", id="timeout"),
        ],
    )
    def test_bad_pool_options_are_refused(
        self, options: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ValueError, match=message):
            SQLAlchemyStore("postgresql://u@127.0.0.1:9/db", **options)

    async def test_psycopg_runs_the_runners_side(self, postgres_url: str) -> None:
        url = postgres_url.replace("postgresql://", "postgresql+psycopg://")
        store = SQLAlchemyStore(url)
        await store.initialize(shard_count=SHARDS)
        try:
            timers = [make_timer(f"p{n}", shard=2) for n in range(3)]
            await store.insert_timers(timers)
            due = await store.fetch_due(
                [2],
                horizon=at(10**6),
                limit=10,
                known_through=at(0),
                changed_since=at(0),
            )
            claimed = await store.claim_timers(due)
            stored = await store.get_timer(NAMESPACE, "p1")
        finally:
            await store.close()

        assert sorted(timer.id for timer in claimed) == ["p0", "p1", "p2"]
        assert stored == timers[1]

    def test_unknown_driver_is_refused(self) -> None:
        with pytest.raises(ValueError, match="asyncpg or psycopg"):
            SQLAlchemyStore("postgresql+pg8000://u@127.0.0.1:9/db")

    async def test_readers_do_not_open_transactions(
        self, pg_store: SQLAlchemyStore
    ) -> None:
        with statements_run(pg_store) as seen:
            await pg_store.get_timer(NAMESPACE, "x")

        async with pg_store._engines.readers.connect() as connection:
            in_transaction = await connection.scalar(
                sa.text("SELECT now() <> statement_timestamp()")
            )

        assert [statement.split()[0] for statement, _ in seen] == ["SELECT"]
        assert in_transaction is True


class TestOrdering:
    async def test_ids_compare_bytewise_as_in_python(
        self, pg_store: SQLAlchemyStore
    ) -> None:
        ids = ["b", "B", "a", "A", "a-1", "a_1", "a.1", "a:1", "a@1", "Z9", "0", "é"]
        await pg_store.insert_timers([make_timer(name, fire_at=at(1)) for name in ids])

        listed = await pg_store.list_timers(NAMESPACE, TimerQuery(limit=100))

        assert [timer.id for timer in listed] == sorted(ids)

    async def test_keyset_pages_follow_the_same_order(
        self, pg_store: SQLAlchemyStore
    ) -> None:
        ids = ["b", "B", "a", "A", "a-1", "a_1", "Z9", "0"]
        await pg_store.insert_timers([make_timer(name, fire_at=at(1)) for name in ids])

        seen: list[str] = []
        query = TimerQuery(limit=3)
        while page := await pg_store.list_timers(NAMESPACE, query):
            seen.extend(timer.id for timer in page)
            query = attrs.evolve(query, after=(page[-1].fire_at, page[-1].id))

        assert seen == sorted(ids)

    async def test_key_columns_are_collated_c(self, pg_store: SQLAlchemyStore) -> None:
        async with pg_store._engines.readers.connect() as connection:
            rows = await connection.execute(
                sa.text(
                    "SELECT table_name, column_name, collation_name "
                    "FROM information_schema.columns "
                    "WHERE table_schema = current_schema() "
                    "AND column_name IN ('namespace', 'id', 'timer_id') "
                    "ORDER BY table_name, column_name"
                )
            )
            collations = [tuple(row) for row in rows]

        assert collations == [
            ("timer_attempts", "namespace", "C"),
            ("timer_attempts", "timer_id", "C"),
            ("timers", "id", "C"),
            ("timers", "namespace", "C"),
        ]


class TestQueryPlans:
    async def analyzed(self, store: SQLAlchemyStore, raw: AsyncConnection) -> None:
        """Store 40,000 timers, a quarter of them due, and let the planner know."""
        await store.insert_timers([make_timer("template")])
        await raw.execute(
            sa.text(
                """
                INSERT INTO timers
                SELECT t.namespace, 't' || lpad(n::text, 5, '0'), n % :shards,
                    t.version,
                    CASE WHEN n % 4 = 0 THEN 'scheduled' ELSE 'succeeded' END,
                    t.fire_at + n,
                    CASE WHEN n % 4 = 0 THEN t.fire_at + n END,
                    t.attempts, t.attempt_seq, t.first_attempt_at, t.created_at,
                    t.updated_at, t.executed_at, t.initial_fire_at,
                    t.definition_digest, t.callback_url, t.callback_timeout,
                    t.callback_headers, t.payload, t.max_attempts,
                    t.initial_interval, t.backoff_coefficient, t.max_interval,
                    t.max_duration, t.error_at, t.error_kind, t.error_message,
                    t.error_status
                FROM timers AS t, generate_series(0, 39999) AS n
                WHERE t.id = 'template'
                """
            ),
            {"shards": SHARDS},
        )
        await raw.exec_driver_sql("DELETE FROM timers WHERE id = 'template'")
        await raw.commit()
        await raw.exec_driver_sql("ANALYZE timers")

    async def test_due_query_merges_index_ranges_of_each_shard(
        self, pg_store: SQLAlchemyStore, raw: AsyncConnection
    ) -> None:
        await self.analyzed(pg_store, raw)
        shards = [0, 2, 3, 5, 7]

        with statements_run(pg_store) as seen:
            due = await pg_store.fetch_due(shards, horizon=at(10**6), limit=50)

        ((statement, parameters),) = seen
        plan = await plan_of(raw, statement, parameters)
        nodes = list(plan_nodes(plan))
        scans = [node for node in nodes if "Scan" in node["Node Type"]]
        assert len(due) == 50
        assert plan["Node Type"] == "Limit"
        # Merged in index order, lazily: nothing is sorted or read whole.
        assert "Merge Append" in [node["Node Type"] for node in nodes]
        assert not [node for node in nodes if node["Node Type"] == "Sort"]
        assert len(scans) == len(shards)
        assert {node.get("Index Name") for node in scans} == {"timers_due"}
        assert {node["Node Type"] for node in scans} <= {
            "Index Scan",
            "Index Only Scan",
        }

    @pytest.mark.parametrize(
        ("statuses", "index"),
        [
            pytest.param(frozenset(), "timers_list", id="any-status"),
            pytest.param(
                frozenset({TimerStatus.scheduled}),
                "timers_status_list",
                id="one-status",
            ),
        ],
    )
    async def test_list_query_reads_an_index_in_order(
        self,
        pg_store: SQLAlchemyStore,
        raw: AsyncConnection,
        statuses: frozenset[TimerStatus],
        index: str,
    ) -> None:
        await self.analyzed(pg_store, raw)
        query = TimerQuery(
            statuses=statuses,
            fire_after=at(1),
            after=(at(60), "t00100"),
            id_prefix="t",
            limit=20,
        )

        with statements_run(pg_store) as seen:
            await pg_store.list_timers(NAMESPACE, query)

        ((statement, parameters),) = seen
        plan = await plan_of(raw, statement, parameters)
        nodes = list(plan_nodes(plan))
        assert not [node for node in nodes if node["Node Type"] in ("Sort", "Seq Scan")]
        assert index in {node.get("Index Name") for node in nodes}

    async def test_claim_looks_timers_up_by_key(
        self, pg_store: SQLAlchemyStore, raw: AsyncConnection
    ) -> None:
        await self.analyzed(pg_store, raw)
        due = await pg_store.fetch_due([4], horizon=at(10**6), limit=30)

        with statements_run(pg_store) as seen:
            assert len(await pg_store.claim_timers(due)) == 30

        ((statement, parameters),) = seen
        assert "FOR UPDATE" not in statement
        plan = await plan_of(raw, statement, parameters)
        nodes = list(plan_nodes(plan))
        assert not [node for node in nodes if node["Node Type"] == "Seq Scan"]
        assert "timers_pkey" in {node.get("Index Name") for node in nodes}

    async def test_claim_probes_each_key_even_without_statistics(
        self, pg_store: SQLAlchemyStore, raw: AsyncConnection
    ) -> None:
        # Fresh rows, not analysed yet, as after a burst of creates: the
        # planner must not take the namespace for a small one and read it
        # all for every claim.
        await pg_store.insert_timers([make_timer(f"t{n}") for n in range(3000)])
        due = [
            DueTimer(NAMESPACE, f"t{n}", 1, at(60), make_timer(f"t{n}").shard)
            for n in range(0, 3000, 30)
        ]

        with statements_run(pg_store) as seen:
            assert len(await pg_store.claim_timers(due)) == 100

        ((statement, parameters),) = seen
        plan = await plan_of(raw, statement, parameters)
        scans = [
            node for node in plan_nodes(plan) if node.get("Relation Name") == "timers"
        ]
        assert len(scans) == 1
        assert scans[0]["Node Type"] == "Index Scan"
        assert scans[0]["Index Name"] == "timers_pkey"
        assert "keys.id" in scans[0]["Index Cond"]


class TestGroupCommit:
    async def test_concurrent_creates_share_transactions(
        self, pg_store: SQLAlchemyStore
    ) -> None:
        commits = commits_of(pg_store)
        results: list[list[Timer | None]] = []

        async def create(n: int) -> None:
            results.append(await pg_store.insert_timers([make_timer(f"t{n}")]))

        async with anyio.create_task_group() as group:
            for n in range(200):
                group.start_soon(create, n)

        assert results == [[None]] * 200
        assert len(commits) <= 3
        listed = await pg_store.list_timers(NAMESPACE, TimerQuery(limit=1000))
        assert len(listed) == 200

    async def test_a_failing_write_fails_alone(self, pg_store: SQLAlchemyStore) -> None:
        # PostgreSQL's text cannot hold a NUL character.
        broken = make_timer("broken", callback=Callback("https://x.example/\x00"))
        outcomes: dict[str, object] = {}

        async def create(timer: Timer) -> None:
            try:
                outcomes[timer.id] = await pg_store.insert_timers([timer])
            except StorageError as exc:
                outcomes[timer.id] = exc

        async with anyio.create_task_group() as group:
            for n in range(5):
                group.start_soon(create, make_timer(f"good-{n}"))

            group.start_soon(create, broken)

        failure = outcomes.pop("broken")
        assert isinstance(failure, StorageError)
        assert not isinstance(failure, StorageUnavailable)
        assert outcomes == {f"good-{n}": [None] for n in range(5)}

    async def test_concurrent_inserts_from_two_stores_have_one_winner_per_key(
        self, postgres_url: str
    ) -> None:
        made = await stores(postgres_url, 2)
        results: dict[tuple[int, int], list[Timer | None]] = {}

        async def insert(side: int, call: int) -> None:
            batch = [
                make_timer(f"k{(call * 7 + n * 13) % 120}", payload=[side, call])
                for n in range(4)
            ]
            results[(side, call)] = await made[side].insert_timers(batch)

        try:
            async with anyio.create_task_group() as group:
                for call in range(60):
                    for side in (0, 1):
                        group.start_soon(insert, side, call)

            stored = {
                timer.id: timer
                for timer in await made[0].list_timers(
                    NAMESPACE, TimerQuery(limit=1000)
                )
            }
        finally:
            await close_all(made)

        winners: dict[str, int] = {}
        for (side, call), answers in results.items():
            for n, answer in enumerate(answers):
                key = f"k{(call * 7 + n * 13) % 120}"
                if answer is None:
                    winners[key] = winners.get(key, 0) + 1
                    assert stored[key].payload == [side, call]
                else:
                    assert answer == stored[key]

        assert winners == dict.fromkeys(stored, 1)


class TestConcurrentRunners:
    async def test_two_runners_taking_over_at_once_get_each_shard_once(
        self, postgres_url: str
    ) -> None:
        runners = await stores(postgres_url, 2)
        shards = range(SHARDS)
        rounds: list[list[dict[int, int]]] = []
        try:
            for round_ in range(15):
                # Every lease of the round before has expired at this time.
                now = at(round_ * 100)
                won: list[dict[int, int]] = [{}, {}]

                async def take(side: int, now: Any = now, won: Any = won) -> None:
                    won[side] = await runners[side].acquire_leases(
                        f"runner-{side}", shards, now=now, duration=10
                    )

                async with anyio.create_task_group() as group:
                    group.start_soon(take, 0)
                    group.start_soon(take, 1)

                rounds.append(won)

            leases = await runners[0].list_leases()
        finally:
            await close_all(runners)

        for number, (first, second) in enumerate(rounds, start=1):
            assert not first.keys() & second.keys()
            assert sorted(first.keys() | second.keys()) == list(shards)
            assert set(first.values()) | set(second.values()) == {number}

        assert [lease.epoch for lease in leases] == [15] * SHARDS

    async def test_outcome_fence_holds_the_lease_until_it_commits(
        self, postgres_url: str, raw: AsyncConnection
    ) -> None:
        old, new = await stores(postgres_url, 2)
        timer = make_timer(shard=2)
        try:
            await old.insert_timers([timer])
            epochs = await old.acquire_leases("old", [2], now=at(0), duration=10)
            outcome = failed_outcome(timer, epoch=epochs[2])
            # A client's transaction holds the timer: the outcome's write
            # stops there, its lease's epoch already checked and locked.
            await raw.begin()
            await raw.execute(
                sa.text("SELECT 1 FROM timers WHERE id = :id FOR UPDATE"),
                {"id": timer.id},
            )
            applied: list[bool] = []
            taken: dict[int, int] = {}

            async def record() -> None:
                applied.extend(await old.record_outcomes([outcome]))

            async def take_over() -> None:
                taken.update(
                    await new.acquire_leases("new", [2], now=at(11), duration=10)
                )

            async with anyio.create_task_group() as group:
                group.start_soon(record)
                await wait_for_lock_waiters(raw, 1)
                group.start_soon(take_over)
                await wait_for_lock_waiters(raw, 2)
                # The takeover waits for the outcome, which waits for us.
                assert not taken
                assert not applied
                await raw.rollback()

            stored = await new.get_timer(NAMESPACE, timer.id)
            late = await old.record_outcomes([failed_outcome(outcome.timer, epoch=1)])
        finally:
            await close_all([old, new])

        assert applied == [True]
        assert taken == {2: epochs[2] + 1}
        assert stored == outcome.timer
        assert late == [False]

    async def test_outcome_after_a_takeover_is_fenced(self, postgres_url: str) -> None:
        old, new = await stores(postgres_url, 2)
        timers = [make_timer(f"t{n}", shard=2) for n in range(50)]
        try:
            await old.insert_timers(timers)
            epochs = await old.acquire_leases("old", [2], now=at(0), duration=10)
            outcomes = [failed_outcome(timer, epoch=epochs[2]) for timer in timers]
            applied: list[list[bool]] = []

            async def record_in_batches() -> None:
                for start in range(0, 50, 5):
                    applied.append(
                        await old.record_outcomes(outcomes[start : start + 5])
                    )

            async with anyio.create_task_group() as group:
                group.start_soon(record_in_batches)
                group.start_soon(
                    lambda: new.acquire_leases("new", [2], now=at(11), duration=10)
                )

            stored = {
                timer.id: timer
                for timer in await new.list_timers(NAMESPACE, TimerQuery(limit=100))
            }
        finally:
            await close_all([old, new])

        flags = [flag for batch in applied for flag in batch]
        # The batches before the takeover applied, every one after did not.
        assert flags == sorted(flags, reverse=True)
        for outcome, flag in zip(outcomes, flags, strict=True):
            expected = outcome.timer if flag else timers[outcomes.index(outcome)]
            assert stored[outcome.timer.id] == expected

    async def test_outcome_and_update_of_one_timer_have_one_winner(
        self, postgres_url: str
    ) -> None:
        runner, api = await stores(postgres_url, 2)
        timers = [make_timer(f"t{n}", shard=n % SHARDS) for n in range(40)]
        try:
            await runner.insert_timers(timers)
            epochs = await runner.acquire_leases(
                "r", range(SHARDS), now=at(0), duration=60
            )
            outcomes = [
                failed_outcome(timer, epoch=epochs[timer.shard]) for timer in timers
            ]
            edits = [
                attrs.evolve(timer, version=2, payload="edited") for timer in timers
            ]
            recorded: list[bool] = []
            replaced: dict[str, bool] = {}

            async def edit(timer: Timer) -> None:
                replaced[timer.id] = await api.replace_timer(timer, expected_version=1)

            async with anyio.create_task_group() as group:
                for edited in edits:
                    group.start_soon(edit, edited)

                recorded.extend(await runner.record_outcomes(outcomes))

            stored = {
                timer.id: timer
                for timer in await api.list_timers(NAMESPACE, TimerQuery(limit=100))
            }
        finally:
            await close_all([runner, api])

        for outcome, edited, applied in zip(outcomes, edits, recorded, strict=True):
            assert applied != replaced[edited.id]
            assert stored[edited.id] == (outcome.timer if applied else edited)

    async def test_claims_neither_wait_for_nor_skip_a_timer_being_written(
        self, pg_store: SQLAlchemyStore, raw: AsyncConnection
    ) -> None:
        await pg_store.insert_timers([make_timer(f"t{n}", shard=0) for n in range(4)])
        due = await pg_store.fetch_due([0], horizon=at(10**6), limit=10)
        await raw.begin()
        await raw.execute(sa.text("SELECT 1 FROM timers WHERE id = 't1' FOR UPDATE"))

        with anyio.fail_after(5):
            while_locked = await pg_store.claim_timers(due)

        await raw.rollback()
        after = await pg_store.claim_timers(due)

        assert [timer.id for timer in while_locked] == ["t0", "t1", "t2", "t3"]
        assert [timer.id for timer in after] == ["t0", "t1", "t2", "t3"]

    async def test_concurrent_purges_share_the_work(self, postgres_url: str) -> None:
        made = await stores(postgres_url, 3)
        counts: list[int] = []
        try:
            await made[0].insert_timers(
                [
                    make_timer(f"t{n}", status=TimerStatus.failed, updated_at=at(n))
                    for n in range(300)
                ]
            )

            async def purge(store: SQLAlchemyStore) -> None:
                counts.append(await store.purge_finished(before=at(1000), limit=150))

            async with anyio.create_task_group() as group:
                for store in made:
                    group.start_soon(purge, store)

            left = await made[0].count_timers()
        finally:
            await close_all(made)

        assert sum(counts) == 300
        assert left == []


class TestNul:
    """PostgreSQL's text cannot hold NUL; the store copes with it anyway."""

    async def test_reads_naming_a_nul_find_nothing(
        self, pg_store: SQLAlchemyStore
    ) -> None:
        await pg_store.insert_timers([make_timer("a", fire_at=at(1))])
        await pg_store.insert_timers([make_timer("b", fire_at=at(1))])

        assert await pg_store.get_timer(NAMESPACE, "a\x00") is None
        assert await pg_store.get_timer("ns\x00", "a") is None
        assert await pg_store.delete_timer(NAMESPACE, "a\x00") is None
        assert await pg_store.list_attempts(NAMESPACE, "a\x00", limit=5) == []
        assert await pg_store.list_timers(NAMESPACE, TimerQuery(id_prefix="\x00")) == []
        assert not await pg_store.replace_timer(
            make_timer("a\x00", version=2), expected_version=1
        )
        after = await pg_store.list_timers(
            NAMESPACE, TimerQuery(after=(at(1), "a\x00z"))
        )
        assert [timer.id for timer in after] == ["b"]
        assert (
            await pg_store.claim_timers([DueTimer(NAMESPACE, "a\x00", 1, at(1), 0)])
            == []
        )

    async def test_a_nul_in_an_error_message_does_not_block_the_outcome(
        self, pg_store: SQLAlchemyStore
    ) -> None:
        timer = make_timer(shard=3)
        await pg_store.insert_timers([timer])
        epochs = await pg_store.acquire_leases("r", [3], now=at(0), duration=60)
        outcome = failed_outcome(timer, epoch=epochs[3])
        assert outcome.timer.last_error is not None
        assert outcome.attempt.error is not None
        error = attrs.evolve(outcome.timer.last_error, message="bad \x00 answer")
        outcome = attrs.evolve(
            outcome,
            timer=attrs.evolve(outcome.timer, last_error=error),
            attempt=attrs.evolve(outcome.attempt, error=error),
        )

        assert await pg_store.record_outcomes([outcome]) == [True]
        stored = await pg_store.get_timer(NAMESPACE, timer.id)
        (attempt,) = await pg_store.list_attempts(NAMESPACE, timer.id, limit=5)
        assert stored is not None
        assert stored.last_error is not None
        assert attempt.error is not None
        assert stored.last_error.message == "bad \ufffd answer"
        assert attempt.error.message == "bad \ufffd answer"


class TestAttempts:
    async def test_keeps_the_latest_twenty_attempts(
        self, pg_store: SQLAlchemyStore, raw: AsyncConnection
    ) -> None:
        timer = make_timer(shard=0)
        await pg_store.insert_timers([timer])
        epochs = await pg_store.acquire_leases("r", [0], now=at(0), duration=60)
        for _ in range(27):
            outcome = failed_outcome(timer, epoch=epochs[0])
            await pg_store.record_outcomes([outcome])
            timer = outcome.timer

        rows = await raw.execute(sa.text("SELECT seq FROM timer_attempts ORDER BY seq"))

        assert [seq for (seq,) in rows] == list(range(8, 28))


class TestErrors:
    async def test_nothing_listening_is_unavailable(self) -> None:
        from timerbackends.testing.postgres import _free_port

        store = SQLAlchemyStore(f"postgresql://postgres@127.0.0.1:{_free_port()}/x")

        with anyio.fail_after(10), pytest.raises(StorageUnavailable) as caught:
            await store.initialize(shard_count=4)

        await store.close()
        assert type(caught.value).__module__.startswith("timerkernel")
        assert "refused" in str(caught.value).lower()

    async def test_a_missing_database_is_an_error_not_an_outage(
        self, postgres_url: str
    ) -> None:
        store = SQLAlchemyStore(postgres_url.rsplit("/", 1)[0] + "/no_such_database")

        with pytest.raises(StorageError) as caught:
            await store.initialize(shard_count=4)

        await store.close()
        assert not isinstance(caught.value, StorageUnavailable)
        assert "no_such_database" in str(caught.value)

    async def test_broken_schema_is_an_error_not_an_outage(
        self, pg_store: SQLAlchemyStore, raw: AsyncConnection
    ) -> None:
        await raw.exec_driver_sql("DROP TABLE timer_attempts")
        await raw.commit()

        with pytest.raises(StorageError) as caught:
            await pg_store.list_attempts(NAMESPACE, "t-1", limit=5)

        assert not isinstance(caught.value, StorageUnavailable)
        assert "does not exist" in str(caught.value)
        assert isinstance(caught.value.__cause__, sa.exc.SQLAlchemyError)

    async def test_out_of_range_value_is_a_storage_error(
        self, pg_store: SQLAlchemyStore
    ) -> None:
        with pytest.raises(StorageError) as caught:
            await pg_store.insert_timers([make_timer(version=2**70)])

        assert not isinstance(caught.value, StorageUnavailable)

    async def test_a_lock_held_past_the_busy_timeout_is_unavailable(
        self, postgres_url: str, raw: AsyncConnection
    ) -> None:
        store = SQLAlchemyStore(postgres_url, busy_timeout=0.2)
        await store.initialize(shard_count=SHARDS)
        timer = make_timer()
        await store.insert_timers([timer])
        await raw.begin()
        await raw.execute(sa.text("SELECT 1 FROM timers FOR UPDATE"))
        try:
            with anyio.fail_after(5), pytest.raises(StorageUnavailable, match="lock"):
                await store.replace_timer(
                    attrs.evolve(timer, version=2), expected_version=1
                )

            # Reads do not wait for writers.
            assert await store.get_timer(NAMESPACE, timer.id) == timer
        finally:
            await raw.rollback()

        try:
            assert await store.replace_timer(
                attrs.evolve(timer, version=2), expected_version=1
            )
        finally:
            await store.close()

    async def test_a_pool_timeout_is_unavailable(self, postgres_url: str) -> None:
        store = SQLAlchemyStore(
            postgres_url, pool_size=1, max_overflow=0, pool_timeout=0.2
        )
        await store.initialize(shard_count=SHARDS)
        try:
            async with store._engines.readers.connect() as held:
                await held.exec_driver_sql("SELECT 1")
                with anyio.fail_after(5), pytest.raises(StorageUnavailable):
                    await store.get_timer(NAMESPACE, "x")

            assert await store.get_timer(NAMESPACE, "x") is None
        finally:
            await store.close()

    async def test_sessions_ended_by_the_server_are_replaced_unseen(
        self, pg_store: SQLAlchemyStore, raw: AsyncConnection
    ) -> None:
        await pg_store.insert_timers([make_timer("before")])
        await pg_store.get_timer(NAMESPACE, "before")
        ended = await raw.scalar(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )

        assert ended >= 2
        assert await pg_store.get_timer(NAMESPACE, "before") is not None
        assert await pg_store.insert_timers([make_timer("after")]) == [None]
        await pg_store.ping()

    async def test_no_driver_exception_escapes(
        self, pg_store: SQLAlchemyStore, raw: AsyncConnection
    ) -> None:
        await raw.exec_driver_sql("DROP TABLE timers")
        await raw.commit()

        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda: pg_store.get_timer(NAMESPACE, "x"),
            lambda: pg_store.insert_timers([make_timer()]),
            lambda: pg_store.replace_timer(
                attrs.evolve(make_timer(), version=2), expected_version=1
            ),
            lambda: pg_store.delete_timer(NAMESPACE, "x"),
            lambda: pg_store.list_timers(NAMESPACE, TimerQuery()),
            lambda: pg_store.count_timers(),
            lambda: pg_store.purge_finished(before=at(0), limit=5),
            lambda: pg_store.fetch_due([0, 1], horizon=at(0), limit=5),
            lambda: pg_store.claim_timers([DueTimer(NAMESPACE, "x", 1, at(0), 0)]),
            lambda: pg_store.record_outcomes([failed_outcome(make_timer(), epoch=1)]),
        ]
        for call in calls:
            with pytest.raises(TimerKernelError) as caught:
                await call()

            assert type(caught.value).__module__.startswith("timerkernel")


async def test_lease_times_keep_microseconds(pg_store: SQLAlchemyStore) -> None:
    now = at(0) + timedelta(microseconds=123_457)

    await pg_store.acquire_leases("r", [1], now=now, duration=0.000001)

    (lease,) = await pg_store.list_leases()
    assert lease.expires_at == now + timedelta(microseconds=1)
