"""How the runner's costs grow with the number of timers stored.

For each size N (100,000, 1,000,000 and 10,000,000 by default) the store
holds N timers due far ahead (uniformly over the next hour to 30 days, in
random order of creation, so that the timers due together lie scattered
through the table), and a small set of them, the same number at every size
(10,000 by default, picked at random among the N), is made due now. Then:

1. **Claim cost**, through the store's own API as the runner calls it,
   in this process: leases for all 16 shards (``heartbeat`` and
   ``acquire_leases``), then 200 timed calls each of ``fetch_due`` over the
   16 shards with the runner's look-ahead and limit (the due set in the
   window), of ``fetch_due`` of an empty window (the seeks alone), and of
   ``claim_timers`` of 500 due timers (the runner's batch). Median and p99
   per call, and per timer. Before them, with the file's pages dropped
   from the OS page cache (``posix_fadvise``, SQLite only), the first poll
   and the first pass of claims over the due set are timed as ``cold``.
   Each also counts this process's read system calls (SQLite reads a page
   it does not hold in its own cache with one ``pread``) and CPU time.
2. **Runner memory**: a real ``timerserver runner`` process on the filled
   store fires another due set (due at 1,000 per second over 10 s, from
   3 s after an origin at least a second after the runner was started)
   into ``bench/receiver.py``; its ``/proc/PID/status`` is sampled every
   0.1 s until 16 s after the origin: peak RSS (``VmHWM``), steady RSS
   (median from 13.5 s on, once the due set has fired), its anonymous and
   file-backed parts, its CPU time, and the lateness of the deliveries.
3. **Plans**: ``EXPLAIN QUERY PLAN`` (SQLite) or ``EXPLAIN (ANALYZE,
   BUFFERS)`` (PostgreSQL) of the due query and of the claim query as the
   store builds them; on SQLite also both queries timed through ``sqlite3``
   alone, and the depth of the B-trees (``dbstat``).

The store is filled fast: the schema by the store's migrations, then plain
``executemany`` (SQLite, ``sqlite3`` with the store's PRAGMAs and a 2 GiB
page cache for the fill alone), ``COPY`` (PostgreSQL, then ``VACUUM
ANALYZE``, as autovacuum would) or SSTables written offline (Cassandra, see
:class:`CassandraBackend`; no plans there, but the SSTables of each table).
Rows are the store's own (``timer_to_row``) of one timer made by the
kernel, with the id, shard, times, payload and digest varied per row. One
file (or database) is grown from size to size, and removed at the end.

Run it alone from the repository root (``.nox/tests/bin/python`` works too)::

    .nox/bench/bin/python bench/growth.py [--sizes 100000,1000000,10000000]
        [--quick] [--repeats 3] [--due 10000] [--calls 200]
        [--backends sqlite,postgres,postgres-1gb,cassandra]

The ratios of the largest size to the smallest, with the figures, go to
``bench/results/growth.json``; ``bench/run.py`` can call :func:`run_growth`.
10,000,000 rows take 3.4 GB on SQLite (see ``df -h``) and a quarter of an
hour to fill on two shared cores. Every loop is bounded and only 127.0.0.1
is used.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.sql.compiler import SQLCompiler

from ceilings import (
    COLUMN_NAMES,
    SQLITE_INSERT,
    kernel_timers,
    migrate,
    postgres_connection,
    process_cpu_seconds,
    sqlite_writer,
)
from run import ROOT, free_port, lateness_summary, percentile, spread, stop_process
from timerbackends import create_store
from timerbackends._rows import timer_to_row
from timerbackends.sql._queries import due_statement, keys_match
from timerbackends.sql._schema import TIMER_COLUMNS
from timerkernel import DueTimer, RunnerSettings, TimerStatus, shard_of

RESULTS = ROOT / "bench" / "results" / "growth.json"
NAMESPACE = "growth"
SHARDS = 16
SIZES = (100_000, 1_000_000, 10_000_000)
QUICK_SIZES = (10_000, 100_000)
DUE = 10_000
QUICK_DUE = 1_000
CALLS = 200
RUNNER = RunnerSettings()
BENCH_RUNNER_ID = "growth-bench"
FAR_MIN_MS = 3_600_000
FAR_MAX_MS = 30 * 86_400_000
FILL_CHUNK = 10_000
# Nothing listens there; no timer that calls it is due while a runner runs.
FAR_CALLBACK = "http://127.0.0.1:9/hook"
# The runner phase, in seconds after its origin: the due set is due from
# DUE_START to DUE_END, steady RSS is taken from STEADY_FROM, sampling
# stops at SAMPLE_END.
DUE_START, DUE_END, SAMPLE_END = 3.0, 13.0, 16.0
STEADY_FROM = 13.5
SAMPLE_INTERVAL = 0.1
Row = list[Any]
T = TypeVar("T")


def timer_id(number: int) -> str:
    return f"order-{number:09d}"


class RowMaker:
    """Rows of far-future timers, numbered, as the store would write them.

    One timer is made by the kernel and turned into a row by the store's
    ``timer_to_row``; each row copies it and varies what differs between
    timers: id, shard, the three fire times, payload and definition digest.
    """

    def __init__(self, template: dict[str, Any], seed: int = 7) -> None:
        self.template = [template[name] for name in COLUMN_NAMES]
        self.index = {name: COLUMN_NAMES.index(name) for name in COLUMN_NAMES}
        self.now_ms = round(time.time() * 1000)
        self.random = random.Random(seed)

    def rows(self, start: int, stop: int) -> list[Row]:
        index = self.index
        made: list[Row] = []
        for number in range(start, stop):
            key = timer_id(number)
            fire = self.now_ms + self.random.randrange(FAR_MIN_MS, FAR_MAX_MS)
            payload = f'{{"order":"{key}","amount":42}}'
            row = self.template.copy()
            row[index["id"]] = key
            row[index["shard"]] = shard_of(NAMESPACE, key, SHARDS)
            row[index["fire_at"]] = fire
            row[index["next_attempt_at"]] = fire
            row[index["initial_fire_at"]] = fire
            row[index["created_at"]] = self.now_ms
            row[index["updated_at"]] = self.now_ms
            row[index["payload"]] = payload
            row[index["definition_digest"]] = hashlib.sha256(
                payload.encode()
            ).hexdigest()[:32]
            made.append(row)

        return made


async def template_row() -> dict[str, Any]:
    (timer,) = await kernel_timers(1, namespace=NAMESPACE)
    return timer_to_row(timer)


def run_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run *coroutine* on uvloop, as the server does, where installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)

    return uvloop.run(coroutine)


# -- the backends -----------------------------------------------------------


class Backend(Protocol):
    """A store being grown: where it is and what can be done to it directly."""

    name: str
    url: str
    count: int
    #: Seconds the last :meth:`set_due` took.
    last_write_seconds: float

    def grow(self, size: int, maker: RowMaker) -> float:
        """Add far timers up to *size* in all; return the seconds taken."""

    def set_due(self, numbers: Sequence[int], due_ms: Sequence[int], url: str) -> None:
        """Make the timers *numbers* scheduled and due at *due_ms*, calling *url*.

        Sets :attr:`last_write_seconds`.
        """

    def drop_cache(self) -> bool:
        """Drop the store's pages from the OS page cache; say whether it could."""

    def plans(
        self, horizon_ms: int, key_batches: Sequence[Sequence[tuple[str, str]]]
    ) -> dict[str, Any]:
        """Plans of the due query and of the claim query of the first batch.

        SQLite also times them alone, the claim once per batch of keys.
        """

    def storage(self) -> dict[str, Any]:
        """Bytes stored, and what else explains the costs (B-tree depths)."""

    def destroy(self) -> None:
        """Remove everything."""


