"""Shard leases between runners: takeover after a crash, fencing, fair share."""

from __future__ import annotations

import attrs
import pytest

from kernel_harness import (
    NS,
    FakeDispatcher,
    FlakyStore,
    Hold,
    at,
    running,
    settle,
    spec,
    step,
    step_to,
)
from timerkernel import (
    Delivered,
    Kernel,
    Lease,
    ManualClock,
    MemoryStore,
    Outcome,
    Runner,
    RunnerSettings,
    TimerStatus,
    next_state,
    shard_of,
)

SHARDS = 16
LEASE_SECONDS = RunnerSettings().lease_duration_seconds


@attrs.define
class Node:
    """One runner process: its own kernel, dispatcher and view of the store."""

    kernel: Kernel
    store: FlakyStore
    dispatcher: FakeDispatcher
    runner: Runner


@attrs.define
class Cluster:
    """Runner processes sharing one memory store and one virtual clock."""

    clock: ManualClock
    store: MemoryStore
    api: Kernel

    @classmethod
    async def create(cls) -> Cluster:
        clock = ManualClock(at(0))
        store = MemoryStore()
        api = Kernel(store, clock=clock)
        await api.initialize()
        return cls(clock, store, api)

    async def node(self, runner_id: str) -> Node:
        view = FlakyStore(self.store)
        kernel = Kernel(view, clock=self.clock)
        await kernel.initialize()
        dispatcher = FakeDispatcher(self.clock)
        runner = Runner(kernel, dispatcher, runner_id=runner_id)
        return Node(kernel, view, dispatcher, runner)

    async def leases(self) -> dict[int, Lease]:
        return {lease.shard: lease for lease in await self.store.list_leases()}

    async def owners(self) -> dict[int, str | None]:
        return {shard: lease.owner for shard, lease in (await self.leases()).items()}


@pytest.mark.anyio
class TestTakeover:
    async def test_killed_runner_keeps_its_leases_until_they_expire(self) -> None:
        cluster = await Cluster.create()
        a = await cluster.node("runner-a")
        async with running(a.runner) as fleet:
            await step(cluster.clock, 1)
            a.store.down = True
            fleet.cancel(a.runner)
            await settle()
            owners = await cluster.owners()

        assert owners == dict.fromkeys(range(SHARDS), "runner-a")
        assert a.runner.leases == {}

    async def test_survivor_takes_dead_runners_shards_with_a_higher_epoch(
        self,
    ) -> None:
        cluster = await Cluster.create()
        a = await cluster.node("runner-a")
        b = await cluster.node("runner-b")
        await cluster.api.create_timer(NS, spec("due-soon", fire_at=at(5)))
        async with running(a.runner) as fleet:
            held_by_a = dict(a.runner.leases)
            await step(cluster.clock, 1)
            a.store.down = True
            fleet.cancel(a.runner)
            await fleet.start(b.runner)
            await step_to(cluster.clock, at(LEASE_SECONDS - 0.1))
            held_by_b_before_expiry = dict(b.runner.leases)
            calls_before_expiry = len(b.dispatcher.calls)
            await step_to(cluster.clock, at(14))
            held_by_b = dict(b.runner.leases)
            owners = await cluster.owners()

        timer = await cluster.api.get_timer(NS, "due-soon")

        assert held_by_a == dict.fromkeys(range(SHARDS), 1)
        assert held_by_b_before_expiry == {}
        assert calls_before_expiry == 0
        assert held_by_b == dict.fromkeys(range(SHARDS), 2)
        assert owners == dict.fromkeys(range(SHARDS), "runner-b")
        assert (a.runner.lease_takeovers, b.runner.lease_takeovers) == (0, SHARDS)
        assert a.dispatcher.calls == []
        assert [call.timer.id for call in b.dispatcher.calls] == ["due-soon"]
        assert at(LEASE_SECONDS) <= b.dispatcher.calls[0].at <= at(13)
        assert timer.status is TimerStatus.succeeded

    async def test_outcome_with_the_old_epoch_is_rejected_after_takeover(
        self,
    ) -> None:
        cluster = await Cluster.create()
        a = await cluster.node("runner-a")
        b = await cluster.node("runner-b")
        created = (await cluster.api.create_timer(NS, spec(fire_at=at(50)))).timer
        async with running(a.runner) as fleet:
            await step(cluster.clock, 1)
            a.store.down = True
            fleet.cancel(a.runner)
            await fleet.start(b.runner)
            await step_to(cluster.clock, at(12))
            changed, attempt = next_state(
                created, Delivered(), started_at=at(12), finished_at=at(12)
            )
            stale = Outcome(changed, created.version, attempt, epoch=1)
            current = attrs.evolve(stale, epoch=b.runner.leases[created.shard])
            stale_applied = await cluster.store.record_outcomes([stale])
            unchanged = await cluster.api.get_timer(NS, created.id)
            current_applied = await cluster.store.record_outcomes([current])

        assert current.epoch == 2
        assert stale_applied == [False]
        assert unchanged == created
        assert current_applied == [True]

    async def test_delivery_of_a_partitioned_runner_cannot_overwrite_the_new_owner(
        self,
    ) -> None:
        cluster = await Cluster.create()
        a = await cluster.node("runner-a")
        b = await cluster.node("runner-b")
        late_on_a = Hold(Delivered())
        late_on_b = Hold(Delivered())
        a.dispatcher.script("t1", late_on_a)
        b.dispatcher.script("t1", late_on_b)
        await cluster.api.create_timer(NS, spec(fire_at=at(1)))
        async with running(a.runner, b.runner):
            # runner-a holds every shard and starts the delivery, then is cut
            # off from the store before the delivery ends.
            await step(cluster.clock, 1)
            a.store.down = True
            await step_to(cluster.clock, at(14))
            b_leases = dict(b.runner.leases)

            # runner-b owns the shards now and makes the delivery again; the
            # old owner comes back and tries to record its own outcome.
            a.store.down = False
            late_on_a.release()
            await settle()
            after_old_owner = await cluster.api.get_timer(NS, "t1")
            late_on_b.release()
            await step(cluster.clock, 1)

        timer = await cluster.api.get_timer(NS, "t1")

        assert late_on_a.entered.is_set()
        assert late_on_b.entered.is_set()
        assert b_leases == dict.fromkeys(range(SHARDS), 2)
        assert a.store.outcome_results == [[False]]
        assert after_old_owner.version == 1
        assert after_old_owner.status is TimerStatus.scheduled
        assert timer.status is TimerStatus.succeeded
        assert timer.version == 2
        assert [call.attempt for call in a.dispatcher.calls] == [1]
        assert [call.attempt for call in b.dispatcher.calls] == [1]


