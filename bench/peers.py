"""Measure two peers, APScheduler 3.x and procrastinate, on the benchmark's workload.

    python bench/peers.py [--peer apscheduler,procrastinate,timerkernel]
                          [--size quick] [--runs 1]

``bench/run.py`` measures our service; this module measures, with the same
workload and the same receiver (``bench/receiver.py``, a separate process on
127.0.0.1), two libraries a user might pick instead, so that each figure can
be read as a ratio measured side by side. Import it and call
:func:`measure_peer` (or :func:`run_peer`), or run it alone: it prints the
figures and writes them to ``bench/results/peers.json``.

The peers, each in processes of its own so that they can be killed:

- ``apscheduler``: APScheduler 3.x, a ``BackgroundScheduler`` on a
  ``SQLAlchemyJobStore`` over a SQLite file (``bench/peer_apscheduler.py``
  says how it is configured, and why). Jobs are added in the scheduler's
  process, as its API requires.
- ``procrastinate``: procrastinate on a throwaway PostgreSQL node with the
  psycopg 3 connector, one worker process, and a client process that defers
  the jobs (``bench/peer_procrastinate.py``).

The same steps measure ``timerkernel``, our kernel embedded in one process
on a SQLite file (``bench/peer_timerkernel.py``): not a peer, but our
service in the shape that compares like for like with APScheduler, jobs
created in the process that fires them.

Each job, when it runs, POSTs a callback body like our service's (namespace,
id, fire_at, attempt, payload) to the receiver. The steps:

1. single creates: APScheduler's ``add_job`` from 1, 4 and 16 threads (the
   best counts); procrastinate's ``configure(schedule_at=...).defer_async``
   from 64 concurrent tasks. Batch creates, procrastinate only (APScheduler
   has no batch API): ``batch_defer_async``, 1,000 jobs per call, from 4
   concurrent tasks as run.py's batch creates.
2. a burst with the created jobs still pending (they are due in a day), as in
   run.py, where the store holds the created timers; then the pending jobs
   are removed and the burst is measured again on the clean store, the main
   figure. The rate is deliveries per second from the first arrival to the
   last, as run.py's; ``*_from_due_per_s`` counts from the due instant
   instead, which a scheduler that does all its bookkeeping before its
   first delivery cannot flatter.
3. lateness (arrival minus ``fire_at``) of jobs due at 1,000 per second for
   a while, then at 50% and 90% of the peer's own burst rate from the due
   instant.
4. loss on a kill: jobs due at 50% of that rate over a window; the process
   that runs them (APScheduler's scheduler, procrastinate's worker) gets
   SIGKILL halfway and is started again on the same store; jobs that never
   arrived are ``lost``, extra arrivals are ``duplicates``. Then the same
   with a burst, killed halfway through its expected delivery, when the
   peer holds the most jobs taken from its store but not yet delivered.

Jobs are created before they fall due (the lead time comes from the measured
creation rate) with the fastest creation path of the peer. A job that never
arrives counts with an infinite lateness, so it shows in the percentiles.
Every wait here has a deadline, and only the loopback address is used.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import platform
import queue
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any

from run import free_port, percentile, stop_process

logger = logging.getLogger(__name__)

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "peers.json"
PEERS = ("apscheduler", "procrastinate")
#: Our own service, embedded: measured as the peers are, reported as ours.
EMBEDDED = "timerkernel"

SIZES: dict[str, dict[str, int]] = {
    "quick": {
        "single": 500,
        "batch": 5_000,
        "burst": 500,
        "steady_seconds": 2,
        "kill_seconds": 6,
    },
    "medium": {
        "single": 2_000,
        "batch": 20_000,
        "burst": 2_000,
        "steady_seconds": 10,
        "kill_seconds": 10,
    },
    "full": {
        "single": 5_000,
        "batch": 50_000,
        "burst": 5_000,
        "steady_seconds": 15,
        "kill_seconds": 20,
    },
}

#: The burst measured with the created jobs pending is at most this large.
PENDING_BURST = 1_000
#: Seconds between two looks at a peer's progress.
POLL = 0.25
#: Seconds for a driver to start or answer a command it has no estimate for.
COMMAND_TIMEOUT = 60.0
#: The slowest rate (per second) that a wait's deadline allows for.
SLOWEST_RATE = 20.0
#: Seconds allowed, past the expected end, for the last jobs of a step.
GRACE = 30.0


@dataclass(frozen=True)
class Batch:
    """Jobs ``{prefix}<i>`` for i below *count*, due from *first* every *spacing* s.

    Times are Unix seconds; a *spacing* of 0 makes them all due at *first*.
    """

    prefix: str
    count: int
    first: float
    spacing: float = 0.0

    @property
    def last(self) -> float:
        return self.first + (self.count - 1) * self.spacing

    def ids(self) -> list[str]:
        return [f"{self.prefix}{index}" for index in range(self.count)]

    def command(self, url: str) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "count": self.count,
            "first": self.first,
            "spacing": self.spacing,
            "url": url,
        }


# -- processes ------------------------------------------------------------------


class Receiver:
    """The benchmark's webhook receiver, in a process of its own."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.output = folder / "received.json"
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        command = [sys.executable, str(BENCH / "receiver.py"), str(self.port)]
        self._process = subprocess.Popen(
            [*command, str(self.output)], stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        # It prints one line, "ready", once it listens.
        readable, _, _ = select.select([self._process.stdout], [], [], COMMAND_TIMEOUT)
        if not readable or self._process.stdout.readline().strip() != "ready":
            stop_process(self._process, timeout=30)
            raise RuntimeError("the receiver did not start")

    def stop(self) -> list[list[Any]]:
        """Stop the receiver; return its records ``[arrived, id, fire_at, attempt]``."""
        if self._process is not None:
            stop_process(self._process, timeout=30)

        if not self.output.exists():
            return []

        received: list[list[Any]] = json.loads(self.output.read_text())
        return received


class Driver:
    """A peer's process that answers JSON commands, one line each way."""

    def __init__(self, command: list[str]) -> None:
        self.process: subprocess.Popen[str] = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=BENCH,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        # A thread reads the answers, so that waiting for one can time out.
        threading.Thread(
            target=self._read_lines, args=(self.process.stdout,), daemon=True
        ).start()
        try:
            self._receive(COMMAND_TIMEOUT)
        except BaseException:
            self.kill()
            raise

    def _read_lines(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)

        self._lines.put(None)

    def _receive(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(
                f"{self.process.args!r} did not answer in time"
            ) from None

        if line is None:
            raise RuntimeError(f"{self.process.args!r} exited before answering")

        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{self.process.args!r} failed: {answer['error']}")

        return answer

    def call(self, timeout: float = COMMAND_TIMEOUT, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._receive(timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)

    def close(self) -> None:
        """End its input, which stops it; kill it if it has not in 30 s."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()

            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def _create_timeout(count: int) -> float:
    return COMMAND_TIMEOUT + count / SLOWEST_RATE


# -- the peers ------------------------------------------------------------------


class Peer(abc.ABC):
    """A scheduler under test, started in processes of its own.

    :param folder: where it may keep its store.
    :param hook: the receiver's URL, where its jobs deliver.
    """

    name: str
    #: The concurrencies of single creates that are measured; the best counts.
    single_concurrencies: tuple[int, ...]
    #: Whether it has an API that creates many jobs in one call.
    has_batch: bool

    def __init__(self, folder: Path, hook: str) -> None:
        self.folder = folder
        self.hook = hook
        #: Jobs per second of the fastest way it creates jobs, once measured.
        self.setup_rate = 100.0
        #: The best of single_concurrencies, once measured.
        self.setup_concurrency = self.single_concurrencies[0]

    @abc.abstractmethod
    def start(self) -> None:
        """Start its processes and return when they accept work."""

    @abc.abstractmethod
    def create(self, batch: Batch, mode: str, concurrency: int) -> dict[str, float]:
        """Create *batch* one job per call (``single``) or many (``batch``).

        :return: ``seconds`` taken, and ``finished_at`` (Unix seconds).
        """

    @abc.abstractmethod
    def create_for_setup(self, batch: Batch) -> dict[str, float]:
        """Create *batch* the fastest way it can; return as :meth:`create`."""

    @abc.abstractmethod
    def unfinished(self, prefix: str) -> int:
        """Count the jobs of *prefix* that are not done (stored, or running)."""

    @abc.abstractmethod
    def last_finished(self, prefix: str) -> float | None:
        """Return when its last job of *prefix* finished (Unix seconds), if any did."""

    @abc.abstractmethod
    def clear(self, prefixes: list[str]) -> None:
        """Remove the jobs of *prefixes*, all still pending."""

    @abc.abstractmethod
    def kill(self) -> None:
        """SIGKILL the process that runs its jobs."""

    @abc.abstractmethod
    def restart(self) -> None:
        """Start that process again, on the same store, after :meth:`kill`."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop its processes and remove what they started."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """Return its versions and configuration, for the results file."""


class _OneProcessPeer(Peer):
    """A peer in one driven process that creates and runs its jobs.

    Its driver script keeps its store in a SQLite file in the folder and
    answers ``create``, ``status`` and ``clear``; killing the process kills
    the peer, and a restart runs what the file still holds.
    """

    #: The driver script in this folder, and its store's file name.
    script: str
    store_name: str

    def __init__(self, folder: Path, hook: str) -> None:
        super().__init__(folder, hook)
        self.store = folder / self.store_name
        self._driver: Driver | None = None

    @property
    def driver(self) -> Driver:
        if self._driver is None:
            raise RuntimeError(f"the {self.name} peer is not running")

        return self._driver

    def options(self) -> list[str]:
        """Return the driver script's arguments beyond ``--store``."""
        return []

    def start(self) -> None:
        self._driver = Driver(
            [
                sys.executable,
                str(BENCH / self.script),
                "--store",
                str(self.store),
                *self.options(),
            ]
        )

    def unfinished(self, prefix: str) -> int:
        status = self.driver.call(op="status", prefix=prefix)
        return int(status["stored"]) + int(status["running"])

    def last_finished(self, prefix: str) -> float | None:
        finished = self.driver.call(op="status", prefix=prefix)["last_finished"]
        return None if finished is None else float(finished)

    def kill(self) -> None:
        self.driver.kill()

    def restart(self) -> None:
        self.start()

    def stop(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None


class APSchedulerPeer(_OneProcessPeer):
    """APScheduler 3.x in ``bench/peer_apscheduler.py``, on a SQLite file."""

    name = "apscheduler"
    single_concurrencies = (1, 4, 16)
    has_batch = False
    script = "peer_apscheduler.py"
    store_name = "apscheduler.db"
    pool = 10

    def options(self) -> list[str]:
        return ["--pool", str(self.pool)]

    def create(self, batch: Batch, mode: str, concurrency: int) -> dict[str, float]:
        if mode != "single":
            raise ValueError("APScheduler 3.x has no batch API")

        return self.driver.call(
            _create_timeout(batch.count),
            op="create",
            threads=concurrency,
            **batch.command(self.hook),
        )

    def create_for_setup(self, batch: Batch) -> dict[str, float]:
        return self.create(batch, "single", self.setup_concurrency)

    def clear(self, prefixes: list[str]) -> None:
        # Only the pending jobs are left at this point: all of them go.
        self.driver.call(_create_timeout(0), op="clear")

    def describe(self) -> dict[str, Any]:
        return {
            "versions": _versions("apscheduler", "sqlalchemy"),
            "scheduler": "BackgroundScheduler",
            "job_store": "SQLAlchemyJobStore(url='sqlite:///...'), WAL, "
            "synchronous=NORMAL",
            "executor": f"ThreadPoolExecutor(max_workers={self.pool})",
            "job_defaults": {"misfire_grace_time": None, "coalesce": False},
            "http_client": "http.client.HTTPConnection per pool thread, keep-alive",
        }


class TimerkernelPeer(_OneProcessPeer):
    """Our kernel embedded in ``bench/peer_timerkernel.py``, on a SQLite file.

    Not a peer: our service in the shape that compares like for like with
    APScheduler (one process that creates and fires, in-process creates),
    measured by the same steps.
    """

    name = EMBEDDED
    single_concurrencies = (64,)
    has_batch = True
    script = "peer_timerkernel.py"
    store_name = "timerkernel.db"

    def create(self, batch: Batch, mode: str, concurrency: int) -> dict[str, float]:
        return self.driver.call(
            _create_timeout(batch.count),
            op="create",
            mode=mode,
            concurrency=concurrency,
            **batch.command(self.hook),
        )

    def create_for_setup(self, batch: Batch) -> dict[str, float]:
        return self.create(batch, "batch", 0)

    def clear(self, prefixes: list[str]) -> None:
        self.driver.call(_create_timeout(0), op="clear", prefixes=prefixes)

    def describe(self) -> dict[str, Any]:
        return {
            "versions": _versions("timerkernel", "timerkernel-backends", "uvloop"),
            "shape": "Kernel and Runner in one process, uvloop",
            "store": "SQLite, WAL, synchronous=NORMAL (the backend's own settings)",
            "dispatcher": "HttpDispatcher, the service's defaults",
            "creates": "create_timer from 64 tasks; create_timers, 1,000 a call, "
            "4 at once",
        }


class ProcrastinatePeer(Peer):
    """procrastinate on a throwaway PostgreSQL node, with one worker process."""

    name = "procrastinate"
    single_concurrencies = (64,)
    has_batch = True
    client_pool = 16
    concurrency = 16
    poll = 0.1
    listen_notify = False

    def __init__(self, folder: Path, hook: str) -> None:
        super().__init__(folder, hook)
        self.postgres: Any = None
        self._client: Driver | None = None
        # The worker takes no commands: it only says when it is ready.
        self._worker: Driver | None = None

    @property
    def client(self) -> Driver:
        if self._client is None:
            raise RuntimeError("the procrastinate peer is not running")

        return self._client

    def start(self) -> None:
        from timerbackends.testing.postgres import PostgresServer

        self.postgres = PostgresServer(self.folder / "postgres")
        self.postgres.start()
        self._client = Driver(
            [
                sys.executable,
                str(BENCH / "peer_procrastinate.py"),
                "client",
                "--url",
                self.postgres.url,
                "--pool",
                str(self.client_pool),
                "--apply-schema",
            ]
        )
        self._start_worker()

    def _start_worker(self) -> None:
        self._worker = Driver(
            [
                sys.executable,
                str(BENCH / "peer_procrastinate.py"),
                "worker",
                "--url",
                self.postgres.url,
                "--concurrency",
                str(self.concurrency),
                "--poll",
                str(self.poll),
                "--listen-notify" if self.listen_notify else "--no-listen-notify",
            ]
        )

    def create(self, batch: Batch, mode: str, concurrency: int) -> dict[str, float]:
        return self.client.call(
            _create_timeout(batch.count),
            op="create",
            mode=mode,
            concurrency=concurrency,
            **batch.command(self.hook),
        )

    def create_for_setup(self, batch: Batch) -> dict[str, float]:
        return self.create(batch, "batch", 0)

    def unfinished(self, prefix: str) -> int:
        rows = self.postgres.execute(
            "SELECT count(*) FROM procrastinate_jobs"
            " WHERE status IN ('todo', 'doing')"
            f" AND args->>'timer_id' LIKE '{prefix}%'"
        )
        return int(rows[0][0])

    def last_finished(self, prefix: str) -> float | None:
        rows = self.postgres.execute(
            "SELECT extract(epoch FROM max(event.at)) FROM procrastinate_events event"
            " JOIN procrastinate_jobs job ON job.id = event.job_id"
            " WHERE event.type = 'succeeded'"
            f" AND job.args->>'timer_id' LIKE '{prefix}%'"
        )
        return None if rows[0][0] is None else float(rows[0][0])

    def clear(self, prefixes: list[str]) -> None:
        matches = " OR ".join(f"args->>'timer_id' LIKE '{p}%'" for p in prefixes)
        self.postgres.execute(
            f"DELETE FROM procrastinate_jobs WHERE status = 'todo' AND ({matches})"
        )
        # Dead rows would still be walked by each fetch until vacuumed; the
        # peer gets its clean store, as a maintained database would be.
        self.postgres.execute("VACUUM ANALYZE procrastinate_jobs")

    def kill(self) -> None:
        if self._worker is not None:
            self._worker.kill()

    def restart(self) -> None:
        self._start_worker()

    def stop(self) -> None:
        if self._worker is not None:
            stop_process(self._worker.process, timeout=30)
            self._worker = None

        if self._client is not None:
            self._client.close()
            self._client = None

        if self.postgres is not None:
            self.postgres.destroy()
            self.postgres = None

    def describe(self) -> dict[str, Any]:
        server = "unknown"
        if self.postgres is not None and self.postgres.running:
            server = str(self.postgres.execute("SHOW server_version")[0][0])

        return {
            "versions": {
                **_versions("procrastinate", "psycopg", "psycopg-pool", "aiohttp"),
                "postgresql": server,
            },
            "connector": f"PsycopgConnector, a pool of {self.client_pool} for the "
            f"client, {self.concurrency + 4} for the worker",
            "worker": {
                "processes": 1,
                "concurrency": self.concurrency,
                "fetch_job_polling_interval": self.poll,
                "listen_notify": self.listen_notify,
                "update_heartbeat_interval": 1.0,
                "stalled_jobs_retried_after_s": 5.0,
            },
            "http_client": "one aiohttp.ClientSession shared by the worker's jobs",
            "postgresql_settings": "the project's harness: fsync, "
            "synchronous_commit and full_page_writes off",
        }


def _versions(*packages: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"

    return found


def make_peer(name: str, folder: Path, hook: str) -> Peer:
    """Return the peer called *name* (one of PEERS), not started."""
    if name == "apscheduler":
        return APSchedulerPeer(folder, hook)

    if name == "procrastinate":
        return ProcrastinatePeer(folder, hook)

    if name == EMBEDDED:
        return TimerkernelPeer(folder, hook)

    raise ValueError(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")


# -- the steps ------------------------------------------------------------------


def _schedule(peer: Peer, prefix: str, count: int, rate: float | None) -> Batch:
    """Create *count* jobs due from a moment far enough ahead to create them.

    They are due all at once if *rate* is None, else at *rate* per second.
    """
    lead = 2.0 + 2.0 * count / peer.setup_rate
    spacing = 0.0 if rate is None else 1.0 / rate
    batch = Batch(prefix, count, time.time() + lead, spacing)
    created = peer.create_for_setup(batch)
    if created["finished_at"] > batch.first:
        logger.warning(
            "%s: creating %s took %.1f s, past its first due time",
            peer.name,
            prefix,
            created["seconds"],
        )

    # Creation slows down as the run goes on: the next lead allows for that.
    peer.setup_rate = min(peer.setup_rate, count / created["seconds"])
    return batch


def _wait_finished(peer: Peer, batch: Batch, expected_rate: float) -> bool:
    """Wait until no job of *batch* is left to run; say whether that happened.

    The deadline allows for the jobs to run at SLOWEST_RATE after the last
    falls due, or at *expected_rate* plus GRACE, whichever is later.
    """
    slowest = batch.count / SLOWEST_RATE
    expected = batch.count / max(expected_rate, SLOWEST_RATE) + GRACE
    deadline = max(batch.last + slowest, batch.first + expected)
    time.sleep(max(0.0, batch.first - time.time()))
    while time.time() < deadline:
        if peer.unfinished(batch.prefix) == 0:
            logger.info(
                "%s: %d jobs of %s finished %.1f s after the last was due",
                peer.name,
                batch.count,
                batch.prefix,
                time.time() - batch.last,
            )
            return True

        time.sleep(POLL)

    logger.warning(
        "%s: jobs of %s still unfinished at the deadline", peer.name, batch.prefix
    )
    return False


def _measure_creates(peer: Peer, sizes: dict[str, int]) -> dict[str, float]:
    result: dict[str, float] = {}
    far = time.time() + 86_400
    best = 0
    for concurrency in peer.single_concurrencies:
        batch = Batch(f"single{concurrency}-", sizes["single"], far)
        seconds = peer.create(batch, "single", concurrency)["seconds"]
        result[f"create_single_per_s_c{concurrency}"] = batch.count / seconds
        if batch.count / seconds > result.get("create_single_per_s", 0.0):
            result["create_single_per_s"] = batch.count / seconds
            best = concurrency

    result["create_single_best_concurrency"] = best
    peer.setup_rate = result["create_single_per_s"]
    peer.setup_concurrency = best

    if peer.has_batch:
        batch = Batch("batch-", sizes["batch"], far)
        seconds = peer.create(batch, "batch", 0)["seconds"]
        result["create_batch_per_s"] = batch.count / seconds
        peer.setup_rate = max(peer.setup_rate, result["create_batch_per_s"])

    return result


def _measure_kill(
    peer: Peer, prefix: str, count: int, rate: float | None, kill_after: float
) -> tuple[Batch, float]:
    """Kill the peer while it runs a batch of jobs, and start it again.

    The jobs are scheduled as :func:`_schedule` does; the kill comes
    *kill_after* seconds after the first is due.

    :return: the jobs, and the seconds from the kill until the restarted
        process was ready.
    """
    batch = _schedule(peer, prefix, count, rate)
    time.sleep(max(0.0, batch.first + kill_after - time.time()))
    killed = time.perf_counter()
    peer.kill()
    peer.restart()
    downtime = time.perf_counter() - killed
    _wait_finished(peer, batch, rate or SLOWEST_RATE)
    return batch, downtime


def _index(received: list[list[Any]]) -> dict[str, list[tuple[float, Any]]]:
    arrivals: dict[str, list[tuple[float, Any]]] = defaultdict(list)
    for arrived, timer_id, _fire_at, attempt in received:
        if isinstance(timer_id, str):
            arrivals[timer_id].append((arrived, attempt))

    return arrivals


def _summarise(
    arrivals: dict[str, list[tuple[float, Any]]], batch: Batch
) -> dict[str, float]:
    """Rates and lateness of *batch*; a job never delivered is infinitely late."""
    times: list[float] = []
    late: list[float] = []
    for index, timer_id in enumerate(batch.ids()):
        got = arrivals.get(timer_id, [])
        times.extend(arrived for arrived, _ in got)
        first = [arrived for arrived, attempt in got if attempt == 1]
        due = batch.first + index * batch.spacing
        late.append((min(first) - due) * 1000 if first else float("inf"))

    span = max(times) - min(times) if len(times) > 1 else float("nan")
    return {
        "delivered": float(sum(1 for timer_id in batch.ids() if timer_id in arrivals)),
        "rate_per_s": len(times) / span if span else float("nan"),
        "from_due_per_s": len(times) / (max(times) - batch.first)
        if times
        else float("nan"),
        "p50_ms": percentile(late, 0.50),
        "p99_ms": percentile(late, 0.99),
        "p999_ms": percentile(late, 0.999),
        "max_ms": max(late),
    }


def _figures(
    arrivals: dict[str, list[tuple[float, Any]]], batches: dict[str, Batch]
) -> dict[str, float]:
    result: dict[str, float] = {}
    pending = _summarise(arrivals, batches["pending"])
    result["delivery_burst_pending_per_s"] = pending["rate_per_s"]
    result["delivery_burst_pending_from_due_per_s"] = pending["from_due_per_s"]

    burst = _summarise(arrivals, batches["burst"])
    result["delivery_burst_per_s"] = burst["rate_per_s"]
    result["delivery_burst_from_due_per_s"] = burst["from_due_per_s"]
    for figure in ("p50_ms", "p99_ms", "max_ms"):
        result[f"burst_lateness_{figure}"] = burst[figure]

    for key in ("rate_1000", "rate_50pct", "rate_90pct"):
        steady = _summarise(arrivals, batches[key])
        result[f"{key}_delivered_per_s"] = steady["rate_per_s"]
        for figure in ("p50_ms", "p99_ms", "p999_ms", "max_ms"):
            result[f"{key}_{figure}"] = steady[figure]

    for key, label in (("kill", ""), ("kill_burst", "_burst")):
        ids = batches[key].ids()
        result[f"{key}_jobs"] = batches[key].count
        result[f"lost{label}"] = sum(1 for i in ids if i not in arrivals)
        result[f"duplicates{label}"] = sum(
            max(0, len(arrivals.get(i, [])) - 1) for i in ids
        )

    result["undelivered"] = sum(
        batch.count - _summarise(arrivals, batch)["delivered"]
        for key, batch in batches.items()
        if not key.startswith("kill")
    )
    return result


def _measure(
    peer: Peer, sizes: dict[str, int]
) -> tuple[dict[str, float], dict[str, Batch]]:
    result = _measure_creates(peer, sizes)
    batches: dict[str, Batch] = {}

    # A burst with the created jobs still pending, as run.py's timers are.
    prefixes = [f"single{c}-" for c in peer.single_concurrencies]
    prefixes += ["batch-"] if peer.has_batch else []
    result["pending_jobs"] = sizes["single"] * len(peer.single_concurrencies)
    result["pending_jobs"] += sizes["batch"] if peer.has_batch else 0
    count = min(sizes["burst"], PENDING_BURST)
    batches["pending"] = _schedule(peer, "pending-", count, None)
    _wait_finished(peer, batches["pending"], SLOWEST_RATE)

    # The main burst, on a store that holds nothing else.
    peer.clear(prefixes)
    batches["burst"] = _schedule(peer, "burst-", sizes["burst"], None)
    _wait_finished(peer, batches["burst"], SLOWEST_RATE)

    # Its rate from the due instant, as the peer saw it, sets the later rates.
    finished = peer.last_finished("burst-")
    if finished is None or finished <= batches["burst"].first:
        raise RuntimeError(f"{peer.name}: the burst did not finish after it was due")

    capacity = batches["burst"].count / (finished - batches["burst"].first)
    result["capacity_per_s"] = capacity

    steady = sizes["steady_seconds"]
    batches["rate_1000"] = _schedule(peer, "rate1000-", steady * 1000, 1000.0)
    _wait_finished(peer, batches["rate_1000"], capacity)

    for percent in (50, 90):
        rate = capacity * percent / 100
        key = f"rate_{percent}pct"
        result[f"{key}_offered_per_s"] = rate
        count = max(1, round(rate * steady))
        batches[key] = _schedule(peer, f"rate{percent}pct-", count, rate)
        _wait_finished(peer, batches[key], capacity)

    # Killed halfway through a window at half its capacity, then halfway
    # through a burst, when most of the due jobs are taken but not done.
    window = sizes["kill_seconds"]
    result["kill_offered_per_s"] = capacity / 2
    count = max(1, round(capacity / 2 * window))
    batches["kill"], result["kill_downtime_s"] = _measure_kill(
        peer, "kill-", count, capacity / 2, window / 2
    )
    count = sizes["burst"]
    batches["kill_burst"], result["kill_burst_downtime_s"] = _measure_kill(
        peer, "killburst-", count, None, count / capacity / 2
    )
    return result, batches


def _run_peer(
    name: str, size: str, folder: Path
) -> tuple[dict[str, float], dict[str, Any]]:
    receiver = Receiver(folder)
    peer = make_peer(name, folder, receiver.url)
    receiver.start()
    try:
        peer.start()
        result, batches = _measure(peer, SIZES[size])
        config = peer.describe()
    finally:
        peer.stop()
        received = receiver.stop()

    return result | _figures(_index(received), batches), config


def run_peer(name: str, size: str, folder: Path) -> dict[str, float]:
    """Measure the peer *name* with the workload *size*; return its figures.

    Starts a receiver and the peer's processes (and, for procrastinate, a
    PostgreSQL node) under *folder*, and stops them all before it returns.
    Blocks for a minute (``quick``) to a few (``full``). The keys are those
    of :func:`measure_peer`.

    :param name: ``apscheduler`` or ``procrastinate``.
    :param size: a key of SIZES: ``quick``, ``medium`` or ``full``.
    :param folder: an empty directory, for the stores and the receiver's file.
    :raises RuntimeError: if a process does not start or a command fails.
    """
    return _run_peer(name, size, folder)[0]


async def measure_peer(name: str, size: str, folder: Path) -> dict[str, float]:
    """Measure the peer *name* like :func:`run_peer`, in a thread.

    The keys that match run.py's measures (rates per second, lateness in
    milliseconds):

    - ``create_single_per_s``: the best of the single-create concurrencies,
      each also as ``create_single_per_s_c<N>``, the best N as
      ``create_single_best_concurrency``;
    - ``create_batch_per_s``: procrastinate only (APScheduler has no batch API);
    - ``delivery_burst_per_s``: first arrival to last, on a clean store;
    - ``burst_lateness_p99_ms``;
    - ``rate_1000_p50_ms``, ``rate_1000_p99_ms``, ``rate_1000_max_ms``.

    And more: ``delivery_burst_from_due_per_s``, ``burst_lateness_p50_ms``,
    ``burst_lateness_max_ms``; ``delivery_burst_pending_per_s`` and
    ``delivery_burst_pending_from_due_per_s``, the burst with
    ``pending_jobs`` created jobs still pending; ``capacity_per_s``, the
    burst's rate from the due instant as the peer saw it, which sets the
    later rates; ``rate_1000_p999_ms`` and ``rate_1000_delivered_per_s``;
    the same five for ``rate_50pct`` and ``rate_90pct``, with their
    ``*_offered_per_s``; the kill test's ``kill_jobs``,
    ``kill_offered_per_s``, ``kill_downtime_s`` (from the kill until the
    restarted process was ready), ``lost`` (never arrived) and
    ``duplicates`` (arrivals past the first of a job), and the same for a
    kill halfway through a burst of ``kill_burst_jobs``:
    ``kill_burst_downtime_s``, ``lost_burst``, ``duplicates_burst``; ``undelivered``,
    the jobs of the other steps that never arrived (0 unless a deadline
    passed). A lateness is infinite if a job of its step never arrived.
    """
    return await asyncio.to_thread(run_peer, name, size, folder)


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _finite(value: Any) -> Any:
    """*value* with every infinite or NaN float replaced by None, for JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None

    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}

    if isinstance(value, list):
        return [_finite(item) for item in value]

    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--peer",
        default="all",
        help=f"comma-separated, from {', '.join([*PEERS, EMBEDDED])}; or all",
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    names = [*PEERS, EMBEDDED] if arguments.peer == "all" else arguments.peer.split(",")
    unknown = set(names) - {*PEERS, EMBEDDED}
    if unknown:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")

    # Runs of the peers are interleaved, as run.py's shapes are.
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    configs: dict[str, dict[str, Any]] = {}
    for number in range(arguments.runs):
        for name in names:
            logger.info("run %d of %d: %s", number + 1, arguments.runs, name)
            with tempfile.TemporaryDirectory() as folder:
                figures, configs[name] = _run_peer(name, arguments.size, Path(folder))

            runs[name].append(figures)
            print(json.dumps(_finite(figures), indent=2), flush=True)

    output = (
        json.loads(arguments.output.read_text()) if arguments.output.exists() else {}
    )
    for name in names:
        keys = sorted({key for run in runs[name] for key in run})
        output[name] = {
            "meta": {
                "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                "machine": f"{os.cpu_count()} cores, "
                f"{platform.python_implementation()} {platform.python_version()}, "
                f"{platform.system()}",
                "size": arguments.size,
                "sizes": SIZES[arguments.size],
                "runs": arguments.runs,
                "config": configs[name],
            },
            "summary": {
                key: _spread([run[key] for run in runs[name] if key in run])
                for key in keys
            },
            "runs": runs[name],
        }

    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(_finite(output), indent=2) + "\n")
    print(
        json.dumps(_finite({name: output[name]["summary"] for name in names}), indent=2)
    )


if __name__ == "__main__":
    main()
