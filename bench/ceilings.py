"""Ceilings of the building blocks under the service: its HTTP stack and its SQL.

The benchmark (``bench/run.py``) measures the service; this measures what the
service is built on, doing the least it could, so that each of the service's
figures can be read against the most its parts allow on this machine:

1. **Echo**: a separate process serves a bare Starlette application (no
   middleware) on the same stack as ``timerserver serve``: uvicorn's
   ``Server.serve()`` inside ``anyio.run`` on uvloop, uvicorn's default HTTP
   implementation (httptools where installed), keep-alive 75 s, no access
   log, no server header, the server's logging at ``warning``. Its one route,
   ``POST /echo``, reads the JSON body with orjson and answers it back, 201,
   as JSON. It is loaded as ``bench/run.py`` loads single creates (64
   concurrent keep-alive clients of aiohttp, one timer body per request, the
   same body) and batch creates (4 clients, 1,000 timer bodies per request).
   The load generator runs in this process, on the same two cores.
2. **SQLite executemany**: a fresh file is given the schema by the store's
   own migrations (``create_store(...).initialize(migrate=True)``); then the
   standard ``sqlite3`` module, with the store's writer PRAGMAs (WAL,
   ``synchronous = NORMAL``, ``busy_timeout``), inserts rows of the timers
   the kernel makes for a batch create, 1,000 per transaction (``BEGIN
   IMMEDIATE``, one ``executemany`` of a plain ``INSERT`` into ``timers``,
   ``COMMIT``). The rows are built before the clock starts, with the store's
   own ``timer_to_row``; the figure is the database's part alone.
3. **PostgreSQL COPY and executemany**: the same rows into the same schema
   on a throwaway server (``timerbackends.testing.postgres``, without fsync),
   migrated by the store, through asyncpg: ``copy_records_to_table`` and
   ``executemany`` of the plain ``INSERT``, 1,000 rows per transaction.

Run it alone from the repository root (``.nox/tests/bin/python`` works too)::

    .nox/bench/bin/python bench/ceilings.py [--runs 3] [--size full] [--no-postgres]

It prints each run, and writes the median of the runs with their min and max
to ``bench/results/ceilings.json``. ``bench/run.py`` can call
:func:`run_ceilings` (every run, summarised and written) or
:func:`measure_ceilings` (one run). Every loop is bounded and only
127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp

from run import (
    BATCH_CONCURRENCY,
    CONCURRENCY,
    ROOT,
    SIZES,
    free_port,
    run_concurrently,
    spread,
    timer_body,
    wait_ready,
)
from timerbackends import create_store
from timerbackends._rows import timer_to_row
from timerbackends.sql._schema import TIMER_COLUMNS
from timerkernel import (
    Kernel,
    KernelSettings,
    MemoryStore,
    Timer,
    parse_timer_spec,
)

RESULTS = ROOT / "bench" / "results" / "ceilings.json"
SHARDS = 16
ROWS_PER_TRANSACTION = 1000
BATCH_TIMERS = 1000
# The store's default busy_timeout (SQLAlchemyStore(busy_timeout=5.0)).
BUSY_TIMEOUT_MS = 5000
FIGURES = (
    "echo_single_per_s",
    "echo_batch_timers_per_s",
    "sqlite_executemany_rows_per_s",
    "postgres_copy_rows_per_s",
    "postgres_executemany_rows_per_s",
    # CPU time per echo request, of the server process and of the load
    # generator: less disturbed by other work on the machine than the rates,
    # and they say which side bounds the rate.
    "echo_single_server_cpu_us",
    "echo_single_client_cpu_us",
    "echo_batch_server_cpu_ms",
    "echo_batch_client_cpu_ms",
)
COLUMN_NAMES = tuple(column.name for column in TIMER_COLUMNS)
SQLITE_INSERT = (
    f"INSERT INTO timers ({', '.join(COLUMN_NAMES)}) "
    f"VALUES ({', '.join('?' for _ in COLUMN_NAMES)})"
)
POSTGRES_INSERT = (
    f"INSERT INTO timers ({', '.join(COLUMN_NAMES)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(COLUMN_NAMES) + 1))})"
)
Row = tuple[Any, ...]


# -- the echo server (its own process) --------------------------------------


def serve_echo(port: int) -> None:
    """Serve the echo application on 127.0.0.1:*port* until SIGTERM or SIGINT.

    Configured as ``timerserver serve`` configures uvicorn (see
    ``timerserver.cli``); once it listens it prints one JSON line naming
    its event loop and HTTP protocol.
    """
    import anyio
    import orjson
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from timerserver._logging import configure_logging

    async def echo(request: Request) -> Response:
        data = orjson.loads(await request.body())
        return Response(
            orjson.dumps(data), status_code=201, media_type="application/json"
        )

    async def ready(request: Request) -> Response:
        return Response(b'{"status":"ready"}', media_type="application/json")

    class Server(uvicorn.Server):
        # As in timerserver.cli: signals are the command's, not uvicorn's.
        def capture_signals(self) -> Any:
            import contextlib

            return contextlib.nullcontext()

    app = Starlette(
        routes=[
            Route("/echo", echo, methods=["POST"]),
            Route("/readyz", ready, methods=["GET"]),
        ]
    )
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=30,
        timeout_keep_alive=75,
    )
    server = Server(config)

    async def main() -> None:
        async with anyio.create_task_group() as task_group:

            async def stop_on_signal() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as got:
                    async for _ in got:
                        server.should_exit = True
                        return

            async def announce() -> None:
                # uvicorn has no event for "listening"; its flag is polled.
                with anyio.fail_after(30):
                    while not server.started:  # noqa: ASYNC110
                        await anyio.sleep(0.02)

                loop = type(asyncio.get_running_loop())
                stack = {
                    "loop": f"{loop.__module__}.{loop.__qualname__}",
                    "http": config.http_protocol_class.__name__,
                }
                print(json.dumps(stack), flush=True)

            task_group.start_soon(stop_on_signal)
            task_group.start_soon(announce)
            await server.serve()
            task_group.cancel_scope.cancel()

    configure_logging("warning", json_lines=False)
    anyio.run(main, backend_options={"use_uvloop": True})


class EchoProcess:
    """The echo server as a child process, stopped by :meth:`stop`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__)), "--echo-server", str(self.port)],
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the echo server exited before it listened")

        self.stack: dict[str, str] = json.loads(line)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process *pid* so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command's closing bracket, utime and stime are the 12th
    # and 13th fields (14 and 15 of the whole line).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the echo measures ------------------------------------------------------


