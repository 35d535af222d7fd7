"""The store on Apache Cassandra, through cassandra-driver.

The table ``timers``, keyed by ``(namespace, id)``, is the truth; every
other table is an index written beside it, cut into partitions by shard and
bucket of time so that none grows with the number of timers stored
(``migrations/0001_initial.cql`` shows them, ``docs/backends.md`` explains
them).

How a write stays safe without multi-partition transactions:

1. the index entries of the new state are written first;
2. then the timer, with a lightweight transaction (``IF NOT EXISTS`` for a
   create, ``IF version = ?`` for every change), which decides the write;
3. then the entries of the old state are deleted, and counters moved.

A crash between the steps leaves index entries that point at a state the
timer is not in. Nothing fires from an index entry alone: a claim reads the
timer and takes it only at the entry's version and due time, and deletes
entries that no longer match. So a leftover costs a read, never a wrong or
lost delivery; what can drift are the counts of ``count_timers``.

The epoch fence of :meth:`CassandraStore.record_outcomes` reads the leases
at SERIAL consistency and then writes each timer under its version check:
a lease taken over between the two is not seen. The version check still
holds, so an outcome that slips through records a delivery that did happen,
and the new owner's outcome for the same version is refused.
"""

from __future__ import annotations

import asyncio
import heapq
import time
import zlib
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import anyio.to_thread
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)
from cassandra.query import BatchStatement, BatchType, PreparedStatement, tuple_factory

from timerkernel import (
    Attempt,
    AttemptOutcome,
    DueTimer,
    Lease,
    NamespaceCounts,
    Outcome,
    StorageError,
    StorageUnavailable,
    Timer,
    TimerQuery,
    TimerStatus,
    VersionConflict,
    from_millis,
    to_millis,
)
from timerkernel.abc import Store

from .._floor import refuse_below_floor
from .._rows import (
    ATTEMPT_COLUMN_NAMES,
    STATE_COLUMNS,
    TIMER_COLUMN_NAMES,
    attempt_from_row,
    attempt_to_row,
    floor_millis,
    from_micros,
    state_of,
    timer_from_row,
    timer_to_row,
    to_micros,
)
from . import _migrations
from ._driver import (
    CONSISTENCY_LEVELS,
    SERIAL_CONSISTENCY_LEVELS,
    translate,
    translated,
    wait_for,
)

T = TypeVar("T")

#: Attempts kept per timer; older ones are deleted as new ones are written.
ATTEMPTS_KEPT = 20

DEFAULT_PORT = 9042
_KEYSPACE_NAME_LIMIT = 48

# Bucket sizes, fixed at the first initialisation (store_meta), since every
# process must cut the indexes the same way.
_DUE_BUCKET_MS = 60_000
_FINISHED_BUCKET_MS = 3_600_000
_DAY_MS = 86_400_000
_LISTING_PARTS = 4

_SCOPE_ALL = "all"
_LEASES = "leases"
_RUNNERS = "runners"

# Keys of store_meta.
_SHARD_COUNT = "shard_count"
_DUE_BUCKET = "due_bucket_ms"
_FINISHED_BUCKET = "finished_bucket_ms"
_PARTS = "listing_parts"

# Conditional batches of leases retried when another runner's write came
# between the read and the batch.
_LEASE_TRIES = 8


def _keyspace_of(path: str) -> str:
    keyspace = path.strip("/")
    if not keyspace:
        raise ValueError(
            "the Cassandra URL names no keyspace: cassandra://host/keyspace"
        )

    if not (
        keyspace.isascii()
        and keyspace.replace("_", "a").isalnum()
        and not keyspace[0].isdigit()
        and len(keyspace) <= _KEYSPACE_NAME_LIMIT
    ):
        raise ValueError(
            f"keyspace {keyspace!r} is not a name of letters, digits and '_' of up "
            f"to {_KEYSPACE_NAME_LIMIT} characters starting with a letter"
        )

    return keyspace.lower()


def _hosts_of(netloc: str) -> tuple[list[str], int]:
    hosts_part = netloc.rpartition("@")[2]
    port = DEFAULT_PORT
    hosts: list[str] = []
    for item in hosts_part.split(","):
        host, separator, port_text = item.rpartition(":")
        if not separator or "]" in port_text:
            host = item
        else:
            try:
                port = int(port_text)
            except ValueError:
                raise ValueError(f"not a port: {port_text!r}") from None

        host = host.strip("[]")
        if host:
            hosts.append(host)

    if not hosts:
        raise ValueError("the Cassandra URL names no host: cassandra://host1,host2/ks")

    return hosts, port


def _part_of(timer_id: str, parts: int) -> int:
    return zlib.crc32(timer_id.encode("utf-8", "surrogatepass")) % parts


