"""A rolling restart of the whole cluster under load loses nothing.

Two API processes (``serve --no-runner``) sit behind a small TCP load
balancer that, like a Kubernetes Service, sends new connections only to
processes whose ``/readyz`` answers 200; three runner processes deliver;
one PostgreSQL node (in the first pass), or the Cassandra or MongoDB node
of the suite's pass on that store, holds the timers. A steady load of creates, reads and
updates goes through the Python SDK with its normal retries, and timers
come due all along. Every process is then restarted in turn with SIGTERM,
each waited for until it is ready again before the next.

The figures are printed and written to ``rolling-restart.json`` in the
test's folder; docs/operations/availability.md quotes a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from blackbox import (
    LOOPBACK,
    STORAGE_KIND,
    ServerProcess,
    WebhookServer,
    free_port,
    require_postgres,
    storage_for,
)
from timerbackends.testing.postgres import PostgresServer
from timerclient import AsyncTimerClient, TimerClientError

# About a minute on a small machine; a slow one gets room.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NAMESPACE = "rolling"
API_PROCESSES = 2
RUNNER_PROCESSES = 3
# Readiness red this long before an API process closes its listener: more
# than the balancer needs to notice (HEALTH_INTERVAL) with room to spare.
GRACE_SECONDS = 1.0
HEALTH_INTERVAL = 0.1
# Each tick sends this many of each call: 40 ticks a second make 320 calls.
TICK_SECONDS = 0.025
CREATES_PER_TICK = 3
READS_PER_TICK = 3
UPDATES_PER_TICK = 2
# Timers fire this long after they are created, so that some are always due.
DUE_AFTER = (1.0, 4.0)
LOAD_BEFORE_SECONDS = 3.0
LOAD_AFTER_SECONDS = 3.0
# Between one process ready again and the next stopped: timers fire there.
SETTLE_SECONDS = 1.0
# After the load stops, every timer must have arrived within this.
DELIVERY_DEADLINE_SECONDS = 30.0
# Info, for the runners' lease events that the duplicates check reads.
ENV = {"TIMERSERVER_LOG_LEVEL": "info"}


# -- a load balancer that follows readiness -----------------------------------


class ReadinessBalancer:
    """A TCP balancer on loopback over the backends whose ``/readyz`` is 200.

    Connections are spread round-robin over the ready backends when they
    open and stay with their backend until either side closes: what a
    layer-4 balancer (a Kubernetes Service, a cloud network balancer) does.
    """

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.port = free_port()
        self.ready: list[int] = []
        self._next = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> ReadinessBalancer:
        self._thread.start()
        if not self._started.wait(timeout=10):
            raise RuntimeError("the balancer did not start")

        return self

    def stop(self) -> None:
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)

        self._thread.join(timeout=10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._handle, LOOPBACK, self.port)
        checks = asyncio.create_task(self._check_health())
        self._started.set()
        async with server:
            await self._stopping.wait()
            checks.cancel()
            server.close()
            with contextlib.suppress(asyncio.CancelledError):
                await checks

            # Connections still open end with the balancer.
            for writer in list(self._writers):
                writer.close()

            await asyncio.sleep(0.1)

    async def _check_health(self) -> None:
        while True:
            answers = await asyncio.gather(*(_is_ready(port) for port in self.ports))
            self.ready = [
                port for port, ok in zip(self.ports, answers, strict=True) if ok
            ]
            await asyncio.sleep(HEALTH_INTERVAL)

    async def _handle(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(client_writer)
        backend = await self._connect()
        if backend is None:
            client_writer.close()
            self._writers.discard(client_writer)
            return

        backend_reader, backend_writer = backend
        self._writers.add(backend_writer)
        try:
            await asyncio.gather(
                _pipe(client_reader, backend_writer),
                _pipe(backend_reader, client_writer),
            )
        finally:
            self._writers.difference_update((client_writer, backend_writer))

    async def _connect(
        self,
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        # A backend may close its listener between a health check and this
        # connection: the next ready one is tried, for a bounded while.
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            ready = list(self.ready)
            if ready:
                self._next += 1
                port = ready[self._next % len(ready)]
                try:
                    return await asyncio.open_connection(LOOPBACK, port)
                except OSError:
                    pass

            await asyncio.sleep(HEALTH_INTERVAL / 2)

        return None


async def _is_ready(port: int) -> bool:
    try:
        async with asyncio.timeout(0.5):
            reader, writer = await asyncio.open_connection(LOOPBACK, port)
    except (OSError, TimeoutError):
        return False

    try:
        async with asyncio.timeout(0.5):
            writer.write(b"GET /readyz HTTP/1.0\r\nHost: balancer\r\n\r\n")
            status_line = await reader.readline()
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()

    return status_line.split(b" ")[1:2] == [b"200"]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        # Either side's end ends the connection, as a balancer passes on.
        writer.close()


# -- the load -------------------------------------------------------------------


@dataclass
class Load:
    """What the load generator did, and what went wrong."""

    created: dict[str, datetime] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


async def generate_load(
    url: str,
    callback_url: str,
    stop: threading.Event,
    load: Load,
    tick_seconds: float = TICK_SECONDS,
) -> None:
    """Create, read and update at a steady pace until *stop* is set.

    The client is the SDK's with its default retries, as an application
    would use it.
    """
    rng = random.Random(7)
    async with AsyncTimerClient(url, timeout=10.0) as client:
        # Updated timers are due far ahead, each changed by one call at a time
        # with its version, so that a 412 would be a real failure.
        versions: dict[str, int] = {}
        for number in range(50):
            timer = await client.create_timer(
                NAMESPACE,
                f"long-{number}",
                callback=callback_url,
                delay_seconds=3600,
            )
            versions[timer.id] = timer.version

        idle = list(versions)
        tasks: set[asyncio.Task[None]] = set()

        async def call(kind: str, action: Awaitable[Any]) -> None:
            try:
                await action
                load.calls[kind] += 1
            except TimerClientError as exc:
                load.failures.append(f"{kind}: {exc!r}")

        async def create(number: int) -> None:
            timer_id = f"due-{number:06d}"
            fire_at = datetime.now(UTC) + timedelta(seconds=rng.uniform(*DUE_AFTER))
            timer = await client.create_timer(
                NAMESPACE, timer_id, callback=callback_url, fire_at=fire_at
            )
            load.created[timer_id] = timer.fire_at

        async def update(timer_id: str) -> None:
            try:
                timer = await client.update_timer(
                    NAMESPACE,
                    timer_id,
                    payload={"step": versions[timer_id]},
                    expected_version=versions[timer_id],
                )
                versions[timer_id] = timer.version
            finally:
                idle.insert(0, timer_id)

        number = 0
        next_tick = time.monotonic()
        while not stop.is_set():
            batch: list[tuple[str, Awaitable[Any]]] = []
            for _ in range(CREATES_PER_TICK):
                number += 1
                batch.append(("create", create(number)))

            for _ in range(READS_PER_TICK):
                if load.created:
                    timer_id = rng.choice(list(load.created)[-500:])
                    batch.append(("read", client.get_timer(NAMESPACE, timer_id)))

            for _ in range(UPDATES_PER_TICK):
                # Taken now, so that no two calls change one timer at once.
                if idle:
                    batch.append(("update", update(idle.pop())))

            for kind, action in batch:
                task = asyncio.create_task(call(kind, action))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

            next_tick += tick_seconds
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))

        if tasks:
            await asyncio.wait(tasks, timeout=30)

        for timer_id in versions:
            await client.delete_timer(NAMESPACE, timer_id)


# -- the test -------------------------------------------------------------------


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    require_postgres()
    server = PostgresServer(tmp_path / "postgres")
    server.start()
    yield server
    server.destroy()


def spread(values: list[float]) -> dict[str, float]:
    """Median, p99 and maximum of *values*, in milliseconds' precision."""
    return {
        "p50": round(statistics.median(values), 3),
        "p99": round(percentile(values, 0.99), 3),
        "max": round(max(values), 3),
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return ordered[index]


@pytest.mark.postgres
def test_a_rolling_restart_fails_no_call_and_loses_no_timer(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    roll_the_cluster(postgres.url, tmp_path)


# One node of a distributed store beside five server processes on a small
# machine serves a fraction of the calls that PostgreSQL does here.
SLOWER_TICK = {"cassandra": TICK_SECONDS * 4, "mongodb": TICK_SECONDS * 4}


@pytest.mark.skipif(
    STORAGE_KIND not in SLOWER_TICK,
    reason="runs in the suite's Cassandra and MongoDB passes, on their node",
)
def test_a_rolling_restart_on_a_distributed_store_fails_no_call_and_loses_no_timer(
    tmp_path: Path,
) -> None:
    roll_the_cluster(
        storage_for(tmp_path / "cluster"),
        tmp_path,
        tick_seconds=SLOWER_TICK[STORAGE_KIND],
    )


def lease_expiries(runners: list[ServerProcess]) -> list[str]:
    """The lines of every runner's logs that say a lease ran out."""
    signs = ("took over expired shards", "lost shard")
    return [
        line
        for runner in runners
        for path in sorted(runner.workdir.glob("server-*"))
        for line in path.read_text(errors="replace").splitlines()
        if any(sign in line for sign in signs)
    ]


def roll_the_cluster(
    storage: str, tmp_path: Path, *, tick_seconds: float = TICK_SECONDS
) -> None:
    """Restart every process of a cluster on *storage* in turn, under load."""
    receiver = WebhookServer().start()
    api_env = {**ENV, "TIMERSERVER_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS)}
    apis = [
        ServerProcess(
            tmp_path / f"api-{number}",
            env=api_env,
            storage=storage,
            args=["--no-runner"],
        )
        for number in range(API_PROCESSES)
    ]
    runners = []
    for number in range(RUNNER_PROCESSES):
        port = free_port()
        runners.append(
            ServerProcess(
                tmp_path / f"runner-{number}",
                env={**ENV, "TIMERSERVER_RUNNER__METRICS_PORT": str(port)},
                port=port,
                command_args=["runner", "--storage", storage],
            )
        )

    processes = [*apis, *runners]
    balancer = ReadinessBalancer([api.port for api in apis])
    load = Load()
    stop_load = threading.Event()
    restarts: list[tuple[str, float, float]] = []
    try:
        for process in processes:
            process.start()

        balancer.start()
        load_thread = threading.Thread(
            target=lambda: asyncio.run(
                generate_load(
                    balancer.url, receiver.url("/due"), stop_load, load, tick_seconds
                )
            )
        )
        load_thread.start()
        time.sleep(LOAD_BEFORE_SECONDS)

        for process in processes:
            began = time.time()
            assert process.stop() == 0, process.log()[-2000:]
            process.start()
            restarts.append((process.workdir.name, began, time.time()))
            time.sleep(SETTLE_SECONDS)

        time.sleep(LOAD_AFTER_SECONDS)
        stop_load.set()
        load_thread.join(timeout=60)
        assert not load_thread.is_alive(), "the load did not stop"

        deadline = time.monotonic() + DELIVERY_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            arrived = {request.json()["id"] for request in receiver.requests("/due")}
            if set(load.created) <= arrived:
                break

            time.sleep(0.2)
    finally:
        stop_load.set()
        balancer.stop()
        for process in processes:
            with contextlib.suppress(AssertionError):
                process.stop()

        receiver.stop()

    deliveries = Counter(request.json()["id"] for request in receiver.requests("/due"))
    first_arrival: dict[str, float] = {}
    for request in receiver.requests("/due"):
        first_arrival.setdefault(request.json()["id"], request.at)

    lost = sorted(set(load.created) - set(deliveries))
    duplicates = sum(count - 1 for count in deliveries.values())
    # Each delivered timer's fire time and lateness.
    delivered = [
        (fire_at.timestamp(), first_arrival[timer_id] - fire_at.timestamp())
        for timer_id, fire_at in load.created.items()
        if timer_id in first_arrival
    ]
    window = (restarts[0][1], restarts[-1][2])
    lateness = [late for _, late in delivered]
    during = [late for due, late in delivered if window[0] <= due <= window[1]]
    report = {
        "calls": dict(load.calls),
        "failed_calls": len(load.failures),
        "timers_due": len(load.created),
        "lost": len(lost),
        "duplicates": duplicates,
        "restarts": [
            {"process": name, "seconds": round(end - began, 2)}
            for name, began, end in restarts
        ],
        "restart_window_seconds": round(window[1] - window[0], 1),
        "lateness_seconds": spread(lateness),
        "lateness_during_restarts_seconds": spread(during),
    }
    (tmp_path / "rolling-restart.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))

    assert load.failures == []
    assert lost == []
    # A graceful hand-over delivers nothing twice. A lease that expires
    # (a renewal stalled past lease_duration, as a store node starved of
    # CPU can make it) lets the next owner deliver again what was in
    # flight: at-least-once, and said in the runners' logs.
    expired = lease_expiries(runners)
    if not expired:
        twice = sorted(key for key, count in deliveries.items() if count > 1)
        assert duplicates == 0, f"delivered more than once: {twice}"
    else:
        print("leases expired:", *expired, sep="\n")
        assert duplicates <= len(load.created) // 100
    assert min(load.calls[kind] for kind in ("create", "read", "update")) > 100
