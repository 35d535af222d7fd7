"""The store contract, timers: create, read, replace, delete, list, purge."""

from __future__ import annotations

from datetime import timedelta

import anyio
import attrs
import pytest

from backend_support import (
    NAMESPACE,
    at,
    failed_outcome,
    make_timer,
    succeeded_outcome,
)
from timerkernel import (
    Callback,
    ErrorKind,
    LastError,
    RetryPolicy,
    Timer,
    TimerQuery,
    TimerStatus,
    VersionConflict,
)
from timerkernel.abc import Store

pytestmark = pytest.mark.anyio


ROUND_TRIP_CASES = [
    pytest.param(make_timer(), id="scheduled"),
    pytest.param(
        make_timer(
            callback=Callback("http://localhost:8080/x"),
            payload=None,
            retry_policy=RetryPolicy(),
            definition_digest="",
            initial_fire_at=None,
        ),
        id="defaults",
    ),
    pytest.param(
        make_timer(
            "order:42@eu.west-1",
            namespace="tenant_b-2",
            callback=Callback(
                "https://hooks.example/a?b=c",
                1 / 3,
                {"Authorization": "Bearer x", "X-Ünicode": "✓ €"},
            ),
            payload={
                "float": 0.1 + 0.2,
                "tiny": 5e-324,
                "huge": 1.7976931348623157e308,
                "negative_zero": -0.0,
                "int": 2**62 + 1,
                "bigger_than_int64": 2**70,
                "nested": [1, [2, [3, {"k": None}]], True, False, ""],
                "text": 'line\nbreak "quoted" \\ back 🎉',
            },
            retry_policy=RetryPolicy(0, 0.001, 1.0000001, 1e9, 86_400.5),
            attempts=3,
            attempt_seq=17,
            next_attempt_at=at(90.123),
            first_attempt_at=at(61.5),
            last_error=LastError(at(70.001), ErrorKind.http_status, "bad ✗", 502),
            created_at=at(-5),
            updated_at=at(70.001),
            executed_at=at(50),
            version=9,
            shard=7,
            initial_fire_at=at(30),
        ),
        id="every-field",
    ),
    pytest.param(
        make_timer(
            status=TimerStatus.failed,
            next_attempt_at=None,
            last_error=LastError(at(80), ErrorKind.connection, "refused"),
            payload=[1, 2.5, "three"],
        ),
        id="failed",
    ),
    pytest.param(
        make_timer(
            status=TimerStatus.succeeded,
            next_attempt_at=None,
            executed_at=at(61),
            payload="just a string",
        ),
        id="succeeded",
    ),
    pytest.param(make_timer(fire_at=at(-2 * 10**9), payload=12.75), id="before-1970"),
]


