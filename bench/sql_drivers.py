"""Compare the PostgreSQL drivers under ``SQLAlchemyStore`` on the store's hot paths.

SQLAlchemy's async engine runs PostgreSQL through asyncpg
(``postgresql+asyncpg``) or psycopg 3 (``postgresql+psycopg``). This runs the
same ``SQLAlchemyStore`` code on each, against a real PostgreSQL server that
it starts itself on 127.0.0.1 (``timerbackends.testing.postgres``; the
throwaway cluster runs without fsync, so the figures show the client side's
costs, not the disk's), and times:

- ``insert_timers`` in batches of 1,000 (a batch create through the API);
- ``insert_timers`` of one timer from 64 concurrent tasks (single creates,
  gathered by the group commit);
- ``get_timer``, one caller at a time;
- ``fetch_due`` over 16 shards (the runner's poll), 1,000 entries a call;
- ``claim_timers`` of 500 due timers;
- ``record_outcomes`` of 500 outcomes (failed attempts, to retry later).

Each run uses a fresh database for each driver, and runs alternate between
the drivers so that drift of the machine spreads over both. Run it from the
repository root with the test environment, where both drivers are installed
(``uv pip install asyncpg 'psycopg[binary]'``)::

    .nox/tests/bin/python bench/sql_drivers.py

It prints each run, and writes the median of the runs with their min–max to
``bench/results/sql_drivers.json``. Every loop is bounded, and only the
loopback address is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import attrs

from timerbackends.sql import SQLAlchemyStore
from timerbackends.testing.postgres import PostgresServer
from timerkernel import (
    Attempt,
    AttemptOutcome,
    Callback,
    DueTimer,
    ErrorKind,
    LastError,
    Outcome,
    RetryPolicy,
    Timer,
    TimerStatus,
    from_millis,
    shard_of,
    to_millis,
)

RESULTS = Path(__file__).parent / "results" / "sql_drivers.json"
DRIVERS = ("asyncpg", "psycopg")
SHARDS = 16
NAMESPACE = "bench"
BASE = datetime(2030, 1, 1, tzinfo=UTC)

_PAYLOAD = {"invoice": "INV-000123", "customer": "c-81723", "step": 2}


@dataclass(frozen=True)
class Rate:
    """One timed measure: items per second, and this process's CPU per item."""

    per_second: float
    cpu_us_per_item: float


def _timer(n: int, *, due_in: float = 60.0) -> Timer:
    fire = from_millis(to_millis(BASE + timedelta(seconds=due_in + n / 1000)))
    timer_id = f"invoice-{n:07d}:reminder"
    return Timer(
        namespace=NAMESPACE,
        id=timer_id,
        fire_at=fire,
        callback=Callback(
            "https://hooks.example.com/timers/reminder", 10.0, {"X-Tenant": "acme"}
        ),
        payload=_PAYLOAD,
        retry_policy=RetryPolicy(),
        status=TimerStatus.scheduled,
        attempts=0,
        next_attempt_at=fire,
        last_error=None,
        created_at=BASE,
        updated_at=BASE,
        executed_at=None,
        version=1,
        shard=shard_of(NAMESPACE, timer_id, SHARDS),
        definition_digest="0123456789abcdef0123456789abcdef",
        initial_fire_at=fire,
    )


def _failed(timer: Timer, epoch: int) -> Outcome:
    seq = timer.attempt_seq + 1
    finished = timer.fire_at + timedelta(seconds=1)
    error = LastError(finished, ErrorKind.http_status, "503 from target", 503)
    changed = attrs.evolve(
        timer,
        attempts=timer.attempts + 1,
        attempt_seq=seq,
        next_attempt_at=finished + timedelta(seconds=1),
        first_attempt_at=timer.fire_at,
        last_error=error,
        updated_at=finished,
        version=timer.version + 1,
    )
    attempt = Attempt(
        seq=seq,
        attempt=changed.attempts,
        fire_at=timer.fire_at,
        started_at=timer.fire_at,
        duration_ms=1000,
        outcome=AttemptOutcome.failed,
        status_code=503,
        error=error,
    )
    return Outcome(changed, timer.version, attempt, epoch)


async def _timed(items: int, work: Callable[[], Awaitable[None]]) -> Rate:
    started = time.perf_counter()
    cpu_started = time.process_time()
    await work()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return Rate(items / elapsed, cpu / items * 1e6)