def _compiled(statement: sa.ClauseElement, dialect: Any) -> tuple[str, list[Any]]:
    compiled = statement.compile(
        dialect=dialect, compile_kwargs={"render_postcompile": True}
    )
    assert isinstance(compiled, SQLCompiler)
    names = compiled.positiontup or []
    return str(compiled), [compiled.params[name] for name in names]


class SQLiteBackend:
    """A SQLite file, grown with sqlite3's executemany."""

    name = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "growth.db"
        self.url = f"sqlite:///{self.path}"
        self.count = 0
        self.last_write_seconds = 0.0
        run_loop(migrate(self.url))

    def grow(self, size: int, maker: RowMaker) -> float:
        started = time.perf_counter()
        connection = sqlite_writer(self.path)
        # A large page cache for the fill only; the store keeps SQLite's
        # default (2,000 KiB a connection).
        connection.execute("PRAGMA cache_size = -2097152")
        try:
            for start in range(self.count, size, FILL_CHUNK):
                rows = maker.rows(start, min(size, start + FILL_CHUNK))
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(SQLITE_INSERT, rows)
                connection.execute("COMMIT")
                self.count += len(rows)

            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()

        return time.perf_counter() - started

    def set_due(self, numbers: Sequence[int], due_ms: Sequence[int], url: str) -> None:
        started = time.perf_counter()
        connection = sqlite_writer(self.path)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "UPDATE timers SET status = 'scheduled', fire_at = ?, "
                "next_attempt_at = ?, initial_fire_at = ?, attempts = 0, "
                "version = version + 1, callback_url = ?, executed_at = NULL "
                "WHERE namespace = ? AND id = ?",
                [
                    (due, due, due, url, NAMESPACE, timer_id(number))
                    for number, due in zip(numbers, due_ms, strict=True)
                ],
            )
            connection.execute("COMMIT")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()

        self.last_write_seconds = time.perf_counter() - started

    def drop_cache(self) -> bool:
        if not hasattr(os, "posix_fadvise"):
            return False

        for file in self.folder.glob("growth.db*"):
            descriptor = os.open(file, os.O_RDONLY)
            try:
                os.fsync(descriptor)
                os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(descriptor)

        return True

    def plans(
        self, horizon_ms: int, key_batches: Sequence[Sequence[tuple[str, str]]]
    ) -> dict[str, Any]:
        dialect = sqlite_dialect.dialect()
        due = due_statement(
            range(SHARDS), horizon_ms=horizon_ms, limit=RUNNER.max_loaded
        )
        claims = [
            _compiled(sa.select(*TIMER_COLUMNS).where(keys_match(keys)), dialect)
            for keys in key_batches
        ]
        due_sql, due_parameters = _compiled(due, dialect)
        # The store's reader: read-only, autocommit, SQLite's default cache.
        connection = sqlite3.connect(
            f"file:{self.path}?mode=ro", uri=True, isolation_level=None
        )
        found: dict[str, Any] = {}
        try:
            for name, (sql, parameters) in (
                ("due", (due_sql, due_parameters)),
                ("claim", claims[0]),
            ):
                rows = connection.execute(
                    f"EXPLAIN QUERY PLAN {sql}", parameters
                ).fetchall()
                found[name] = _plan_tree(rows)

            found["due_sql"] = str(
                due.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
            )

            # The database's part alone, without SQLAlchemy and the driver's
            # thread: the due query of an empty window, and claims of timers
            # not read before (a new batch each call).
            def timed(
                runs: Sequence[tuple[str, list[Any]]], items: int
            ) -> dict[str, float | None]:
                taken: list[float] = []
                reads, cpu = read_syscalls(), time.process_time()
                for sql, parameters in runs:
                    started = time.perf_counter()
                    connection.execute(sql, parameters).fetchall()
                    taken.append(time.perf_counter() - started)

                return latency(
                    taken, items, read_syscalls() - reads, time.process_time() - cpu
                )

            found["sqlite3_alone"] = {
                "due_empty": timed([(due_sql, due_parameters)] * CALLS, 0),
                "claim_new_timers": timed(claims, len(key_batches[0])),
            }
        finally:
            connection.close()

        return found

    def storage(self) -> dict[str, Any]:
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            depths = {
                name: depth
                for name, depth in connection.execute(
                    "SELECT name, max(length(path) - length(replace(path, '/', '')))"
                    " FROM dbstat WHERE name IN ('timers', 'sqlite_autoindex_timers_1',"
                    " 'timers_due', 'timers_list') GROUP BY name"
                )
            }
        except sqlite3.OperationalError:
            depths = {}
        finally:
            connection.close()

        size = sum(file.stat().st_size for file in self.folder.glob("growth.db*"))
        return {"bytes": size, "btree_depths": depths}

    def destroy(self) -> None:
        for file in self.folder.glob("growth.db*"):
            file.unlink()