class TestInsertTimers:
    @pytest.mark.parametrize("timer", ROUND_TRIP_CASES)
    async def test_stored_timer_comes_back_equal(
        self, store: Store, timer: Timer
    ) -> None:
        results = await store.insert_timers([timer])
        stored = await store.get_timer(timer.namespace, timer.id)

        assert results == [None]
        assert stored == timer

    async def test_taken_id_returns_the_stored_timer_unchanged(
        self, store: Store
    ) -> None:
        original = make_timer(payload={"first": True})
        await store.insert_timers([original])

        results = await store.insert_timers([make_timer(payload={"second": True})])

        assert results == [original]
        assert await store.get_timer(NAMESPACE, original.id) == original

    async def test_results_are_per_timer_in_order(self, store: Store) -> None:
        taken = make_timer("b")
        await store.insert_timers([taken])
        batch = [make_timer("a"), make_timer("b", payload=2), make_timer("c")]

        results = await store.insert_timers(batch)

        assert results == [None, taken, None]
        assert await store.get_timer(NAMESPACE, "a") == batch[0]
        assert await store.get_timer(NAMESPACE, "c") == batch[2]

    async def test_same_id_in_another_namespace_is_free(self, store: Store) -> None:
        await store.insert_timers([make_timer("x", namespace="one")])

        results = await store.insert_timers([make_timer("x", namespace="two")])

        assert results == [None]

    async def test_empty_batch(self, store: Store) -> None:
        assert await store.insert_timers([]) == []

    async def test_concurrent_inserts_have_exactly_one_winner_per_key(
        self, store: Store
    ) -> None:
        # 200 calls of 5 timers over 300 keys: most keys are named by
        # several calls, each with its own payload, so a winner is known.
        calls = [
            [
                make_timer(f"k{(call * 7 + n * 61) % 300}", payload=call)
                for n in range(5)
            ]
            for call in range(200)
        ]
        results: dict[int, list[Timer | None]] = {}

        async def insert(call: int) -> None:
            results[call] = await store.insert_timers(calls[call])

        async with anyio.create_task_group() as group:
            for call in range(200):
                group.start_soon(insert, call)

        winners: dict[str, list[Timer]] = {}
        for call, timers in enumerate(calls):
            for timer, result in zip(timers, results[call], strict=True):
                if result is None:
                    winners.setdefault(timer.id, []).append(timer)

        named = {timer.id for timers in calls for timer in timers}
        assert sorted(winners) == sorted(named)
        assert all(len(won) == 1 for won in winners.values())
        for call, timers in enumerate(calls):
            for timer, result in zip(timers, results[call], strict=True):
                assert (result or timer) == winners[timer.id][0]

        for timer_id, (winner,) in winners.items():
            assert await store.get_timer(NAMESPACE, timer_id) == winner


class TestGetTimer:
    async def test_missing_timer_is_none(self, store: Store) -> None:
        await store.insert_timers([make_timer("present")])

        assert await store.get_timer(NAMESPACE, "absent") is None
        assert await store.get_timer("elsewhere", "present") is None


class TestReplaceTimer:
    async def test_replaces_at_the_expected_version(self, store: Store) -> None:
        timer = make_timer()
        await store.insert_timers([timer])
        changed = attrs.evolve(
            timer,
            version=2,
            fire_at=at(500),
            next_attempt_at=at(500),
            payload={"changed": [1.5]},
            callback=Callback("https://other.example/", 9.5, {}),
            updated_at=at(3),
        )

        replaced = await store.replace_timer(changed, expected_version=1)

        assert replaced is True
        assert await store.get_timer(NAMESPACE, timer.id) == changed

    async def test_other_version_changes_nothing(self, store: Store) -> None:
        timer = make_timer(version=3)
        await store.insert_timers([timer])
        changed = attrs.evolve(timer, version=3, payload="lost")

        replaced = await store.replace_timer(changed, expected_version=2)

        assert replaced is False
        assert await store.get_timer(NAMESPACE, timer.id) == timer

    async def test_missing_timer_is_not_replaced(self, store: Store) -> None:
        timer = make_timer(version=2)

        replaced = await store.replace_timer(timer, expected_version=1)

        assert replaced is False
        assert await store.get_timer(NAMESPACE, timer.id) is None

    async def test_rescheduled_timer_is_due_at_its_new_time(self, store: Store) -> None:
        timer = make_timer(fire_at=at(10))
        await store.insert_timers([timer])
        moved = attrs.evolve(timer, version=2, fire_at=at(900), next_attempt_at=at(900))

        await store.replace_timer(moved, expected_version=1)

        shards = [timer.shard]
        assert await store.fetch_due(shards, horizon=at(899), limit=10) == []
        due = await store.fetch_due(shards, horizon=at(900), limit=10)
        assert [(entry.id, entry.version) for entry in due] == [(timer.id, 2)]


