"""The store contract, the runner's side: due timers, claims, outcomes."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from backend_support import (
    NAMESPACE,
    SHARDS,
    at,
    failed_outcome,
    make_timer,
    succeeded_outcome,
)
from timerkernel import DueTimer, TimerStatus
from timerkernel.abc import Store

pytestmark = pytest.mark.anyio

ALL_SHARDS = range(SHARDS)


class TestFetchDue:
    async def test_returns_index_entries_of_due_scheduled_timers(
        self, store: Store
    ) -> None:
        timer = make_timer(shard=3, version=5, next_attempt_at=at(40))
        await store.insert_timers([timer])

        due = await store.fetch_due([3], horizon=at(40), limit=10)

        assert due == [DueTimer(NAMESPACE, timer.id, 5, at(40), 3)]

    async def test_skips_finished_timers(self, store: Store) -> None:
        await store.insert_timers(
            [
                make_timer(
                    "ok", shard=1, status=TimerStatus.succeeded, next_attempt_at=None
                ),
                make_timer(
                    "bad", shard=1, status=TimerStatus.failed, next_attempt_at=None
                ),
                # Finished yet with a time left over: not due either.
                make_timer("odd", shard=1, status=TimerStatus.failed),
                make_timer("live", shard=1),
            ]
        )

        due = await store.fetch_due([1], horizon=at(10**6), limit=10)

        assert [entry.id for entry in due] == ["live"]

    async def test_horizon_is_inclusive(self, store: Store) -> None:
        await store.insert_timers(
            [
                make_timer("early", shard=0, next_attempt_at=at(9.999)),
                make_timer("exact", shard=0, next_attempt_at=at(10)),
                make_timer("late", shard=0, next_attempt_at=at(10.001)),
            ]
        )

        due = await store.fetch_due([0], horizon=at(10), limit=10)
        between = await store.fetch_due(
            [0], horizon=at(10) + timedelta(microseconds=999), limit=10
        )

        assert [entry.id for entry in due] == ["early", "exact"]
        assert [entry.id for entry in between] == ["early", "exact"]

    async def test_skips_held_timers_unless_changed_since(self, store: Store) -> None:
        await store.insert_timers(
            [
                make_timer("held", shard=0, next_attempt_at=at(5), updated_at=at(1)),
                make_timer("changed", shard=0, next_attempt_at=at(6), updated_at=at(3)),
                make_timer("edge", shard=0, next_attempt_at=at(10), updated_at=at(1)),
                make_timer("new", shard=0, next_attempt_at=at(12), updated_at=at(1)),
                make_timer("beyond", shard=0, next_attempt_at=at(30), updated_at=at(1)),
            ]
        )

        due = await store.fetch_due(
            [0],
            horizon=at(20),
            limit=10,
            known_through=at(10),
            changed_since=at(3),
        )

        assert [entry.id for entry in due] == ["changed", "new"]

    async def test_changed_since_is_inclusive_to_the_millisecond(
        self, store: Store
    ) -> None:
        await store.insert_timers(
            [make_timer("t", shard=0, next_attempt_at=at(5), updated_at=at(3))]
        )

        due = await store.fetch_due(
            [0],
            horizon=at(20),
            limit=10,
            known_through=at(10),
            changed_since=at(3) - timedelta(microseconds=500),
        )

        assert [entry.id for entry in due] == ["t"]

    async def test_only_the_given_shards(self, store: Store) -> None:
        await store.insert_timers(
            [make_timer(f"s{shard}", shard=shard) for shard in ALL_SHARDS]
        )

        due = await store.fetch_due({2, 5, 6}, horizon=at(10**6), limit=100)

        assert sorted(entry.id for entry in due) == ["s2", "s5", "s6"]
        assert await store.fetch_due([], horizon=at(10**6), limit=100) == []

    async def test_ordered_by_due_time_across_shards_and_limited(
        self, store: Store
    ) -> None:
        timers = [
            make_timer(f"t{n:02}", shard=n % SHARDS, next_attempt_at=at(100 - n))
            for n in range(40)
        ]
        await store.insert_timers(timers)

        due = await store.fetch_due(ALL_SHARDS, horizon=at(10**6), limit=7)

        times = [entry.next_attempt_at for entry in due]
        assert times == sorted(times)
        assert [entry.id for entry in due] == [f"t{n:02}" for n in range(39, 32, -1)]

    async def test_uses_the_retry_time_not_the_fire_time(self, store: Store) -> None:
        await store.insert_timers(
            [make_timer("retry", shard=0, fire_at=at(1), next_attempt_at=at(50))]
        )

        assert await store.fetch_due([0], horizon=at(49), limit=10) == []
        assert len(await store.fetch_due([0], horizon=at(50), limit=10)) == 1

    async def test_limit_zero_returns_nothing(self, store: Store) -> None:
        await store.insert_timers([make_timer(shard=0)])

        assert await store.fetch_due([0], horizon=at(10**6), limit=0) == []


class TestClaimTimers:
    async def test_returns_full_timers_still_as_seen(self, store: Store) -> None:
        timers = [make_timer(f"t{n}", shard=n % 2) for n in range(4)]
        await store.insert_timers(timers)
        due = await store.fetch_due([0, 1], horizon=at(10**6), limit=10)

        claimed = await store.claim_timers(due)

        by_key = {timer.key: timer for timer in timers}
        assert claimed == [by_key[entry.key] for entry in due]

    async def test_changed_deleted_and_finished_timers_are_left_out(
        self, store: Store
    ) -> None:
        names = ["kept", "changed", "deleted", "finished"]
        timers = {name: make_timer(name, shard=0) for name in names}
        await store.insert_timers(list(timers.values()))
        due = await store.fetch_due([0], horizon=at(10**6), limit=10)

        changed = attrs.evolve(timers["changed"], version=2, payload="new")
        await store.replace_timer(changed, expected_version=1)
        await store.delete_timer(NAMESPACE, "deleted")
        finished = attrs.evolve(
            timers["finished"],
            version=2,
            status=TimerStatus.succeeded,
            next_attempt_at=None,
        )
        await store.replace_timer(finished, expected_version=1)

        claimed = await store.claim_timers(due)

        assert claimed == [timers["kept"]]

    async def test_an_entry_at_an_older_version_is_not_claimed(
        self, store: Store
    ) -> None:
        timer = make_timer(shard=0, version=3)
        await store.insert_timers([timer])
        stale = DueTimer(NAMESPACE, timer.id, 2, at(60), 0)

        assert await store.claim_timers([stale]) == []
        assert await store.claim_timers([]) == []


class TestRecordOutcomes:
    async def test_applies_with_matching_version_and_epoch(self, store: Store) -> None:
        timer = make_timer(shard=2)
        await store.insert_timers([timer])
        epochs = await store.acquire_leases("r", [2], now=at(0), duration=30)
        outcome = failed_outcome(timer, epoch=epochs[2])

        applied = await store.record_outcomes([outcome])

        assert applied == [True]
        assert await store.get_timer(NAMESPACE, timer.id) == outcome.timer
        assert await store.list_attempts(NAMESPACE, timer.id, limit=5) == [
            outcome.attempt
        ]
        due = await store.fetch_due([2], horizon=at(10**6), limit=5)
        assert [(entry.version, entry.next_attempt_at) for entry in due] == [
            (2, outcome.timer.next_attempt_at)
        ]

    async def test_finished_timer_is_no_longer_due(self, store: Store) -> None:
        timer = make_timer(shard=2)
        await store.insert_timers([timer])
        epochs = await store.acquire_leases("r", [2], now=at(0), duration=30)

        await store.record_outcomes([succeeded_outcome(timer, epoch=epochs[2])])

        assert await store.fetch_due([2], horizon=at(10**6), limit=5) == []

    async def test_version_fence(self, store: Store) -> None:
        timer = make_timer(shard=2)
        await store.insert_timers([timer])
        epochs = await store.acquire_leases("r", [2], now=at(0), duration=30)
        outcome = failed_outcome(timer, epoch=epochs[2])
        # A client changed the timer while it was being delivered.
        edited = attrs.evolve(timer, version=2, payload="edited")
        await store.replace_timer(edited, expected_version=1)

        applied = await store.record_outcomes([outcome])

        assert applied == [False]
        assert await store.get_timer(NAMESPACE, timer.id) == edited
        assert await store.list_attempts(NAMESPACE, timer.id, limit=5) == []

    async def test_deleted_timer_is_not_recreated(self, store: Store) -> None:
        timer = make_timer(shard=2)
        await store.insert_timers([timer])
        epochs = await store.acquire_leases("r", [2], now=at(0), duration=30)
        await store.delete_timer(NAMESPACE, timer.id)

        applied = await store.record_outcomes([failed_outcome(timer, epoch=epochs[2])])

        assert applied == [False]
        assert await store.get_timer(NAMESPACE, timer.id) is None
        assert await store.list_attempts(NAMESPACE, timer.id, limit=5) == []

    async def test_epoch_fence(self, store: Store) -> None:
        timer = make_timer(shard=2)
        await store.insert_timers([timer])
        old = await store.acquire_leases("old", [2], now=at(0), duration=10)
        # The old runner's lease expired and another took the shard.
        new = await store.acquire_leases("new", [2], now=at(11), duration=10)

        stale = await store.record_outcomes([failed_outcome(timer, epoch=old[2])])

        assert new[2] == old[2] + 1
        assert stale == [False]
        assert await store.get_timer(NAMESPACE, timer.id) == timer
        assert await store.list_attempts(NAMESPACE, timer.id, limit=5) == []
        assert await store.record_outcomes([failed_outcome(timer, epoch=new[2])]) == [
            True
        ]

    async def test_shard_never_leased_is_fenced(self, store: Store) -> None:
        timer = make_timer(shard=2)
        await store.insert_timers([timer])

        assert await store.record_outcomes([failed_outcome(timer, epoch=1)]) == [False]

    async def test_results_are_per_outcome_in_order(self, store: Store) -> None:
        timers = [make_timer(f"t{n}", shard=n % 3) for n in range(5)]
        await store.insert_timers(timers)
        epochs = await store.acquire_leases("r", [0, 1, 2], now=at(0), duration=30)
        await store.replace_timer(
            attrs.evolve(timers[1], version=2), expected_version=1
        )
        outcomes = [
            succeeded_outcome(timers[0], epoch=epochs[0]),
            failed_outcome(timers[1], epoch=epochs[1]),
            failed_outcome(timers[2], epoch=epochs[2] + 1),
            failed_outcome(timers[3], epoch=epochs[0]),
            succeeded_outcome(timers[4], epoch=epochs[1]),
        ]

        applied = await store.record_outcomes(outcomes)

        assert applied == [True, False, False, True, True]
        for outcome, ok in zip(outcomes, applied, strict=True):
            stored = await store.get_timer(NAMESPACE, outcome.timer.id)
            history = await store.list_attempts(NAMESPACE, outcome.timer.id, limit=5)
            assert (stored == outcome.timer) is ok
            assert history == ([outcome.attempt] if ok else [])

    async def test_outcomes_of_one_timer_apply_in_sequence(self, store: Store) -> None:
        timer = make_timer(shard=4)
        await store.insert_timers([timer])
        epochs = await store.acquire_leases("r", [4], now=at(0), duration=30)
        first = failed_outcome(timer, epoch=epochs[4])
        second = succeeded_outcome(first.timer, epoch=epochs[4])
        repeated = failed_outcome(timer, epoch=epochs[4])

        applied = await store.record_outcomes([first, second, repeated])

        assert applied == [True, True, False]
        assert await store.get_timer(NAMESPACE, timer.id) == second.timer
        assert await store.list_attempts(NAMESPACE, timer.id, limit=5) == [
            second.attempt,
            first.attempt,
        ]

    async def test_empty_batch(self, store: Store) -> None:
        assert await store.record_outcomes([]) == []
