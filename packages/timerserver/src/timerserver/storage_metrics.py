"""A store that times every call of the store it wraps, for the metrics.

It passes each call through unchanged and observes its duration by
operation, and counts the calls that fail with a storage error, so that
``timerserver_storage_operation_seconds`` and
``timerserver_storage_errors_total`` cover the API and the runner alike.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Collection, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from prometheus_client import Counter, Histogram

from timerkernel import (
    Attempt,
    DueTimer,
    Lease,
    NamespaceCounts,
    Outcome,
    StorageError,
    Timer,
    TimerQuery,
)
from timerkernel.abc import Store

T = TypeVar("T")

# Point reads take about a millisecond here; batches of claims and outcomes
# on a remote database take hundreds.
STORAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class InstrumentedStore(Store):
    """Wraps *store*, timing each call into *durations* and *errors*.

    :param durations: a histogram with one label, ``operation``.
    :param errors: a counter with one label, ``operation``.
    """

    def __init__(self, store: Store, durations: Histogram, errors: Counter) -> None:
        self.wrapped = store
        self._durations = durations
        self._errors = errors
        # Label lookups cost more than the observation; do each once.
        self._timed: dict[str, tuple[Histogram, Counter]] = {}

    async def _timed_call(self, operation: str, call: Awaitable[T]) -> T:
        children = self._timed.get(operation)
        if children is None:
            children = (
                self._durations.labels(operation=operation),
                self._errors.labels(operation=operation),
            )
            self._timed[operation] = children

        duration, errors = children
        started = time.perf_counter()
        try:
            return await call
        except StorageError:
            errors.inc()
            raise
        finally:
            duration.observe(time.perf_counter() - started)

    async def initialize(self, *, shard_count: int, migrate: bool = True) -> int:
        return await self._timed_call(
            "initialize",
            self.wrapped.initialize(shard_count=shard_count, migrate=migrate),
        )

    async def close(self) -> None:
        await self.wrapped.close()

    async def ping(self) -> None:
        await self._timed_call("ping", self.wrapped.ping())

    async def insert_timers(self, timers: Sequence[Timer]) -> list[Timer | None]:
        return await self._timed_call(
            "insert_timers", self.wrapped.insert_timers(timers)
        )

    async def get_timer(self, namespace: str, timer_id: str) -> Timer | None:
        return await self._timed_call(
            "get_timer", self.wrapped.get_timer(namespace, timer_id)
        )

    async def replace_timer(self, timer: Timer, *, expected_version: int) -> bool:
        return await self._timed_call(
            "replace_timer",
            self.wrapped.replace_timer(timer, expected_version=expected_version),
        )

    async def delete_timer(
        self, namespace: str, timer_id: str, *, expected_version: int | None = None
    ) -> Timer | None:
        return await self._timed_call(
            "delete_timer",
            self.wrapped.delete_timer(
                namespace, timer_id, expected_version=expected_version
            ),
        )

    async def list_timers(self, namespace: str, query: TimerQuery) -> list[Timer]:
        return await self._timed_call(
            "list_timers", self.wrapped.list_timers(namespace, query)
        )

    async def count_timers(self) -> list[NamespaceCounts]:
        return await self._timed_call("count_timers", self.wrapped.count_timers())

    async def list_attempts(
        self, namespace: str, timer_id: str, *, limit: int
    ) -> list[Attempt]:
        return await self._timed_call(
            "list_attempts",
            self.wrapped.list_attempts(namespace, timer_id, limit=limit),
        )

    async def purge_finished(self, *, before: datetime, limit: int) -> int:
        return await self._timed_call(
            "purge_finished", self.wrapped.purge_finished(before=before, limit=limit)
        )

    async def fetch_due(
        self,
        shards: Collection[int],
        *,
        horizon: datetime,
        limit: int,
        known_through: datetime | None = None,
        changed_since: datetime | None = None,
    ) -> list[DueTimer]:
        return await self._timed_call(
            "fetch_due",
            self.wrapped.fetch_due(
                shards,
                horizon=horizon,
                limit=limit,
                known_through=known_through,
                changed_since=changed_since,
            ),
        )

    async def claim_timers(self, due: Sequence[DueTimer]) -> list[Timer]:
        return await self._timed_call("claim_timers", self.wrapped.claim_timers(due))

    async def record_outcomes(self, outcomes: Sequence[Outcome]) -> list[bool]:
        return await self._timed_call(
            "record_outcomes", self.wrapped.record_outcomes(outcomes)
        )

    async def heartbeat(
        self, runner_id: str, *, now: datetime, ttl: float
    ) -> list[str]:
        return await self._timed_call(
            "heartbeat", self.wrapped.heartbeat(runner_id, now=now, ttl=ttl)
        )

    async def remove_runner(self, runner_id: str) -> None:
        await self._timed_call("remove_runner", self.wrapped.remove_runner(runner_id))

    async def list_leases(self) -> list[Lease]:
        return await self._timed_call("list_leases", self.wrapped.list_leases())

    async def acquire_leases(
        self, runner_id: str, shards: Collection[int], *, now: datetime, duration: float
    ) -> dict[int, int]:
        return await self._timed_call(
            "acquire_leases",
            self.wrapped.acquire_leases(runner_id, shards, now=now, duration=duration),
        )

    async def renew_leases(
        self,
        runner_id: str,
        leases: Mapping[int, int],
        *,
        now: datetime,
        duration: float,
    ) -> dict[int, int]:
        return await self._timed_call(
            "renew_leases",
            self.wrapped.renew_leases(runner_id, leases, now=now, duration=duration),
        )

    async def release_leases(self, runner_id: str, shards: Collection[int]) -> None:
        await self._timed_call(
            "release_leases", self.wrapped.release_leases(runner_id, shards)
        )
