"""The runner: holds shard leases and fires the due timers of its shards."""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import math
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import anyio
import attrs
from anyio.abc import TaskStatus

from ._exceptions import StorageError
from ._kernel import Kernel, TimerEvent, TimerEventKind
from ._model import (
    UNSET,
    Attempt,
    AttemptOutcome,
    Delivered,
    DeliveryFailed,
    DeliveryResult,
    DueTimer,
    ErrorKind,
    LastError,
    Outcome,
    Rescheduled,
    Timer,
    TimerStatus,
    ceil_to_millis,
    from_millis,
    to_millis,
)
from ._waiters import wake_oldest
from .abc import Dispatcher

logger = logging.getLogger(__name__)

# Stored times are whole milliseconds: "before t" is "at or before t - 1 ms".
_ONE_MILLISECOND = timedelta(milliseconds=1)


@attrs.frozen
class _Known:
    """What the last poll read.

    Every scheduled timer of the shards at their epochs (*leases*) due by
    *through*, as of *poll_began*.
    """

    through: datetime
    leases: frozenset[tuple[int, int]]
    poll_began: datetime


@attrs.frozen
class RunnerSettings:
    """How a runner paces itself.

    :param lookahead_seconds: timers due within this window are kept in
        memory, so memory grows with the due rate, not the number stored.
    :param poll_interval_seconds: how often the store is asked for timers
        entering the window; timers created in the same process are seen
        at once.
    :param change_margin_seconds: a poll asks only for the timers entering
        the window and for those changed since the previous poll began, less
        this margin. It must cover the clock difference between processes
        and the time a write takes from its timestamp to its commit.
    :param full_poll_interval_seconds: how often a poll reads the whole
        window regardless, in case a change came later than the margin.
    :param max_loaded: at most this many due timers in memory.
    :param batch_size: timers claimed in one store call.
    :param max_in_flight: deliveries under way at once.
    :param lease_duration_seconds: how long a shard lease lasts unrenewed;
        a runner that dies loses its shards after this long.
    :param heartbeat_interval_seconds: how often leases are renewed and the
        fair share is recomputed.
    :param purge_interval_seconds: how often finished timers past their
        retention are purged.
    :param storage_retry_seconds: first wait after a storage failure; it
        doubles up to ten times this.
    """

    lookahead_seconds: float = 5.0
    poll_interval_seconds: float = 1.0
    change_margin_seconds: float = 5.0
    full_poll_interval_seconds: float = 30.0
    max_loaded: int = 50_000
    batch_size: int = 500
    max_in_flight: int = 512
    lease_duration_seconds: float = 6.0
    heartbeat_interval_seconds: float = 2.0
    purge_interval_seconds: float = 60.0
    storage_retry_seconds: float = 0.5


def retry_delay(timer: Timer, attempt: int, retry_after: float | None) -> float:
    """Seconds to wait after failed *attempt* (1-based) of *timer*.

    The policy's exponential backoff, or a ``Retry-After`` the target sent;
    either is capped at ``max_interval_seconds``.
    """
    policy = timer.retry_policy
    if retry_after is not None:
        return min(max(retry_after, 0.0), policy.max_interval_seconds)

    # Float power overflows at once; an int coefficient would instead build
    # an integer with billions of digits for a large attempt number.
    try:
        growth = float(policy.backoff_coefficient) ** (attempt - 1)
        delay = policy.initial_interval_seconds * growth
    except OverflowError:
        delay = math.inf

    return min(delay, policy.max_interval_seconds)