class TestDeleteTimer:
    async def test_returns_what_was_deleted(self, store: Store) -> None:
        timer = make_timer()
        await store.insert_timers([timer])

        deleted = await store.delete_timer(NAMESPACE, timer.id)

        assert deleted == timer
        assert await store.get_timer(NAMESPACE, timer.id) is None
        assert await store.fetch_due([timer.shard], horizon=at(10**6), limit=10) == []

    async def test_missing_timer_is_none(self, store: Store) -> None:
        assert await store.delete_timer(NAMESPACE, "absent") is None
        assert await store.delete_timer(NAMESPACE, "absent", expected_version=1) is None

    async def test_deletes_at_the_expected_version(self, store: Store) -> None:
        timer = make_timer(version=4)
        await store.insert_timers([timer])

        deleted = await store.delete_timer(NAMESPACE, timer.id, expected_version=4)

        assert deleted == timer
        assert await store.get_timer(NAMESPACE, timer.id) is None

    async def test_other_version_raises_and_keeps_the_timer(self, store: Store) -> None:
        timer = make_timer(version=4)
        await store.insert_timers([timer])

        with pytest.raises(VersionConflict) as caught:
            await store.delete_timer(NAMESPACE, timer.id, expected_version=3)

        assert (caught.value.expected, caught.value.actual) == (3, 4)
        assert (caught.value.namespace, caught.value.timer_id) == (NAMESPACE, timer.id)
        assert await store.get_timer(NAMESPACE, timer.id) == timer

    async def test_attempts_go_with_the_timer(self, store: Store) -> None:
        timer = make_timer()
        await store.insert_timers([timer])
        epochs = await store.acquire_leases("r", [timer.shard], now=at(0), duration=60)
        await store.record_outcomes([failed_outcome(timer, epoch=epochs[timer.shard])])

        await store.delete_timer(NAMESPACE, timer.id)

        # The id is free again, and the new timer starts without history.
        assert await store.insert_timers([timer]) == [None]
        assert await store.list_attempts(NAMESPACE, timer.id, limit=10) == []