async def _run(url: str, args: argparse.Namespace) -> dict[str, Rate]:
    """Every measure once, on a fresh database at *url*."""
    store = SQLAlchemyStore(url)
    await store.initialize(shard_count=SHARDS)
    rates: dict[str, Rate] = {}
    try:
        # Batches of 1,000, one call at a time.
        batched = [_timer(n) for n in range(args.batch_timers)]

        async def insert_batches() -> None:
            for start in range(0, len(batched), 1000):
                results = await store.insert_timers(batched[start : start + 1000])
                assert results.count(None) == len(results)

        rates["insert_timers, batches of 1,000"] = await _timed(
            len(batched), insert_batches
        )

        # Single inserts from 64 tasks: the group commit's case.
        offset = args.batch_timers
        singles = [_timer(offset + n) for n in range(args.single_timers)]
        queue = iter(singles)

        async def insert_one_by_one() -> None:
            for timer in queue:
                assert await store.insert_timers([timer]) == [None]

        async def insert_concurrently() -> None:
            await asyncio.gather(*(insert_one_by_one() for _ in range(64)))

        rates["insert_timers, 64 concurrent single inserts"] = await _timed(
            len(singles), insert_concurrently
        )

        # Point reads, one caller.
        every = batched + singles
        picks = random.Random(7).choices(every, k=args.gets)

        async def get_each() -> None:
            for timer in picks:
                assert await store.get_timer(timer.namespace, timer.id) is not None

        rates["get_timer"] = await _timed(len(picks), get_each)

        # The poll: every stored timer is due, 1,000 entries a call.
        horizon = BASE + timedelta(days=1)
        shards = range(SHARDS)

        async def poll() -> None:
            for _ in range(args.polls):
                due = await store.fetch_due(shards, horizon=horizon, limit=1000)
                assert len(due) == 1000

        rates["fetch_due, 16 shards, 1,000 a call"] = await _timed(
            args.polls * 1000, poll
        )

        # Claims of 500 entries as fetched.
        due_batches: list[list[DueTimer]] = []
        entries = await store.fetch_due(
            shards, horizon=horizon, limit=500 * args.batches
        )
        for start in range(0, len(entries), 500):
            due_batches.append(entries[start : start + 500])

        claimed: list[list[Timer]] = []

        async def claim() -> None:
            for due in due_batches:
                claimed.append(await store.claim_timers(due))
                assert len(claimed[-1]) == len(due)

        rates["claim_timers, 500 a call"] = await _timed(
            sum(map(len, due_batches)), claim
        )

        # Outcomes of 500 claimed timers a call, under one lease per shard.
        epochs = await store.acquire_leases(
            "bench-runner", shards, now=datetime.now(UTC), duration=3600
        )
        outcomes = [
            [_failed(timer, epochs[timer.shard]) for timer in batch]
            for batch in claimed
        ]

        async def record() -> None:
            for batch in outcomes:
                applied = await store.record_outcomes(batch)
                assert all(applied)

        rates["record_outcomes, 500 a call"] = await _timed(
            sum(map(len, outcomes)), record
        )
    finally:
        await store.close()

    return rates


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _summary(rates: list[Rate]) -> dict[str, Any]:
    per_second = [rate.per_second for rate in rates]
    return {
        "median_per_second": round(statistics.median(per_second)),
        "min_per_second": round(min(per_second)),
        "max_per_second": round(max(per_second)),
        "runs_per_second": [round(value) for value in per_second],
        "median_cpu_us_per_item": round(
            statistics.median(rate.cpu_us_per_item for rate in rates), 1
        ),
    }


def _loop_runner() -> tuple[Callable[[Any], Any], str]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run, "asyncio, standard event loop"

    # The server runs on uvloop; so does this, where it is installed.
    return uvloop.run, f"asyncio on uvloop {_package_version('uvloop')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-timers", type=int, default=20_000)
    parser.add_argument("--single-timers", type=int, default=10_000)
    parser.add_argument("--gets", type=int, default=5_000)
    parser.add_argument("--polls", type=int, default=50)
    parser.add_argument(
        "--batches", type=int, default=20, help="claims and outcome batches of 500"
    )
    parser.add_argument("--drivers", nargs="*", default=list(DRIVERS))
    args = parser.parse_args()
    if args.batches * 500 > args.batch_timers + args.single_timers:
        parser.error("more claims and outcomes than timers")

    drivers = [name for name in args.drivers if _package_version(name) is not None]
    for name in sorted(set(args.drivers) - set(drivers)):
        print(f"skipping {name}: it is not installed", file=sys.stderr)

    run_loop, loop_name = _loop_runner()
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict[str, Rate]]] = {name: [] for name in drivers}
    with (
        tempfile.TemporaryDirectory(prefix="sql-drivers-") as directory,
        PostgresServer(Path(directory) / "postgres") as server,
    ):
        server_version = server.execute("SHOW server_version")[0][0]
        for index in range(args.runs):
            for name in drivers:
                database = f"bench_{name}_{index}"
                url = server.create_database(database).replace(
                    "postgresql://", f"postgresql+{name}://"
                )
                rates = run_loop(_run(url, args))
                server.drop_database(database)
                runs[name].append(rates)
                for measure, rate in rates.items():
                    print(
                        f"run {index + 1}/{args.runs} {name:<8} {measure:<45} "
                        f"{rate.per_second:>9,.0f}/s "
                        f"{rate.cpu_us_per_item:>7,.1f} µs CPU each"
                    )

    measures = list(runs[drivers[0]][0]) if drivers else []
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "workload": {
            "runs": args.runs,
            "shards": SHARDS,
            "batch_insert_timers": args.batch_timers,
            "concurrent_single_inserts": args.single_timers,
            "concurrent_tasks": 64,
            "gets": args.gets,
            "polls": args.polls,
            "claim_and_outcome_batches_of_500": args.batches,
            "server": f"PostgreSQL {server_version} on 127.0.0.1, started by "
            "timerbackends.testing.postgres (fsync, synchronous_commit and "
            "full_page_writes off)",
            "event_loop": loop_name,
            "unit": "timers (or calls, for get_timer) per second; CPU per item is "
            "this process's, the server's not included",
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1min_before": round(load_before, 2),
            "load_average_1min_after": round(os.getloadavg()[0], 2),
        },
        "versions": {
            package: _package_version(package)
            for package in (
                "sqlalchemy",
                "asyncpg",
                "psycopg",
                "psycopg-binary",
                "timerkernel-backends",
            )
        },
        "results": {
            measure: {
                name: _summary([run[measure] for run in runs[name]]) for name in drivers
            }
            for measure in measures
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