def next_state(
    timer: Timer,
    result: DeliveryResult,
    *,
    started_at: datetime,
    finished_at: datetime,
) -> tuple[Timer, Attempt]:
    """Return the timer after a delivery attempt, and the attempt's record."""
    attempt_number = timer.attempts + 1
    seq = timer.attempt_seq + 1
    started = from_millis(to_millis(started_at))
    finished = from_millis(to_millis(finished_at))
    first_attempt_at = timer.first_attempt_at or started
    duration_ms = max(0, round((finished_at - started_at).total_seconds() * 1000))

    def record(outcome: AttemptOutcome, error: LastError | None = None) -> Attempt:
        return Attempt(
            seq,
            attempt_number,
            timer.fire_at,
            started,
            duration_ms,
            outcome,
            result.status_code,
            error,
        )

    if isinstance(result, Delivered):
        changed = _after_attempt(
            timer,
            status=TimerStatus.succeeded,
            attempts=attempt_number,
            next_attempt_at=None,
            last_error=timer.last_error,
            finished=finished,
            first_attempt_at=first_attempt_at,
        )
        return changed, record(AttemptOutcome.succeeded)

    if isinstance(result, Rescheduled):
        # An in-process dispatcher may answer with any time; stores keep
        # whole UTC milliseconds, and rounding up never fires early.
        fire_at = ceil_to_millis(result.fire_at)
        changed = attrs.evolve(
            timer,
            fire_at=fire_at,
            status=TimerStatus.scheduled,
            attempts=0,
            next_attempt_at=fire_at,
            executed_at=finished,
            first_attempt_at=None,
            payload=timer.payload if result.payload is UNSET else result.payload,
            callback=timer.callback if result.callback is UNSET else result.callback,
            retry_policy=(
                timer.retry_policy
                if result.retry_policy is UNSET
                else result.retry_policy
            ),
            updated_at=finished,
            version=timer.version + 1,
            attempt_seq=seq,
        )
        return changed, record(AttemptOutcome.rescheduled)

    error = LastError(
        at=finished,
        kind=result.kind,
        message=result.message,
        status_code=result.status_code,
    )
    policy = timer.retry_policy
    delay = retry_delay(timer, attempt_number, result.retry_after_seconds)
    out_of_attempts = policy.max_attempts != 0 and attempt_number >= policy.max_attempts
    next_at: datetime | None = None
    if not out_of_attempts and math.isfinite(delay):
        try:
            next_at = from_millis(to_millis(finished_at + timedelta(seconds=delay)))
        except OverflowError:
            next_at = None

    if next_at is not None and policy.max_duration_seconds is not None:
        deadline = first_attempt_at + timedelta(seconds=policy.max_duration_seconds)
        if next_at > deadline:
            next_at = None

    changed = _after_attempt(
        timer,
        status=TimerStatus.scheduled if next_at is not None else TimerStatus.failed,
        attempts=attempt_number,
        next_attempt_at=next_at,
        last_error=error,
        finished=finished,
        first_attempt_at=first_attempt_at,
    )
    return changed, record(AttemptOutcome.failed, error)


def _after_attempt(
    timer: Timer,
    *,
    status: TimerStatus,
    attempts: int,
    next_attempt_at: datetime | None,
    last_error: LastError | None,
    finished: datetime,
    first_attempt_at: datetime,
) -> Timer:
    """Return *timer* with the state an attempt that did not reschedule left.

    The definition stays as it was. Built field by field rather than with
    ``attrs.evolve``, which reads every field by name and costs three times
    as much on a path taken by every delivery.
    """
    return Timer(
        namespace=timer.namespace,
        id=timer.id,
        fire_at=timer.fire_at,
        callback=timer.callback,
        payload=timer.payload,
        retry_policy=timer.retry_policy,
        status=status,
        attempts=attempts,
        next_attempt_at=next_attempt_at,
        last_error=last_error,
        created_at=timer.created_at,
        updated_at=finished,
        executed_at=finished if status is TimerStatus.succeeded else timer.executed_at,
        version=timer.version + 1,
        shard=timer.shard,
        attempt_seq=timer.attempt_seq + 1,
        first_attempt_at=first_attempt_at,
        definition_digest=timer.definition_digest,
        initial_fire_at=timer.initial_fire_at,
    )


