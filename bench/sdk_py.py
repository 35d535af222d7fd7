"""The Python SDK's async client against the server's raw capacity.

One ``timerserver serve`` on a fresh SQLite file, on 127.0.0.1, started and
stopped by this script. In each run, interleaved so that drift of the
machine spreads over all of them, these clients each make single creates
and then gets of existing timers from ``--concurrency`` tasks (64), on the
standard asyncio event loop of this process:

- ``aiohttp (raw)``: a plain load generator on aiohttp, which sends the
  JSON bodies and reads the answers without parsing them: what the server
  carries;
- ``sdk``: ``AsyncTimerClient`` as it comes, on its own keep-alive
  transport;
- ``sdk on httpx transport``: ``AsyncTimerClient`` on an
  ``httpx.AsyncClient`` with its default transport (httpcore), 64
  connections all kept alive;
- ``sdk on httpx, default limits``: the same with httpx's default pool
  limits (at most 20 idle connections kept).

Then batch creates, 1,000 timers per request and 4 requests at once, by the
SDK's ``batch_create_timers`` and by aiohttp. Timers are due in a day, so the
runner has nothing to deliver meanwhile.

Run it from the repository root in the benchmark's environment, which has
the SDK and aiohttp (``./dev nox -s bench -- --help`` makes it)::

    .nox/bench/bin/python bench/sdk_py.py [--runs 3] [--output results.json]

It prints the medians with min–max over the runs, the ratio of each to the
raw load generator, and this process's CPU per request. Every loop is
bounded in count and time; the server gets SIGTERM at the end, and SIGKILL
if it is not gone 10 s later.
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from timerclient import AsyncTimerClient, Callback, TimerSpec

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
HOOK = f"http://{HOST}:9/never-called"
PAYLOAD = {"order": "o-000123", "amount": 42}
WARMUP_PER_TASK = 2
BATCH = 1000
BATCH_CONCURRENCY = 4

Call = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class Rate:
    """One timed step: calls per second and this process's CPU per call."""

    per_second: float
    cpu_us: float
    completed: int


