"""The benchmark: the service against its building blocks and its peers.

    ./dev nox -s bench -- [--runs 3] [--size full|medium|quick]
                          [--shapes sqlite,postgres-1,...] [--no-peers]
                          [--no-ceilings] [--growth 100000,1000000,10000000]

Each run starts everything itself on 127.0.0.1: a webhook receiver
(``bench/receiver.py``) in a separate process, and the service in one of
these shapes: ``sqlite``, one ``timerserver serve`` on a fresh SQLite file;
``postgres-N``, a throwaway PostgreSQL node, one ``serve --no-runner`` and N
``timerserver runner`` processes; ``cassandra-N`` and ``mongodb-N``, the same
on a one-node Cassandra or on FerretDB (the MongoDB protocol on PostgreSQL). For
each it measures:

1. single creates: 64 concurrent keep-alive clients, one timer per request;
2. batch creates: ``:batchCreate`` with 1,000 timers per request;
3. sustained delivery: timers due evenly over one second, far more than a
   second's work, delivered as fast as the service can; the rate is
   deliveries per second from the first arrival at the receiver to the last;
4. lateness at fixed offered rates, timers due evenly over a window: 1,000
   per second, and 50% and 90% of the rate step 3 measured. Lateness is the
   receiver's arrival time minus ``fire_at``, so it includes the HTTP round
   trip: an upper bound of the contract's delivery start;
5. a kill: timers due over a window at 50% of that rate; halfway the
   process that delivers (``serve`` for sqlite, the first runner for
   postgres) gets SIGKILL and is started again; timers never received are
   lost, receptions past the first are duplicates.

In the same runs, interleaved, it measures the building-block ceilings
(``bench/ceilings.py``: a bare Starlette echo on the same server stack, bare
inserts into the same schema) and the peers (``bench/peers.py``: APScheduler
3 on SQLite, procrastinate on PostgreSQL). ``--growth`` then measures claim
cost and runner memory with many timers stored (``bench/growth.py``). In
the first run, py-spy samples the service during batch creates and during
sustained delivery; the profiles go to ``bench/results/profiles/``.

Medians over the runs, with min and max, go to ``bench/results/latest.json``
and, with a plot, to ``docs/performance.md`` (``bench/report.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PROFILES = RESULTS / "profiles"
CONCURRENCY = 64
BATCH_CONCURRENCY = 4
# Seconds a delivering process gets to start again after the kill; the
# runner's leases (6 s) must also expire before another process may fire.
RESTART_GRACE = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def iso(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def stop_process(process: subprocess.Popen[Any], timeout: float = 60) -> None:
    """Ask *process* to stop with SIGTERM; kill it if it has not within *timeout*."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Services:
    """The processes of one run: receiver, API server, runners, database.

    *shape* is ``sqlite`` (one ``serve`` with its runner on a SQLite file) or
    ``<database>-N``: a throwaway database server (``postgres``,
    ``cassandra`` or ``mongodb``: PostgreSQL, a one-node Cassandra, FerretDB
    on PostgreSQL), one ``serve --no-runner`` and N ``runner`` processes.
    """

    def __init__(self, folder: Path, shape: str) -> None:
        self.folder = folder
        self.shape = shape
        self.api_port = free_port()
        self.receiver_port = free_port()
        self.received_file = folder / "received.json"
        self.base = f"http://127.0.0.1:{self.api_port}"
        self.hook = f"http://127.0.0.1:{self.receiver_port}/hook"
        self.receiver: subprocess.Popen[bytes] | None = None
        # The database server of the shape, if it has one.
        self.database: Any = None
        self.storage = ""
        # The API process, then the runners; for sqlite, one process is both.
        self.api: subprocess.Popen[bytes] | None = None
        self.runners: list[subprocess.Popen[bytes]] = []

    def _timerserver(self, *arguments: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "TIMERSERVER_LOG_LEVEL": "warning"}
        command = [sys.executable, "-m", "timerserver", *arguments]
        return subprocess.Popen(command, env=env)

    def start(self) -> None:
        self.receiver = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "receiver.py"),
                str(self.receiver_port),
                str(self.received_file),
            ],
            stdout=subprocess.PIPE,
        )
        assert self.receiver.stdout is not None
        self.receiver.stdout.readline()

        if self.shape == "sqlite":
            self.storage = f"sqlite:///{self.folder / 'timers.db'}"
            self.api = self._serve()
            self.runners = [self.api]
            return

        family, _, count = self.shape.partition("-")
        self.database, self.storage = _database(family, self.folder)
        subprocess.run(
            [sys.executable, "-m", "timerserver", "migrate", "--storage", self.storage],
            check=True,
            capture_output=True,
        )
        self.api = self._serve("--no-runner")
        self.runners = [self._runner() for _ in range(int(count))]

    def _serve(self, *extra: str) -> subprocess.Popen[bytes]:
        return self._timerserver(
            "serve", "--port", str(self.api_port), "--storage", self.storage, *extra
        )

    def _runner(self) -> subprocess.Popen[bytes]:
        return self._timerserver("runner", "--storage", self.storage)

    @property
    def delivering(self) -> subprocess.Popen[bytes]:
        """The process the kill step kills: the first that delivers."""
        return self.runners[0]

    def kill_and_restart_delivering(self) -> None:
        victim = self.delivering
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        replacement = self._serve() if victim is self.api else self._runner()
        if victim is self.api:
            self.api = replacement

        self.runners[0] = replacement

    def stop(self) -> list[list[Any]]:
        for process in [self.api, *self.runners, self.receiver]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)

        if self.database is not None:
            self.database.destroy()

        if not self.received_file.exists():
            return []

        received: list[list[Any]] = json.loads(self.received_file.read_text())
        return received