_SSTABLE_FILE = re.compile(r"^([a-z]+)-(\d+)-([a-z]+)-(.+)$")


def _tsv(*values: Any) -> str:
    """One line of bench/java/GrowthFill's input."""
    fields = []
    for value in values:
        if value is None:
            fields.append("\\N")
        elif isinstance(value, str):
            fields.append(
                value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            )
        else:
            fields.append(repr(value) if isinstance(value, float) else str(value))

    return "\t".join(fields) + "\n"


def _plan_tree(rows: list[tuple[Any, ...]]) -> list[str]:
    """EXPLAIN QUERY PLAN rows (id, parent, _, detail) as indented lines."""
    depth: dict[int, int] = {0: -1}
    lines: list[str] = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + str(detail))

    return lines


_LIST_LITERAL = re.compile(r"'\{[^}]*\}'")


class PostgresBackend:
    """A database on a throwaway PostgreSQL server, grown with COPY.

    :param shared_buffers: the server's buffer pool, if not the 32 MB that
        ``timerbackends.testing.postgres`` gives it.
    """

    name = "postgres"

    def __init__(self, folder: Path, *, shared_buffers: str | None = None) -> None:
        from timerbackends.testing.postgres import PostgresServer

        class Server(PostgresServer):
            # Its options are private to it; a later -c overrides an earlier.
            def _options(self) -> list[str]:
                extra = ["-c", f"shared_buffers={shared_buffers}"]
                return [*super()._options(), *(extra if shared_buffers else [])]

        self.server = Server(folder / "postgres")
        self.server.start()
        self.url = self.server.url
        self.count = 0
        self.last_write_seconds = 0.0
        run_loop(migrate(self.url))

    def grow(self, size: int, maker: RowMaker) -> float:
        async def copy() -> None:
            connection = await postgres_connection(self.url)
            try:
                for start in range(self.count, size, FILL_CHUNK):
                    rows = [
                        tuple(row)
                        for row in maker.rows(start, min(size, start + FILL_CHUNK))
                    ]
                    async with connection.transaction():
                        await connection.copy_records_to_table(
                            "timers", records=rows, columns=COLUMN_NAMES
                        )

                    self.count += len(rows)

                # What autovacuum would do after a while: statistics for the
                # planner, and the visibility map for index-only scans.
                await connection.execute("VACUUM (ANALYZE) timers")
            finally:
                await connection.close()

        started = time.perf_counter()
        run_loop(copy())
        return time.perf_counter() - started

    def set_due(self, numbers: Sequence[int], due_ms: Sequence[int], url: str) -> None:
        async def update() -> None:
            connection = await postgres_connection(self.url)
            try:
                async with connection.transaction():
                    await connection.executemany(
                        "UPDATE timers SET status = 'scheduled', fire_at = $1, "
                        "next_attempt_at = $1, initial_fire_at = $1, attempts = 0, "
                        "version = version + 1, callback_url = $2, "
                        "executed_at = NULL WHERE namespace = $3 AND id = $4",
                        [
                            (due, url, NAMESPACE, timer_id(number))
                            for number, due in zip(numbers, due_ms, strict=True)
                        ],
                    )
            finally:
                await connection.close()

        started = time.perf_counter()
        run_loop(update())
        self.last_write_seconds = time.perf_counter() - started

    def drop_cache(self) -> bool:
        return False

    def plans(
        self, horizon_ms: int, key_batches: Sequence[Sequence[tuple[str, str]]]
    ) -> dict[str, Any]:
        keys = key_batches[0]
        # SQLAlchemy leaves this dialect's constructor without annotations.
        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        due = due_statement(
            range(SHARDS),
            horizon_ms=horizon_ms,
            limit=RUNNER.max_loaded,
            ordered_arms=True,
        )
        claim = sa.select(*TIMER_COLUMNS).where(keys_match(keys))
        found: dict[str, Any] = {}
        for name, statement in (("due", due), ("claim", claim)):
            sql = str(
                statement.compile(
                    dialect=dialect, compile_kwargs={"literal_binds": True}
                )
            )
            rows = self.server.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            # The claim's 500 ids, written out, would drown the plan.
            found[name] = [_LIST_LITERAL.sub("'{...}'", str(row[0])) for row in rows]

        return found

    def storage(self) -> dict[str, Any]:
        (size,) = self.server.execute("SELECT pg_database_size(current_database())")[0]
        (buffers,) = self.server.execute("SHOW shared_buffers")[0]
        return {"bytes": int(size or 0), "shared_buffers": buffers}

    def destroy(self) -> None:
        self.server.destroy()