class TestListTimers:
    @staticmethod
    async def ids(
        store: Store, query: TimerQuery, namespace: str = NAMESPACE
    ) -> list[str]:
        return [timer.id for timer in await store.list_timers(namespace, query)]

    async def test_orders_by_fire_time_then_id(self, store: Store) -> None:
        await store.insert_timers(
            [
                make_timer("b", fire_at=at(20)),
                make_timer("c", fire_at=at(10)),
                make_timer("a", fire_at=at(20)),
                make_timer("B", fire_at=at(20)),
                make_timer("d", fire_at=at(5)),
            ]
        )

        assert await self.ids(store, TimerQuery()) == ["d", "c", "B", "a", "b"]

    async def test_returns_full_timers_of_the_namespace_only(
        self, store: Store
    ) -> None:
        mine = make_timer("a")
        await store.insert_timers([mine, make_timer("a", namespace="other")])

        assert await store.list_timers(NAMESPACE, TimerQuery()) == [mine]
        assert await store.list_timers("nobody", TimerQuery()) == []

    async def test_filters_by_status(self, store: Store) -> None:
        await store.insert_timers(
            [
                make_timer("s", fire_at=at(1)),
                make_timer("ok", fire_at=at(2), status=TimerStatus.succeeded),
                make_timer("bad", fire_at=at(3), status=TimerStatus.failed),
            ]
        )

        finished = frozenset({TimerStatus.succeeded, TimerStatus.failed})
        assert await self.ids(store, TimerQuery(statuses=finished)) == ["ok", "bad"]
        only = frozenset({TimerStatus.scheduled})
        assert await self.ids(store, TimerQuery(statuses=only)) == ["s"]
        assert await self.ids(store, TimerQuery(statuses=frozenset())) == [
            "s",
            "ok",
            "bad",
        ]

    async def test_fire_after_is_inclusive_and_fire_before_exclusive(
        self, store: Store
    ) -> None:
        await store.insert_timers(
            [make_timer(f"t{n}", fire_at=at(n)) for n in range(1, 6)]
        )

        query = TimerQuery(fire_after=at(2), fire_before=at(4))
        assert await self.ids(store, query) == ["t2", "t3"]

    async def test_time_bounds_between_milliseconds(self, store: Store) -> None:
        await store.insert_timers([make_timer("t", fire_at=at(2))])
        half = timedelta(microseconds=500)

        assert await self.ids(store, TimerQuery(fire_after=at(2) - half)) == ["t"]
        assert await self.ids(store, TimerQuery(fire_after=at(2) + half)) == []
        assert await self.ids(store, TimerQuery(fire_before=at(2) + half)) == ["t"]
        assert await self.ids(store, TimerQuery(fire_before=at(2) - half)) == []

    async def test_filters_by_id_prefix_case_sensitively(self, store: Store) -> None:
        await store.insert_timers(
            [
                make_timer("order-1", fire_at=at(1)),
                make_timer("Order-2", fire_at=at(2)),
                make_timer("order-3", fire_at=at(3)),
                make_timer("ord", fire_at=at(4)),
                make_timer("invoice-1", fire_at=at(5)),
            ]
        )

        assert await self.ids(store, TimerQuery(id_prefix="order-")) == [
            "order-1",
            "order-3",
        ]
        assert await self.ids(store, TimerQuery(id_prefix="O")) == ["Order-2"]
        assert await self.ids(store, TimerQuery(id_prefix="order-%")) == []

    async def test_limit(self, store: Store) -> None:
        await store.insert_timers(
            [make_timer(f"t{n}", fire_at=at(n)) for n in range(9)]
        )

        assert await self.ids(store, TimerQuery(limit=3)) == ["t0", "t1", "t2"]

    async def test_pages_by_keyset_through_ties(self, store: Store) -> None:
        timers = [make_timer(f"t{n:02}", fire_at=at(n // 3)) for n in range(10)]
        await store.insert_timers(timers[::-1])

        seen: list[str] = []
        query = TimerQuery(limit=4)
        while page := await store.list_timers(NAMESPACE, query):
            seen.extend(timer.id for timer in page)
            last = page[-1]
            query = attrs.evolve(query, after=(last.fire_at, last.id))

        assert seen == [timer.id for timer in timers]

    async def test_after_is_exclusive(self, store: Store) -> None:
        await store.insert_timers(
            [make_timer("a", fire_at=at(1)), make_timer("b", fire_at=at(1))]
        )
        await store.insert_timers([make_timer("c", fire_at=at(2))])

        assert await self.ids(store, TimerQuery(after=(at(1), "a"))) == ["b", "c"]
        assert await self.ids(store, TimerQuery(after=(at(1), "b"))) == ["c"]
        assert await self.ids(store, TimerQuery(after=(at(1), ""))) == ["a", "b", "c"]

    async def test_filters_combine(self, store: Store) -> None:
        await store.insert_timers(
            [
                make_timer("x-1", fire_at=at(1)),
                make_timer("x-2", fire_at=at(2), status=TimerStatus.failed),
                make_timer("x-3", fire_at=at(3)),
                make_timer("y-4", fire_at=at(4)),
                make_timer("x-5", fire_at=at(5)),
                make_timer("x-6", fire_at=at(6)),
            ]
        )

        query = TimerQuery(
            statuses=frozenset({TimerStatus.scheduled}),
            fire_after=at(1),
            fire_before=at(6),
            id_prefix="x-",
            after=(at(1), "x-1"),
            limit=2,
        )
        assert await self.ids(store, query) == ["x-3", "x-5"]


class TestCountTimers:
    async def test_counts_every_status_of_every_namespace(self, store: Store) -> None:
        await store.insert_timers(
            [
                make_timer("a", namespace="beta"),
                make_timer("b", namespace="beta", status=TimerStatus.failed),
                make_timer("c", namespace="beta", status=TimerStatus.failed),
                make_timer("d", namespace="alpha", status=TimerStatus.succeeded),
            ]
        )

        counts = await store.count_timers()

        assert [(entry.name, dict(entry.counts)) for entry in counts] == [
            (
                "alpha",
                {
                    TimerStatus.scheduled: 0,
                    TimerStatus.succeeded: 1,
                    TimerStatus.failed: 0,
                },
            ),
            (
                "beta",
                {
                    TimerStatus.scheduled: 1,
                    TimerStatus.succeeded: 0,
                    TimerStatus.failed: 2,
                },
            ),
        ]

    async def test_empty_store_has_no_namespaces(self, store: Store) -> None:
        assert await store.count_timers() == []


class TestListAttempts:
    async def test_newest_first_and_at_least_ten_kept(self, store: Store) -> None:
        timer = make_timer(retry_policy=RetryPolicy(max_attempts=0))
        await store.insert_timers([timer])
        epoch = (
            await store.acquire_leases("r", [timer.shard], now=at(0), duration=60)
        )[timer.shard]
        recorded = []
        for _ in range(25):
            outcome = failed_outcome(timer, epoch=epoch)
            assert await store.record_outcomes([outcome]) == [True]
            recorded.append(outcome.attempt)
            timer = outcome.timer

        latest = await store.list_attempts(NAMESPACE, timer.id, limit=10)
        first_three = await store.list_attempts(NAMESPACE, timer.id, limit=3)

        assert latest == recorded[::-1][:10]
        assert first_three == recorded[::-1][:3]

    async def test_attempts_belong_to_their_timer(self, store: Store) -> None:
        one, two = make_timer("one"), make_timer("two")
        await store.insert_timers([one, two])
        epochs = await store.acquire_leases(
            "r", {one.shard, two.shard}, now=at(0), duration=60
        )
        outcome = succeeded_outcome(one, epoch=epochs[one.shard])
        await store.record_outcomes([outcome])

        assert await store.list_attempts(NAMESPACE, "one", limit=5) == [outcome.attempt]
        assert await store.list_attempts(NAMESPACE, "two", limit=5) == []
        assert await store.list_attempts("other", "one", limit=5) == []


class TestPurgeFinished:
    async def test_purges_only_finished_timers_changed_before_the_cutoff(
        self, store: Store
    ) -> None:
        await store.insert_timers(
            [
                make_timer("old-ok", status=TimerStatus.succeeded, updated_at=at(10)),
                make_timer("old-bad", status=TimerStatus.failed, updated_at=at(19.999)),
                make_timer("at-cutoff", status=TimerStatus.failed, updated_at=at(20)),
                make_timer("new-ok", status=TimerStatus.succeeded, updated_at=at(30)),
                make_timer("old-scheduled", updated_at=at(1)),
            ]
        )

        purged = await store.purge_finished(before=at(20), limit=100)

        left = await store.list_timers(NAMESPACE, TimerQuery())
        assert purged == 2
        assert sorted(timer.id for timer in left) == [
            "at-cutoff",
            "new-ok",
            "old-scheduled",
        ]

    async def test_attempts_go_with_the_timer(self, store: Store) -> None:
        timer = make_timer()
        await store.insert_timers([timer])
        epochs = await store.acquire_leases("r", [timer.shard], now=at(0), duration=60)
        outcome = succeeded_outcome(timer, epoch=epochs[timer.shard])
        await store.record_outcomes([outcome])

        purged = await store.purge_finished(
            before=outcome.timer.updated_at + timedelta(milliseconds=1), limit=10
        )

        assert purged == 1
        assert await store.get_timer(NAMESPACE, timer.id) is None
        assert await store.insert_timers([timer]) == [None]
        assert await store.list_attempts(NAMESPACE, timer.id, limit=10) == []

    async def test_respects_the_limit(self, store: Store) -> None:
        await store.insert_timers(
            [
                make_timer(f"t{n}", status=TimerStatus.succeeded, updated_at=at(n))
                for n in range(7)
            ]
        )

        rounds = [await store.purge_finished(before=at(100), limit=3) for _ in range(4)]

        assert rounds == [3, 3, 1, 0]
        assert await store.count_timers() == []
