"""A complete store in process memory: the default for unit tests and demos.

It loses everything when the process ends; use it where that is acceptable.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta

import anyio.lowlevel

from ._exceptions import StorageError, VersionConflict
from ._model import (
    Attempt,
    DueTimer,
    Lease,
    NamespaceCounts,
    Outcome,
    Timer,
    TimerQuery,
    TimerStatus,
)
from .abc import Store

# How many attempts of one timer are kept; older ones are dropped.
ATTEMPTS_KEPT = 20


class MemoryStore(Store):
    """A :class:`~timerkernel.abc.Store` that keeps everything in dicts.

    The due index is a sorted list per shard, so fetching due timers costs
    O(log n) plus what is returned, as for the durable stores.
    """

    def __init__(self) -> None:
        self._shard_count: int | None = None
        self._timers: dict[tuple[str, str], Timer] = {}
        self._due: dict[int, list[tuple[datetime, str, str]]] = {}
        self._attempts: dict[tuple[str, str], list[Attempt]] = {}
        self._leases: dict[int, Lease] = {}
        self._runners: dict[str, datetime] = {}
        self._closed = False

    async def initialize(self, *, shard_count: int, migrate: bool = True) -> int:
        if self._shard_count is None:
            if not migrate:
                raise StorageError("the memory store is not initialised")

            self._shard_count = shard_count

        self._closed = False
        return self._shard_count

    async def close(self) -> None:
        self._closed = True

    async def ping(self) -> None:
        await anyio.lowlevel.checkpoint()

    # -- due index ------------------------------------------------------------

    def _index(self, timer: Timer) -> None:
        if timer.next_attempt_at is not None and timer.status is TimerStatus.scheduled:
            entries = self._due.setdefault(timer.shard, [])
            bisect.insort(entries, (timer.next_attempt_at, timer.namespace, timer.id))

    def _unindex(self, timer: Timer) -> None:
        if timer.next_attempt_at is None or timer.status is not TimerStatus.scheduled:
            return

        entries = self._due.get(timer.shard, [])
        entry = (timer.next_attempt_at, timer.namespace, timer.id)
        position = bisect.bisect_left(entries, entry)
        if position < len(entries) and entries[position] == entry:
            del entries[position]

    def _put(self, timer: Timer) -> None:
        old = self._timers.get(timer.key)
        if old is not None:
            self._unindex(old)

        self._timers[timer.key] = timer
        self._index(timer)

    def _drop(self, key: tuple[str, str]) -> Timer | None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            self._unindex(timer)
            self._attempts.pop(key, None)

        return timer

    # -- timers -------------------------------------------------------------

    async def insert_timers(self, timers: Sequence[Timer]) -> list[Timer | None]:
        await anyio.lowlevel.checkpoint()
        results: list[Timer | None] = []
        for timer in timers:
            existing = self._timers.get(timer.key)
            if existing is None:
                self._put(timer)

            results.append(existing)

        return results

    async def get_timer(self, namespace: str, timer_id: str) -> Timer | None:
        await anyio.lowlevel.checkpoint()
        return self._timers.get((namespace, timer_id))

    async def replace_timer(self, timer: Timer, *, expected_version: int) -> bool:
        await anyio.lowlevel.checkpoint()
        current = self._timers.get(timer.key)
        if current is None or current.version != expected_version:
            return False

        self._put(timer)
        return True

    async def delete_timer(
        self, namespace: str, timer_id: str, *, expected_version: int | None = None
    ) -> Timer | None:
        await anyio.lowlevel.checkpoint()
        current = self._timers.get((namespace, timer_id))
        if current is None:
            return None

        if expected_version is not None and current.version != expected_version:
            raise VersionConflict(
                namespace, timer_id, expected_version, current.version
            )

        return self._drop((namespace, timer_id))

    async def list_timers(self, namespace: str, query: TimerQuery) -> list[Timer]:
        await anyio.lowlevel.checkpoint()
        matches = [
            timer
            for timer in self._timers.values()
            if timer.namespace == namespace and _matches(timer, query)
        ]
        matches.sort(key=lambda timer: (timer.fire_at, timer.id))
        return matches[: query.limit]

    async def count_timers(self) -> list[NamespaceCounts]:
        await anyio.lowlevel.checkpoint()
        counts: dict[str, dict[TimerStatus, int]] = {}
        for timer in self._timers.values():
            by_status = counts.setdefault(
                timer.namespace, dict.fromkeys(TimerStatus, 0)
            )
            by_status[timer.status] += 1

        return [NamespaceCounts(name, counts[name]) for name in sorted(counts)]

    async def list_attempts(
        self, namespace: str, timer_id: str, *, limit: int
    ) -> list[Attempt]:
        await anyio.lowlevel.checkpoint()
        attempts = self._attempts.get((namespace, timer_id), [])
        return sorted(attempts, key=lambda attempt: -attempt.seq)[:limit]

    async def purge_finished(self, *, before: datetime, limit: int) -> int:
        await anyio.lowlevel.checkpoint()
        expired = [
            timer.key
            for timer in self._timers.values()
            if timer.status is not TimerStatus.scheduled and timer.updated_at < before
        ][:limit]
        for key in expired:
            self._drop(key)

        return len(expired)

    # -- the runner's side ---------------------------------------------------

    async def fetch_due(
        self,
        shards: Collection[int],
        *,
        horizon: datetime,
        limit: int,
        known_through: datetime | None = None,
        changed_since: datetime | None = None,
    ) -> list[DueTimer]:
        await anyio.lowlevel.checkpoint()
        found: list[DueTimer] = []
        for shard in shards:
            entries = self._due.get(shard, [])
            # (horizon, "\uffff") sorts after every entry due exactly at horizon.
            end = bisect.bisect_right(entries, (horizon, "\uffff", ""))
            taken = 0
            for due_at, namespace, timer_id in itertools.islice(entries, end):
                timer = self._timers[(namespace, timer_id)]
                if (
                    known_through is not None
                    and changed_since is not None
                    and due_at <= known_through
                    and timer.updated_at < changed_since
                ):
                    continue

                found.append(
                    DueTimer(namespace, timer_id, timer.version, due_at, shard)
                )
                taken += 1
                if taken >= limit:
                    break

        found.sort(key=lambda due: due.next_attempt_at)
        return found[:limit]

    async def claim_timers(self, due: Sequence[DueTimer]) -> list[Timer]:
        await anyio.lowlevel.checkpoint()
        claimed = []
        for entry in due:
            timer = self._timers.get(entry.key)
            if (
                timer is not None
                and timer.version == entry.version
                and timer.status is TimerStatus.scheduled
            ):
                claimed.append(timer)

        return claimed

    async def record_outcomes(self, outcomes: Sequence[Outcome]) -> list[bool]:
        await anyio.lowlevel.checkpoint()
        applied = []
        for outcome in outcomes:
            current = self._timers.get(outcome.timer.key)
            lease = self._leases.get(outcome.timer.shard)
            ok = (
                current is not None
                and current.version == outcome.expected_version
                and lease is not None
                and lease.epoch == outcome.epoch
            )
            if ok:
                self._put(outcome.timer)
                history = self._attempts.setdefault(outcome.timer.key, [])
                history.append(outcome.attempt)
                del history[:-ATTEMPTS_KEPT]

            applied.append(ok)

        return applied

    # -- leases ------------------------------------------------------------

    async def heartbeat(
        self, runner_id: str, *, now: datetime, ttl: float
    ) -> list[str]:
        await anyio.lowlevel.checkpoint()
        self._runners[runner_id] = now + timedelta(seconds=ttl)
        for runner, expires_at in list(self._runners.items()):
            if expires_at <= now:
                del self._runners[runner]

        return sorted(self._runners)

    async def remove_runner(self, runner_id: str) -> None:
        await anyio.lowlevel.checkpoint()
        self._runners.pop(runner_id, None)

    async def list_leases(self) -> list[Lease]:
        await anyio.lowlevel.checkpoint()
        return [self._leases[shard] for shard in sorted(self._leases)]

    async def acquire_leases(
        self, runner_id: str, shards: Collection[int], *, now: datetime, duration: float
    ) -> dict[int, int]:
        await anyio.lowlevel.checkpoint()
        expires_at = now + timedelta(seconds=duration)
        held: dict[int, int] = {}
        for shard in shards:
            lease = self._leases.get(shard)
            if lease is None:
                epoch = 1
            elif lease.owner == runner_id and lease.expires_at > now:
                epoch = lease.epoch
            elif lease.owner is None or lease.expires_at <= now:
                epoch = lease.epoch + 1
            else:
                continue

            self._leases[shard] = Lease(shard, runner_id, epoch, expires_at)
            held[shard] = epoch

        return held

    async def renew_leases(
        self,
        runner_id: str,
        leases: Mapping[int, int],
        *,
        now: datetime,
        duration: float,
    ) -> dict[int, int]:
        await anyio.lowlevel.checkpoint()
        expires_at = now + timedelta(seconds=duration)
        renewed: dict[int, int] = {}
        for shard, epoch in leases.items():
            lease = self._leases.get(shard)
            if (
                lease is not None
                and lease.owner == runner_id
                and lease.epoch == epoch
                and lease.expires_at > now
            ):
                self._leases[shard] = Lease(shard, runner_id, epoch, expires_at)
                renewed[shard] = epoch

        return renewed

    async def release_leases(self, runner_id: str, shards: Collection[int]) -> None:
        await anyio.lowlevel.checkpoint()
        for shard in shards:
            lease = self._leases.get(shard)
            if lease is not None and lease.owner == runner_id:
                self._leases[shard] = Lease(shard, None, lease.epoch, lease.expires_at)


def _matches(timer: Timer, query: TimerQuery) -> bool:
    if query.statuses and timer.status not in query.statuses:
        return False

    if query.fire_after is not None and timer.fire_at < query.fire_after:
        return False

    if query.fire_before is not None and timer.fire_at >= query.fire_before:
        return False

    if query.id_prefix is not None and not timer.id.startswith(query.id_prefix):
        return False

    return query.after is None or (timer.fire_at, timer.id) > query.after