class CassandraBackend:
    """A keyspace on a throwaway one-node Cassandra, bulk-loaded.

    The fill writes what the store's create would, without its lightweight
    transaction: each timer's row, its due index entry and its listing
    entry, and each bucket and day once, as SSTables written by
    ``bench/java/GrowthFill.java`` (Cassandra's own ``CQLSSTableWriter``) and
    moved into the node while it is stopped. Inserting through the
    driver managed about 2,500 timers a second here, which is over an hour
    for ten million. The due set is moved through the store itself, index
    first, as the API would.
    """

    name = "cassandra"
    keyspace = "growth"

    def __init__(self, folder: Path) -> None:
        from timerbackends.testing.cassandra import CassandraNode

        self.folder = folder
        self.node = CassandraNode(folder / "cassandra", heap="1G").start()
        self.url = self.node.url_for(self.keyspace)
        self.count = 0
        self.last_write_seconds = 0.0
        self.compaction_seconds = 0.0
        run_loop(migrate(self.url))

    def grow(self, size: int, maker: RowMaker) -> float:
        from timerbackends.cassandra._store import (
            _DAY_MS,
            _DUE_BUCKET_MS,
            _LISTING_PARTS,
            _part_of,
        )

        started = time.perf_counter()
        output = self.folder / "sstables"
        shutil.rmtree(output, ignore_errors=True)
        fill = subprocess.Popen(
            [*self._java(), "GrowthFill", str(output), *self._table_arguments()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert fill.stdin is not None
        index = {name: COLUMN_NAMES.index(name) for name in COLUMN_NAMES}
        buckets: set[tuple[int, int]] = set()
        days: set[int] = set()
        for start in range(self.count, size, FILL_CHUNK):
            lines: list[str] = []
            for row in maker.rows(start, min(size, start + FILL_CHUNK)):
                key, shard = row[index["id"]], row[index["shard"]]
                fire, version = row[index["fire_at"]], row[index["version"]]
                bucket, day = fire // _DUE_BUCKET_MS, fire // _DAY_MS
                lines.append(_tsv(0, *row, fire))
                lines.append(
                    _tsv(
                        1,
                        shard,
                        bucket,
                        fire,
                        NAMESPACE,
                        key,
                        version,
                        fire,
                        row[index["updated_at"]],
                    )
                )
                lines.append(
                    _tsv(2, NAMESPACE, day, _part_of(key, _LISTING_PARTS), fire, key)
                )
                buckets.add((shard, bucket))
                days.add(day)

            fill.stdin.write("".join(lines))
            self.count = min(size, start + FILL_CHUNK)

        fill.stdin.write("".join(_tsv(3, *pair) for pair in sorted(buckets)))
        fill.stdin.write("".join(_tsv(4, NAMESPACE, day) for day in sorted(days)))
        fill.stdin.close()
        if fill.wait() != 0:
            raise RuntimeError("the SSTable writer failed")

        written = time.perf_counter()

        self.node.stop()
        self._place(output)
        self.node.start()
        shutil.rmtree(output, ignore_errors=True)
        self.compaction_seconds = self._settle()
        print(
            f"cassandra: SSTables written in {written - started:.0f} s, "
            f"loaded in {time.perf_counter() - written:.0f} s",
            flush=True,
        )
        return time.perf_counter() - started

    def _java(self) -> list[str]:
        """The command that runs a class of bench/java on Cassandra's jars."""
        from timerbackends.testing.cassandra import (
            _JAVA_MODULE_FLAGS,
            ensure_cassandra_jars,
            find_java,
        )

        java, lib = find_java(), ensure_cassandra_jars()
        assert java is not None
        classes = self.folder / "classes"
        if not classes.exists():
            subprocess.run(
                [
                    str(java.with_name("javac")),
                    "-nowarn",
                    "-cp",
                    f"{lib}/*",
                    "-d",
                    str(classes),
                    str(ROOT / "bench" / "java" / "GrowthFill.java"),
                ],
                check=True,
            )

        return [str(java), *_JAVA_MODULE_FLAGS, "-cp", f"{lib}/*:{classes}"]

    def _settle(self, *, limit: float = 1800.0) -> float:
        """Wait until the node has no compaction running; return the wait.

        The loaded SSTables overlap, and the node merges them after its
        start as it would have merged its own flushes all along; claims
        timed during that would measure the backlog of a bulk load that a
        store filled over months never has.
        """
        from cassandra.cluster import Cluster

        started = time.monotonic()
        cluster = Cluster(["127.0.0.1"], port=self.node.port)
        try:
            session = cluster.connect()
            quiet = 0
            while quiet < 3:
                if time.monotonic() - started > limit:
                    raise RuntimeError(f"compactions still running after {limit} s")

                time.sleep(2.0)
                tasks = session.execute("SELECT * FROM system_views.sstable_tasks")
                quiet = 0 if list(tasks) else quiet + 1
        finally:
            cluster.shutdown()

        return time.monotonic() - started

    def _table_arguments(self) -> list[str]:
        """CREATE, INSERT and column types of each table the fill writes."""
        from cassandra.cluster import Cluster

        cluster = Cluster(["127.0.0.1"], port=self.node.port)
        try:
            cluster.connect()
            tables = cluster.metadata.keyspaces[self.keyspace].tables
            found: list[str] = []
            columns_of = {
                "timers": [*COLUMN_NAMES, "due_key"],
                "due_timers": [
                    "shard",
                    "bucket",
                    "due_key",
                    "namespace",
                    "id",
                    "version",
                    "next_attempt_at",
                    "updated_at",
                ],
                "timers_by_fire": ["namespace", "day", "part", "fire_at", "id"],
                "due_buckets": ["shard", "bucket"],
                "namespace_days": ["namespace", "day"],
            }
            for table, columns in columns_of.items():
                create = tables[table].as_cql_query()
                # The writer takes the columns and keys; the options are
                # the node's business.
                create = create[: create.index(") WITH")] + ")"
                found.append(create)
                found.append(
                    f"INSERT INTO {self.keyspace}.{table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' for _ in columns)})"
                )
                found.append(
                    ",".join(tables[table].columns[name].cql_type for name in columns)
                )

            return found
        finally:
            cluster.shutdown()

    @property
    def _keyspace_folder(self) -> Path:
        """Where the node keeps the keyspace's tables, one folder each."""
        return self.node.directory / "data" / "data" / self.keyspace

    def _place(self, output: Path) -> None:
        """Move the written SSTables into the stopped node's table folders.

        Numbered after the ones there, as the node reads them at its start;
        what the bulk loader does over the network, without streaming, which
        took twice as long as the writing here.
        """
        data = self._keyspace_folder
        for written in (output / self.keyspace).iterdir():
            (target,) = data.glob(f"{written.name}-*")
            taken = [
                int(match.group(2))
                for file in target.glob("*-Data.db")
                if (match := _SSTABLE_FILE.match(file.name))
            ]
            generations: dict[str, int] = {}
            for file in sorted(written.iterdir()):
                match = _SSTABLE_FILE.match(file.name)
                if match is None:
                    continue

                version, old, kind, component = match.groups()
                number = generations.setdefault(
                    old, max(taken, default=0) + len(generations) + 1
                )
                file.rename(target / f"{version}-{number}-{kind}-{component}")

    def set_due(self, numbers: Sequence[int], due_ms: Sequence[int], url: str) -> None:
        async def move() -> None:
            store = create_store(self.url)
            await store.initialize(shard_count=SHARDS, migrate=False)
            limiter = asyncio.Semaphore(64)

            async def one(number: int, due: int) -> None:
                async with limiter:
                    moved = False
                    for _ in range(5):
                        timer = await store.get_timer(NAMESPACE, timer_id(number))
                        assert timer is not None
                        fire = datetime.fromtimestamp(due / 1000, UTC)
                        new = attrs.evolve(
                            timer,
                            status=TimerStatus.scheduled,
                            fire_at=fire,
                            next_attempt_at=fire,
                            initial_fire_at=fire,
                            attempts=0,
                            version=timer.version + 1,
                            callback=attrs.evolve(timer.callback, url=url),
                            executed_at=None,
                        )
                        if await store.replace_timer(
                            new, expected_version=timer.version
                        ):
                            moved = True
                            break

                    if not moved:
                        raise RuntimeError(f"timer {number} kept changing")

            try:
                await asyncio.gather(
                    *(one(n, d) for n, d in zip(numbers, due_ms, strict=True))
                )
            finally:
                await store.close()

        started = time.perf_counter()
        run_loop(move())
        self.last_write_seconds = time.perf_counter() - started

    def drop_cache(self) -> bool:
        return False

    def plans(
        self, horizon_ms: int, key_batches: Sequence[Sequence[tuple[str, str]]]
    ) -> dict[str, Any]:
        # No planner to ask: what each read touches is in its key, and what
        # a partition read costs grows with the SSTables it may be in.
        from timerbackends.cassandra._store import _statements

        statements = _statements()
        return {
            "due": [statements["due_buckets_upto"], statements["due_scan"]],
            "claim": [statements["timer_get"]],
            "sstables": self._sstables(),
        }

    def _sstables(self) -> dict[str, int]:
        data = self._keyspace_folder
        return {
            table.name.split("-")[0]: len(list(table.glob("*-Data.db")))
            for table in sorted(data.iterdir())
            if table.is_dir()
        }

    def storage(self) -> dict[str, Any]:
        data = self._keyspace_folder
        size = sum(file.stat().st_size for file in data.rglob("*") if file.is_file())
        return {
            "bytes": size,
            "sstables": self._sstables(),
            "heap": self.node.heap,
            "compaction_seconds_after_fill": round(self.compaction_seconds, 1),
        }

    def destroy(self) -> None:
        self.node.destroy()


#: The backends by name: ``postgres-1gb`` is ``postgres`` with a buffer pool
#: that holds the hot part of the largest store.
BACKENDS: dict[str, Callable[[Path], Backend]] = {
    "sqlite": SQLiteBackend,
    "postgres": PostgresBackend,
    "postgres-1gb": lambda folder: PostgresBackend(folder, shared_buffers="1GB"),
    "cassandra": CassandraBackend,
}


# -- claim cost -------------------------------------------------------------


def read_syscalls() -> int:
    """Read system calls made by this process so far (SQLite reads a page
    with one ``pread`` when its own cache misses)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("syscr:"):
            return int(line.split()[1])

    return 0


def latency(
    seconds: list[float], items: int, reads: int, cpu: float
) -> dict[str, float | None]:
    """Wall-clock median and p99 of calls; their mean reads and CPU time.

    The CPU time is this process's, every thread (aiosqlite's) included:
    less disturbed than wall-clock time by other work on the machine.
    """
    median = statistics.median(seconds)
    return {
        "median_ms": median * 1e3,
        "p99_ms": percentile(seconds, 0.99) * 1e3,
        "items_per_call": items,
        "median_us_per_item": median / items * 1e6 if items else None,
        "read_syscalls_per_call": reads / len(seconds),
        "cpu_ms_per_call": cpu / len(seconds) * 1e3,
    }


async def timed_calls(
    calls: int, call: Callable[[int], Awaitable[object]], items: int
) -> dict[str, float | None]:
    """Time *calls* calls of *call* (given each call's number), one at a time."""
    taken: list[float] = []
    reads, cpu = read_syscalls(), time.process_time()
    for number in range(calls):
        started = time.perf_counter()
        await call(number)
        taken.append(time.perf_counter() - started)

    return latency(taken, items, read_syscalls() - reads, time.process_time() - cpu)


async def measure_claims(
    backend: Backend, due_count: int, calls: int, *, cold: bool
) -> dict[str, Any]:
    """Time the runner's reads of the store, due set in place, through its API."""
    shards = range(SHARDS)
    store = create_store(backend.url)
    await store.initialize(shard_count=SHARDS, migrate=True)
    result: dict[str, Any] = {}
    try:
        # As the runner takes its shards: announce, then take the free ones.
        deadline = time.monotonic() + RUNNER.lease_duration_seconds * 3
        while True:
            now = datetime.now(UTC)
            await store.heartbeat(BENCH_RUNNER_ID, now=now, ttl=600)
            leases = await store.acquire_leases(
                BENCH_RUNNER_ID, shards, now=now, duration=600
            )
            if len(leases) == SHARDS or time.monotonic() > deadline:
                break

            # A runner stopped before still holds some: they expire.
            await asyncio.sleep(0.5)

        if len(leases) != SHARDS:
            raise RuntimeError(f"only {len(leases)} of {SHARDS} shards leased")

        def horizon() -> datetime:
            return datetime.now(UTC) + timedelta(seconds=RUNNER.lookahead_seconds)

        started = time.perf_counter()
        due = await store.fetch_due(shards, horizon=horizon(), limit=RUNNER.max_loaded)
        first_fetch = time.perf_counter() - started
        if len(due) != due_count:
            raise RuntimeError(f"{len(due)} due, not {due_count}")

        batches: list[list[DueTimer]] = [
            due[start : start + RUNNER.batch_size]
            for start in range(0, len(due), RUNNER.batch_size)
        ]

        async def claim(number: int) -> None:
            batch = batches[number % len(batches)]
            claimed = await store.claim_timers(batch)
            if len(claimed) != len(batch):
                raise RuntimeError(f"claimed {len(claimed)} of {len(batch)}")

        # The first pass reads every due timer's pages for the first time.
        result["first_pass_claims"] = await timed_calls(
            len(batches), claim, RUNNER.batch_size
        )
        result["os_cache_dropped"] = cold
        result["first_fetch_due_ms"] = first_fetch * 1e3

        async def fetch(number: int) -> None:
            found = await store.fetch_due(
                shards, horizon=horizon(), limit=RUNNER.max_loaded
            )
            if len(found) != due_count:
                raise RuntimeError(f"{len(found)} due, not {due_count}")

        past = datetime.now(UTC) - timedelta(hours=2)

        async def fetch_nothing(number: int) -> None:
            if await store.fetch_due(shards, horizon=past, limit=RUNNER.max_loaded):
                raise RuntimeError("timers due two hours ago")

        result["fetch_due"] = await timed_calls(calls, fetch, due_count)
        result["fetch_due_empty"] = await timed_calls(calls, fetch_nothing, 0)
        result["claim_timers"] = await timed_calls(calls, claim, RUNNER.batch_size)
    finally:
        await store.release_leases(BENCH_RUNNER_ID, shards)
        await store.remove_runner(BENCH_RUNNER_ID)
        await store.close()

    return result


# -- runner memory ----------------------------------------------------------


def read_status(pid: int) -> dict[str, int]:
    """The memory lines of /proc/PID/status, in KiB."""
    wanted = ("VmRSS", "VmHWM", "RssAnon", "RssFile")
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in wanted:
            found[name] = int(value.split()[0])

    return found


def measure_runner(
    backend: Backend, folder: Path, numbers: Sequence[int]
) -> dict[str, Any]:
    """Run ``timerserver runner`` on the store while the due set fires."""
    port = free_port()
    received_file = folder / "received.json"
    received_file.unlink(missing_ok=True)
    receiver = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "receiver.py"),
            str(port),
            str(received_file),
        ],
        stdout=subprocess.PIPE,
    )
    assert receiver.stdout is not None
    receiver.stdout.readline()

    # Times count from an origin after the runner has started: writing the
    # due set takes longer in a larger store (random pages), about as long
    # as the write before it, which sent the same number back.
    origin = time.time() + 1.0 + 2 * backend.last_write_seconds
    spacing = (DUE_END - DUE_START) / len(numbers)
    due_ms = [
        round((origin + DUE_START + spacing * position) * 1000)
        for position in range(len(numbers))
    ]
    backend.set_due(numbers, due_ms, f"http://127.0.0.1:{port}/hook")
    write_seconds = backend.last_write_seconds

    env = {**os.environ, "TIMERSERVER_LOG_LEVEL": "warning"}
    log = folder / "runner.log"
    samples: list[tuple[float, dict[str, int]]] = []
    with log.open("wb") as errors:
        runner = subprocess.Popen(
            [sys.executable, "-m", "timerserver", "runner", "--storage", backend.url],
            env=env,
            cwd=folder,
            stderr=errors,
        )
        lead = origin - time.time()
        try:
            while time.time() - origin < SAMPLE_END and runner.poll() is None:
                samples.append((time.time() - origin, read_status(runner.pid)))
                time.sleep(SAMPLE_INTERVAL)

            if runner.poll() is not None:
                raise RuntimeError(
                    f"the runner exited with {runner.returncode}:\n"
                    f"{log.read_text()[-2000:]}"
                )

            peak = read_status(runner.pid)["VmHWM"]
            cpu = process_cpu_seconds(runner.pid)
        finally:
            stop_process(runner)
            stop_process(receiver)

    wanted = {timer_id(number) for number in numbers}
    received: list[list[Any]] = [
        entry
        for entry in (
            json.loads(received_file.read_text()) if received_file.exists() else []
        )
        if entry[1] in wanted
    ]
    steady = [status for moment, status in samples if moment >= STEADY_FROM]
    result: dict[str, Any] = {
        "peak_rss_kib": peak,
        "steady_rss_kib": statistics.median(status["VmRSS"] for status in steady),
        "steady_anon_kib": statistics.median(status["RssAnon"] for status in steady),
        "steady_file_kib": statistics.median(status["RssFile"] for status in steady),
        "cpu_seconds": cpu,
        "delivered": len(received),
        "due_set_write_seconds": write_seconds,
        "runner_started_before_origin_seconds": lead,
        "rss_kib_each_second": [
            status["VmRSS"]
            for moment, status in samples
            if moment % 1 < SAMPLE_INTERVAL
        ],
    }
    if received:
        lateness = lateness_summary(received, "order-")
        # run.py's summary carries every point too, for its plot; not here.
        lateness.pop("series", None)
        result["lateness"] = lateness

    return result