async def measure_echo_single(
    session: aiohttp.ClientSession, echo: EchoProcess, count: int, hook: str
) -> dict[str, float]:
    """Echo *count* single-timer bodies as run.py's single creates send them."""
    url = f"{echo.base}/echo"
    far = datetime.now(UTC) + timedelta(days=1)

    async def post(index: int) -> None:
        async with session.post(url, json=timer_body(f"s{index}", far, hook)) as answer:
            if answer.status != 201:
                raise RuntimeError(f"echo answered {answer.status}")

            await answer.read()

    server_before, client_before = echo.cpu_seconds(), time.process_time()
    elapsed = await run_concurrently(count, post)
    return {
        "per_s": count / elapsed,
        "server_cpu_us_per_request": (echo.cpu_seconds() - server_before) / count * 1e6,
        "client_cpu_us_per_request": (time.process_time() - client_before)
        / count
        * 1e6,
        "body_bytes": len(json.dumps(timer_body("s10000", far, hook)).encode()),
    }


async def measure_echo_batch(
    session: aiohttp.ClientSession, echo: EchoProcess, count: int, hook: str
) -> dict[str, float]:
    """Echo *count* timer bodies in requests of 1,000, as batch creates go."""
    url = f"{echo.base}/echo"
    far = datetime.now(UTC) + timedelta(days=1)
    bodies = [timer_body(f"b{i}", far, hook) for i in range(count)]
    batches = [
        bodies[start : start + BATCH_TIMERS]
        for start in range(0, len(bodies), BATCH_TIMERS)
    ]
    queue = iter(batches)

    async def worker() -> None:
        for batch in queue:
            async with session.post(url, json={"timers": batch}) as answer:
                if answer.status != 201:
                    raise RuntimeError(f"echo answered {answer.status}")

                echoed = await answer.json()
                if len(echoed["timers"]) != len(batch):
                    raise RuntimeError("the echo lost timers")

    server_before, client_before = echo.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(BATCH_CONCURRENCY)))
    elapsed = time.perf_counter() - started
    return {
        "timers_per_s": count / elapsed,
        "requests_per_s": len(batches) / elapsed,
        "server_cpu_ms_per_request": (echo.cpu_seconds() - server_before)
        / len(batches)
        * 1e3,
        "client_cpu_ms_per_request": (time.process_time() - client_before)
        / len(batches)
        * 1e3,
        "body_bytes": len(json.dumps({"timers": batches[0]}).encode()),
    }


