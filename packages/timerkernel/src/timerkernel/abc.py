"""The interfaces that the kernel composes: storage, clock and dispatcher.

Each abstract method states its contract: what an implementation must do,
what it must raise and what it may assume. One conformance suite checks every
:class:`Store` against these words.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from ._model import (
    Attempt,
    DeliveryResult,
    DueTimer,
    Lease,
    NamespaceCounts,
    Outcome,
    Timer,
    TimerQuery,
)


class Clock(ABC):
    """The source of time for the kernel and its runner."""

    @abstractmethod
    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""

    @abstractmethod
    async def sleep_until(self, deadline: datetime) -> None:
        """Return once :meth:`now` has reached *deadline*.

        Must return at once if *deadline* has passed, and must be
        cancellable like any anyio sleep.
        """


class Dispatcher(ABC):
    """Delivers a due timer to its target."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Acquire resources (connection pools); called once before use."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`start` acquired."""

    @abstractmethod
    async def deliver(self, timer: Timer, attempt: int) -> DeliveryResult:
        """Deliver *timer* as its 1-based *attempt* and say how it went.

        Must not raise for a failure of the target (refused connection,
        timeout, bad status, bad answer): those are a
        :class:`~timerkernel.DeliveryFailed`. Must bound its own duration by
        ``timer.callback.timeout_seconds``. May be called concurrently.
        """


class Store(ABC):
    """Durable storage of timers, their attempts and the runners' leases.

    Every method may raise :class:`~timerkernel.StorageUnavailable` when the
    storage cannot be reached, and :class:`~timerkernel.StorageError` for
    other failures of the storage itself; no driver exception may escape.
    Timers given to a store have millisecond-precision UTC times, and a store
    must give them back equal to what it was given.
    """

    @abstractmethod
    async def initialize(self, *, shard_count: int, migrate: bool = True) -> int:
        """Open the store and return the shard count it was initialised with.

        With *migrate*, create or upgrade the schema first. The first call
        on empty storage records *shard_count*; later calls return the
        recorded count, whatever they pass. Without *migrate*, must raise
        :class:`~timerkernel.StorageError` if the schema is missing or older
        than this code needs.
        """

    @abstractmethod
    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""

    @abstractmethod
    async def ping(self) -> None:
        """Return if the storage answers, raise ``StorageUnavailable`` if not."""

    # -- timers ---------------------------------------------------------

    @abstractmethod
    async def insert_timers(self, timers: Sequence[Timer]) -> list[Timer | None]:
        """Insert each timer whose ``(namespace, id)`` is free.

        Return, per timer in order, ``None`` where it was inserted and the
        stored timer where the id was taken (that one stays unchanged).
        Each insert is atomic on its own; the batch as a whole is not.
        *timers* holds no key twice.
        """

    @abstractmethod
    async def get_timer(self, namespace: str, timer_id: str) -> Timer | None:
        """Return the timer, or ``None`` if there is none with that key."""

    @abstractmethod
    async def replace_timer(self, timer: Timer, *, expected_version: int) -> bool:
        """Overwrite the stored timer with *timer* if it is at *expected_version*.

        Return ``False``, changing nothing, if the timer is missing or at
        another version. ``timer.version`` is ``expected_version + 1``.
        """

    @abstractmethod
    async def delete_timer(
        self, namespace: str, timer_id: str, *, expected_version: int | None = None
    ) -> Timer | None:
        """Delete the timer and its attempts; return what was deleted.

        Return ``None`` if there is no such timer. With *expected_version*,
        delete only a timer at that version, and raise
        :class:`~timerkernel.VersionConflict` if it is at another.
        """

    @abstractmethod
    async def list_timers(self, namespace: str, query: TimerQuery) -> list[Timer]:
        """Return up to ``query.limit`` timers of *namespace* matching *query*.

        Order by ``(fire_at, id)``; start strictly after ``query.after``.
        ``statuses`` empty means every status; ``fire_after`` is inclusive,
        ``fire_before`` exclusive.
        """

    @abstractmethod
    async def count_timers(self) -> list[NamespaceCounts]:
        """Return every namespace holding timers, by name, with its counts."""

    @abstractmethod
    async def list_attempts(
        self, namespace: str, timer_id: str, *, limit: int
    ) -> list[Attempt]:
        """Return the timer's latest attempts, newest (highest ``seq``) first.

        Must keep at least the latest 10 attempts of every timer.
        """

    @abstractmethod
    async def purge_finished(self, *, before: datetime, limit: int) -> int:
        """Delete up to *limit* finished timers last updated before *before*.

        Return how many were deleted. Their attempts go with them.
        """

    # -- the runner's side --------------------------------------------------

    @abstractmethod
    async def fetch_due(
        self,
        shards: Collection[int],
        *,
        horizon: datetime,
        limit: int,
        known_through: datetime | None = None,
        changed_since: datetime | None = None,
    ) -> list[DueTimer]:
        """Return up to *limit* scheduled timers of *shards* due by *horizon*.

        Due means ``next_attempt_at <= horizon``. Order by
        ``next_attempt_at``. Cost must grow with the number returned and
        with the logarithm of the number stored, not with the number stored.

        With *known_through* and *changed_since* (both or neither), the
        caller already holds the timers due by *known_through*: of those,
        return only the ones updated at or after *changed_since*. This is
        what keeps a busy runner from reading its whole backlog at every
        poll; the caller ignores what it already holds, should a store
        return more.
        """

    @abstractmethod
    async def claim_timers(self, due: Sequence[DueTimer]) -> list[Timer]:
        """Return the full timers of *due* that are still as they were seen.

        A timer is returned only if it is stored, ``scheduled`` and at the
        version in its :class:`~timerkernel.DueTimer`: one deleted or
        changed since it was fetched must not fire.
        """

    @abstractmethod
    async def record_outcomes(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """Write each outcome's timer and attempt, fenced by version and epoch.

        An outcome applies only if the timer is at ``expected_version`` and
        the lease of its shard is at ``epoch``; its attempt is stored only
        if it applies. Return, per outcome in order, whether it applied.
        A store should write the batch in as few round trips as it can.
        """

    # -- leases ------------------------------------------------------------

    @abstractmethod
    async def heartbeat(
        self, runner_id: str, *, now: datetime, ttl: float
    ) -> list[str]:
        """Announce *runner_id* as alive until ``now + ttl`` seconds.

        Forget runners whose announcement has expired, and return the ids of
        the live runners, *runner_id* included, sorted.
        """

    @abstractmethod
    async def remove_runner(self, runner_id: str) -> None:
        """Forget *runner_id* at once (it is shutting down)."""

    @abstractmethod
    async def list_leases(self) -> list[Lease]:
        """Return every shard's lease that was ever taken, by shard."""

    @abstractmethod
    async def acquire_leases(
        self, runner_id: str, shards: Collection[int], *, now: datetime, duration: float
    ) -> dict[int, int]:
        """Take or extend the leases of *shards* for *duration* seconds.

        A shard is taken if its lease is free, has expired at *now*, or is
        already held by *runner_id*. Taking a shard from no owner, another
        owner or an expired lease raises its epoch by one; extending a live
        lease of *runner_id* keeps it. A shard's first epoch is 1. Return
        the epoch of every shard now held, by shard; leave the rest alone.
        """

    @abstractmethod
    async def renew_leases(
        self,
        runner_id: str,
        leases: Mapping[int, int],
        *,
        now: datetime,
        duration: float,
    ) -> dict[int, int]:
        """Extend the leases in *leases* (shard to epoch) held by *runner_id*.

        Extend only those still held by *runner_id* at the given epoch and
        not expired at *now*. Return the extended ones, shard to epoch.
        """

    @abstractmethod
    async def release_leases(self, runner_id: str, shards: Collection[int]) -> None:
        """Give up the leases of *shards* held by *runner_id*, at once."""