# -- the server -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _server_command() -> str:
    candidates = [
        os.environ.get("TIMERSDK_SERVER"),
        str(Path(sys.executable).parent / "timerserver"),
        shutil.which("timerserver"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate

    raise SystemExit("timerserver not found: set TIMERSDK_SERVER")


class Server:
    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = (folder / "server.log").open("wb")
        # The server takes every TIMERSERVER_* variable as a setting.
        environment = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("TIMERSERVER_")
        }
        self.process = subprocess.Popen(
            [
                _server_command(),
                "serve",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--storage",
                f"sqlite:///{folder / 'timers.db'}",
            ],
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, limit: float = 30.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited with {self.process.returncode}")

            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass

            time.sleep(0.1)

        raise SystemExit(f"the server was not ready within {limit:g} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

        self.log.close()


# -- the workload ---------------------------------------------------------------


async def _drive(call: Call, *, count: int, concurrency: int, limit: float) -> Rate:
    """Make *count* calls from *concurrency* tasks; stop at *limit* seconds."""
    warmup = iter(range(-concurrency * WARMUP_PER_TASK, 0))

    async def warm() -> None:
        for index in warmup:
            await call(index)

    await asyncio.wait_for(asyncio.gather(*(warm() for _ in range(concurrency))), 60)

    numbers = iter(range(count))
    completed = 0
    deadline = time.perf_counter() + limit

    async def worker() -> None:
        nonlocal completed
        for index in numbers:
            if time.perf_counter() > deadline:
                return

            await call(index)
            completed += 1

    started = time.perf_counter()
    cpu_started = time.process_time()
    await asyncio.wait_for(
        asyncio.gather(*(worker() for _ in range(concurrency))), limit + 60
    )
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return Rate(completed / elapsed, cpu / max(completed, 1) * 1e6, completed)


def _body(timer_id: str, fire_at: str) -> dict[str, Any]:
    return {
        "id": timer_id,
        "fire_at": fire_at,
        "callback": {"url": HOOK},
        "payload": PAYLOAD,
    }


class Raw:
    """The plain load generator: aiohttp, answers read but not parsed."""

    name = "aiohttp (raw)"

    def __init__(self, base: str, concurrency: int) -> None:
        self.base = base
        self.concurrency = concurrency

    async def measure(
        self, tag: str, count: int, limit: float, get_ids: list[str]
    ) -> dict[str, Rate]:
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        headers = {"Content-Type": "application/json"}
        url = f"{self.base}/api/v1/namespaces/bench/timers"
        fire_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        async with aiohttp.ClientSession(connector=connector) as session:

            async def create(index: int) -> None:
                body = json.dumps(_body(f"{tag}-{index}", fire_at)).encode()
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    if answer.status != 201:
                        raise RuntimeError(f"create answered {answer.status}")

            async def get(index: int) -> None:
                timer_id = get_ids[index % len(get_ids)]
                async with session.get(f"{url}/{timer_id}") as answer:
                    await answer.read()
                    if answer.status != 200:
                        raise RuntimeError(f"get answered {answer.status}")

            drive: dict[str, Any] = {
                "count": count,
                "concurrency": self.concurrency,
                "limit": limit,
            }
            return {
                "create": await _drive(create, **drive),
                "get": await _drive(get, **drive),
            }

    async def batch(self, tag: str, batches: int) -> Rate:
        url = f"{self.base}/api/v1/namespaces/bench/timers:batchCreate"
        fire_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        connector = aiohttp.TCPConnector(limit=BATCH_CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def create(index: int) -> None:
                timers = [
                    _body(f"{tag}-{index}-{item}", fire_at) for item in range(BATCH)
                ]
                async with session.post(url, json={"timers": timers}) as answer:
                    results = (await answer.json())["results"]
                    if answer.status != 200 or any(
                        result["status"] != 201 for result in results
                    ):
                        raise RuntimeError("batch create failed")

            rate = await _drive(
                create, count=batches, concurrency=BATCH_CONCURRENCY, limit=120
            )
        return Rate(rate.per_second * BATCH, rate.cpu_us / BATCH, rate.completed)


class Sdk:
    """``AsyncTimerClient``, on its own transport or on an httpx client."""

    def __init__(
        self, name: str, base: str, concurrency: int, http: str | None
    ) -> None:
        self.name = name
        self.base = base
        self.concurrency = concurrency
        self.http = http

    def _client(self) -> tuple[AsyncTimerClient, httpx.AsyncClient | None]:
        if self.http is None:
            return AsyncTimerClient(self.base, max_connections=self.concurrency), None

        limits = (
            httpx.Limits(
                max_connections=self.concurrency,
                max_keepalive_connections=self.concurrency,
            )
            if self.http == "tuned"
            else httpx.Limits()
        )
        http = httpx.AsyncClient(limits=limits, timeout=30.0)
        return AsyncTimerClient(self.base, http_client=http), http

    async def measure(
        self, tag: str, count: int, limit: float, get_ids: list[str]
    ) -> dict[str, Rate]:
        client, http = self._client()
        fire_at = datetime.now(UTC) + timedelta(days=1)
        callback = Callback(HOOK)
        try:

            async def create(index: int) -> None:
                await client.create_timer(
                    "bench",
                    f"{tag}-{index}",
                    fire_at=fire_at,
                    callback=callback,
                    payload=PAYLOAD,
                )

            async def get(index: int) -> None:
                await client.get_timer("bench", get_ids[index % len(get_ids)])

            drive: dict[str, Any] = {
                "count": count,
                "concurrency": self.concurrency,
                "limit": limit,
            }
            return {
                "create": await _drive(create, **drive),
                "get": await _drive(get, **drive),
            }
        finally:
            await client.aclose()
            if http is not None:
                await http.aclose()

    async def batch(self, tag: str, batches: int) -> Rate:
        fire_at = datetime.now(UTC) + timedelta(days=1)
        async with AsyncTimerClient(self.base) as client:

            async def create(index: int) -> None:
                specs = [
                    TimerSpec(
                        f"{tag}-{index}-{item}",
                        callback=HOOK,
                        fire_at=fire_at,
                        payload=PAYLOAD,
                    )
                    for item in range(BATCH)
                ]
                results = await client.batch_create_timers("bench", specs)
                if any(result.status != 201 for result in results):
                    raise RuntimeError("batch create failed")

            rate = await _drive(
                create, count=batches, concurrency=BATCH_CONCURRENCY, limit=120
            )
        return Rate(rate.per_second * BATCH, rate.cpu_us / BATCH, rate.completed)


# -- the run and its report -----------------------------------------------------


def _seed(base: str, count: int) -> list[str]:
    """Timers for the gets to read, made in one batch."""
    ids = [f"seed-{index}" for index in range(count)]
    fire_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    answer = httpx.post(
        f"{base}/api/v1/namespaces/bench/timers:batchCreate",
        json={"timers": [_body(timer_id, fire_at) for timer_id in ids]},
        timeout=30,
    )
    answer.raise_for_status()
    return ids


def _summary(rates: list[Rate], raw: list[Rate] | None) -> dict[str, Any]:
    values = [rate.per_second for rate in rates]
    summary: dict[str, Any] = {
        "median_per_s": round(statistics.median(values)),
        "min_per_s": round(min(values)),
        "max_per_s": round(max(values)),
        "runs_per_s": [round(value) for value in values],
        "completed": [rate.completed for rate in rates],
        "median_client_cpu_us": round(statistics.median(rate.cpu_us for rate in rates)),
    }
    if raw is not None:
        # The ratio of each run to the raw generator of the same run, so
        # that the machine's drift cancels out.
        ratios = [
            mine.per_second / theirs.per_second
            for mine, theirs in zip(rates, raw, strict=True)
        ]
        summary["ratio_to_raw_median"] = round(statistics.median(ratios), 2)
        summary["ratio_to_raw_min"] = round(min(ratios), 2)
        summary["ratio_to_raw_max"] = round(max(ratios), 2)

    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=4000, help="per step")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--time-limit", type=float, default=15.0, help="per step")
    parser.add_argument("--batches", type=int, default=10, help="of 1,000, per run")
    parser.add_argument("--no-httpx", action="store_true", help="skip the slow ones")
    parser.add_argument("--output", type=Path, help="write the results as JSON")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder))
        try:
            server.wait_ready()
            results = _measure(server, args)
        finally:
            server.stop()

    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "workload": {
            "runs": args.runs,
            "requests_per_step": args.requests,
            "concurrency": args.concurrency,
            "time_limit_per_step_s": args.time_limit,
            "batch": {"size": BATCH, "concurrency": BATCH_CONCURRENCY},
            "server": "timerserver serve, SQLite, on 127.0.0.1 (same machine)",
            "client_event_loop": "asyncio, standard event loop",
        },
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1min_before": round(load_before, 2),
            "load_average_1min_after": round(os.getloadavg()[0], 2),
        },
        "versions": {
            name: version(name)
            for name in ("timerkernel-client", "httpx", "httpcore", "aiohttp")
        },
        "results": results,
    }
    text = json.dumps(report, indent=2)
    if args.output is not None:
        args.output.write_text(text + "\n")

    _print_table(results)