async def measure_echo(single: int, batch: int) -> dict[str, Any]:
    """Start an echo server, load it as run.py loads the API, and stop it."""
    echo = EchoProcess()
    hook = f"http://127.0.0.1:{free_port()}/hook"
    try:
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector) as session:
            await wait_ready(session, echo.base)
            single_figures = await measure_echo_single(session, echo, single, hook)
            batch_figures = await measure_echo_batch(session, echo, batch, hook)
    finally:
        echo.stop()

    return {"stack": echo.stack, "single": single_figures, "batch": batch_figures}


# -- rows as the store writes them ------------------------------------------


async def kernel_timers(count: int, *, namespace: str = "batch") -> list[Timer]:
    """Return *count* timers as the kernel makes them for batch creates.

    The bodies are run.py's batch bodies; the kernel (on a memory store)
    parses them and fills in every field a store is given.
    """
    kernel = Kernel(MemoryStore(), settings=KernelSettings(shard_count=SHARDS))
    await kernel.initialize()
    far = datetime.now(UTC) + timedelta(days=1)
    hook = "http://127.0.0.1:9/hook"
    timers: list[Timer] = []
    for start in range(0, count, BATCH_TIMERS):
        specs = [
            parse_timer_spec(
                timer_body(f"b{index}", far, hook), max_payload_bytes=64 * 1024
            )
            for index in range(start, min(count, start + BATCH_TIMERS))
        ]
        for result in await kernel.create_timers(namespace, specs):
            if isinstance(result, Exception):
                raise result

            timers.append(result.timer)

    await kernel.close()
    return timers


def row_batches(timers: Sequence[Timer]) -> list[list[Row]]:
    """The timers' rows in TIMER_COLUMNS order, 1,000 a batch, each in key order.

    The store sorts each batch it inserts by key; so does this.
    """
    batches: list[list[Row]] = []
    for start in range(0, len(timers), ROWS_PER_TRANSACTION):
        chunk = timers[start : start + ROWS_PER_TRANSACTION]
        rows = [timer_to_row(timer) for timer in chunk]
        rows.sort(key=lambda row: (row["namespace"], row["id"]))
        batches.append([tuple(row[name] for name in COLUMN_NAMES) for row in rows])

    return batches


# -- SQLite -----------------------------------------------------------------


async def migrate(url: str) -> None:
    """Create the schema at *url* with the store's own migrations."""
    store = create_store(url)
    await store.initialize(shard_count=SHARDS, migrate=True)
    await store.close()


