"""Fakes and helpers that run the kernel and its runners in virtual time.

Time only moves when a test calls :meth:`Harness.step` (or moves the
:class:`~timerkernel.ManualClock` itself); nothing here waits on the wall clock.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Collection, Mapping, Sequence, Sized
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.lowlevel
import attrs
from anyio.abc import TaskGroup, TaskStatus

from timerkernel import (
    Attempt,
    Callback,
    Delivered,
    DeliveryFailed,
    DeliveryResult,
    DueTimer,
    ErrorKind,
    Kernel,
    KernelSettings,
    Lease,
    ManualClock,
    MemoryStore,
    NamespaceCounts,
    Outcome,
    RetryPolicy,
    Runner,
    RunnerSettings,
    StorageUnavailable,
    Timer,
    TimerQuery,
    TimerSpec,
    TimerStatus,
)
from timerkernel.abc import Clock, Dispatcher, Store

START = datetime(2030, 1, 1, tzinfo=UTC)
NS = "tests"
URL = "https://target.example/hook"
SERVER_ERROR = DeliveryFailed(ErrorKind.http_status, "HTTP 500", status_code=500)


def at(seconds: float) -> datetime:
    """The virtual moment *seconds* after the clock's start."""
    return START + timedelta(seconds=seconds)


def spec(
    timer_id: str = "t1",
    *,
    fire_at: datetime | None = None,
    delay_seconds: float | None = None,
    payload: Any = None,
    retry_policy: RetryPolicy | None = None,
    callback: Callback | None = None,
) -> TimerSpec:
    """A timer definition; due at the clock's start unless told otherwise."""
    if fire_at is None and delay_seconds is None:
        fire_at = START

    return TimerSpec(
        id=timer_id,
        callback=callback or Callback(URL),
        fire_at=fire_at,
        delay_seconds=delay_seconds,
        payload=payload,
        retry_policy=retry_policy or RetryPolicy(),
    )


def make_timer(
    *, retry_policy: RetryPolicy | None = None, fire_at: datetime = START
) -> Timer:
    """A stored-looking timer for the pure functions of the runner."""
    return Timer(
        namespace=NS,
        id="t1",
        fire_at=fire_at,
        callback=Callback(URL),
        payload=None,
        retry_policy=retry_policy or RetryPolicy(),
        status=TimerStatus.scheduled,
        attempts=0,
        next_attempt_at=fire_at,
        last_error=None,
        created_at=START,
        updated_at=START,
        executed_at=None,
        version=1,
        shard=0,
    )


# -- settling -----------------------------------------------------------------


def _is_waiting(task: asyncio.Task[Any]) -> bool:
    # The future a task waits on is only visible through this private
    # attribute; anyio's wait_all_tasks_blocked reads the same one.
    waiter = task._fut_waiter  # type: ignore[attr-defined]  # no public accessor
    return waiter is not None and not waiter.done()


def _has_ready_callbacks(loop: asyncio.AbstractEventLoop) -> bool:
    # A task can wait on a future whose result is already on its way in a
    # queued callback (a task's done-callbacks run one loop turn later).
    ready: Sized = loop._ready  # type: ignore[attr-defined]  # no public accessor
    return len(ready) > 0


async def settle() -> None:
    """Let every other task run until each one waits for something.

    Unlike :func:`anyio.wait_all_tasks_blocked`, this yields with plain
    checkpoints and never pauses for wall-clock time, and it also waits for
    callbacks the event loop has queued, which may wake a waiting task.
    """
    loop = asyncio.get_running_loop()
    this_task = asyncio.current_task()
    for _ in range(100_000):
        await anyio.lowlevel.checkpoint()
        if not _has_ready_callbacks(loop) and all(
            task is this_task or _is_waiting(task) for task in asyncio.all_tasks()
        ):
            return

    raise AssertionError("the tasks never came to rest")


async def step(clock: ManualClock, seconds: float) -> None:
    """Move *clock* forward by *seconds* and let every task catch up.

    The clock stops at each deadline someone sleeps until on the way, and
    the tasks settle there, so that work due at a fractional moment happens
    at that very moment of virtual time.
    """
    target = clock.now() + timedelta(seconds=seconds)
    await settle()
    while (deadline := clock.next_deadline) is not None and deadline <= target:
        clock.set(deadline)
        await settle()

    clock.set(target)
    await settle()


async def step_to(clock: ManualClock, moment: datetime) -> None:
    """Move *clock* forward to *moment*, as :func:`step` does."""
    await step(clock, (moment - clock.now()).total_seconds())


# -- the dispatcher -------------------------------------------------------------


@attrs.frozen
class Call:
    """One delivery the fake dispatcher was asked to make."""

    timer: Timer
    attempt: int
    at: datetime