class CassandraStore(Store):
    """A :class:`~timerkernel.abc.Store` in Apache Cassandra (3.11, 4 or 5).

    ``cassandra://[user:password@]host1,host2[:port]/keyspace``, with these
    options in the URL's query or as keywords:

    :param consistency: of reads and writes: ``LOCAL_QUORUM`` by default.
    :param serial_consistency: of lightweight transactions and of the reads
        that must see them: ``LOCAL_SERIAL`` by default.
    :param local_datacenter: the datacenter whose nodes are asked first;
        the driver picks the first it meets if not given.
    :param replication_factor: of the keyspace, if the migration creates
        it: by default the number of nodes up to 3, in the local datacenter
        (``NetworkTopologyStrategy``). Create the keyspace yourself for any
        other layout.
    :param request_timeout: seconds before a request fails with
        :class:`~timerkernel.StorageUnavailable`.
    :param clock_skew: seconds that bound both the clock difference between
        processes and how long a write may take; a runner re-reads that much
        of the due index at every poll in case a slow write lands there.
    :param concurrency: requests in flight at once from this store.
    :raises ValueError: if the URL or an option is malformed.
    """

    def __init__(
        self,
        url: str,
        *,
        consistency: str | None = None,
        serial_consistency: str | None = None,
        local_datacenter: str | None = None,
        replication_factor: int | None = None,
        request_timeout: float | None = None,
        clock_skew: float | None = None,
        concurrency: int | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "cassandra":
            raise ValueError(f"not a cassandra:// URL: {parts.scheme}://")

        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        known = {
            "consistency",
            "serial_consistency",
            "local_datacenter",
            "replication_factor",
            "request_timeout",
            "clock_skew",
            "concurrency",
        }
        unknown = sorted(set(query) - known)
        if unknown:
            raise ValueError(f"unknown Cassandra URL options: {', '.join(unknown)}")

        self.keyspace = _keyspace_of(parts.path)
        self._hosts, self._port = _hosts_of(parts.netloc)
        self._credentials = None
        if "@" in parts.netloc:
            user, _, password = parts.netloc.rpartition("@")[0].partition(":")
            self._credentials = (unquote(user), unquote(password))

        level = (consistency or query.get("consistency") or "LOCAL_QUORUM").upper()
        serial = (
            serial_consistency or query.get("serial_consistency") or "LOCAL_SERIAL"
        ).upper()
        if level not in CONSISTENCY_LEVELS:
            raise ValueError(
                f"consistency {level!r} is not one of {', '.join(CONSISTENCY_LEVELS)}"
            )

        if serial not in SERIAL_CONSISTENCY_LEVELS:
            raise ValueError(
                f"serial_consistency {serial!r} is not SERIAL or LOCAL_SERIAL"
            )

        self._consistency = CONSISTENCY_LEVELS[level]
        self._serial = SERIAL_CONSISTENCY_LEVELS[serial]
        self._datacenter = local_datacenter or query.get("local_datacenter")
        factor = replication_factor or _number(query, "replication_factor", int)
        if factor is not None and factor < 1:
            raise ValueError("replication_factor must be at least 1")

        self._replication_factor = factor
        self._timeout = float(
            request_timeout or _number(query, "request_timeout", float) or 10.0
        )
        skew = clock_skew or _number(query, "clock_skew", float)
        # A write must land within the skew: its request times out before.
        self._skew_ms = int(1000 * (skew if skew is not None else self._timeout + 5.0))
        self._concurrency = int(
            concurrency or _number(query, "concurrency", int) or 128
        )
        if self._timeout <= 0 or self._skew_ms <= 0 or self._concurrency < 1:
            raise ValueError(
                "request_timeout, clock_skew and concurrency must be positive"
            )

        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._prepared: dict[str, PreparedStatement] = {}
        # The schema's steps this code knows, the last being what it needs.
        self._migrations: tuple[_migrations.Migration, ...] = _migrations.MIGRATIONS
        self._limiter = asyncio.Semaphore(self._concurrency)
        self._shard_count = 0
        self._due_bucket_ms = _DUE_BUCKET_MS
        self._finished_bucket_ms = _FINISHED_BUCKET_MS
        self._parts = _LISTING_PARTS
        # Buckets and days known to be in their directories, so that each
        # is written there once per process; see _remember_bucket.
        self._known_buckets: set[tuple[str, int, int]] = set()
        self._known_days: set[tuple[str, int]] = set()
        # Per shard: every live entry of the due index lies at or after
        # this due_key, as far as this process has read it.
        self._frontiers: dict[int, int] = {}
        # The due index row of each entry fetch_due returned, by key and
        # version, so that a claim can delete the rows it finds stale.
        self._due_rows: dict[tuple[str, str, int], tuple[int, int, int]] = {}
        # Each timer claim_timers returned, with its due_key, by key and
        # version: the state its outcome is written over, unless the
        # outcome's transaction finds a newer version.
        self._claimed: dict[tuple[str, str, int], tuple[Timer, int | None]] = {}

    # -- plumbing -------------------------------------------------------------

    def _statement(self, name: str) -> PreparedStatement:
        try:
            return self._prepared[name]
        except KeyError:
            raise StorageError("the Cassandra store is not initialised") from None

    async def _run(self, name: str, *values: Any) -> list[Any]:
        """Run the prepared statement *name* with *values*; return its rows."""
        session = self._require_open()
        statement = self._statement(name)
        async with self._limiter:
            with translated():
                return await wait_for(
                    session.execute_async(statement, values, timeout=self._timeout)
                )

    async def _applied(self, name: str, *values: Any) -> bool:
        """Run a lightweight transaction; return whether it applied."""
        rows = await self._run(name, *values)
        return bool(rows and rows[0][0])

    async def _batch(
        self, statements: Sequence[tuple[str, Sequence[Any]]], *, kind: BatchType
    ) -> list[Any]:
        session = self._require_open()
        batch = BatchStatement(batch_type=kind, consistency_level=self._consistency)
        batch.serial_consistency_level = self._serial
        for name, values in statements:
            batch.add(self._statement(name), values)

        async with self._limiter:
            with translated():
                return await wait_for(
                    session.execute_async(batch, timeout=self._timeout)
                )

    def _require_open(self) -> Session:
        if self._session is None:
            raise StorageError("the Cassandra store is closed")

        return self._session

    @staticmethod
    def _wall_ms() -> int:
        return int(time.time() * 1000)

    # -- lifecycle ------------------------------------------------------------

    async def initialize(self, *, shard_count: int, migrate: bool = True) -> int:
        if self._session is None:
            await self._connect()

        session = self._require_open()
        try:
            exists = await _migrations.keyspace_exists(session, self.keyspace)
            if not exists and not migrate:
                raise StorageError(
                    f"keyspace {self.keyspace!r} does not exist; "
                    "run timerserver migrate"
                )

            if migrate:
                await _migrations.create_keyspace(
                    session, self.keyspace, await self._replication()
                )

            await anyio.to_thread.run_sync(session.set_keyspace, self.keyspace)
            if migrate:
                await _migrations.migrate(
                    session, self.keyspace, migrations=self._migrations
                )

            version = await _migrations.schema_version(session, self.keyspace)
            floor = (
                await _migrations.schema_floor(session, self.keyspace) if version else 0
            )
        except StorageError:
            raise
        except Exception as exc:
            raise translate(exc) from exc

        latest = self._migrations[-1].version
        if version < latest:
            raise StorageError(
                f"the Cassandra schema is at version {version}, this code needs "
                f"{latest}; run timerserver migrate"
            )

        if version > latest:
            refuse_below_floor(
                backend="Cassandra", version=version, floor=floor, latest=latest
            )

        await anyio.to_thread.run_sync(self._prepare_all)
        recorded = await self._meta(
            {
                _SHARD_COUNT: str(shard_count),
                _DUE_BUCKET: str(_DUE_BUCKET_MS),
                _FINISHED_BUCKET: str(_FINISHED_BUCKET_MS),
                _PARTS: str(_LISTING_PARTS),
            }
        )
        self._shard_count = int(recorded[_SHARD_COUNT])
        self._due_bucket_ms = int(recorded[_DUE_BUCKET])
        self._finished_bucket_ms = int(recorded[_FINISHED_BUCKET])
        self._parts = int(recorded[_PARTS])
        return self._shard_count

    async def _connect(self) -> None:
        policy = TokenAwarePolicy(
            DCAwareRoundRobinPolicy(local_dc=self._datacenter or "")
        )
        profile = ExecutionProfile(
            load_balancing_policy=policy,
            consistency_level=self._consistency,
            serial_consistency_level=self._serial,
            request_timeout=self._timeout,
            row_factory=tuple_factory,
        )
        auth = PlainTextAuthProvider(*self._credentials) if self._credentials else None
        cluster = Cluster(
            self._hosts,
            port=self._port,
            auth_provider=auth,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            protocol_version=4,
            connect_timeout=self._timeout,
            control_connection_timeout=self._timeout,
            reconnection_policy=ExponentialReconnectionPolicy(0.5, 30.0),
            # Schema changes come from this store's own migrations only.
            schema_metadata_enabled=False,
            token_metadata_enabled=True,
        )
        try:
            session = await anyio.to_thread.run_sync(cluster.connect)
        except Exception as exc:
            cluster.shutdown()
            raise translate(exc) from exc

        session.default_fetch_size = None
        self._cluster, self._session = cluster, session

    async def _replication(self) -> str:
        factor = self._replication_factor
        session = self._require_open()
        rows = await wait_for(
            session.execute_async(
                "SELECT data_center FROM system.local", timeout=self._timeout
            )
        )
        datacenter = self._datacenter or (rows[0][0] if rows else "datacenter1")
        if factor is None:
            peers = await wait_for(
                session.execute_async(
                    "SELECT data_center FROM system.peers", timeout=self._timeout
                )
            )
            nodes = 1 + sum(1 for (center,) in peers if center == datacenter)
            factor = min(3, nodes)

        return f"{{'class': 'NetworkTopologyStrategy', '{datacenter}': {factor}}}"

    def _prepare_all(self) -> None:
        session = self._require_open()
        for name, text in _statements().items():
            prepared = session.prepare(text)
            if name.endswith("_serial"):
                prepared.consistency_level = self._serial
            self._prepared[name] = prepared

    async def _meta(self, defaults: Mapping[str, str]) -> dict[str, str]:
        """Record *defaults* where store_meta has no value; return what it has."""
        found: dict[str, str] = {}
        for key, value in defaults.items():
            rows = await self._run("meta_get_serial", key)
            if not rows:
                await self._run("meta_put", key, value)
                rows = await self._run("meta_get_serial", key)

            if not rows:
                raise StorageError(f"store_meta lost its {key!r} just after writing it")

            found[key] = rows[0][0]

        return found

    async def close(self) -> None:
        cluster, self._cluster, self._session = self._cluster, None, None
        self._prepared.clear()
        self._frontiers.clear()
        self._due_rows.clear()
        self._claimed.clear()
        if cluster is not None:
            await anyio.to_thread.run_sync(cluster.shutdown)

    async def ping(self) -> None:
        session = self._session
        if session is None:
            raise StorageUnavailable("the Cassandra store is closed")

        try:
            await wait_for(
                session.execute_async(
                    "SELECT release_version FROM system.local", timeout=2.0
                )
            )
        except Exception as exc:
            raise StorageUnavailable(f"Cassandra does not answer: {exc}") from exc

    # -- index entries ----------------------------------------------------------

    def _due_key(self, timer: Timer) -> int | None:
        if timer.status is not TimerStatus.scheduled or timer.next_attempt_at is None:
            return None

        # An entry is never written behind the writer's clock, so a runner
        # that has read the index up to its own clock less the skew never
        # has an entry appear behind it.
        return max(to_millis(timer.next_attempt_at), self._wall_ms())

    async def _remember_bucket(self, table: str, shard: int, bucket: int) -> None:
        # Once per process: the directory row is removed only for buckets
        # behind every writer's clock (see _retire), where nobody writes.
        if (table, shard, bucket) in self._known_buckets:
            return

        await self._run(f"{table}_bucket_put", shard, bucket)
        self._known_buckets.add((table, shard, bucket))

    async def _remember_day(self, namespace: str, day: int) -> None:
        if (namespace, day) in self._known_days:
            return

        await self._run("day_put", namespace, day)
        self._known_days.add((namespace, day))

    async def _write_index(
        self, timer: Timer, due_key: int | None, *, old: Timer | None = None
    ) -> None:
        """Write the index entries of *timer*'s state (step 1 of a write).

        The listing entry of a timer whose fire time is *old*'s is there
        already, under the same key: most outcomes leave it alone.
        """
        writes: list[Awaitable[Any]] = []
        if old is None or old.fire_at != timer.fire_at:
            fire_ms = to_millis(timer.fire_at)
            day = fire_ms // _DAY_MS
            writes.append(self._remember_day(timer.namespace, day))
            writes.append(
                self._run(
                    "listing_put",
                    timer.namespace,
                    day,
                    _part_of(timer.id, self._parts),
                    fire_ms,
                    timer.id,
                )
            )
        if due_key is not None:
            assert timer.next_attempt_at is not None
            bucket = due_key // self._due_bucket_ms
            writes.append(self._remember_bucket("due", timer.shard, bucket))
            writes.append(
                self._run(
                    "due_put",
                    timer.shard,
                    bucket,
                    due_key,
                    timer.namespace,
                    timer.id,
                    timer.version,
                    to_millis(timer.next_attempt_at),
                    to_millis(timer.updated_at),
                )
            )

        if timer.status is not TimerStatus.scheduled:
            writes.append(self._write_finished(timer))

        await _gather(writes)

    async def _write_finished(self, timer: Timer) -> None:
        updated_ms = to_millis(timer.updated_at)
        bucket = max(updated_ms, self._wall_ms()) // self._finished_bucket_ms
        await self._remember_bucket("finished", timer.shard, bucket)
        await self._run(
            "finished_put",
            timer.shard,
            bucket,
            updated_ms,
            timer.namespace,
            timer.id,
            timer.version,
            timer.status.value,
            to_millis(timer.fire_at),
        )

    async def _drop_index(
        self,
        old: Timer,
        old_due_key: int | None,
        new: Timer | None,
        new_due_key: int | None,
    ) -> None:
        """Delete *old*'s entries that *new*'s state does not share (step 3)."""
        drops: list[Awaitable[Any]] = []
        if old_due_key is not None and old_due_key != new_due_key:
            drops.append(
                self._run(
                    "due_delete",
                    old.shard,
                    old_due_key // self._due_bucket_ms,
                    old_due_key,
                    old.namespace,
                    old.id,
                )
            )

        if new is None or new.fire_at != old.fire_at:
            fire_ms = to_millis(old.fire_at)
            drops.append(
                self._run(
                    "listing_delete",
                    old.namespace,
                    fire_ms // _DAY_MS,
                    _part_of(old.id, self._parts),
                    fire_ms,
                    old.id,
                )
            )

        await _gather(drops)

    async def _count(self, namespace: str, moves: Mapping[str, int]) -> None:
        # The counters of all namespaces share one partition, so the moves
        # of one change go as one request.
        updates = [
            ("count_add", (delta, namespace, status))
            for status, delta in moves.items()
            if delta
        ]
        if len(updates) == 1:
            await self._run(updates[0][0], *updates[0][1])
        elif updates:
            await self._batch(updates, kind=BatchType.COUNTER)

    async def _recount(self, old: Timer | None, new: Timer | None) -> None:
        moves: dict[str, int] = {}
        if old is not None:
            moves[old.status.value] = moves.get(old.status.value, 0) - 1
        if new is not None:
            moves[new.status.value] = moves.get(new.status.value, 0) + 1

        namespace = (new or old).namespace  # type: ignore[union-attr]
        await self._count(namespace, moves)

    # -- timers -------------------------------------------------------------

    async def _read(
        self, namespace: str, timer_id: str, *, serial: bool = False
    ) -> tuple[Timer, int | None] | None:
        rows = await self._run(
            "timer_get_serial" if serial else "timer_get", namespace, timer_id
        )
        if not rows:
            return None

        row = rows[0]
        return timer_from_row(row[:-1]), row[-1]

    async def insert_timers(self, timers: Sequence[Timer]) -> list[Timer | None]:
        self._require_open()
        return await _gather(self._insert(timer) for timer in timers)

    async def _insert(self, timer: Timer) -> Timer | None:
        due_key = self._due_key(timer)
        row = timer_to_row(timer)
        await self._write_index(timer, due_key)
        if await self._applied("timer_insert", *row.values(), due_key):
            await self._recount(None, timer)
            return None

        found = await self._read(timer.namespace, timer.id, serial=True)
        if found is None:
            # Deleted between the insert and this read; as if inserted
            # just before the delete.
            raise StorageUnavailable(
                f"timer {timer.id!r} was deleted while it was being created; try again"
            )

        existing, existing_due_key = found
        await self._drop_index(timer, due_key, existing, existing_due_key)
        return existing

    async def get_timer(self, namespace: str, timer_id: str) -> Timer | None:
        found = await self._read(namespace, timer_id)
        return None if found is None else found[0]

    async def replace_timer(self, timer: Timer, *, expected_version: int) -> bool:
        found = await self._read(timer.namespace, timer.id, serial=True)
        if found is None or found[0].version != expected_version:
            return False

        old, old_due_key = found
        due_key = self._due_key(timer)
        await self._write_index(timer, due_key, old=old)
        row = timer_to_row(timer)
        del row["namespace"], row["id"]
        applied = await self._applied(
            "timer_replace",
            *row.values(),
            due_key,
            timer.namespace,
            timer.id,
            expected_version,
        )
        if not applied:
            winner = await self._read(timer.namespace, timer.id, serial=True)
            if winner is None:
                await self._drop_index(timer, due_key, None, None)
            else:
                await self._drop_index(timer, due_key, *winner)
            return False

        await self._drop_index(old, old_due_key, timer, due_key)
        if old.status is not timer.status:
            await self._recount(old, timer)

        return True

    async def delete_timer(
        self, namespace: str, timer_id: str, *, expected_version: int | None = None
    ) -> Timer | None:
        for _ in range(_LEASE_TRIES):
            found = await self._read(namespace, timer_id, serial=True)
            if found is None:
                return None

            current, due_key = found
            if expected_version is not None and current.version != expected_version:
                raise VersionConflict(
                    namespace, timer_id, expected_version, current.version
                )

            if await self._applied(
                "timer_delete", namespace, timer_id, current.version
            ):
                await _gather(
                    [
                        self._drop_index(current, due_key, None, None),
                        self._run("attempts_drop", namespace, timer_id),
                        self._recount(current, None),
                    ]
                )
                return current

        raise StorageUnavailable(
            f"timer {timer_id!r} kept changing while it was being deleted; try again"
        )

    async def list_timers(self, namespace: str, query: TimerQuery) -> list[Timer]:
        if query.limit <= 0:
            return []

        low_ms = to_millis(query.fire_after) if query.fire_after is not None else None
        after_ms, after_id = (
            (to_millis(query.after[0]), query.after[1]) if query.after else (None, "")
        )
        if after_ms is not None and (low_ms is None or after_ms >= low_ms):
            start = (after_ms, after_id, False)
        elif low_ms is not None:
            start = (low_ms, "", True)
        else:
            start = (_MIN_BIGINT, "", True)

        end_ms = (
            to_millis(query.fire_before)
            if query.fire_before is not None
            else _MAX_BIGINT
        )
        if start[0] >= end_ms:
            return []

        days = await self._run(
            "days_between",
            namespace,
            start[0] // _DAY_MS,
            (end_ms - 1) // _DAY_MS,
        )
        found: list[Timer] = []
        for (day,) in days:
            await self._list_day(namespace, day, start, end_ms, query, found)
            if len(found) >= query.limit:
                break

        return found[: query.limit]

    async def _list_day(
        self,
        namespace: str,
        day: int,
        start: tuple[int, str, bool],
        end_ms: int,
        query: TimerQuery,
        found: list[Timer],
    ) -> None:
        """Add the day's matching timers to *found*, in order, up to the limit."""
        chunk = max(query.limit, 50)
        position = start
        while len(found) < query.limit:
            # Each part is read in order from the position; merged, they
            # give the day's entries in (fire_at, id) order.
            reads = await _gather(
                self._run(
                    "listing_scan_from" if position[2] else "listing_scan_after",
                    namespace,
                    day,
                    part,
                    position[0],
                    position[1],
                    end_ms,
                    chunk,
                )
                for part in range(self._parts)
            )
            # Past the shortest full read, some part may hold entries not
            # yet read: stop there and read again from it.
            cut: tuple[int, str] | None = None
            for rows in reads:
                if len(rows) == chunk:
                    last = (rows[-1][0], rows[-1][1])
                    cut = last if cut is None else min(cut, last)

            entries = [
                (fire_ms, timer_id)
                for fire_ms, timer_id in heapq.merge(*reads)
                if cut is None or (fire_ms, timer_id) <= cut
            ]
            if not entries:
                return

            timers = await _gather(
                self._read(namespace, timer_id) for _, timer_id in entries
            )
            for (fire_ms, _), read in zip(entries, timers, strict=True):
                # An entry left by a write that lost, or of an old fire time.
                if read is None or to_millis(read[0].fire_at) != fire_ms:
                    continue

                if _matches(read[0], query):
                    found.append(read[0])
                    if len(found) >= query.limit:
                        return

            if cut is None:
                return

            position = (cut[0], cut[1], False)

    async def count_timers(self) -> list[NamespaceCounts]:
        rows = await self._run("counts_all")
        counts: dict[str, dict[TimerStatus, int]] = {}
        for namespace, status, value in rows:
            if status in _STATUS_VALUES:
                by_status = counts.setdefault(namespace, dict.fromkeys(TimerStatus, 0))
                by_status[TimerStatus(status)] = max(int(value or 0), 0)

        return [
            NamespaceCounts(name, counts[name])
            for name in sorted(counts)
            if any(counts[name].values())
        ]

    async def list_attempts(
        self, namespace: str, timer_id: str, *, limit: int
    ) -> list[Attempt]:
        if limit <= 0:
            return []

        rows = await self._run("attempts_list", namespace, timer_id, limit)
        return [attempt_from_row((namespace, timer_id, *row)) for row in rows]

    async def purge_finished(self, *, before: datetime, limit: int) -> int:
        if limit <= 0:
            return 0

        # A stored time (whole milliseconds) is before *before* exactly when
        # it is before *before* rounded up.
        before_ms = to_millis(before)
        purged = 0
        for shard in range(self._shard_count):
            purged += await self._purge_shard(shard, before_ms, limit - purged)
            if purged >= limit:
                break

        return purged

    async def _purge_shard(self, shard: int, before_ms: int, limit: int) -> int:
        last = before_ms // self._finished_bucket_ms
        buckets = [b for (b,) in await self._run("finished_buckets_upto", shard, last)]
        purged = 0
        emptied: set[int] = set()
        for bucket in buckets:
            wanted = limit - purged
            rows = await self._run("finished_scan", shard, bucket, before_ms, wanted)
            results = await _gather(self._purge_one(shard, bucket, row) for row in rows)
            purged += sum(results)
            # Every entry of the bucket before the cut was read and deleted;
            # a bucket wholly before the cut is then empty for good, since
            # entries are never written behind the writer's clock.
            if (
                len(rows) < wanted
                and (bucket + 1) * self._finished_bucket_ms <= before_ms
            ):
                emptied.add(bucket)

            if purged >= limit:
                break

        leading = _leading(buckets, emptied)
        if leading is not None:
            await self._run("finished_buckets_retire", shard, leading + 1)

        return purged

    async def _purge_one(self, shard: int, bucket: int, row: Sequence[Any]) -> bool:
        updated_ms, namespace, timer_id, version, status, fire_ms = row
        applied = await self._applied("timer_delete", namespace, timer_id, version)
        drops: list[Awaitable[Any]] = [
            self._run("finished_delete", shard, bucket, updated_ms, namespace, timer_id)
        ]
        if applied:
            drops.append(self._run("attempts_drop", namespace, timer_id))
            drops.append(
                self._run(
                    "listing_delete",
                    namespace,
                    fire_ms // _DAY_MS,
                    _part_of(timer_id, self._parts),
                    fire_ms,
                    timer_id,
                )
            )
            drops.append(self._count(namespace, {status: -1}))

        await _gather(drops)
        return applied

    # -- the runner's side ------------------------------------------------------

    async def fetch_due(
        self,
        shards: Collection[int],
        *,
        horizon: datetime,
        limit: int,
        known_through: datetime | None = None,
        changed_since: datetime | None = None,
    ) -> list[DueTimer]:
        wanted = sorted(set(shards))
        if not wanted or limit <= 0:
            return []

        horizon_ms = floor_millis(horizon)
        skip: tuple[int, int] | None = None
        if known_through is not None and changed_since is not None:
            skip = (floor_millis(known_through), to_millis(changed_since))

        per_shard = await _gather(
            self._due_of_shard(shard, horizon_ms, limit, skip) for shard in wanted
        )
        found = [entry for entries in per_shard for entry in entries]
        found.sort(key=lambda due: (due.next_attempt_at, due.namespace, due.id))
        return found[:limit]

    async def _due_of_shard(
        self, shard: int, horizon_ms: int, limit: int, skip: tuple[int, int] | None
    ) -> list[DueTimer]:
        bucket_ms = self._due_bucket_ms
        start = self._frontiers.get(shard, _MIN_BIGINT)
        directory = [
            b
            for (b,) in await self._run(
                "due_buckets_upto", shard, horizon_ms // bucket_ms
            )
        ]
        taken: list[DueTimer] = []
        first_seen: int | None = None
        for bucket in directory:
            if (bucket + 1) * bucket_ms <= start:
                continue

            position: tuple[int, str, str] | None = None
            while len(taken) < limit:
                chunk = limit - len(taken)
                if position is None:
                    rows = await self._run(
                        "due_scan",
                        shard,
                        bucket,
                        max(start, bucket * bucket_ms),
                        horizon_ms,
                        chunk,
                    )
                else:
                    rows = await self._run(
                        "due_scan_after", shard, bucket, *position, horizon_ms, chunk
                    )

                for due_key, namespace, timer_id, version, next_ms, updated_ms in rows:
                    if first_seen is None:
                        first_seen = due_key

                    if next_ms > horizon_ms:
                        continue

                    if skip is not None and next_ms <= skip[0] and updated_ms < skip[1]:
                        continue

                    if len(self._due_rows) >= _MAX_REMEMBERED_ROWS:
                        # Entries fetched and never claimed (the runner let
                        # them go); a claim without its row only skips the
                        # tidying of a stale entry.
                        self._due_rows.clear()

                    self._due_rows[(namespace, timer_id, version)] = (
                        bucket,
                        due_key,
                        updated_ms,
                    )
                    taken.append(
                        DueTimer(
                            namespace, timer_id, version, from_millis(next_ms), shard
                        )
                    )

                if len(rows) < chunk:
                    break

                last = rows[-1]
                position = (last[0], last[1], last[2])

            if len(taken) >= limit:
                break

        await self._advance(shard, start, first_seen, horizon_ms, directory)
        return taken

    async def _advance(
        self,
        shard: int,
        start: int,
        first_seen: int | None,
        horizon_ms: int,
        directory: Sequence[int],
    ) -> None:
        # Nothing can appear behind the wall clock less the skew, and
        # nothing live was seen before first_seen: the next read may start
        # at the earlier of the two.
        reached = first_seen if first_seen is not None else horizon_ms + 1
        frontier = max(start, min(reached, self._wall_ms() - self._skew_ms))
        self._frontiers[shard] = frontier
        behind = frontier // self._due_bucket_ms
        if directory and directory[0] < behind:
            # Emptied buckets leave the directory, so that a process that
            # starts later does not read through them.
            await self._run("due_buckets_retire", shard, behind)

    async def claim_timers(self, due: Sequence[DueTimer]) -> list[Timer]:
        if not due:
            return []

        reads = await _gather(self._read(entry.namespace, entry.id) for entry in due)
        claimed: list[Timer] = []
        stale: list[Awaitable[Any]] = []
        for entry, read in zip(due, reads, strict=True):
            index_row = self._due_rows.pop(
                (entry.namespace, entry.id, entry.version), None
            )
            if read is not None:
                timer, due_key = read
                if (
                    timer.version == entry.version
                    and timer.status is TimerStatus.scheduled
                    and timer.next_attempt_at == entry.next_attempt_at
                ):
                    claimed.append(timer)
                    if len(self._claimed) >= _MAX_REMEMBERED_ROWS:
                        # Claims whose outcomes never came; an outcome
                        # without its claim reads the state again.
                        self._claimed.clear()

                    self._claimed[(timer.namespace, timer.id, timer.version)] = read
                    continue

                if index_row is not None and index_row[1] == due_key:
                    # The same row, rewritten for a newer version.
                    continue

            # A write puts its entry in before the timer's row: a create
            # whose row is not there yet, or a change whose row is still at
            # the version before, may be on its way. Deleting the entry now
            # would leave that state with nothing that makes it fire once
            # the row lands. The entry stays for the runner's next poll,
            # which reads it again (it is younger than the poll's change
            # margin); only an entry older than any write can take is an
            # orphan of a write that failed.
            under_way = index_row is not None and (
                index_row[2] >= self._wall_ms() - self._skew_ms
            )
            if under_way and (read is None or read[0].version < entry.version):
                continue

            if index_row is not None:
                bucket, key, _ = index_row
                stale.append(
                    self._run(
                        "due_delete",
                        entry.shard,
                        bucket,
                        key,
                        entry.namespace,
                        entry.id,
                    )
                )

        await _gather(stale)
        return claimed

    async def record_outcomes(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []

        epochs = await self._epochs()
        # Outcomes of one timer apply in order; different timers at once.
        by_key: dict[tuple[str, str], list[int]] = {}
        for position, outcome in enumerate(outcomes):
            by_key.setdefault(outcome.timer.key, []).append(position)

        applied = [False] * len(outcomes)

        async def apply_in_order(positions: list[int]) -> None:
            for position in positions:
                outcome = outcomes[position]
                if epochs.get(outcome.timer.shard) == outcome.epoch:
                    applied[position] = await self._apply_outcome(outcome)

        await _gather(apply_in_order(positions) for positions in by_key.values())
        return applied

    async def _apply_outcome(self, outcome: Outcome) -> bool:
        timer = outcome.timer
        # A version names one state, so the state claimed at the expected
        # version is the one the transaction below applies over; a newer
        # one makes it fail, and its entries are then tidied as usual.
        found = self._claimed.pop(
            (timer.namespace, timer.id, outcome.expected_version), None
        ) or await self._read(timer.namespace, timer.id, serial=True)
        if found is None or found[0].version != outcome.expected_version:
            return False

        old, old_due_key = found
        due_key = self._due_key(timer)
        await self._write_index(timer, due_key, old=old)
        if outcome.attempt.outcome is AttemptOutcome.rescheduled:
            row = timer_to_row(timer)
            del row["namespace"], row["id"]
            values = [*row.values(), due_key]
            statement = "timer_replace"
        else:
            values = [*state_of(timer).values(), due_key]
            statement = "timer_state"

        if not await self._applied(
            statement, *values, timer.namespace, timer.id, outcome.expected_version
        ):
            winner = await self._read(timer.namespace, timer.id, serial=True)
            await self._drop_index(timer, due_key, *(winner or (None, None)))
            return False

        attempt = attempt_to_row(timer.namespace, timer.id, outcome.attempt)
        work: list[Awaitable[Any]] = [
            self._drop_index(old, old_due_key, timer, due_key),
            self._run("attempt_put", *attempt.values()),
        ]
        if outcome.attempt.seq > ATTEMPTS_KEPT:
            work.append(
                self._run(
                    "attempts_trim",
                    timer.namespace,
                    timer.id,
                    outcome.attempt.seq - ATTEMPTS_KEPT,
                )
            )

        if old.status is not timer.status:
            work.append(self._recount(old, timer))

        await _gather(work)
        return True

    async def _epochs(self) -> dict[int, int]:
        rows = await self._run("leases_all_serial")
        return {shard: epoch for shard, _owner, epoch, _expires in rows}

    # -- leases -----------------------------------------------------------------

    async def heartbeat(
        self, runner_id: str, *, now: datetime, ttl: float
    ) -> list[str]:
        now_us = to_micros(now)
        expires_us = to_micros(now) + int(ttl * 1_000_000)
        await self._run("runner_put", runner_id, expires_us)
        live: list[str] = []
        expired: list[Awaitable[Any]] = []
        for other, expires_at, written in await self._run("runners_all"):
            if other == runner_id or expires_at > now_us:
                live.append(other)
            else:
                # Only the announcement read here: one the runner wrote
                # since has a later timestamp and stays.
                expired.append(self._run("runner_delete_at", written, other))

        await _gather(expired)
        if runner_id not in live:
            live.append(runner_id)

        return sorted(live)

    async def remove_runner(self, runner_id: str) -> None:
        await self._run("runner_delete", runner_id)

    async def list_leases(self) -> list[Lease]:
        rows = await self._run("leases_all_serial")
        return [
            Lease(shard, owner, epoch, from_micros(expires_at))
            for shard, owner, epoch, expires_at in rows
        ]

    async def acquire_leases(
        self, runner_id: str, shards: Collection[int], *, now: datetime, duration: float
    ) -> dict[int, int]:
        wanted = sorted(set(shards))
        if not wanted:
            return {}

        now_us = to_micros(now)
        expires_us = now_us + int(duration * 1_000_000)

        def plan(
            current: Mapping[int, tuple[str | None, int, int]],
        ) -> tuple[list[tuple[str, Sequence[Any]]], dict[int, int]]:
            writes: list[tuple[str, Sequence[Any]]] = []
            held: dict[int, int] = {}
            for shard in wanted:
                lease = current.get(shard)
                if lease is None:
                    writes.append(("lease_insert", (shard, runner_id, 1, expires_us)))
                    held[shard] = 1
                    continue

                owner, epoch, expires_at = lease
                if owner == runner_id and expires_at > now_us:
                    new_epoch = epoch
                elif owner is None or expires_at <= now_us:
                    new_epoch = epoch + 1
                else:
                    continue

                writes.append(
                    (
                        "lease_take",
                        (
                            runner_id,
                            new_epoch,
                            expires_us,
                            shard,
                            owner,
                            epoch,
                            expires_at,
                        ),
                    )
                )
                held[shard] = new_epoch

            return writes, held

        return await self._leases_cas(plan)

    async def _leases_cas(
        self,
        plan: Callable[
            [Mapping[int, tuple[str | None, int, int]]],
            tuple[list[tuple[str, Sequence[Any]]], dict[int, int]],
        ],
    ) -> dict[int, int]:
        """Read the leases, write what *plan* says in one conditional batch.

        The batch applies whole or not at all; when another runner's write
        came between the read and the batch, read and plan again.
        """
        for _ in range(_LEASE_TRIES):
            rows = await self._run("leases_all_serial")
            current = {
                shard: (owner, epoch, expires_at)
                for shard, owner, epoch, expires_at in rows
            }
            writes, result = plan(current)
            if not writes:
                return result

            answer = await self._batch(writes, kind=BatchType.LOGGED)
            if answer and answer[0][0]:
                return result

        raise StorageUnavailable(
            "shard leases kept changing under this runner; it tries again later"
        )

    async def renew_leases(
        self,
        runner_id: str,
        leases: Mapping[int, int],
        *,
        now: datetime,
        duration: float,
    ) -> dict[int, int]:
        if not leases:
            return {}

        now_us = to_micros(now)
        expires_us = now_us + int(duration * 1_000_000)

        def plan(
            current: Mapping[int, tuple[str | None, int, int]],
        ) -> tuple[list[tuple[str, Sequence[Any]]], dict[int, int]]:
            writes: list[tuple[str, Sequence[Any]]] = []
            renewed: dict[int, int] = {}
            for shard, epoch in sorted(leases.items()):
                lease = current.get(shard)
                if lease is None:
                    continue

                owner, stored_epoch, expires_at = lease
                if owner == runner_id and stored_epoch == epoch and expires_at > now_us:
                    writes.append(
                        (
                            "lease_take",
                            (
                                runner_id,
                                epoch,
                                expires_us,
                                shard,
                                owner,
                                epoch,
                                expires_at,
                            ),
                        )
                    )
                    renewed[shard] = epoch

            return writes, renewed

        return await self._leases_cas(plan)

    async def release_leases(self, runner_id: str, shards: Collection[int]) -> None:
        wanted = set(shards)
        if not wanted:
            return

        def plan(
            current: Mapping[int, tuple[str | None, int, int]],
        ) -> tuple[list[tuple[str, Sequence[Any]]], dict[int, int]]:
            writes: list[tuple[str, Sequence[Any]]] = [
                ("lease_release", (shard, runner_id))
                for shard in sorted(wanted)
                if shard in current and current[shard][0] == runner_id
            ]
            return writes, {}

        await self._leases_cas(plan)


# -- helpers ----------------------------------------------------------------------

_MIN_BIGINT = -(2**63)
_MAX_REMEMBERED_ROWS = 200_000
_MAX_BIGINT = 2**63 - 1
_STATUS_VALUES = {status.value for status in TimerStatus}


def _number(query: Mapping[str, str], name: str, kind: Callable[[str], T]) -> T | None:
    text = query.get(name)
    if text is None:
        return None

    try:
        return kind(text)
    except ValueError:
        raise ValueError(
            f"Cassandra URL option {name}={text!r} is not a number"
        ) from None


async def _gather(work: Any) -> list[Any]:
    """Await every awaitable of *work* at once; return their results in order."""
    tasks = list(work)
    if not tasks:
        return []

    return list(await asyncio.gather(*tasks))


def _leading(buckets: Sequence[int], emptied: Collection[int]) -> int | None:
    """The last bucket of the leading run of *buckets* that were all emptied."""
    last: int | None = None
    for bucket in buckets:
        if bucket not in emptied:
            break
        last = bucket

    return last


def _matches(timer: Timer, query: TimerQuery) -> bool:
    if query.statuses and timer.status not in query.statuses:
        return False

    return query.id_prefix is None or timer.id.startswith(query.id_prefix)


def _statements() -> dict[str, str]:
    """Every statement the store runs, by name; ``*_serial`` read at SERIAL."""
    timer_columns = ", ".join(TIMER_COLUMN_NAMES)
    marks = ", ".join("?" for _ in TIMER_COLUMN_NAMES)
    settable = [name for name in TIMER_COLUMN_NAMES if name not in ("namespace", "id")]
    assignments = ", ".join(f"{name} = ?" for name in settable)
    state_assignments = ", ".join(f"{name} = ?" for name in STATE_COLUMNS)
    attempt_columns = ", ".join(ATTEMPT_COLUMN_NAMES)
    attempt_marks = ", ".join("?" for _ in ATTEMPT_COLUMN_NAMES)
    read_attempts = ", ".join(ATTEMPT_COLUMN_NAMES[2:])
    get_timer = (
        f"SELECT {timer_columns}, due_key FROM timers WHERE namespace = ? AND id = ?"
    )
    return {
        "meta_get_serial": "SELECT value FROM store_meta WHERE key = ?",
        "meta_put": "INSERT INTO store_meta (key, value) VALUES (?, ?) IF NOT EXISTS",
        "timer_get": get_timer,
        "timer_get_serial": get_timer,
        "timer_insert": (
            f"INSERT INTO timers ({timer_columns}, due_key) VALUES ({marks}, ?) "
            "IF NOT EXISTS"
        ),
        "timer_replace": (
            f"UPDATE timers SET {assignments}, due_key = ? "
            "WHERE namespace = ? AND id = ? IF version = ?"
        ),
        "timer_state": (
            f"UPDATE timers SET {state_assignments}, due_key = ? "
            "WHERE namespace = ? AND id = ? IF version = ?"
        ),
        "timer_delete": (
            "DELETE FROM timers WHERE namespace = ? AND id = ? IF version = ?"
        ),
        "due_put": (
            "INSERT INTO due_timers (shard, bucket, due_key, namespace, id, version, "
            "next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        "due_delete": (
            "DELETE FROM due_timers WHERE shard = ? AND bucket = ? AND due_key = ? "
            "AND namespace = ? AND id = ?"
        ),
        "due_scan": (
            "SELECT due_key, namespace, id, version, next_attempt_at, updated_at "
            "FROM due_timers WHERE shard = ? AND bucket = ? AND due_key >= ? "
            "AND due_key <= ? LIMIT ?"
        ),
        "due_scan_after": (
            "SELECT due_key, namespace, id, version, next_attempt_at, updated_at "
            "FROM due_timers WHERE shard = ? AND bucket = ? "
            "AND (due_key, namespace, id) > (?, ?, ?) AND (due_key) <= (?) LIMIT ?"
        ),
        "due_bucket_put": "INSERT INTO due_buckets (shard, bucket) VALUES (?, ?)",
        "due_buckets_upto": (
            "SELECT bucket FROM due_buckets WHERE shard = ? AND bucket <= ?"
        ),
        "due_buckets_retire": "DELETE FROM due_buckets WHERE shard = ? AND bucket < ?",
        "listing_put": (
            "INSERT INTO timers_by_fire (namespace, day, part, fire_at, id) "
            "VALUES (?, ?, ?, ?, ?)"
        ),
        "listing_delete": (
            "DELETE FROM timers_by_fire WHERE namespace = ? AND day = ? AND part = ? "
            "AND fire_at = ? AND id = ?"
        ),
        "listing_scan_from": (
            "SELECT fire_at, id FROM timers_by_fire WHERE namespace = ? AND day = ? "
            "AND part = ? AND (fire_at, id) >= (?, ?) AND (fire_at) < (?) LIMIT ?"
        ),
        "listing_scan_after": (
            "SELECT fire_at, id FROM timers_by_fire WHERE namespace = ? AND day = ? "
            "AND part = ? AND (fire_at, id) > (?, ?) AND (fire_at) < (?) LIMIT ?"
        ),
        "day_put": "INSERT INTO namespace_days (namespace, day) VALUES (?, ?)",
        "days_between": (
            "SELECT day FROM namespace_days WHERE namespace = ? "
            "AND day >= ? AND day <= ?"
        ),
        "finished_put": (
            "INSERT INTO finished_timers (shard, bucket, updated_at, namespace, id, "
            "version, status, fire_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        "finished_delete": (
            "DELETE FROM finished_timers WHERE shard = ? AND bucket = ? "
            "AND updated_at = ? AND namespace = ? AND id = ?"
        ),
        "finished_scan": (
            "SELECT updated_at, namespace, id, version, status, fire_at "
            "FROM finished_timers WHERE shard = ? AND bucket = ? "
            "AND updated_at < ? LIMIT ?"
        ),
        "finished_bucket_put": (
            "INSERT INTO finished_buckets (shard, bucket) VALUES (?, ?)"
        ),
        "finished_buckets_upto": (
            "SELECT bucket FROM finished_buckets WHERE shard = ? AND bucket <= ?"
        ),
        "finished_buckets_retire": (
            "DELETE FROM finished_buckets WHERE shard = ? AND bucket < ?"
        ),
        "count_add": (
            "UPDATE namespace_counts SET timers = timers + ? "
            f"WHERE scope = '{_SCOPE_ALL}' AND namespace = ? AND status = ?"
        ),
        "counts_all": (
            "SELECT namespace, status, timers FROM namespace_counts "
            f"WHERE scope = '{_SCOPE_ALL}'"
        ),
        "attempt_put": (
            f"INSERT INTO timer_attempts ({attempt_columns}) VALUES ({attempt_marks})"
        ),
        "attempts_list": (
            f"SELECT {read_attempts} FROM timer_attempts "
            "WHERE namespace = ? AND timer_id = ? LIMIT ?"
        ),
        "attempts_trim": (
            "DELETE FROM timer_attempts WHERE namespace = ? AND timer_id = ? "
            "AND seq <= ?"
        ),
        "attempts_drop": (
            "DELETE FROM timer_attempts WHERE namespace = ? AND timer_id = ?"
        ),
        "leases_all_serial": (
            "SELECT shard, owner, epoch, expires_at FROM shard_leases "
            f"WHERE scope = '{_LEASES}'"
        ),
        "lease_insert": (
            "INSERT INTO shard_leases (scope, shard, owner, epoch, expires_at) "
            f"VALUES ('{_LEASES}', ?, ?, ?, ?) IF NOT EXISTS"
        ),
        "lease_take": (
            "UPDATE shard_leases SET owner = ?, epoch = ?, expires_at = ? "
            f"WHERE scope = '{_LEASES}' AND shard = ? "
            "IF owner = ? AND epoch = ? AND expires_at = ?"
        ),
        "lease_release": (
            f"UPDATE shard_leases SET owner = null WHERE scope = '{_LEASES}' "
            "AND shard = ? IF owner = ?"
        ),
        "runner_put": (
            "INSERT INTO runners (scope, runner_id, expires_at) "
            f"VALUES ('{_RUNNERS}', ?, ?)"
        ),
        "runners_all": (
            "SELECT runner_id, expires_at, WRITETIME(expires_at) FROM runners "
            f"WHERE scope = '{_RUNNERS}'"
        ),
        "runner_delete_at": (
            f"DELETE FROM runners USING TIMESTAMP ? WHERE scope = '{_RUNNERS}' "
            "AND runner_id = ?"
        ),
        "runner_delete": (
            f"DELETE FROM runners WHERE scope = '{_RUNNERS}' AND runner_id = ?"
        ),
    }