# -- one backend, every size -------------------------------------------------


def retire(backend: Backend, numbers: Sequence[int], picker: random.Random) -> None:
    """Send a due set back among the far timers, fired or not."""
    now_ms = round(time.time() * 1000)
    backend.set_due(
        numbers,
        [now_ms + picker.randrange(FAR_MIN_MS, FAR_MAX_MS) for _ in numbers],
        FAR_CALLBACK,
    )


def measure_backend(
    name: str, sizes: Sequence[int], *, due_count: int, repeats: int, calls: int
) -> dict[str, Any]:
    """Grow one store through *sizes*; measure at each; remove it."""
    folder = Path(tempfile.mkdtemp(prefix=f"growth-{name}-"))
    backend: Backend = BACKENDS[name](folder)
    maker = RowMaker(run_loop(template_row()))
    picker = random.Random(11)
    by_size: dict[str, Any] = {}
    try:
        for size in sizes:
            fill_seconds = backend.grow(size, maker)
            print(
                f"{name}: {backend.count:,} timers stored "
                f"({fill_seconds:.0f} s to fill, load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
            claims: list[dict[str, Any]] = []
            runners: list[dict[str, Any]] = []
            for repeat in range(repeats):
                numbers = picker.sample(range(backend.count), due_count)
                now_ms = round(time.time() * 1000)
                backend.set_due(
                    numbers,
                    [now_ms - picker.randrange(60_000) for _ in numbers],
                    FAR_CALLBACK,
                )
                cold = repeat == 0 and backend.drop_cache()
                claims.append(
                    run_loop(measure_claims(backend, due_count, calls, cold=cold))
                )
                retire(backend, numbers, picker)
                numbers = picker.sample(range(backend.count), due_count)
                runners.append(measure_runner(backend, folder, numbers))
                retire(backend, numbers, picker)
                print(
                    f"{name} {size:,} #{repeat + 1}: "
                    f"fetch_due {claims[-1]['fetch_due']['median_ms']:.1f} ms, "
                    f"claim {claims[-1]['claim_timers']['median_ms']:.1f} ms, "
                    f"runner peak {runners[-1]['peak_rss_kib'] / 1024:.0f} MiB "
                    f"steady {runners[-1]['steady_rss_kib'] / 1024:.0f} MiB, "
                    f"{runners[-1]['delivered']} delivered",
                    flush=True,
                )

            # Twenty claims' worth of stored timers, for the plans and to
            # time the claim query alone.
            wanted = min(backend.count, RUNNER.batch_size * 20)
            numbers = picker.sample(range(backend.count), wanted)
            key_batches = [
                [(NAMESPACE, timer_id(number)) for number in numbers[start::20]]
                for start in range(20)
            ]
            by_size[str(size)] = {
                "stored": backend.count,
                "fill_seconds": fill_seconds,
                "load_average_1min": round(os.getloadavg()[0], 2),
                "storage": backend.storage(),
                "plans": backend.plans(round(time.time() * 1000) + 5000, key_batches),
                "claims": claims,
                "runner": runners,
                "summary": summarise_size(claims, runners),
            }
            summary = by_size[str(size)]["summary"]
            for query, alone in (
                by_size[str(size)]["plans"].get("sqlite3_alone", {}).items()
            ):
                for figure in (
                    "median_ms",
                    "cpu_ms_per_call",
                    "read_syscalls_per_call",
                ):
                    summary[f"sqlite3_alone_{query}_{figure}"] = spread([alone[figure]])
    finally:
        backend.destroy()
        shutil.rmtree(folder, ignore_errors=True)

    return by_size


# Each measure: where it is in a repeat's figures, as "source path.to.it".
# The source is "claims" (every repeat), "warm" (the repeats without the
# OS page cache dropped), "cold" (the one with) or "runner".
MEASURES = {
    "fetch_due_median_ms": "claims fetch_due.median_ms",
    "fetch_due_p99_ms": "claims fetch_due.p99_ms",
    "fetch_due_us_per_timer": "claims fetch_due.median_us_per_item",
    "fetch_due_cpu_ms": "claims fetch_due.cpu_ms_per_call",
    "fetch_due_empty_median_ms": "claims fetch_due_empty.median_ms",
    "fetch_due_empty_p99_ms": "claims fetch_due_empty.p99_ms",
    "fetch_due_empty_cpu_ms": "claims fetch_due_empty.cpu_ms_per_call",
    "claim_median_ms": "claims claim_timers.median_ms",
    "claim_p99_ms": "claims claim_timers.p99_ms",
    "claim_us_per_timer": "claims claim_timers.median_us_per_item",
    "claim_cpu_ms": "claims claim_timers.cpu_ms_per_call",
    "claim_reads_per_call": "claims claim_timers.read_syscalls_per_call",
    "claim_first_pass_median_ms": "warm first_pass_claims.median_ms",
    "claim_first_pass_cpu_ms": "warm first_pass_claims.cpu_ms_per_call",
    "claim_first_pass_reads_per_call": "warm first_pass_claims.read_syscalls_per_call",
    "cold_claim_first_pass_median_ms": "cold first_pass_claims.median_ms",
    "cold_first_fetch_due_ms": "cold first_fetch_due_ms",
    "runner_peak_rss_mib": "runner peak_rss_kib",
    "runner_steady_rss_mib": "runner steady_rss_kib",
    "runner_steady_anon_mib": "runner steady_anon_kib",
    "runner_cpu_seconds": "runner cpu_seconds",
    "runner_delivered": "runner delivered",
    "runner_lateness_p50_ms": "runner lateness.p50_ms",
    "runner_lateness_p99_ms": "runner lateness.p99_ms",
    "due_set_write_seconds": "runner due_set_write_seconds",
}


def _dig(entry: dict[str, Any], path: str) -> float | None:
    value: Any = entry
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None

    if value is None:
        return None

    return float(value) / 1024 if path.endswith("_kib") else float(value)


def summarise_size(
    claims: list[dict[str, Any]], runners: list[dict[str, Any]]
) -> dict[str, dict[str, float]]:
    summary: dict[str, dict[str, float]] = {}
    for measure, where in MEASURES.items():
        source, path = where.split()
        entries = runners if source == "runner" else claims
        if source in ("warm", "cold"):
            cold = source == "cold"
            entries = [entry for entry in entries if entry["os_cache_dropped"] is cold]

        values = [
            value for entry in entries if (value := _dig(entry, path)) is not None
        ]
        if values:
            summary[measure] = spread(values)

    return summary


def ratios(by_size: dict[str, Any]) -> dict[str, float]:
    """Median at the largest size over the median at the smallest, per measure."""
    sizes = sorted(by_size, key=int)
    small, large = by_size[sizes[0]]["summary"], by_size[sizes[-1]]["summary"]
    return {
        measure: large[measure]["median"] / small[measure]["median"]
        for measure in small
        if measure in large and small[measure]["median"]
    }


def run_growth(
    sizes: Sequence[int] = SIZES,
    *,
    backends: Sequence[str] = ("sqlite",),
    due_count: int = DUE,
    repeats: int = 3,
    calls: int = CALLS,
    write: bool = True,
) -> dict[str, Any]:
    """Measure every backend at every size; write and return the results.

    :raises ValueError: if more are to be due than the smallest size stores.
    :return: ``meta``; ``ratios``, per backend, the median at the largest
        size over the median at the smallest of each measure of
        :data:`MEASURES`; ``backends``, per backend and size: ``summary``
        (each measure's median, min and max over the repeats), the raw
        ``claims`` and ``runner`` figures, ``plans``, ``storage`` and
        ``fill_seconds``.
    """
    ordered = sorted(sizes)
    if due_count > ordered[0]:
        raise ValueError(f"{due_count:,} due of {ordered[0]:,} stored")

    results: dict[str, Any] = {}
    measured: dict[str, Any] = {}
    for name in backends:
        load_before = os.getloadavg()[0]
        results[name] = measure_backend(
            name, ordered, due_count=due_count, repeats=repeats, calls=calls
        )
        measured[name] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "due": due_count,
            "repeats": repeats,
            "calls_per_measure": calls,
            "load_average_1min_before": round(load_before, 2),
            "load_average_1min_after": round(os.getloadavg()[0], 2),
        }

    report = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} "
            f"{platform.python_version()}, {platform.system()}, "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 2**30} GiB",
            "sizes": ordered,
            "due": due_count,
            "repeats": repeats,
            "calls_per_measure": calls,
            "claim_batch": RUNNER.batch_size,
            "fetch_limit": RUNNER.max_loaded,
            "lookahead_seconds": RUNNER.lookahead_seconds,
            "sqlite": f"SQLite {sqlite3.sqlite_version}",
            "measured": measured,
        },
        "ratios": {name: ratios(by_size) for name, by_size in results.items()},
        "backends": results,
    }
    if write:
        keep_other_backends(report)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(_strict(report), indent=2) + "\n")

    return report


