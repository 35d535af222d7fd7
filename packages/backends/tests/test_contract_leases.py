"""The store contract, leases and runners: epochs, expiry, heartbeats."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend_support import BASE
from timerkernel import Lease
from timerkernel.abc import Store

pytestmark = pytest.mark.anyio

# Lease times are a runner's clock, not rounded to milliseconds.
T0 = BASE + timedelta(microseconds=123_456)


def t(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


class TestAcquireLeases:
    async def test_first_epoch_is_one(self, store: Store) -> None:
        held = await store.acquire_leases("a", [0, 3], now=T0, duration=10.5)

        assert held == {0: 1, 3: 1}
        assert await store.list_leases() == [
            Lease(0, "a", 1, T0 + t(10.5)),
            Lease(3, "a", 1, T0 + t(10.5)),
        ]

    async def test_owner_extending_a_live_lease_keeps_the_epoch(
        self, store: Store
    ) -> None:
        await store.acquire_leases("a", [1], now=T0, duration=10)

        held = await store.acquire_leases("a", [1], now=T0 + t(5), duration=10)

        assert held == {1: 1}
        assert await store.list_leases() == [Lease(1, "a", 1, T0 + t(15))]

    async def test_live_lease_of_another_runner_is_left_alone(
        self, store: Store
    ) -> None:
        await store.acquire_leases("a", [1, 2], now=T0, duration=10)

        held = await store.acquire_leases(
            "b", [1, 2, 3], now=T0 + t(9.999999), duration=10
        )

        assert held == {3: 1}
        assert await store.list_leases() == [
            Lease(1, "a", 1, T0 + t(10)),
            Lease(2, "a", 1, T0 + t(10)),
            Lease(3, "b", 1, T0 + t(19.999999)),
        ]

    async def test_takeover_of_an_expired_lease_raises_the_epoch(
        self, store: Store
    ) -> None:
        await store.acquire_leases("a", [1], now=T0, duration=10)

        # Expired exactly at its expiry time.
        held = await store.acquire_leases("b", [1], now=T0 + t(10), duration=10)
        again = await store.acquire_leases("c", [1], now=T0 + t(25), duration=10)

        assert held == {1: 2}
        assert again == {1: 3}
        assert await store.list_leases() == [Lease(1, "c", 3, T0 + t(35))]

    async def test_owner_retaking_its_own_expired_lease_raises_the_epoch(
        self, store: Store
    ) -> None:
        await store.acquire_leases("a", [1], now=T0, duration=10)

        held = await store.acquire_leases("a", [1], now=T0 + t(11), duration=10)

        assert held == {1: 2}

    async def test_released_lease_is_taken_at_a_higher_epoch(
        self, store: Store
    ) -> None:
        await store.acquire_leases("a", [1], now=T0, duration=10)
        await store.release_leases("a", [1])

        held = await store.acquire_leases("b", [1], now=T0 + t(1), duration=10)

        assert held == {1: 2}
        assert await store.list_leases() == [Lease(1, "b", 2, T0 + t(11))]

    async def test_owner_retaking_its_released_lease_raises_the_epoch(
        self, store: Store
    ) -> None:
        await store.acquire_leases("a", [1], now=T0, duration=10)
        await store.release_leases("a", [1])

        held = await store.acquire_leases("a", [1], now=T0 + t(1), duration=10)

        assert held == {1: 2}

    async def test_empty_request(self, store: Store) -> None:
        assert await store.acquire_leases("a", [], now=T0, duration=10) == {}
        assert await store.list_leases() == []


class TestReleaseLeases:
    async def test_release_frees_the_shard_and_keeps_epoch_and_expiry(
        self, store: Store
    ) -> None:
        await store.acquire_leases("a", [1, 2], now=T0, duration=10)

        await store.release_leases("a", [1])

        assert await store.list_leases() == [
            Lease(1, None, 1, T0 + t(10)),
            Lease(2, "a", 1, T0 + t(10)),
        ]

    async def test_only_the_owner_releases(self, store: Store) -> None:
        await store.acquire_leases("a", [1], now=T0, duration=10)

        await store.release_leases("b", [1, 2])

        assert await store.list_leases() == [Lease(1, "a", 1, T0 + t(10))]


class TestRenewLeases:
    async def test_extends_live_leases_held_at_the_epoch(self, store: Store) -> None:
        held = await store.acquire_leases("a", [1, 2], now=T0, duration=10)

        renewed = await store.renew_leases("a", held, now=T0 + t(5), duration=10)

        assert renewed == {1: 1, 2: 1}
        assert await store.list_leases() == [
            Lease(1, "a", 1, T0 + t(15)),
            Lease(2, "a", 1, T0 + t(15)),
        ]

    async def test_fails_after_a_takeover(self, store: Store) -> None:
        held = await store.acquire_leases("a", [1, 2], now=T0, duration=10)
        await store.acquire_leases("b", [1], now=T0 + t(10), duration=10)
        await store.acquire_leases("a", [2], now=T0 + t(10), duration=10)

        renewed = await store.renew_leases("a", held, now=T0 + t(12), duration=10)

        # Shard 2 is held by "a" again, but at a new epoch.
        assert renewed == {}
        assert await store.list_leases() == [
            Lease(1, "b", 2, T0 + t(20)),
            Lease(2, "a", 2, T0 + t(20)),
        ]

    async def test_fails_once_expired_even_if_nobody_took_it(
        self, store: Store
    ) -> None:
        held = await store.acquire_leases("a", [1], now=T0, duration=10)

        renewed = await store.renew_leases("a", held, now=T0 + t(10), duration=10)

        assert renewed == {}
        assert await store.list_leases() == [Lease(1, "a", 1, T0 + t(10))]

    async def test_fails_for_another_runner_or_epoch(self, store: Store) -> None:
        await store.acquire_leases("a", [1], now=T0, duration=10)

        assert await store.renew_leases("b", {1: 1}, now=T0, duration=10) == {}
        assert await store.renew_leases("a", {1: 7}, now=T0, duration=10) == {}
        assert await store.renew_leases("a", {9: 1}, now=T0, duration=10) == {}
        assert await store.renew_leases("a", {}, now=T0, duration=10) == {}

    async def test_renews_only_what_is_still_held(self, store: Store) -> None:
        held = await store.acquire_leases("a", [1, 2, 3], now=T0, duration=10)
        await store.release_leases("a", [2])

        renewed = await store.renew_leases("a", held, now=T0 + t(1), duration=10)

        assert renewed == {1: 1, 3: 1}

    async def test_released_lease_cannot_be_renewed(self, store: Store) -> None:
        held = await store.acquire_leases("a", [1], now=T0, duration=10)
        await store.release_leases("a", [1])

        assert await store.renew_leases("a", held, now=T0 + t(1), duration=10) == {}


class TestRunners:
    async def test_heartbeat_lists_live_runners_sorted(self, store: Store) -> None:
        await store.heartbeat("runner-b", now=T0, ttl=10)
        await store.heartbeat("runner-c", now=T0, ttl=30)

        live = await store.heartbeat("runner-a", now=T0 + t(1), ttl=10)

        assert live == ["runner-a", "runner-b", "runner-c"]

    async def test_expired_runners_are_forgotten(self, store: Store) -> None:
        await store.heartbeat("old", now=T0, ttl=10)
        await store.heartbeat("young", now=T0 + t(5), ttl=10)

        at_expiry = await store.heartbeat("me", now=T0 + t(10), ttl=10)
        later_on = await store.heartbeat("me", now=T0 + t(16), ttl=10)

        assert at_expiry == ["me", "young"]
        assert later_on == ["me"]

    async def test_heartbeat_extends_the_runner(self, store: Store) -> None:
        await store.heartbeat("a", now=T0, ttl=10)
        await store.heartbeat("a", now=T0 + t(8), ttl=10)

        assert await store.heartbeat("b", now=T0 + t(12), ttl=10) == ["a", "b"]

    async def test_removed_runner_is_forgotten_at_once(self, store: Store) -> None:
        await store.heartbeat("a", now=T0, ttl=10)
        await store.heartbeat("b", now=T0, ttl=10)

        await store.remove_runner("a")
        await store.remove_runner("never-seen")

        assert await store.heartbeat("b", now=T0 + t(1), ttl=10) == ["b"]
