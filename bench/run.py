"""The benchmark: creation and delivery rates and lateness on this machine.

    ./dev nox -s bench -- [--runs 3] [--shapes sqlite,postgres-1,...] [--size full]

Each run starts everything itself on 127.0.0.1: a webhook receiver
(``bench/receiver.py``) in a separate process, and the service in one of
these shapes: ``sqlite``, one ``timerserver serve`` on a fresh SQLite file;
``postgres-N``, a throwaway PostgreSQL node, one ``serve --no-runner`` and N
``timerserver runner`` processes. It measures:

1. single creates: 64 concurrent keep-alive clients, one timer per request;
2. batch creates: ``:batchCreate`` with 1,000 timers per request;
3. delivery burst: timers all due at one instant, delivered as fast as the
   server can; the rate is deliveries per second from first to last;
4. lateness at a fixed rate: timers due at 1,000 per second for a while;
   lateness is the receiver's arrival time minus ``fire_at`` (so it includes
   the HTTP round trip, an upper bound of the contract's delivery start).

Medians over the runs, with min and max, go to ``bench/results/latest.json``
and to the table in ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CONCURRENCY = 64


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


class Services:
    """The processes of one run: receiver, API server, runners, database.

    *shape* is ``sqlite`` (one ``serve`` with its runner on a SQLite file) or
    ``postgres-N`` (a throwaway PostgreSQL node, one ``serve --no-runner``
    and N ``runner`` processes).
    """

    def __init__(self, folder: Path, shape: str) -> None:
        self.folder = folder
        self.shape = shape
        self.api_port = free_port()
        self.receiver_port = free_port()
        self.received_file = folder / "received.json"
        self.base = f"http://127.0.0.1:{self.api_port}"
        self.hook = f"http://127.0.0.1:{self.receiver_port}/hook"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.receiver: subprocess.Popen[bytes] | None = None
        self.postgres: Any = None

    def _timerserver(self, *arguments: str) -> None:
        env = {**os.environ, "TIMERSERVER_LOG_LEVEL": "warning"}
        command = [sys.executable, "-m", "timerserver", *arguments]
        self.processes.append(subprocess.Popen(command, env=env))

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

        serve = ["serve", "--port", str(self.api_port)]
        if self.shape == "sqlite":
            self._timerserver(
                *serve, "--storage", f"sqlite:///{self.folder / 'timers.db'}"
            )
            return

        from timerbackends.testing.postgres import PostgresServer

        runners = int(self.shape.removeprefix("postgres-"))
        self.postgres = PostgresServer(self.folder / "postgres")
        self.postgres.start()
        url = self.postgres.url
        subprocess.run(
            [sys.executable, "-m", "timerserver", "migrate", "--storage", url],
            check=True,
            capture_output=True,
        )
        self._timerserver(*serve, "--storage", url, "--no-runner")
        for _ in range(runners):
            self._timerserver("runner", "--storage", url)

    def stop(self) -> list[list[Any]]:
        for process in [*self.processes, self.receiver]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)

        if self.postgres is not None:
            self.postgres.destroy()

        if not self.received_file.exists():
            return []

        received: list[list[Any]] = json.loads(self.received_file.read_text())
        return received


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
    concurrency: int = 4,
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
) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        async with session.get(f"{services.base}/api/v1/namespaces") as answer:
            for entry in (await answer.json())["namespaces"]:
                if entry["name"] == namespace and entry["counts"]["succeeded"] >= count:
                    return

        await asyncio.sleep(0.25)

    raise RuntimeError(
        f"{namespace}: not all {count} timers delivered within {limit} s"
    )


def lateness_summary(received: list[list[Any]], prefix: str) -> dict[str, float]:
    late = [
        (arrived - parse_iso(fire_at)) * 1000
        for arrived, timer_id, fire_at, attempt in received
        if isinstance(timer_id, str) and timer_id.startswith(prefix) and attempt == 1
    ]
    arrivals = [
        arrived
        for arrived, timer_id, *_ in received
        if str(timer_id).startswith(prefix)
    ]
    span = max(arrivals) - min(arrivals) if len(arrivals) > 1 else float("nan")
    return {
        "count": len(late),
        "rate_per_s": len(arrivals) / span if span else float("nan"),
        "p50_ms": percentile(late, 0.50),
        "p99_ms": percentile(late, 0.99),
        "p999_ms": percentile(late, 0.999),
        "max_ms": max(late),
        "min_ms": min(late),
    }


async def one_run(shape: str, sizes: dict[str, int]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        services = Services(Path(folder), shape)
        services.start()
        try:
            connector = aiohttp.TCPConnector(limit=CONCURRENCY)
            async with aiohttp.ClientSession(connector=connector) as session:
                await wait_ready(session, services.base)
                result: dict[str, Any] = {}

                result["create_single_per_s"] = await measure_single_creates(
                    session, services, sizes["single"]
                )

                far = datetime.now(UTC) + timedelta(days=1)
                bodies = [
                    timer_body(f"b{i}", far, services.hook)
                    for i in range(sizes["batch"])
                ]
                result["create_batch_per_s"] = await create_batches(
                    session, services, "batch", bodies
                )

                # All due at one instant, far enough ahead that creating them is done.
                burst_at = datetime.now(UTC) + timedelta(
                    seconds=4 + sizes["burst"] / 20_000
                )
                bodies = [
                    timer_body(f"burst{i}", burst_at, services.hook)
                    for i in range(sizes["burst"])
                ]
                await create_batches(session, services, "burst", bodies)
                await wait_delivered(session, services, "burst", sizes["burst"], 300)

                # A steady 1,000 per second for the configured number of seconds.
                start = datetime.now(UTC) + timedelta(seconds=4)
                steady = sizes["steady_seconds"] * 1000
                bodies = [
                    timer_body(
                        f"rate{i}", start + timedelta(milliseconds=i), services.hook
                    )
                    for i in range(steady)
                ]
                await create_batches(session, services, "rate", bodies)
                await wait_delivered(
                    session, services, "rate", steady, 120 + sizes["steady_seconds"]
                )
        finally:
            received = services.stop()

    result["burst"] = lateness_summary(received, "burst")
    result["rate_1000"] = lateness_summary(received, "rate")
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def spread(values: list[float]) -> dict[str, float]:
        return {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
        }

    return {
        "create_single_per_s": spread([run["create_single_per_s"] for run in runs]),
        "create_batch_per_s": spread([run["create_batch_per_s"] for run in runs]),
        "delivery_burst_per_s": spread([run["burst"]["rate_per_s"] for run in runs]),
        "burst_lateness_p99_ms": spread([run["burst"]["p99_ms"] for run in runs]),
        "rate_1000_p50_ms": spread([run["rate_1000"]["p50_ms"] for run in runs]),
        "rate_1000_p99_ms": spread([run["rate_1000"]["p99_ms"] for run in runs]),
        "rate_1000_max_ms": spread([run["rate_1000"]["max_ms"] for run in runs]),
    }


_ROWS = [
    ("Single creates, 64 concurrent clients", "create_single_per_s", "timers/s"),
    ("Batch creates, 1,000 per request", "create_batch_per_s", "timers/s"),
    ("Delivery burst, all due at once", "delivery_burst_per_s", "deliveries/s"),
    ("Lateness p99 in that burst", "burst_lateness_p99_ms", "ms"),
    ("Lateness p50 at 1,000/s", "rate_1000_p50_ms", "ms"),
    ("Lateness p99 at 1,000/s", "rate_1000_p99_ms", "ms"),
    ("Lateness max at 1,000/s", "rate_1000_max_ms", "ms"),
]


def write_markdown(summaries: dict[str, Any], meta: dict[str, Any]) -> None:
    shapes = list(summaries)

    def cell(figures: dict[str, float]) -> str:
        return f"{figures['median']:,.0f} ({figures['min']:,.0f}–{figures['max']:,.0f})"

    header = "| measure | unit | " + " | ".join(shapes) + " |"
    rule = "| --- | --- |" + " ---: |" * len(shapes)
    rows = [
        f"| {label} | {unit} | "
        + " | ".join(cell(summaries[shape][key]) for shape in shapes)
        + " |"
        for label, key, unit in _ROWS
    ]
    text = (ROOT / "docs" / "performance.md").read_text()
    start = text.index("<!-- bench:start -->")
    end = text.index("<!-- bench:end -->")
    sizes = meta["sizes"]
    block = (
        "<!-- bench:start -->\n"
        f"Measured {meta['date']} on {meta['machine']}: median of {meta['runs']} "
        "runs, min–max in brackets. Columns: `sqlite` is one `serve` on SQLite; "
        "`postgres-N` is one API process and N runner processes on PostgreSQL, "
        "all on the same two cores. "
        f"Sizes: {sizes['single']:,} single creates, {sizes['batch']:,} batch "
        f"creates, a burst of {sizes['burst']:,}, {sizes['steady_seconds']} s at "
        "1,000/s.\n\n" + "\n".join([header, rule, *rows]) + "\n"
    )
    (ROOT / "docs" / "performance.md").write_text(text[:start] + block + text[end:])


SHAPES = ["sqlite", "postgres-1", "postgres-2", "postgres-4"]
SIZES = {
    "full": {"single": 20_000, "batch": 100_000, "burst": 20_000, "steady_seconds": 15},
    "medium": {
        "single": 10_000,
        "batch": 50_000,
        "burst": 10_000,
        "steady_seconds": 10,
    },
    "quick": {"single": 2_000, "batch": 5_000, "burst": 2_000, "steady_seconds": 3},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--shapes",
        default=",".join(SHAPES),
        help=f"comma-separated, from {', '.join(SHAPES)} (default: all)",
    )
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="full",
        help="workload size: full (the published table), medium, or quick to try",
    )
    arguments = parser.parse_args()
    shapes = arguments.shapes.split(",")
    sizes = SIZES[arguments.size]

    # Runs of the shapes are interleaved, so that a slow spell of this shared
    # machine touches every shape alike.
    runs: dict[str, list[dict[str, Any]]] = {shape: [] for shape in shapes}
    for number in range(arguments.runs):
        for shape in shapes:
            print(f"run {number + 1} of {arguments.runs}: {shape}", flush=True)
            runs[shape].append(asyncio.run(one_run(shape, sizes)))
            print(json.dumps(runs[shape][-1], indent=2), flush=True)

    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()}",
        "runs": arguments.runs,
        "sizes": sizes,
    }
    summaries = {shape: summarise(runs[shape]) for shape in shapes}
    RESULTS.mkdir(parents=True, exist_ok=True)
    output = {"meta": meta, "summary": summaries, "runs": runs}
    (RESULTS / "latest.json").write_text(json.dumps(output, indent=2) + "\n")
    if arguments.size != "quick":
        write_markdown(summaries, meta)

    print(json.dumps(summaries, indent=2))


if __name__ == "__main__":
    main()