def sqlite_writer(path: Path) -> sqlite3.Connection:
    """A connection to *path* with the PRAGMAs of the store's writer."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
    if str(mode).lower() != "wal":
        raise RuntimeError(f"SQLite refused WAL mode ({mode})")

    connection.execute("PRAGMA synchronous = NORMAL")
    return connection


def sqlite_insert(connection: sqlite3.Connection, batches: list[list[Row]]) -> float:
    """Insert each batch in a transaction of its own; return the seconds taken."""
    started = time.perf_counter()
    for rows in batches:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(SQLITE_INSERT, rows)
        connection.execute("COMMIT")

    return time.perf_counter() - started


async def measure_sqlite(folder: Path, batches: list[list[Row]]) -> dict[str, float]:
    """Rows per second of plain executemany into a freshly migrated file."""
    path = folder / "ceiling.db"
    await migrate(f"sqlite:///{path}")
    return fill_and_remove(path, batches)


def fill_and_remove(path: Path, batches: list[list[Row]]) -> dict[str, float]:
    connection = sqlite_writer(path)
    try:
        elapsed = sqlite_insert(connection, batches)
        (stored,) = connection.execute("SELECT count(*) FROM timers").fetchone()
    finally:
        connection.close()

    rows = sum(map(len, batches))
    if stored != rows:
        raise RuntimeError(f"{stored} of {rows} rows stored")

    files = list(path.parent.glob(f"{path.name}*"))
    size = sum(file.stat().st_size for file in files)
    for file in files:
        file.unlink()

    return {"rows_per_s": rows / elapsed, "bytes_per_row": size / rows}


# -- PostgreSQL -------------------------------------------------------------


async def postgres_connection(url: str) -> Any:
    """An asyncpg connection with the session settings of the store's."""
    import asyncpg

    return await asyncpg.connect(
        url,
        timeout=5,
        server_settings={
            "application_name": "timerkernel-ceilings",
            "lock_timeout": str(BUSY_TIMEOUT_MS),
            "jit": "off",
        },
    )


async def measure_postgres(
    url: str, batches: list[list[Row]], *, copy_first: bool
) -> dict[str, float]:
    """Rows per second of COPY and of executemany into the migrated schema."""
    await migrate(url)
    connection = await postgres_connection(url)
    rows = sum(map(len, batches))
    figures: dict[str, float] = {}

    async def copy() -> None:
        for batch in batches:
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "timers", records=batch, columns=COLUMN_NAMES
                )

    async def executemany() -> None:
        for batch in batches:
            async with connection.transaction():
                await connection.executemany(POSTGRES_INSERT, batch)

    methods = [("copy", copy), ("executemany", executemany)]
    try:
        for name, method in methods if copy_first else methods[::-1]:
            await connection.execute("TRUNCATE timers")
            await connection.execute("CHECKPOINT")
            started = time.perf_counter()
            await method()
            figures[f"{name}_rows_per_s"] = rows / (time.perf_counter() - started)
            stored = await connection.fetchval("SELECT count(*) FROM timers")
            if stored != rows:
                raise RuntimeError(f"{name}: {stored} of {rows} rows stored")
    finally:
        await connection.execute("TRUNCATE timers")
        await connection.close()

    return figures


# -- runs -------------------------------------------------------------------