class Hold:
    """A scripted answer that keeps its delivery in flight until released."""

    def __init__(self, result: DeliveryResult | None = None) -> None:
        self.result = result or Delivered()
        self.entered = anyio.Event()
        self._released = anyio.Event()

    def release(self) -> None:
        self._released.set()

    async def answer(self) -> DeliveryResult:
        self.entered.set()
        await self._released.wait()
        return self.result


Answer = DeliveryResult | Hold | Exception


class FakeDispatcher(Dispatcher):
    """A dispatcher that answers from a script and records every call.

    Each timer id has its own queue of answers; once it is used up, calls
    get :attr:`default`.
    """

    def __init__(self, clock: Clock, default: DeliveryResult | None = None) -> None:
        self.clock = clock
        self.default: DeliveryResult = default or Delivered()
        self.calls: list[Call] = []
        self._scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self.started = 0
        self.closed = 0

    def script(self, timer_id: str, *answers: Answer) -> None:
        """Answer the next deliveries of *timer_id* with *answers*, in order.

        An exception among them is raised from :meth:`deliver`.
        """
        self._scripts[timer_id].extend(answers)

    def calls_of(self, timer_id: str) -> list[Call]:
        return [call for call in self.calls if call.timer.id == timer_id]

    def times_of(self, timer_id: str) -> list[datetime]:
        return [call.at for call in self.calls_of(timer_id)]

    async def start(self) -> None:
        self.started += 1

    async def close(self) -> None:
        self.closed += 1

    async def deliver(self, timer: Timer, attempt: int) -> DeliveryResult:
        self.calls.append(Call(timer, attempt, self.clock.now()))
        script = self._scripts[timer.id]
        answer = script.popleft() if script else self.default
        if isinstance(answer, Hold):
            return await answer.answer()

        if isinstance(answer, Exception):
            raise answer

        await anyio.lowlevel.checkpoint()
        return answer


# -- a store that can be cut off --------------------------------------------------


@attrs.frozen
class Fetch:
    """One fetch_due call: what it was told was known, and how many it got."""

    known_through: datetime | None
    changed_since: datetime | None
    returned: int


class FlakyStore(Store):
    """A view of another store that can be cut off, as by a network partition.

    While it is down every call raises
    :class:`~timerkernel.StorageUnavailable`; the store behind it is
    untouched. It also records what each ``record_outcomes`` call returned.
    """

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.down = False
        self.outcome_results: list[list[bool]] = []
        self.fetches: list[Fetch] = []
        # While set, claims wait for this event before they read anything.
        self.claim_gate: anyio.Event | None = None

    def _check(self) -> None:
        if self.down:
            raise StorageUnavailable("the store cannot be reached")

    async def initialize(self, *, shard_count: int, migrate: bool = True) -> int:
        self._check()
        return await self.inner.initialize(shard_count=shard_count, migrate=migrate)

    async def close(self) -> None:
        self._check()
        await self.inner.close()

    async def ping(self) -> None:
        self._check()
        await self.inner.ping()

    async def insert_timers(self, timers: Sequence[Timer]) -> list[Timer | None]:
        self._check()
        return await self.inner.insert_timers(timers)

    async def get_timer(self, namespace: str, timer_id: str) -> Timer | None:
        self._check()
        return await self.inner.get_timer(namespace, timer_id)

    async def replace_timer(self, timer: Timer, *, expected_version: int) -> bool:
        self._check()
        return await self.inner.replace_timer(timer, expected_version=expected_version)

    async def delete_timer(
        self, namespace: str, timer_id: str, *, expected_version: int | None = None
    ) -> Timer | None:
        self._check()
        return await self.inner.delete_timer(
            namespace, timer_id, expected_version=expected_version
        )

    async def list_timers(self, namespace: str, query: TimerQuery) -> list[Timer]:
        self._check()
        return await self.inner.list_timers(namespace, query)

    async def count_timers(self) -> list[NamespaceCounts]:
        self._check()
        return await self.inner.count_timers()

    async def list_attempts(
        self, namespace: str, timer_id: str, *, limit: int
    ) -> list[Attempt]:
        self._check()
        return await self.inner.list_attempts(namespace, timer_id, limit=limit)

    async def purge_finished(self, *, before: datetime, limit: int) -> int:
        self._check()
        return await self.inner.purge_finished(before=before, limit=limit)

    async def fetch_due(
        self,
        shards: Collection[int],
        *,
        horizon: datetime,
        limit: int,
        known_through: datetime | None = None,
        changed_since: datetime | None = None,
    ) -> list[DueTimer]:
        self._check()
        due = await self.inner.fetch_due(
            shards,
            horizon=horizon,
            limit=limit,
            known_through=known_through,
            changed_since=changed_since,
        )
        self.fetches.append(Fetch(known_through, changed_since, len(due)))
        return due

    async def claim_timers(self, due: Sequence[DueTimer]) -> list[Timer]:
        self._check()
        if self.claim_gate is not None:
            await self.claim_gate.wait()

        return await self.inner.claim_timers(due)

    async def record_outcomes(self, outcomes: Sequence[Outcome]) -> list[bool]:
        self._check()
        applied = await self.inner.record_outcomes(outcomes)
        self.outcome_results.append(applied)
        return applied

    async def heartbeat(
        self, runner_id: str, *, now: datetime, ttl: float
    ) -> list[str]:
        self._check()
        return await self.inner.heartbeat(runner_id, now=now, ttl=ttl)

    async def remove_runner(self, runner_id: str) -> None:
        self._check()
        await self.inner.remove_runner(runner_id)

    async def list_leases(self) -> list[Lease]:
        self._check()
        return await self.inner.list_leases()

    async def acquire_leases(
        self, runner_id: str, shards: Collection[int], *, now: datetime, duration: float
    ) -> dict[int, int]:
        self._check()
        return await self.inner.acquire_leases(
            runner_id, shards, now=now, duration=duration
        )

    async def renew_leases(
        self,
        runner_id: str,
        leases: Mapping[int, int],
        *,
        now: datetime,
        duration: float,
    ) -> dict[int, int]:
        self._check()
        return await self.inner.renew_leases(
            runner_id, leases, now=now, duration=duration
        )

    async def release_leases(self, runner_id: str, shards: Collection[int]) -> None:
        self._check()
        await self.inner.release_leases(runner_id, shards)