@attrs.define
class _Pending:
    """A delivery that finished and waits for its outcome to be written."""

    outcome: Outcome
    kind: TimerEventKind
    due_at: datetime


class _HandOff:
    """Claimed timers on their way to the delivery workers.

    Cheaper per timer than a memory object stream, whose every receive
    yields to the event loop once and registers the receiving task even
    when an item is waiting: a worker with timers queued takes the next
    one at once, and only an idle worker waits, on a future of its own.
    A future rather than an anyio event: making an event asks anyio which
    event loop runs, about a twentieth of a delivery's CPU when each
    timer wakes a worker. The runner runs on asyncio, as the dispatcher
    does.
    """

    def __init__(self) -> None:
        self._items: deque[tuple[Timer, int]] = deque()
        self._sleeping: deque[asyncio.Future[None]] = deque()

    @property
    def idle_workers(self) -> int:
        """Workers waiting with nothing to do, not yet woken."""
        return len(self._sleeping)

    def put(self, item: tuple[Timer, int]) -> None:
        self._items.append(item)
        wake_oldest(self._sleeping, None)

    async def take(self) -> tuple[Timer, int]:
        while not self._items:
            woken = asyncio.get_running_loop().create_future()
            self._sleeping.append(woken)
            try:
                await woken
            except BaseException:
                if woken in self._sleeping:
                    self._sleeping.remove(woken)
                elif not woken.cancelled() and self._items:
                    # Woken, then cancelled: the wake goes to another.
                    wake_oldest(self._sleeping, None)

                raise

        return self._items.popleft()