def _database(family: str, folder: Path) -> tuple[Any, str]:
    """Start the throwaway database server of *family*; return it and its URL."""
    if family == "postgres":
        from timerbackends.testing.postgres import PostgresServer

        postgres = PostgresServer(folder / "postgres").start()
        return postgres, postgres.url

    if family == "cassandra":
        from timerbackends.testing.cassandra import CassandraNode

        node = CassandraNode(folder / "cassandra").start()
        return node, node.url_for("timers")

    if family == "mongodb":
        from timerbackends.testing.ferretdb import FerretDBServer

        ferretdb = FerretDBServer(folder / "ferretdb").start()
        return ferretdb, ferretdb.url_for("timers")

    raise ValueError(f"no shape of database {family!r}")


async def wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{base}/readyz") as answer:
                if answer.status == 200:
                    return
        except aiohttp.ClientError:
            pass

        await asyncio.sleep(0.1)

    raise RuntimeError("the server did not become ready in 30 s")


async def run_concurrently(count: int, job: Callable[[int], Awaitable[None]]) -> float:
    """Run *job* for 0..count-1 on CONCURRENCY workers; return the seconds taken."""
    next_index = iter(range(count))

    async def worker() -> None:
        for index in next_index:
            await job(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started


def timer_body(timer_id: str, fire_at: datetime, hook: str) -> dict[str, Any]:
    return {
        "id": timer_id,
        "fire_at": iso(fire_at),
        "callback": {"url": hook},
        "payload": {"order": timer_id, "amount": 42},
    }


async def measure_single_creates(
    session: aiohttp.ClientSession, services: Services, count: int
) -> float:
    url = f"{services.base}/api/v1/namespaces/single/timers"
    far = datetime.now(UTC) + timedelta(days=1)

    async def create(index: int) -> None:
        async with session.post(
            url, json=timer_body(f"s{index}", far, services.hook)
        ) as answer:
            if answer.status != 201:
                raise RuntimeError(
                    f"create answered {answer.status}: {await answer.text()}"
                )

            await answer.read()

    return count / await run_concurrently(count, create)


async def create_batches(
    session: aiohttp.ClientSession,
    services: Services,
    namespace: str,
    bodies: list[dict[str, Any]],
    concurrency: int = BATCH_CONCURRENCY,
) -> float:
    url = f"{services.base}/api/v1/namespaces/{namespace}/timers:batchCreate"
    batches = [bodies[start : start + 1000] for start in range(0, len(bodies), 1000)]
    queue = iter(batches)

    async def worker() -> None:
        for batch in queue:
            # Creates are safe to repeat (dedup by id): a repeat answers 200.
            for attempt in range(3):
                try:
                    async with session.post(url, json={"timers": batch}) as answer:
                        status = answer.status
                        results = (await answer.json())["results"]
                        break
                except aiohttp.ClientConnectionError:
                    if attempt == 2:
                        raise

                    await asyncio.sleep(1)

            if status != 200 or any(
                item["status"] not in (200, 201) for item in results
            ):
                raise RuntimeError(f"batch create failed: {status}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(bodies) / (time.perf_counter() - started)


async def wait_delivered(
    session: aiohttp.ClientSession,
    services: Services,
    namespace: str,
    count: int,
    limit: float,
    *,
    required: bool = True,
) -> None:
    """Wait until the API counts *count* timers of *namespace* succeeded.

    :param required: raise if they are not within *limit* seconds; if
        false, return then (the caller counts what arrived).
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{services.base}/api/v1/namespaces") as answer:
                # A 503 says the store did not answer in time (FerretDB
                # under a runner's load, here); the next poll asks again.
                entries = (await answer.json())["namespaces"] if answer.ok else []
                for entry in entries:
                    counts = entry["counts"]
                    if entry["name"] == namespace and counts["succeeded"] >= count:
                        return
        except aiohttp.ClientError:
            # The API process is being restarted by the kill step.
            pass

        await asyncio.sleep(0.25)

    if required:
        raise RuntimeError(
            f"{namespace}: not all {count} timers delivered within {limit} s"
        )


def lateness_summary(received: list[list[Any]], prefix: str) -> dict[str, Any]:
    """Lateness and rate of the first attempts of the timers named *prefix*."""
    mine = [
        (arrived, timer_id, fire_at)
        for arrived, timer_id, fire_at, attempt in received
        if isinstance(timer_id, str) and timer_id.startswith(prefix) and attempt == 1
    ]
    late = [(arrived - parse_iso(fire_at)) * 1000 for arrived, _, fire_at in mine]
    arrivals = sorted(arrived for arrived, _, _ in mine)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else float("nan")
    due = [parse_iso(fire_at) for _, _, fire_at in mine]
    return {
        "count": len(late),
        "rate_per_s": len(arrivals) / span if span else float("nan"),
        "p50_ms": percentile(late, 0.50),
        "p99_ms": percentile(late, 0.99),
        "p999_ms": percentile(late, 0.999),
        "max_ms": max(late),
        # For the plot: seconds from the first due time, and lateness.
        "series": _thinned(
            sorted(
                (round(arrived - min(due), 4), round(lateness, 2))
                for (arrived, _, _), lateness in zip(mine, late, strict=True)
            )
        ),
    }


def _thinned(points: list[tuple[float, float]], most: int = 1000) -> list[Any]:
    # Enough points for a plot, few enough to keep the results file small.
    step = max(1, len(points) // most)
    return points[::step]


def loss_summary(received: list[list[Any]], prefix: str, count: int) -> dict[str, int]:
    """Timers named *prefix* never received, and receptions past the first."""
    seen = Counter(
        timer_id
        for _, timer_id, _, _ in received
        if isinstance(timer_id, str) and timer_id.startswith(prefix)
    )
    return {
        "lost": count - len(seen),
        "duplicates": sum(times - 1 for times in seen.values()),
    }


def due_evenly(
    prefix: str, count: int, start: datetime, seconds: float, hook: str
) -> list[dict[str, Any]]:
    step = seconds / count
    return [
        timer_body(f"{prefix}{i}", start + timedelta(seconds=i * step), hook)
        for i in range(count)
    ]


class Profiler:
    """py-spy sampling one process for a step, written to PROFILES."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and shutil.which("py-spy") is not None
        self.process: subprocess.Popen[bytes] | None = None
        self.output: Path | None = None

    def start(self, pid: int, name: str) -> None:
        if not self.enabled:
            return

        PROFILES.mkdir(parents=True, exist_ok=True)
        self.output = PROFILES / f"{name}.txt"
        self.process = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--nonblocking",
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(self.output),
                "--pid",
                str(pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.process is None:
            return

        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()

        self.process = None


async def one_run(
    shape: str, sizes: dict[str, int], *, profile: bool
) -> dict[str, Any]:
    profiler = Profiler(profile)
    with tempfile.TemporaryDirectory() as folder:
        services = Services(Path(folder), shape)
        services.start()
        try:
            connector = aiohttp.TCPConnector(limit=CONCURRENCY)
            async with aiohttp.ClientSession(connector=connector) as session:
                result = await _steps(session, services, sizes, profiler)
        finally:
            profiler.stop()
            received = services.stop()

    result["sustained"] = lateness_summary(received, "sus")
    capacity = result["sustained"]["rate_per_s"]
    for step in ("rate_1000", "rate_50pct", "rate_90pct"):
        result[step] = lateness_summary(received, step.replace("_", "") + "-")
        result[step]["offered_per_s"] = result.pop(f"{step}_offered")

    result["kill"] = loss_summary(received, "kill", result.pop("kill_count"))
    result["kill"]["offered_per_s"] = round(capacity * 0.5)
    return result


async def _steps(
    session: aiohttp.ClientSession,
    services: Services,
    sizes: dict[str, int],
    profiler: Profiler,
) -> dict[str, Any]:
    await wait_ready(session, services.base)
    result: dict[str, Any] = {}
    result["create_single_per_s"] = await measure_single_creates(
        session, services, sizes["single"]
    )

    far = datetime.now(UTC) + timedelta(days=1)
    bodies = [timer_body(f"b{i}", far, services.hook) for i in range(sizes["batch"])]
    assert services.api is not None
    profiler.start(services.api.pid, f"{services.shape}-batch-create")
    result["create_batch_per_s"] = await create_batches(
        session, services, "batch", bodies
    )
    profiler.stop()

    # Sustained delivery: due evenly over one second, far enough ahead that
    # creating them is done.
    count = sizes["sustained"]
    start = datetime.now(UTC) + timedelta(seconds=4 + count / 10_000)
    await create_batches(
        session,
        services,
        "sustained",
        due_evenly("sus", count, start, 1, services.hook),
    )
    await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds() - 0.5))
    profiler.start(services.delivering.pid, f"{services.shape}-delivery")
    await wait_delivered(session, services, "sustained", count, 300)
    profiler.stop()
    capacity = await _capacity(session, services)

    seconds = sizes["steady_seconds"]
    for step, rate in (
        ("rate_1000", 1000.0),
        ("rate_50pct", capacity * 0.5),
        ("rate_90pct", capacity * 0.9),
    ):
        prefix = step.replace("_", "") + "-"
        total = max(1, round(rate * seconds))
        # Ahead by the time the creates take at the measured batch rate.
        ahead = 3 + total / max(result["create_batch_per_s"], 1000)
        start = datetime.now(UTC) + timedelta(seconds=ahead)
        await create_batches(
            session,
            services,
            step,
            due_evenly(prefix, total, start, total / rate, services.hook),
        )
        await wait_delivered(session, services, step, total, 120 + seconds * 3)
        result[f"{step}_offered"] = round(rate)

    result["kill_count"] = await _kill_step(session, services, sizes, capacity)
    return result


async def _capacity(session: aiohttp.ClientSession, services: Services) -> float:
    """The sustained step's delivery rate, first arrival to last."""
    url = f"http://127.0.0.1:{services.receiver_port}/arrivals?prefix=sus"
    async with session.get(url) as answer:
        arrivals = await answer.json()

    span = arrivals["last"] - arrivals["first"]
    return float((arrivals["count"] - 1) / span) if span > 0 else 1000.0


async def _kill_step(
    session: aiohttp.ClientSession,
    services: Services,
    sizes: dict[str, int],
    capacity: float,
) -> int:
    seconds = sizes["kill_seconds"]
    rate = max(capacity * 0.5, 100.0)
    total = round(rate * seconds)
    start = datetime.now(UTC) + timedelta(seconds=3 + total / 5000)
    await create_batches(
        session,
        services,
        "kill",
        due_evenly("kill", total, start, seconds, services.hook),
    )
    await asyncio.sleep(
        max(0.0, (start - datetime.now(UTC)).total_seconds() + seconds / 2)
    )
    services.kill_and_restart_delivering()
    # The receiver, not the API's counts, says what was lost: on Cassandra a
    # kill can leave the counts short of what was delivered.
    await wait_delivered(
        session,
        services,
        "kill",
        total,
        RESTART_GRACE + seconds * 3,
        required=False,
    )
    return total


#: The figures of a run, by key in the summary: where each is in a run.
FIGURES: dict[str, tuple[str, ...]] = {
    "create_single_per_s": ("create_single_per_s",),
    "create_batch_per_s": ("create_batch_per_s",),
    "delivery_sustained_per_s": ("sustained", "rate_per_s"),
    "sustained_p99_ms": ("sustained", "p99_ms"),
    **{
        f"{step}_{figure}": (step, figure)
        for step in ("rate_1000", "rate_50pct", "rate_90pct")
        for figure in ("offered_per_s", "p50_ms", "p99_ms", "p999_ms", "max_ms")
    },
    "kill_offered_per_s": ("kill", "offered_per_s"),
    "kill_lost": ("kill", "lost"),
    "kill_duplicates": ("kill", "duplicates"),
}

#: A peer's figure for each summary key, where its name differs.
PEER_NAMES = {
    "delivery_sustained_per_s": "delivery_burst_per_s",
    "sustained_p99_ms": "burst_lateness_p99_ms",
    "kill_lost": "lost",
    "kill_duplicates": "duplicates",
}


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def dig(run: dict[str, Any], path: tuple[str, ...]) -> float:
        value: Any = run
        for key in path:
            value = value[key]

        return float(value)

    return {
        key: spread([dig(run, path) for run in runs]) for key, path in FIGURES.items()
    }


def summarise_peer(runs: list[dict[str, float]]) -> dict[str, Any]:
    summary = {}
    for key in FIGURES:
        name = PEER_NAMES.get(key, key)
        values = [run[name] for run in runs if name in run]
        if values:
            summary[key] = spread(values)

    return summary


SHAPES = ["sqlite", "postgres-1", "postgres-2", "postgres-4"]
# Measured on their own (--shapes ... --section backends): the one-node
# servers here say what the stores cost, not what a cluster of them does.
OTHER_SHAPES = ["cassandra-1", "mongodb-1"]
SIZES = {
    "full": {
        "single": 20_000,
        "batch": 100_000,
        "sustained": 30_000,
        "steady_seconds": 15,
        "kill_seconds": 20,
    },
    "medium": {
        "single": 10_000,
        "batch": 50_000,
        "sustained": 15_000,
        "steady_seconds": 10,
        "kill_seconds": 10,
    },
    # For the one-node Cassandra and FerretDB here, which deliver hundreds a
    # second, not thousands: the medium steps would take most of an hour.
    "small": {
        "single": 1_000,
        "batch": 2_000,
        "sustained": 1_000,
        "steady_seconds": 3,
        "kill_seconds": 4,
    },
    "quick": {
        "single": 2_000,
        "batch": 5_000,
        "sustained": 3_000,
        "steady_seconds": 3,
        "kill_seconds": 4,
    },
}
GROWTH_SIZES = "100000,1000000,10000000"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--shapes",
        default=",".join(SHAPES),
        help=f"comma-separated, from {', '.join(SHAPES + OTHER_SHAPES)} "
        f"(default: {','.join(SHAPES)})",
    )
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="full",
        help="workload size: full (the published table), medium, or quick to try",
    )
    parser.add_argument(
        "--section",
        default=None,
        help="write to bench/results/SECTION.json and to the SECTION block of "
        "docs/performance.md, leaving the main table alone (for shapes "
        "measured on their own)",
    )
    parser.add_argument("--no-peers", dest="peers", action="store_false")
    parser.add_argument("--no-ceilings", dest="ceilings", action="store_false")
    parser.add_argument("--no-profiles", dest="profiles", action="store_false")
    parser.add_argument(
        "--growth",
        default=GROWTH_SIZES,
        help="stored-timer counts for bench/growth.py, 'saved' for its last "
        f"results, or 'none' (default {GROWTH_SIZES})",
    )
    arguments = parser.parse_args()
    shapes = arguments.shapes.split(",")
    sizes = SIZES[arguments.size]

    # The peers, the ceilings and the growth step import the service's
    # packages; imported here, so that --help works without them.
    import ceilings
    import peers
    import report

    # Runs of the shapes, the ceilings and the peers are interleaved, so that
    # a slow spell of this shared machine touches every one alike.
    runs: dict[str, list[dict[str, Any]]] = {shape: [] for shape in shapes}
    peer_runs: dict[str, list[dict[str, float]]] = {
        name: [] for name in ((*peers.PEERS, peers.EMBEDDED) if arguments.peers else ())
    }
    ceiling_runs: list[dict[str, Any]] = []
    for number in range(arguments.runs):
        label = f"run {number + 1} of {arguments.runs}"
        for shape in shapes:
            print(f"{label}: {shape}", flush=True)
            result = asyncio.run(
                one_run(shape, sizes, profile=arguments.profiles and number == 0)
            )
            runs[shape].append(result)
            print(json.dumps(_without_series(result), indent=2), flush=True)

        if arguments.ceilings:
            print(f"{label}: ceilings", flush=True)
            ceiling_runs.append(ceilings.run_ceilings(1, arguments.size, write=False))

        for name in peer_runs:
            print(f"{label}: {name}", flush=True)
            with tempfile.TemporaryDirectory(prefix=f"peer-{name}-") as folder:
                peer_runs[name].append(
                    peers.run_peer(name, arguments.size, Path(folder))
                )

            print(json.dumps(peer_runs[name][-1], indent=2), flush=True)

    growth = None
    saved_growth = RESULTS / "growth.json"
    if arguments.growth == "saved" and saved_growth.exists():
        # The growth step alone takes longest; its last results stand in.
        growth = json.loads(saved_growth.read_text())
    elif arguments.growth not in ("none", "saved"):
        import growth as growth_module

        print("growth with stored timers", flush=True)
        growth = growth_module.run_growth(
            [int(size) for size in arguments.growth.split(",")]
        )

    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "commit": _commit(),
        "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()}",
        "runs": arguments.runs,
        "size": arguments.size,
        "sizes": sizes,
        "peer_sizes": peers.SIZES[arguments.size] if peer_runs else None,
    }
    output = {
        "meta": meta,
        "summary": {shape: summarise(runs[shape]) for shape in shapes},
        "peers": {
            name: summarise_peer(found)
            for name, found in peer_runs.items()
            if name != peers.EMBEDDED
        },
        # Our kernel embedded, measured by the peers' steps: reported as ours.
        "embedded": {
            name: summarise_peer(found)
            for name, found in peer_runs.items()
            if name == peers.EMBEDDED
        },
        "ceilings": _summarise_ceilings(ceiling_runs),
        "growth": growth,
        "profiles": report.top_costs(PROFILES) if arguments.profiles else {},
        "runs": runs,
        "peer_runs": peer_runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = arguments.section or "latest"
    (RESULTS / f"{name}.json").write_text(json.dumps(output, indent=1) + "\n")
    if arguments.size == "quick":
        pass
    elif arguments.section:
        report.write_section(output, arguments.section)
    else:
        report.write(output)

    print(
        json.dumps({"summary": output["summary"], "peers": output["peers"]}, indent=2)
    )


def _without_series(result: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (
            {name: value for name, value in value.items() if name != "series"}
            if isinstance(value, dict)
            else value
        )
        for key, value in result.items()
    }


def _summarise_ceilings(reports: list[dict[str, Any]]) -> dict[str, Any]:
    if not reports:
        return {}

    runs = [report["runs"][0] for report in reports]
    keys = [key for key in runs[0] if isinstance(runs[0][key], int | float)]
    return {
        "meta": reports[0]["meta"],
        "summary": {key: spread([run[key] for run in runs]) for key in keys},
    }


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    main()