# -- running runners ------------------------------------------------------------


class Fleet:
    """Runners started for one test, each in a cancel scope of its own."""

    def __init__(self, group: TaskGroup) -> None:
        self._group = group
        self._scopes: dict[str, anyio.CancelScope] = {}
        self.runners: list[Runner] = []

    async def start(self, runner: Runner) -> None:
        """Start *runner* and return once it holds its first shards."""
        scope = anyio.CancelScope()
        self._scopes[runner.runner_id] = scope
        self.runners.append(runner)
        await self._group.start(self._run, runner, scope)

    @staticmethod
    async def _run(
        runner: Runner,
        scope: anyio.CancelScope,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        with scope:
            await runner.run(task_status=task_status)

    def cancel(self, runner: Runner) -> None:
        """Cancel *runner*'s task, as when its process is told to quit at once."""
        self._scopes[runner.runner_id].cancel()


@asynccontextmanager
async def running(*runners: Runner) -> AsyncIterator[Fleet]:
    """Run *runners* for the body of the ``async with``.

    After the body they are stopped gracefully; if the body fails they are
    cancelled instead, so that a delivery a failed test left held in flight
    cannot keep the test from ending.
    """
    failure: BaseException | None = None
    async with anyio.create_task_group() as group:
        fleet = Fleet(group)
        for runner in runners:
            await fleet.start(runner)

        try:
            yield fleet
        except BaseException as exc:
            failure = exc
            group.cancel_scope.cancel()
        else:
            for runner in fleet.runners:
                runner.stop()

    if failure is not None:
        raise failure


@attrs.define
class Harness:
    """One kernel on a memory store, with a fake dispatcher and a runner.

    The kernel reaches the store through :attr:`store`, which a test can cut
    off to simulate an outage.
    """

    clock: ManualClock
    store: FlakyStore
    kernel: Kernel
    dispatcher: FakeDispatcher
    runner: Runner

    def restart_runner(self) -> Runner:
        """Replace the runner with a new one, as a restarted process would."""
        self.runner = Runner(
            self.kernel,
            self.dispatcher,
            settings=self.runner.settings,
            runner_id=self.runner.runner_id,
        )
        return self.runner

    async def step(self, seconds: float) -> None:
        await step(self.clock, seconds)

    async def step_to(self, moment: datetime) -> None:
        await step_to(self.clock, moment)

    async def get(self, timer_id: str) -> Timer:
        return await self.kernel.get_timer(NS, timer_id)

    async def create(self, timer_spec: TimerSpec) -> Timer:
        return (await self.kernel.create_timer(NS, timer_spec)).timer


async def make_harness(
    *,
    runner_settings: RunnerSettings | None = None,
    kernel_settings: KernelSettings | None = None,
    default: DeliveryResult | None = None,
) -> Harness:
    clock = ManualClock(START)
    store = FlakyStore(MemoryStore())
    kernel = Kernel(store, clock=clock, settings=kernel_settings)
    await kernel.initialize()
    dispatcher = FakeDispatcher(clock, default)
    runner = Runner(kernel, dispatcher, settings=runner_settings, runner_id="runner-1")
    return Harness(clock, store, kernel, dispatcher, runner)