class Runner:
    """Fires the timers of the shards it holds.

    Start it with ``await task_group.start(runner.run)``; stop it with
    :meth:`stop`, which lets deliveries in flight finish, writes their
    outcomes and releases the shards.

    :param kernel: the kernel whose store and clock the runner uses; the
        runner also hears of timers created in the same process through it.
    :param dispatcher: delivers due timers.
    :param settings: pacing and limits.
    :param runner_id: this runner's name in leases; random by default.
    """

    def __init__(
        self,
        kernel: Kernel,
        dispatcher: Dispatcher,
        *,
        settings: RunnerSettings | None = None,
        runner_id: str | None = None,
    ) -> None:
        self.kernel = kernel
        self.store = kernel.store
        self.clock = kernel.clock
        self.dispatcher = dispatcher
        self.settings = settings or RunnerSettings()
        self.runner_id = runner_id or f"runner-{uuid.uuid4().hex[:12]}"

        self.leases: dict[int, int] = {}
        #: Shards this runner took from another runner whose lease expired.
        self.lease_takeovers = 0
        self._loaded: dict[tuple[str, str], DueTimer] = {}
        self._heap: list[tuple[datetime, int, DueTimer]] = []
        self._order = itertools.count()
        # Timers from the moment they are popped until their outcome is
        # written or dropped, as they were popped.
        self._in_flight: dict[tuple[str, str], DueTimer] = {}
        # None until a full read, and again once what it knew is lost.
        self._known: _Known | None = None
        self._next_full_poll = datetime.min.replace(tzinfo=UTC)
        # Shards being handed over: still leased, no longer fired from.
        self._draining: dict[int, int] = {}
        # Timers changed in this process while a delivery of theirs was under
        # way; they are loaded once that delivery's outcome is settled.
        self._changed_in_flight: dict[tuple[str, str], DueTimer] = {}
        self._pending: list[_Pending] = []
        self._wake_fire = anyio.Event()
        self._wake_writer = anyio.Event()
        self._idle = anyio.Event()
        self._stopping = anyio.Event()
        self._limiter = anyio.Semaphore(self.settings.max_in_flight)
        # Claimed timers wait here for one of max_in_flight delivery workers
        # (made by run): a task per delivery would cost more than the rest
        # of the runner.
        self._to_deliver = _HandOff()
        self._start_worker: Callable[[], object] | None = None
        self._workers = 0

    # -- lifecycle ----------------------------------------------------------

    async def run(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run until :meth:`stop` is called or the task is cancelled."""
        await self.dispatcher.start()
        remove_listener = self.kernel.add_listener(self._on_event)
        try:
            self._to_deliver = _HandOff()
            self._workers = 0
            async with anyio.create_task_group() as task_group:
                try:
                    await self._balance_leases()
                except StorageError as exc:
                    logger.warning(
                        "taking shards failed, retrying: %s",
                        exc,
                        extra={"action": "lease_renewal"},
                    )

                task_group.start_soon(self._lease_loop)
                task_group.start_soon(self._poll_loop)
                task_group.start_soon(self._fire_loop)
                task_group.start_soon(self._write_loop)
                task_group.start_soon(self._purge_loop)
                self._start_worker = functools.partial(
                    task_group.start_soon, self._delivery_worker
                )
                logger.info(
                    "runner %s started with %d shards",
                    self.runner_id,
                    len(self.leases),
                    extra={"action": "runner_started", "runner_id": self.runner_id},
                )
                task_status.started()

                await self._stopping.wait()
                await self._drain()
                task_group.cancel_scope.cancel()
        finally:
            remove_listener()
            with anyio.CancelScope(shield=True):
                await self._shut_down()

    def stop(self) -> None:
        """Ask the runner to finish its deliveries in flight and stop."""
        self._stopping.set()
        self._wake_fire.set()

    async def _drain(self) -> None:
        while self._in_flight:
            self._idle = anyio.Event()
            self._wake_writer.set()
            await self._idle.wait()

    async def _shut_down(self) -> None:
        held = sorted([*self.leases, *self._draining])
        try:
            with anyio.move_on_after(5):
                await self.store.release_leases(self.runner_id, held)
                logger.info(
                    "released shards %s on stop",
                    held,
                    extra={"action": "shards_released", "shards": held},
                )
                await self.store.remove_runner(self.runner_id)
        except StorageError:
            logger.warning("could not release shards on stop; they expire instead")
        finally:
            self.leases.clear()
            self._draining.clear()
            await self.dispatcher.close()
            logger.info(
                "runner %s stopped",
                self.runner_id,
                extra={"action": "runner_stopped", "runner_id": self.runner_id},
            )

    # -- leases -------------------------------------------------------------

    async def _lease_loop(self) -> None:
        interval = self.settings.heartbeat_interval_seconds
        while True:
            await self.clock.sleep_until(self.clock.now() + timedelta(seconds=interval))
            try:
                await self._balance_leases()
            except StorageError as exc:
                logger.warning(
                    "lease renewal failed: %s", exc, extra={"action": "lease_renewal"}
                )

    async def _balance_leases(self) -> None:
        """Renew held leases, then move toward a fair share of the shards."""
        now = self.clock.now()
        duration = self.settings.lease_duration_seconds
        live = await self.store.heartbeat(self.runner_id, now=now, ttl=duration)
        held = {**self.leases, **self._draining}
        renewed = await self.store.renew_leases(
            self.runner_id, held, now=now, duration=duration
        )
        for shard in held.keys() - renewed.keys():
            logger.info(
                "lost shard %d", shard, extra={"action": "shard_lost", "shard": shard}
            )

        self.leases = {s: e for s, e in renewed.items() if s in self.leases}
        self._draining = {s: e for s, e in renewed.items() if s in self._draining}
        target = _fair_share(self.kernel.shard_count, live, self.runner_id)
        if len(self.leases) > target:
            self._hand_over(sorted(self.leases)[target:])
        elif len(self.leases) < target and self._draining:
            # Runners left again before the hand-over finished: keep them.
            for shard in sorted(self._draining)[: target - len(self.leases)]:
                self.leases[shard] = self._draining.pop(shard)

        await self._release_drained()
        if len(self.leases) < target:
            await self._take_free_shards(target - len(self.leases), now, duration)

    def _hand_over(self, shards: Sequence[int]) -> None:
        """Stop firing from *shards*; release them once their deliveries end.

        Releasing at once would let the next owner deliver again what is
        still in flight here, and fence out the outcomes written here.
        """
        for shard in shards:
            self._draining[shard] = self.leases.pop(shard)

        logger.info(
            "handing over shards %s for rebalancing",
            list(shards),
            extra={"action": "shards_handed_over"},
        )

    async def _release_drained(self) -> None:
        busy = {entry.shard for entry in self._in_flight.values()}
        drained = [shard for shard in self._draining if shard not in busy]
        if not drained:
            return

        await self.store.release_leases(self.runner_id, drained)
        for shard in drained:
            del self._draining[shard]

        logger.info("released shards %s", drained, extra={"action": "shards_released"})

    async def _take_free_shards(
        self, wanted: int, now: datetime, duration: float
    ) -> None:
        leases = {lease.shard: lease for lease in await self.store.list_leases()}
        free = [
            shard
            for shard in range(self.kernel.shard_count)
            if shard not in self.leases
            and (
                shard not in leases
                or leases[shard].owner is None
                or leases[shard].expires_at <= now
            )
        ]
        if not free:
            return

        acquired = await self.store.acquire_leases(
            self.runner_id, free[:wanted], now=now, duration=duration
        )
        taken_over = [
            shard
            for shard in acquired
            if shard in leases and leases[shard].owner not in (None, self.runner_id)
        ]
        if taken_over:
            self.lease_takeovers += len(taken_over)
            logger.info(
                "took over expired shards %s",
                sorted(taken_over),
                extra={"action": "shards_taken_over", "shards": sorted(taken_over)},
            )

        if acquired:
            logger.info(
                "acquired shards %s",
                ", ".join(
                    f"{shard}@{epoch}" for shard, epoch in sorted(acquired.items())
                ),
                extra={"action": "shards_acquired", "shards": sorted(acquired)},
            )

        self.leases.update(acquired)
        if acquired:
            self._wake_fire.set()

    # -- loading due timers ------------------------------------------------

    async def _poll_loop(self) -> None:
        failures = 0
        while True:
            try:
                await self._load_due()
                failures = 0
                wait = self.settings.poll_interval_seconds
            except StorageError as exc:
                failures += 1
                wait = self._storage_backoff(failures)
                logger.warning(
                    "loading due timers failed, retrying in %.1fs: %s",
                    wait,
                    exc,
                    extra={"action": "load_due"},
                )

            await self.clock.sleep_until(self.clock.now() + timedelta(seconds=wait))

    async def _load_due(self) -> None:
        if not self.leases:
            self._known = None
            return

        began = self.clock.now()
        horizon = began + timedelta(seconds=self.settings.lookahead_seconds)
        leases = frozenset(self.leases.items())
        known_through, changed_since = self._known_window(began, leases)
        limit = self.settings.max_loaded
        due = await self.store.fetch_due(
            list(self.leases),
            horizon=horizon,
            limit=limit,
            known_through=known_through,
            changed_since=changed_since,
        )

        # Everything due by the horizon is now held, in flight or done,
        # except past the point where the read was cut or memory was full.
        # Reads come in due order, so that point bounds what is known.
        held_through = horizon
        if len(due) >= limit:
            held_through = due[-1].next_attempt_at - _ONE_MILLISECOND

        for entry in due:
            if not self._remember(entry):
                held_through = min(
                    held_through, entry.next_attempt_at - _ONE_MILLISECOND
                )
                break

        unchanged = self.leases.items() == leases
        self._known = _Known(held_through, leases, began) if unchanged else None

        logger.debug("loaded %d due timers", len(due), extra={"action": "load_due"})

    def _known_window(
        self, now: datetime, leases: frozenset[tuple[int, int]]
    ) -> tuple[datetime | None, datetime | None]:
        """Return what this poll may skip: (known_through, changed_since).

        Both are None for a full read: the first, one after the shards or
        their epochs changed, and one every full_poll_interval_seconds.
        """
        known = self._known
        if known is None or leases != known.leases or now >= self._next_full_poll:
            interval = timedelta(seconds=self.settings.full_poll_interval_seconds)
            self._next_full_poll = now + interval
            return None, None

        margin = timedelta(seconds=self.settings.change_margin_seconds)
        return known.through, known.poll_began - margin

    def _remember(self, entry: DueTimer) -> bool:
        """Hold *entry* until it is due; False if memory has no room for it."""
        popped = self._in_flight.get(entry.key)
        if popped is not None:
            if entry.version != popped.version:
                # Changed during its delivery, whose outcome the version
                # will fence out: fire the change once that is settled.
                changed = self._changed_in_flight.get(entry.key)
                if changed is None or changed.version < entry.version:
                    self._changed_in_flight[entry.key] = entry

            return True

        known = self._loaded.get(entry.key)
        if known is not None and known.version >= entry.version:
            return True

        if known is None and len(self._loaded) >= self.settings.max_loaded:
            return False

        self._loaded[entry.key] = entry
        heapq.heappush(self._heap, (entry.next_attempt_at, next(self._order), entry))
        if self._heap[0][2] is entry:
            self._wake_fire.set()

        return True

    def _on_event(self, event: TimerEvent) -> None:
        """Hear of timers changed in this process without waiting for a poll."""
        timer = event.timer
        if event.kind is TimerEventKind.deleted:
            self._loaded.pop(timer.key, None)
            self._changed_in_flight.pop(timer.key, None)
            return

        if event.kind not in (TimerEventKind.created, TimerEventKind.updated):
            return

        self._changed_in_flight.pop(timer.key, None)

        known = self._loaded.get(timer.key)
        if known is not None and known.version < timer.version:
            del self._loaded[timer.key]

        if timer.shard not in self.leases or timer.next_attempt_at is None:
            return

        horizon = self.clock.now() + timedelta(seconds=self.settings.lookahead_seconds)
        if timer.status is TimerStatus.scheduled and timer.next_attempt_at <= horizon:
            entry = DueTimer(
                timer.namespace,
                timer.id,
                timer.version,
                timer.next_attempt_at,
                timer.shard,
            )
            if timer.key in self._in_flight:
                # The outcome of that delivery will be fenced out by the
                # version; the change must then fire on time, not at a poll.
                self._changed_in_flight[timer.key] = entry
            else:
                self._remember(entry)

    # -- firing -----------------------------------------------------------

    def _pop_due(self, now: datetime) -> list[DueTimer]:
        due: list[DueTimer] = []
        while self._heap and len(due) < self.settings.batch_size:
            due_at, _, entry = self._heap[0]
            if due_at > now:
                break

            heapq.heappop(self._heap)
            if self._loaded.get(entry.key) is not entry:
                continue

            del self._loaded[entry.key]
            if entry.shard in self.leases:
                # In flight from here on, claim included: a poll that reads the
                # timer meanwhile must not load it a second time.
                self._in_flight[entry.key] = entry
                due.append(entry)

        return due

    def _release(self, key: tuple[str, str]) -> None:
        """Forget a timer that was popped but will not be delivered now."""
        self._in_flight.pop(key, None)
        changed = self._changed_in_flight.pop(key, None)
        if changed is not None:
            self._remember(changed)

        if not self._in_flight:
            self._idle.set()

    async def _fire_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._wake_fire = anyio.Event()
            due = self._pop_due(self.clock.now())
            if not due:
                await self._wait_for_due()
                continue

            try:
                timers = await self.store.claim_timers(due)
                failures = 0
            except StorageError as exc:
                failures += 1
                for entry in due:
                    self._release(entry.key)
                    self._remember(entry)

                wait = self._storage_backoff(failures)
                logger.warning(
                    "claiming due timers failed, retrying in %.1fs: %s",
                    wait,
                    exc,
                    extra={"action": "claim"},
                )
                await self.clock.sleep_until(self.clock.now() + timedelta(seconds=wait))
                continue

            logger.debug(
                "claimed %d of %d due timers",
                len(timers),
                len(due),
                extra={"action": "claim"},
            )
            claimed = {timer.key for timer in timers}
            for entry in due:
                if entry.key not in claimed:
                    self._release(entry.key)

            for timer in timers:
                epoch = self.leases.get(timer.shard)
                if epoch is None:
                    self._release(timer.key)
                    continue

                try:
                    # Without a wait while there is room: the awaited
                    # acquire yields to the event loop once per timer.
                    self._limiter.acquire_nowait()
                except anyio.WouldBlock:
                    await self._limiter.acquire()

                self._hand_to_worker(timer, epoch)

    async def _wait_for_due(self) -> None:
        wake = self._wake_fire
        if not self._heap:
            await wake.wait()
            return

        deadline = self._heap[0][0]
        async with anyio.create_task_group() as waiters:

            async def sleep() -> None:
                await self.clock.sleep_until(deadline)
                waiters.cancel_scope.cancel()

            async def woken() -> None:
                await wake.wait()
                waiters.cancel_scope.cancel()

            waiters.start_soon(sleep)
            waiters.start_soon(woken)

    def _hand_to_worker(self, timer: Timer, epoch: int) -> None:
        assert self._start_worker is not None
        # Workers are started as the load asks for them, up to one per
        # delivery slot, and then kept.
        idle = self._to_deliver.idle_workers
        if not idle and self._workers < self.settings.max_in_flight:
            self._workers += 1
            self._start_worker()

        self._to_deliver.put((timer, epoch))

    async def _delivery_worker(self) -> None:
        claimed = self._to_deliver
        while True:
            timer, epoch = await claimed.take()
            await self._deliver(timer, epoch)

    async def _deliver(self, timer: Timer, epoch: int) -> None:
        due_at = timer.next_attempt_at or timer.fire_at
        started_at = self.clock.now()
        try:
            result = await self.dispatcher.deliver(timer, timer.attempts + 1)
        except Exception as exc:
            # A dispatcher that raises is a failed attempt, not a dead runner.
            logger.warning(
                "delivery of timer %s raised %r",
                timer.id,
                exc,
                exc_info=True,
                extra={"timer_id": timer.id, "action": "deliver"},
            )
            result = DeliveryFailed(ErrorKind.connection, f"delivery raised {exc!r}")
        finally:
            self._limiter.release()

        # The end of the attempt comes from the same clock as its start, so
        # that retries are timed in the kernel's time, virtual or not; a wall
        # clock stepped back must not make the attempt end before it began.
        finished_at = max(self.clock.now(), started_at)
        changed, attempt = next_state(
            timer, result, started_at=started_at, finished_at=finished_at
        )
        self._pending.append(
            _Pending(
                Outcome(changed, timer.version, attempt, epoch),
                _event_kind(changed, attempt),
                due_at,
            )
        )
        self._wake_writer.set()

    # -- writing outcomes -------------------------------------------------

    async def _write_loop(self) -> None:
        failures = 0
        while True:
            if not self._pending:
                self._wake_writer = anyio.Event()
                if not self._in_flight:
                    self._idle.set()

                await self._wake_writer.wait()
                continue

            batch = self._pending[: self.settings.batch_size]
            try:
                applied = await self.store.record_outcomes(
                    [item.outcome for item in batch]
                )
                failures = 0
            except StorageError as exc:
                failures += 1
                wait = self._storage_backoff(failures)
                logger.warning(
                    "recording %d outcomes failed, retrying in %.1fs: %s",
                    len(batch),
                    wait,
                    exc,
                    extra={"action": "record_outcomes"},
                )
                await self.clock.sleep_until(self.clock.now() + timedelta(seconds=wait))
                continue

            del self._pending[: len(batch)]
            self._after_write(batch, applied)

    def _after_write(self, batch: Sequence[_Pending], applied: Sequence[bool]) -> None:
        for item, ok in zip(batch, applied, strict=True):
            timer = item.outcome.timer
            if not ok:
                logger.info(
                    "outcome of timer %s dropped: "
                    "changed, deleted or shard lost meanwhile",
                    timer.id,
                    extra={"timer_id": timer.id, "action": "outcome_fenced"},
                )
                self._release(timer.key)
                continue

            # The outcome won, so no change made during the delivery can have.
            self._in_flight.pop(timer.key, None)
            self._changed_in_flight.pop(timer.key, None)
            self._log_outcome(item)
            self.kernel.emit(
                TimerEvent(item.kind, timer, item.outcome.attempt, item.due_at)
            )
            if (
                timer.status is TimerStatus.scheduled
                and timer.next_attempt_at is not None
            ):
                self._on_event(TimerEvent(TimerEventKind.updated, timer))

        if not self._in_flight:
            self._idle.set()

    def _log_outcome(self, item: _Pending) -> None:
        timer = item.outcome.timer
        kind = item.kind
        # A delivery or a reschedule is routine, one per timer fired, as a
        # request is to the API: logged at DEBUG, like the requests.
        routine = kind is TimerEventKind.delivered or kind is TimerEventKind.rescheduled
        if routine and not logger.isEnabledFor(logging.DEBUG):
            return

        extra = {
            "timer_id": timer.id,
            "namespace": timer.namespace,
            "action": kind.value,
        }
        if kind is TimerEventKind.failed:
            error = timer.last_error
            logger.error(
                "timer %s/%s failed for good after %d attempts: %s",
                timer.namespace,
                timer.id,
                timer.attempts,
                error.message if error else "",
                extra=extra,
            )
        elif kind is TimerEventKind.retrying:
            logger.warning(
                "timer %s/%s attempt %d failed, next at %s: %s",
                timer.namespace,
                timer.id,
                timer.attempts,
                timer.next_attempt_at,
                timer.last_error.message if timer.last_error else "",
                extra=extra,
            )
        else:
            logger.debug(
                "timer %s/%s %s",
                timer.namespace,
                timer.id,
                kind.value,
                extra=extra,
            )

    # -- retention ----------------------------------------------------------

    async def _purge_loop(self) -> None:
        interval = self.settings.purge_interval_seconds
        while True:
            try:
                purged = await self.kernel.purge_finished()
                if purged:
                    logger.info(
                        "purged %d finished timers", purged, extra={"action": "purge"}
                    )
            except StorageError as exc:
                logger.warning(
                    "purging finished timers failed: %s", exc, extra={"action": "purge"}
                )

            await self.clock.sleep_until(self.clock.now() + timedelta(seconds=interval))

    def _storage_backoff(self, failures: int) -> float:
        base = self.settings.storage_retry_seconds
        return float(min(base * 2 ** (failures - 1), base * 10))


def _fair_share(shard_count: int, live: Sequence[str], runner_id: str) -> int:
    runners = sorted(set(live) | {runner_id})
    base, extra = divmod(shard_count, len(runners))
    return base + (1 if runners.index(runner_id) < extra else 0)


def _event_kind(timer: Timer, attempt: Attempt) -> TimerEventKind:
    if attempt.outcome is AttemptOutcome.succeeded:
        return TimerEventKind.delivered

    if attempt.outcome is AttemptOutcome.rescheduled:
        return TimerEventKind.rescheduled

    if timer.status is TimerStatus.failed:
        return TimerEventKind.failed

    return TimerEventKind.retrying