def _measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    get_ids = _seed(server.url, 1000)
    clients: list[Raw | Sdk] = [
        Raw(server.url, args.concurrency),
        Sdk("sdk", server.url, args.concurrency, None),
    ]
    if not args.no_httpx:
        clients += [
            Sdk("sdk on httpx transport", server.url, args.concurrency, "tuned"),
            Sdk(
                "sdk on httpx, default limits", server.url, args.concurrency, "default"
            ),
        ]

    rates: dict[str, dict[str, list[Rate]]] = {
        client.name: {"create": [], "get": []} for client in clients
    }
    batches: dict[str, list[Rate]] = {"aiohttp (raw)": [], "sdk": []}
    for run in range(args.runs):
        for number, client in enumerate(clients):
            measured = asyncio.run(
                client.measure(
                    f"r{run}c{number}", args.requests, args.time_limit, get_ids
                )
            )
            for step, rate in measured.items():
                rates[client.name][step].append(rate)
                print(
                    f"run {run + 1}/{args.runs} {client.name:<30} {step:<6} "
                    f"{rate.per_second:>7,.0f}/s  {rate.cpu_us:>6,.0f} µs CPU",
                    flush=True,
                )

        for number, client in enumerate(clients[:2]):
            rate = asyncio.run(client.batch(f"b{run}c{number}", args.batches))
            batches[client.name].append(rate)
            print(
                f"run {run + 1}/{args.runs} {client.name:<30} batch  "
                f"{rate.per_second:>7,.0f} timers/s",
                flush=True,
            )

    raw = rates["aiohttp (raw)"]
    results: dict[str, Any] = {}
    for name, steps in rates.items():
        results[name] = {
            step: _summary(values, None if name == "aiohttp (raw)" else raw[step])
            for step, values in steps.items()
        }

    results["batch_create"] = {
        name: _summary(
            values, None if name == "aiohttp (raw)" else batches["aiohttp (raw)"]
        )
        for name, values in batches.items()
    }
    return results


def _print_table(results: dict[str, Any]) -> None:
    print(
        f"\n{'client':<30} {'step':<7} {'median/s':>9}  {'min–max':<13} "
        f"{'× raw (min–max)':<18} client µs CPU"
    )
    for name, steps in results.items():
        if name == "batch_create":
            continue

        for step in ("create", "get"):
            summary = steps[step]
            _print_row(name, step, summary)

    for name, summary in results["batch_create"].items():
        _print_row(name, "batch", summary)


def _print_row(name: str, step: str, summary: dict[str, Any]) -> None:
    spread = f"{summary['min_per_s']:,}–{summary['max_per_s']:,}"
    ratio = ""
    if "ratio_to_raw_median" in summary:
        ratio = (
            f"{summary['ratio_to_raw_median']:.2f} "
            f"({summary['ratio_to_raw_min']:.2f}–{summary['ratio_to_raw_max']:.2f})"
        )

    print(
        f"{name:<30} {step:<7} {summary['median_per_s']:>9,}  {spread:<13} "
        f"{ratio:<18} {summary['median_client_cpu_us']:>6,}"
    )


if __name__ == "__main__":
    main()