async def measure_ceilings(
    sizes: dict[str, int], *, postgres_url: str | None = None, run_index: int = 0
) -> dict[str, Any]:
    """Measure every ceiling once.

    :param sizes: ``single`` (echo requests) and ``batch`` (timers echoed in
        requests of 1,000, and rows inserted into each database), as in
        ``run.SIZES``.
    :param postgres_url: a PostgreSQL database to migrate and fill; without
        it the PostgreSQL figures are left out.
    :param run_index: alternates which PostgreSQL method goes first.
    :return: the figures of :data:`FIGURES` (those measured), and under
        ``details`` what else was seen (requests per second of batches,
        body and row sizes, the echo server's loop and HTTP protocol).
    """
    load_before = os.getloadavg()[0]
    echo = await measure_echo(sizes["single"], sizes["batch"])
    batches = row_batches(await kernel_timers(sizes["batch"]))
    with tempfile.TemporaryDirectory(prefix="ceilings-") as folder:
        sqlite_figures = await measure_sqlite(Path(folder), batches)

    single, batch = echo["single"], echo["batch"]
    result: dict[str, Any] = {
        "echo_single_per_s": single["per_s"],
        "echo_batch_timers_per_s": batch["timers_per_s"],
        "sqlite_executemany_rows_per_s": sqlite_figures["rows_per_s"],
        "echo_single_server_cpu_us": single["server_cpu_us_per_request"],
        "echo_single_client_cpu_us": single["client_cpu_us_per_request"],
        "echo_batch_server_cpu_ms": batch["server_cpu_ms_per_request"],
        "echo_batch_client_cpu_ms": batch["client_cpu_ms_per_request"],
    }
    details: dict[str, Any] = {
        "echo": echo,
        "sqlite": sqlite_figures,
        "load_average_1min_before": round(load_before, 2),
    }
    if postgres_url is not None:
        postgres = await measure_postgres(
            postgres_url, batches, copy_first=run_index % 2 == 0
        )
        result["postgres_copy_rows_per_s"] = postgres["copy_rows_per_s"]
        result["postgres_executemany_rows_per_s"] = postgres["executemany_rows_per_s"]
        details["postgres"] = postgres

    details["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    result["details"] = details
    return result


def run_ceilings(
    runs: int = 3, size: str = "full", *, postgres: bool = True, write: bool = True
) -> dict[str, Any]:
    """Measure the ceilings *runs* times; summarise, and write the results.

    :param size: a key of ``run.SIZES``: its ``single`` and ``batch`` counts.
    :param postgres: also start a throwaway PostgreSQL server and measure it.
    :param write: write ``bench/results/ceilings.json``.
    :return: ``meta``, ``summary`` (per key of :data:`FIGURES` measured, its
        ``median``, ``min`` and ``max``) and ``runs`` (each run's figures).
    """
    sizes = SIZES[size]
    measured: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ceilings-pg-") as folder:
        server: Any = None
        if postgres:
            from timerbackends.testing.postgres import PostgresServer

            server = PostgresServer(Path(folder) / "postgres")
            server.start()

        try:
            for index in range(runs):
                url = None
                if server is not None:
                    url = server.create_database(f"ceilings_{index}")

                result = asyncio.run(
                    measure_ceilings(sizes, postgres_url=url, run_index=index)
                )
                if server is not None:
                    server.drop_database(f"ceilings_{index}")

                measured.append(result)
                figures = {key: round(result[key]) for key in FIGURES if key in result}
                print(f"ceilings run {index + 1} of {runs}: {figures}", flush=True)

            postgres_version = (
                server.execute("SHOW server_version")[0][0] if server else None
            )
        finally:
            if server is not None:
                server.destroy()

    stack = measured[0]["details"]["echo"]["stack"]
    report = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} "
            f"{platform.python_version()}, {platform.system()}",
            "runs": runs,
            "sizes": {
                "echo_single_requests": sizes["single"],
                "echo_batch_timers": sizes["batch"],
                "rows_inserted": sizes["batch"],
                "rows_per_transaction": ROWS_PER_TRANSACTION,
            },
            "echo_stack": f"uvicorn {version('uvicorn')} ({stack['http']}) on "
            f"{stack['loop']}, starlette {version('starlette')}, orjson; load "
            f"from aiohttp {version('aiohttp')}, {CONCURRENCY} clients for "
            f"singles, {BATCH_CONCURRENCY} for batches, in the measuring process",
            "sqlite": f"SQLite {sqlite3.sqlite_version}, WAL, synchronous=NORMAL",
            "postgres": None
            if postgres_version is None
            else f"PostgreSQL {postgres_version} (fsync, synchronous_commit and "
            f"full_page_writes off), asyncpg {version('asyncpg')}",
        },
        "summary": {
            key: spread([run[key] for run in measured])
            for key in FIGURES
            if key in measured[0]
        },
        "runs": measured,
    }
    if write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")

    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--no-postgres", dest="postgres", action="store_false")
    parser.add_argument("--echo-server", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.echo_server is not None:
        serve_echo(arguments.echo_server)
        return

    report = run_ceilings(arguments.runs, arguments.size, postgres=arguments.postgres)
    print(json.dumps(report["summary"], indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