@pytest.mark.anyio
class TestFairShare:
    async def test_two_live_runners_split_the_shards_evenly(self) -> None:
        cluster = await Cluster.create()
        a = await cluster.node("runner-a")
        b = await cluster.node("runner-b")
        async with running(a.runner) as fleet:
            alone = len(a.runner.leases)
            await fleet.start(b.runner)
            await step(cluster.clock, 5)
            share_a = dict(a.runner.leases)
            share_b = dict(b.runner.leases)
            owners = await cluster.owners()

        assert alone == SHARDS
        # Shards handed over are released first: taking them is no takeover.
        assert b.runner.lease_takeovers == 0
        assert len(share_a) == len(share_b) == SHARDS // 2
        assert share_a.keys() | share_b.keys() == set(range(SHARDS))
        assert set(share_b.values()) == {2}
        assert owners == {
            **dict.fromkeys(share_a, "runner-a"),
            **dict.fromkeys(share_b, "runner-b"),
        }

    async def test_both_halves_fire_their_timers(self) -> None:
        cluster = await Cluster.create()
        a = await cluster.node("runner-a")
        b = await cluster.node("runner-b")
        async with running(a.runner, b.runner):
            await step(cluster.clock, 5)
            await cluster.api.create_timers(
                NS, [spec(f"t{n}", fire_at=at(20)) for n in range(40)]
            )
            await step(cluster.clock, 20)

        fired_by_a = {call.timer.id for call in a.dispatcher.calls}
        fired_by_b = {call.timer.id for call in b.dispatcher.calls}

        assert fired_by_a
        assert fired_by_b
        assert fired_by_a.isdisjoint(fired_by_b)
        assert fired_by_a | fired_by_b == {f"t{n}" for n in range(40)}
        assert {call.at for call in a.dispatcher.calls + b.dispatcher.calls} == {at(20)}

    async def test_graceful_stop_hands_shards_over_at_the_next_heartbeat(
        self,
    ) -> None:
        cluster = await Cluster.create()
        a = await cluster.node("runner-a")
        b = await cluster.node("runner-b")
        async with running(a.runner, b.runner):
            await step(cluster.clock, 5)
            share_b = set(b.runner.leases)
            b.runner.stop()
            await settle()
            owners_after_stop = await cluster.owners()
            await step(cluster.clock, 2)
            held_by_a = dict(a.runner.leases)
            leases = await cluster.leases()

        assert len(share_b) == SHARDS // 2
        assert b.runner.leases == {}
        assert {owners_after_stop[shard] for shard in share_b} == {None}
        assert held_by_a.keys() == set(range(SHARDS))
        assert {leases[shard].epoch for shard in share_b} == {3}
        assert b.dispatcher.closed == 1


@pytest.mark.anyio
class TestHandOver:
    async def test_shard_is_released_only_after_its_delivery_is_recorded(
        self,
    ) -> None:
        cluster = await Cluster.create()
        a = await cluster.node("runner-a")
        b = await cluster.node("runner-b")
        # A timer whose shard is among those runner-a gives up when runner-b
        # joins: the upper half of the shards, in sorted order.
        timer_id = next(
            f"t{n}" for n in range(1000) if shard_of(NS, f"t{n}", SHARDS) >= SHARDS // 2
        )
        shard = shard_of(NS, timer_id, SHARDS)
        hold = Hold()
        a.dispatcher.script(timer_id, hold)
        await cluster.api.create_timer(NS, spec(timer_id, fire_at=at(1)))
        async with running(a.runner) as fleet:
            await step(cluster.clock, 1)
            await fleet.start(b.runner)
            await step(cluster.clock, 6)
            owner_while_in_flight = (await cluster.owners())[shard]
            hold.release()
            await step(cluster.clock, 6)
            owner_after = (await cluster.owners())[shard]

        timer = await cluster.api.get_timer(NS, timer_id)

        assert owner_while_in_flight == "runner-a"
        assert owner_after == "runner-b"
        assert len(a.dispatcher.calls_of(timer_id)) == 1
        assert b.dispatcher.calls_of(timer_id) == []
        assert timer.status is TimerStatus.succeeded
        assert timer.version == 2