def _strict(value: Any) -> Any:
    """*value* with NaN as null, which strict JSON readers accept."""
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}

    if isinstance(value, list):
        return [_strict(item) for item in value]

    return None if isinstance(value, float) and math.isnan(value) else value


def keep_other_backends(report: dict[str, Any]) -> None:
    """Carry over from the results file the backends this run did not measure.

    Only from a file of the same sizes; each backend's date, load and due
    set stay under ``meta.measured``.
    """
    if not RESULTS.exists():
        return

    earlier = json.loads(RESULTS.read_text())
    meta = earlier.get("meta", {})
    if meta.get("sizes") != report["meta"]["sizes"]:
        return

    for name, by_size in earlier.get("backends", {}).items():
        if name in report["backends"]:
            continue

        report["backends"][name] = by_size
        report["ratios"][name] = earlier["ratios"][name]
        # Files from before the due set was kept per backend had one.
        report["meta"]["measured"][name] = {
            "due": meta.get("due"),
            **meta["measured"][name],
        }

    # In the order of BACKENDS, whichever run measured each.
    for key in ("backends", "ratios"):
        report[key] = {
            name: report[key][name] for name in BACKENDS if name in report[key]
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, SIZES)),
        help="comma-separated numbers of stored timers",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"sizes {QUICK_SIZES}, {QUICK_DUE} due"
    )
    parser.add_argument(
        "--backends", default="sqlite", help=f"from {', '.join(BACKENDS)}"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--due", type=int, default=None)
    arguments = parser.parse_args()
    sizes = (
        QUICK_SIZES
        if arguments.quick
        else tuple(int(size) for size in arguments.sizes.split(","))
    )
    due = arguments.due or (QUICK_DUE if arguments.quick else DUE)
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if max(sizes) * 400 > free:
        parser.error(
            f"{max(sizes):,} timers need about {max(sizes) * 400 / 1e9:.1f} GB"
        )

    report = run_growth(
        sizes,
        backends=arguments.backends.split(","),
        due_count=due,
        repeats=arguments.repeats,
        calls=arguments.calls,
    )
    print(json.dumps(report["ratios"], indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
