"""The SQL store: timers, attempts and leases in a database, via SQLAlchemy Core.

Reads run on a pool of reader connections. Every write goes through one
writer, which gathers the writes of concurrent callers into shared
transactions (see :mod:`._groupcommit`); on SQLite that writer is the one
connection allowed to write. On PostgreSQL other processes write at the same
time, so a write locks the rows its decisions rest on (see
:meth:`SQLAlchemyStore.record_outcomes`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import datetime, timedelta
from typing import Any, TypeVar

import anyio
import attrs
import orjson
import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncConnection

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
    TimerKernelError,
    TimerQuery,
    TimerStatus,
    VersionConflict,
    from_millis,
    to_millis,
)
from timerkernel.abc import Store

from .._rows import (
    attempt_from_row,
    attempt_to_row,
    changed_columns,
    floor_millis,
    from_micros,
    state_of,
    timer_from_row,
    timer_to_row,
    to_micros,
)
from ._dialects import dialect_for
from ._errors import translate, translated
from ._groupcommit import GroupCommit, Write
from ._migrations import MIGRATIONS, check, upgrade
from ._queries import (
    DELETE_ATTEMPTS_OF,
    DELETE_TIMER_BY_KEY,
    GET_TIMER,
    INSERT_TIMER,
    INSERT_TIMERS_FROM_JSON,
    LIST_ATTEMPTS,
    SCHEDULED,
    TRIM_ATTEMPTS,
    UPDATE_TIMER,
    UPDATE_TIMER_STATE,
    DriverStatement,
    due_statement,
    keys_match,
    list_conditions,
    select_by_ids,
    select_by_key_arrays,
)
from ._schema import (
    ATTEMPTS,
    LEASES,
    RUNNERS,
    STORE_META,
    TIMER_COLUMNS,
    TIMERS,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Attempts kept per timer; older ones are deleted as new ones are written.
ATTEMPTS_KEPT = 20

# Keys or shards per statement: far below every database's limit on bound
# parameters (999 in old SQLite builds).
_CHUNK = 400
# Keys per statement where they go as arrays: two parameters, any length.
_ARRAY_CHUNK = 5000

_TIMER_COLUMNS = tuple(TIMER_COLUMNS)
_KEY_COLUMNS = (TIMERS.c.namespace, TIMERS.c.id)

# SQLite allows 500 arms in a compound SELECT; the due query has one arm per
# shard and is split past this many.
_MAX_DUE_ARMS = 200

_SHARD_COUNT_KEY = "shard_count"

#: Seconds within which :meth:`SQLAlchemyStore.ping` answers, either way.
PING_TIMEOUT = 2.0

# Tries of a write transaction that a deadlock or serialisation failure
# between concurrent writers undid (PostgreSQL); the store then gives up.
_WRITE_TRIES = 3


class _InsertWrite(Write[list[Timer | None]]):
    """A call of ``insert_timers``; the batch merges all of them into one."""

    def __init__(
        self,
        apply: Callable[[AsyncConnection], Awaitable[list[Timer | None]]],
        timers: Sequence[Timer],
        rows: list[dict[str, Any]],
    ) -> None:
        super().__init__(apply)
        self.timers = timers
        self.rows = rows


class SQLAlchemyStore(Store):
    """A :class:`~timerkernel.abc.Store` in a SQL database: SQLite or PostgreSQL.

    - ``sqlite:///path/to/timers.db``: SQLite through aiosqlite, in WAL mode,
      with one writing connection and a pool of read-only ones.
    - ``postgresql://user:password@host:port/database`` (or ``postgres://``):
      PostgreSQL through asyncpg (``postgresql+psycopg://`` picks psycopg 3
      instead, if installed). The URL's query may carry the driver's
      connection options (``?ssl=require``). Reads use a pool of autocommit
      connections; writes use one connection more, in READ COMMITTED
      transactions. Connections that died (the server restarted) are
      replaced by themselves: no call needs a new store.

    Call :meth:`initialize` before anything else.

    :param url: a SQLAlchemy database URL.
    :param pool_size: connections kept open for reads: 4 by default on
        SQLite, 5 on PostgreSQL. Writes use one connection more.
    :param max_overflow: connections for reads opened beyond *pool_size*
        when every pooled one is busy, closed again when returned: 0 by
        default on SQLite, 5 on PostgreSQL. A store holds at most
        ``pool_size + max_overflow + 1`` connections, which bounds what
        many processes need of PostgreSQL's ``max_connections``.
    :param pool_timeout: seconds a call waits for a free connection before
        it fails with :class:`~timerkernel.StorageUnavailable`.
    :param busy_timeout: seconds to wait for a lock held by another
        connection or process before the call fails with
        :class:`~timerkernel.StorageUnavailable` (SQLite's busy timeout,
        PostgreSQL's ``lock_timeout``).
    :param max_batch: the most concurrent writes gathered into one
        transaction.
    :raises ValueError: if *url* is malformed or names an unsupported
        database or driver, or an option is out of range.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int | None = None,
        max_overflow: int | None = None,
        pool_timeout: float = 10.0,
        busy_timeout: float = 5.0,
        max_batch: int = 256,
    ) -> None:
        if pool_size is not None and pool_size < 1:
            raise ValueError("pool_size must be at least 1")

        if max_overflow is not None and max_overflow < 0:
            raise ValueError("max_overflow must not be negative")

        if pool_timeout <= 0:
            raise ValueError("pool_timeout must be positive")

        if busy_timeout < 0:
            raise ValueError("busy_timeout must not be negative")

        try:
            parsed = sa.make_url(url)
        except sqlalchemy.exc.ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from None

        self._dialect = dialect_for(parsed)
        self._engines = self._dialect.create_engines(
            parsed,
            pool_size=pool_size or self._dialect.default_pool_size,
            max_overflow=(
                self._dialect.default_max_overflow
                if max_overflow is None
                else max_overflow
            ),
            pool_timeout=pool_timeout,
            busy_timeout=busy_timeout,
        )
        self._committer = GroupCommit(self._write_batch, max_batch=max_batch)
        self._migrations = MIGRATIONS
        self._open = False

        insert = self._dialect.insert
        attempt_insert = insert(ATTEMPTS)
        self._upsert_attempt = attempt_insert.on_conflict_do_update(
            index_elements=[ATTEMPTS.c.namespace, ATTEMPTS.c.timer_id, ATTEMPTS.c.seq],
            set_={
                column.name: attempt_insert.excluded[column.name]
                for column in ATTEMPTS.c
                if not column.primary_key
            },
        )
        driver_dialect = self._engines.writer.dialect
        self._by_ids: dict[tuple[Any, int], DriverStatement] = {}
        self._by_arrays: dict[tuple[Any, ...], DriverStatement] = {}
        self._versions_by_arrays: DriverStatement | None = None
        if self._dialect.reads_keys_by_array:
            self._versions_by_arrays = DriverStatement.compile(
                select_by_key_arrays(
                    (TIMERS.c.namespace, TIMERS.c.id, TIMERS.c.version),
                    lock=self._dialect.locks_rows,
                ),
                driver_dialect,
            )
        self._insert_timer = DriverStatement.compile(INSERT_TIMER, driver_dialect)
        self._insert_timers_json = DriverStatement.compile(
            INSERT_TIMERS_FROM_JSON, driver_dialect
        )
        self._update_state = DriverStatement.compile(UPDATE_TIMER_STATE, driver_dialect)
        self._upsert_attempt_rows = DriverStatement.compile(
            self._upsert_attempt, driver_dialect
        )
        runner_insert = insert(RUNNERS)
        self._upsert_runner = runner_insert.on_conflict_do_update(
            index_elements=[RUNNERS.c.runner_id],
            set_={"expires_at": runner_insert.excluded.expires_at},
        )
        self._insert_meta = insert(STORE_META).on_conflict_do_nothing(
            index_elements=[STORE_META.c.key]
        )

    # -- lifecycle ------------------------------------------------------------

    async def initialize(self, *, shard_count: int, migrate: bool = True) -> int:
        writer = self._engines.writer
        with translated(self._dialect):
            await self._dialect.check_server(self._engines)
            if migrate:
                await upgrade(writer, self._dialect, self._migrations)
            else:
                await check(writer, self._migrations)

            async with writer.begin() as connection:
                await connection.execute(
                    self._insert_meta.values(
                        key=_SHARD_COUNT_KEY, value=str(shard_count)
                    )
                )
                recorded = await connection.scalar(
                    sa.select(STORE_META.c.value).where(
                        STORE_META.c.key == _SHARD_COUNT_KEY
                    )
                )

        if recorded is None:
            raise StorageError("the store's shard count is missing")

        self._open = True
        return int(recorded)

    async def close(self) -> None:
        self._open = False
        with translated(self._dialect):
            await self._engines.writer.dispose()
            if self._engines.readers is not self._engines.writer:
                await self._engines.readers.dispose()

    async def ping(self) -> None:
        if not self._open:
            raise StorageUnavailable("the store is not open")

        async def select_one(connection: AsyncConnection) -> None:
            await connection.exec_driver_sql("SELECT 1")

        # Bounded, so that a server that accepts connections but does not
        # answer (stopped, or behind a dead network) turns readiness red
        # quickly rather than when the driver gives up.
        try:
            with anyio.fail_after(PING_TIMEOUT):
                await self._read(select_one)
        except TimeoutError:
            raise StorageUnavailable(
                f"the database did not answer within {PING_TIMEOUT:g} s"
            ) from None
        except StorageUnavailable:
            raise
        except StorageError as exc:
            raise StorageUnavailable(f"the database does not answer: {exc}") from exc

    # -- plumbing -------------------------------------------------------------

    def _require_open(self) -> None:
        if not self._open:
            raise StorageError("the store is not initialised, or was closed")

    # PostgreSQL's text cannot hold NUL, so no stored key has one: a read
    # that names one is answered here, as the database would if it could.
    def _never_stored(self, *texts: str) -> bool:
        return not self._dialect.text_holds_nul and any("\x00" in t for t in texts)

    def _storable(self, row: dict[str, Any]) -> dict[str, Any]:
        """Return *row* as the database can hold it.

        Error messages are the one text a store is given unchecked: they
        quote what callback targets answered. Where text cannot hold NUL,
        it is written as U+FFFD there, so that an outcome is not refused
        for good; every other text was validated before it got here.
        """
        message = row.get("error_message")
        if (
            not self._dialect.text_holds_nul
            and isinstance(message, str)
            and "\x00" in message
        ):
            return {**row, "error_message": message.replace("\x00", "\ufffd")}

        return row

    async def _read(self, read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        self._require_open()
        with translated(self._dialect):
            try:
                async with self._engines.readers.connect() as connection:
                    return await read(connection)
            except _LostConnection:
                pass
            except sqlalchemy.exc.DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise

                # The pool kept a connection that died meanwhile (the server
                # restarted); it has now dropped all of that age, and a read
                # is safe to repeat once on a fresh one.
                logger.debug(
                    "read failed on a dead connection; trying again",
                    extra={"action": "reconnect"},
                )

            async with self._engines.readers.connect() as connection:
                return await read(connection)

    async def _fetch(
        self, connection: AsyncConnection, sql: str, values: Sequence[Any]
    ) -> Sequence[Sequence[Any]]:
        """Return the rows of *sql*, a plain read, through the driver's own fetch.

        For dialects that fetch through the driver, with *values* by
        position. Only for reads outside a write transaction: SQLAlchemy's
        adapter begins a transaction at its own first statement, which this
        passes by.
        """
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        try:
            rows: Sequence[Sequence[Any]] = await driver.fetch(sql, *values)
        except self._dialect.driver_errors as exc:
            if not self._dialect.is_unavailable(exc):
                raise

            # SQLAlchemy cannot see what happened past it, so this does what
            # it does on a lost connection: drop this connection, and mark
            # every one made before it to be replaced when next taken from
            # the pool (the server restarted, most likely, and took all of
            # them). Then the read may run once more on a fresh one.
            await connection.invalidate(exc)
            pool = connection.sync_engine.pool
            pool._invalidate(raw, exc, _checkin=False)
            raise _LostConnection(f"the database connection was lost: {exc}") from exc

        return rows

    async def _rows(
        self, statement: sa.Executable, parameters: Mapping[str, Any] | None = None
    ) -> Sequence[Sequence[Any]]:
        async def read(connection: AsyncConnection) -> Sequence[Sequence[Any]]:
            return (await connection.execute(statement, parameters)).all()

        return await self._read(read)

    async def _write(self, apply: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        self._require_open()
        return await self._committer.submit(Write(apply))

    async def _write_batch(self, batch: Sequence[Write[Any]]) -> None:
        """Write *batch* in one transaction and finish each of its writes."""
        try:
            outcomes = await self._transaction_retried(batch)
        except Exception as exc:
            if len(batch) > 1 and not self._dialect.is_unavailable(exc):
                # One write may be to blame; alone, only it fails.
                logger.debug(
                    "batch of %d writes failed; writing each alone",
                    len(batch),
                    extra={"action": "group_commit"},
                )
                for write in batch:
                    await self._write_batch([write])

                return

            for write in batch:
                self._fail(write, exc)

            return

        for write, (result, error) in zip(batch, outcomes, strict=True):
            if error is None:
                write.succeed(result)
            else:
                write.fail(error)

        logger.debug(
            "committed %d writes in one transaction",
            len(batch),
            extra={"action": "group_commit"},
        )

    def _fail(self, write: Write[Any], exc: Exception) -> None:
        if isinstance(exc, self._dialect.driver_errors):
            write.fail(translate(exc, self._dialect), cause=exc)
        else:
            write.fail(exc)

    async def _transaction_retried(
        self, batch: Sequence[Write[Any]]
    ) -> list[tuple[Any, BaseException | None]]:
        for attempt in range(1, _WRITE_TRIES + 1):
            try:
                return await self._transaction(batch)
            except Exception as exc:
                if attempt == _WRITE_TRIES or not self._dialect.is_retryable(exc):
                    raise

                # Another process's transaction locked the same rows in
                # another order; the database undid this one, which may
                # simply run again.
                logger.debug(
                    "write transaction undone by a conflict (%s); try %d",
                    exc,
                    attempt + 1,
                    extra={"action": "group_commit"},
                )

        raise AssertionError("unreachable")

    async def _transaction(
        self, batch: Sequence[Write[Any]]
    ) -> list[tuple[Any, BaseException | None]]:
        outcomes: dict[Write[Any], tuple[Any, BaseException | None]] = {}
        async with self._engines.writer.begin() as connection:
            inserts = [item for item in batch if isinstance(item, _InsertWrite)]
            if inserts:
                results = await self._insert_together(connection, inserts)
                for insert, result in zip(inserts, results, strict=True):
                    outcomes[insert] = (result, None)

            for write in batch:
                if write in outcomes:
                    continue

                try:
                    outcomes[write] = (await write.apply(connection), None)
                except StorageError:
                    raise
                except TimerKernelError as exc:
                    # Meant for its caller (a version conflict, say); the
                    # write changed nothing, so the batch goes on.
                    outcomes[write] = (None, exc)

        return [outcomes[write] for write in batch]

    async def _select_timers(
        self,
        connection: AsyncConnection,
        keys: Collection[tuple[str, str]],
        *,
        plain_read: bool = False,
    ) -> dict[tuple[str, str], Timer]:
        """Read the stored timers among *keys*.

        *plain_read* says that no write transaction is open on *connection*.
        """
        found: dict[tuple[str, str], Timer] = {}
        rows = self._rows_by_key(
            connection, _TIMER_COLUMNS, keys, plain_read=plain_read
        )
        async for row in rows:
            timer = timer_from_row(row)
            found[timer.key] = timer

        return found

    async def _rows_by_key(
        self,
        connection: AsyncConnection,
        columns: tuple[sa.ColumnElement[Any], ...],
        keys: Iterable[tuple[str, str]],
        *,
        plain_read: bool = False,
    ) -> AsyncIterator[Sequence[Any]]:
        """Yield *columns* of the stored timers among *keys*, in no order."""
        if self._dialect.reads_keys_by_array:
            statement = self._by_arrays.get(columns)
            if statement is None:
                statement = DriverStatement.compile(
                    select_by_key_arrays(columns), self._engines.writer.dialect
                )
                self._by_arrays[columns] = statement

            by_arrays = self._rows_by_key_arrays(
                connection, statement, keys, plain_read=plain_read
            )
            async for row in by_arrays:
                yield row

            return

        by_namespace: dict[str, list[str]] = {}
        for namespace, timer_id in keys:
            by_namespace.setdefault(namespace, []).append(timer_id)

        # One index range per namespace, with an IN list of ids; a statement
        # per list length, compiled once.
        for namespace, ids in by_namespace.items():
            for chunk in _chunks(ids, _CHUNK):
                statement = self._by_ids.get((columns, len(chunk)))
                if statement is None:
                    statement = DriverStatement.compile(
                        select_by_ids(columns, len(chunk)),
                        self._engines.writer.dialect,
                    )
                    self._by_ids[(columns, len(chunk))] = statement

                rows = await connection.exec_driver_sql(
                    statement.sql, statement.parameters_in_order((namespace, *chunk))
                )
                for row in rows:
                    yield row

    async def _rows_by_key_arrays(
        self,
        connection: AsyncConnection,
        statement: DriverStatement,
        keys: Iterable[tuple[str, str]],
        *,
        plain_read: bool = False,
    ) -> AsyncIterator[Sequence[Any]]:
        """Yield the rows of *statement* (``select_by_key_arrays``) for *keys*."""
        for chunk in _chunks(list(keys), _ARRAY_CHUNK):
            namespaces = [namespace for namespace, _ in chunk]
            ids = [timer_id for _, timer_id in chunk]
            rows: Iterable[Sequence[Any]]
            if plain_read and self._dialect.fetches_through_driver:
                rows = await self._fetch(connection, statement.sql, (namespaces, ids))
            else:
                rows = await connection.exec_driver_sql(
                    statement.sql, statement.parameters_in_order((namespaces, ids))
                )

            for row in rows:
                yield row

    # -- timers ---------------------------------------------------------------

    async def insert_timers(self, timers: Sequence[Timer]) -> list[Timer | None]:
        if not timers:
            return []

        self._require_open()
        rows = [self._storable(timer_to_row(timer)) for timer in timers]

        async def apply_alone(connection: AsyncConnection) -> list[Timer | None]:
            return (await self._insert_together(connection, [write]))[0]

        write = _InsertWrite(apply_alone, timers, rows)
        return await self._committer.submit(write)

    async def _insert_together(
        self, connection: AsyncConnection, writes: Sequence[_InsertWrite]
    ) -> list[list[Timer | None]]:
        # The first occurrence of a key in the batch is the one inserted;
        # a later caller naming the same key sees that one as existing, as
        # if it had come after.
        first: dict[tuple[str, str], tuple[int, int]] = {}
        rows: list[dict[str, Any]] = []
        for position, write in enumerate(writes):
            for index, timer in enumerate(write.timers):
                if timer.key not in first:
                    first[timer.key] = (position, index)
                    rows.append(write.rows[index])

        # In key order, so that two processes inserting overlapping batches
        # wait for each other's keys in the same order, never in a cycle.
        rows.sort(key=lambda row: (row["namespace"], row["id"]))

        inserted = await self._insert_new(connection, rows)
        taken = [key for key in first if key not in inserted]
        existing = await self._select_timers(connection, taken) if taken else {}

        results: list[list[Timer | None]] = []
        for position, write in enumerate(writes):
            answers: list[Timer | None] = []
            for index, timer in enumerate(write.timers):
                winner = first[timer.key]
                if timer.key in inserted:
                    if winner == (position, index):
                        answers.append(None)
                    else:
                        answers.append(writes[winner[0]].timers[winner[1]])
                elif timer.key in existing:
                    answers.append(existing[timer.key])
                else:
                    raise StorageError(
                        f"timer {timer.id!r} in {timer.namespace!r} was neither "
                        "inserted nor found"
                    )

            results.append(answers)

        return results

    async def _insert_new(
        self, connection: AsyncConnection, rows: Sequence[dict[str, Any]]
    ) -> set[tuple[str, str]]:
        """Insert the rows whose key is not stored yet; return their keys."""
        if self._dialect.locks_rows:
            # Other connections insert meanwhile. ON CONFLICT DO NOTHING with
            # RETURNING names exactly the rows inserted, atomically, so a key
            # taken by another connection is never reported as inserted.
            statement = self._insert_timers_json
            try:
                encoded = orjson.dumps(rows).decode()
            except TypeError:
                # An integer past 64 bits: the database says it is out of
                # range, as it would for any other statement.
                encoded = json.dumps(rows)
            result = await connection.exec_driver_sql(
                statement.sql, statement.parameters({"rows": encoded})
            )
            returned: Sequence[Sequence[Any]] = result.all()
            return {(namespace, timer_id) for namespace, timer_id in returned}

        # This connection holds the database's one write lock from the start
        # of the transaction (BEGIN IMMEDIATE), so a key found absent here
        # stays absent until the commit: a plain insert of the rest is safe.
        keys = [(row["namespace"], row["id"]) for row in rows]
        present = {
            (namespace, timer_id)
            async for namespace, timer_id in self._rows_by_key(
                connection, _KEY_COLUMNS, keys
            )
        }
        fresh = [row for row in rows if (row["namespace"], row["id"]) not in present]
        if fresh:
            insert = self._insert_timer
            await connection.exec_driver_sql(
                insert.sql, [insert.parameters(row) for row in fresh]
            )

        return {(row["namespace"], row["id"]) for row in fresh}

    async def get_timer(self, namespace: str, timer_id: str) -> Timer | None:
        if self._never_stored(namespace, timer_id):
            self._require_open()
            return None

        rows = await self._rows(
            GET_TIMER, {"key_namespace": namespace, "key_id": timer_id}
        )
        return timer_from_row(rows[0]) if rows else None

    async def replace_timer(self, timer: Timer, *, expected_version: int) -> bool:
        if self._never_stored(timer.namespace, timer.id):
            self._require_open()
            return False

        parameters = self._storable(_update_parameters(timer, expected_version))

        async def apply(connection: AsyncConnection) -> bool:
            result = await connection.execute(UPDATE_TIMER, parameters)
            return bool(result.rowcount == 1)

        return await self._write(apply)

    async def delete_timer(
        self, namespace: str, timer_id: str, *, expected_version: int | None = None
    ) -> Timer | None:
        if self._never_stored(namespace, timer_id):
            self._require_open()
            return None

        key = (TIMERS.c.namespace == namespace, TIMERS.c.id == timer_id)
        deletion = sa.delete(TIMERS).where(*key).returning(*TIMER_COLUMNS)
        if expected_version is not None:
            deletion = deletion.where(TIMERS.c.version == expected_version)

        async def apply(connection: AsyncConnection) -> Timer | None:
            row = (await connection.execute(deletion)).first()
            if row is None:
                if expected_version is None:
                    return None

                version = await connection.scalar(
                    sa.select(TIMERS.c.version).where(*key)
                )
                if version is None:
                    return None

                raise VersionConflict(namespace, timer_id, expected_version, version)

            await connection.execute(
                DELETE_ATTEMPTS_OF, {"key_namespace": namespace, "key_id": timer_id}
            )
            return timer_from_row(row)

        return await self._write(apply)

    async def list_timers(self, namespace: str, query: TimerQuery) -> list[Timer]:
        if self._never_stored(namespace, query.id_prefix or ""):
            self._require_open()
            return []

        if query.after is not None and self._never_stored(query.after[1]):
            # In bytewise order the stored ids after "a\0..." are exactly
            # those after "a", none of which has a NUL.
            after_time, after_id = query.after
            query = attrs.evolve(query, after=(after_time, after_id.split("\x00")[0]))

        statement = (
            sa.select(*TIMER_COLUMNS)
            .where(TIMERS.c.namespace == namespace, *list_conditions(query))
            .order_by(TIMERS.c.fire_at, TIMERS.c.id)
            .limit(query.limit)
        )
        return [timer_from_row(row) for row in await self._rows(statement)]

    async def count_timers(self) -> list[NamespaceCounts]:
        statement = sa.select(
            TIMERS.c.namespace, TIMERS.c.status, sa.func.count()
        ).group_by(TIMERS.c.namespace, TIMERS.c.status)
        counts: dict[str, dict[TimerStatus, int]] = {}
        for namespace, status, count in await self._rows(statement):
            by_status = counts.setdefault(namespace, dict.fromkeys(TimerStatus, 0))
            by_status[TimerStatus(status)] = count

        return [NamespaceCounts(name, counts[name]) for name in sorted(counts)]

    async def list_attempts(
        self, namespace: str, timer_id: str, *, limit: int
    ) -> list[Attempt]:
        if self._never_stored(namespace, timer_id):
            self._require_open()
            return []

        parameters = {"key_namespace": namespace, "key_id": timer_id, "limit": limit}
        rows = await self._rows(LIST_ATTEMPTS, parameters)
        return [attempt_from_row(row) for row in rows]

    async def purge_finished(self, *, before: datetime, limit: int) -> int:
        if limit <= 0:
            return 0

        # A stored time (whole milliseconds) is before *before* exactly
        # when it is before *before* rounded up.
        finding = (
            sa.select(TIMERS.c.namespace, TIMERS.c.id)
            .where(
                TIMERS.c.status != SCHEDULED, TIMERS.c.updated_at < to_millis(before)
            )
            .order_by(TIMERS.c.updated_at)
            .limit(limit)
        )
        if self._dialect.locks_rows:
            # Every runner process purges: each takes rows no other one is
            # deleting right now, so that they share the work and each
            # counts only what it deleted.
            finding = finding.with_for_update(skip_locked=True)

        async def apply(connection: AsyncConnection) -> int:
            keys = [
                {"key_namespace": namespace, "key_id": timer_id}
                for namespace, timer_id in await connection.execute(finding)
            ]
            if keys:
                await connection.execute(DELETE_ATTEMPTS_OF, keys)
                await connection.execute(DELETE_TIMER_BY_KEY, keys)

            return len(keys)

        return await self._write(apply)

    # -- the runner's side ----------------------------------------------------

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
        known_ms = since_ms = None
        if known_through is not None and changed_since is not None:
            known_ms = floor_millis(known_through)
            # Stored times are whole milliseconds: "at or after" rounds up.
            since_ms = to_millis(changed_since)

        async def read(connection: AsyncConnection) -> list[DueTimer]:
            found: list[DueTimer] = []
            for chunk in _chunks(wanted, _MAX_DUE_ARMS):
                statement = due_statement(
                    chunk,
                    horizon_ms=horizon_ms,
                    limit=limit,
                    ordered_arms=self._dialect.orders_due_arms,
                    known_ms=known_ms,
                    since_ms=since_ms,
                )
                rows = await self._run_read(connection, statement)
                found.extend(
                    DueTimer(namespace, timer_id, version, from_millis(due_at), shard)
                    for namespace, timer_id, version, due_at, shard in rows
                )

            return found

        found = await self._read(read)
        if len(wanted) > _MAX_DUE_ARMS:
            found.sort(key=lambda due: (due.next_attempt_at, due.namespace, due.id))
            del found[limit:]

        return found

    async def _run_read(
        self, connection: AsyncConnection, statement: sa.Executable
    ) -> Sequence[Sequence[Any]]:
        """Return the rows of *statement*, a plain read built with its values."""
        if not self._dialect.fetches_through_driver:
            return (await connection.execute(statement)).all()

        compiled = statement.compile(dialect=self._engines.readers.dialect)  # type: ignore[attr-defined]
        values = compiled.params
        positions = compiled.positiontup or ()
        return await self._fetch(
            connection, str(compiled), [values[name] for name in positions]
        )

    async def claim_timers(self, due: Sequence[DueTimer]) -> list[Timer]:
        due = [entry for entry in due if not self._never_stored(*entry.key)]
        if not due:
            return []

        # The claim is a plain read by primary key, without row locks. What
        # makes a timer one runner's is its shard's lease, and what keeps a
        # runner that lost it from writing is the epoch fence of
        # record_outcomes; a row lock could do neither, since it would end
        # with the claim, before the delivery. Runners never read each
        # other's shards, so claims do not contend and scale with runners.
        # SKIP LOCKED was tried and left out: a claim that skips a row
        # drops a due timer until the next poll, firing it late for
        # nothing more than a write of another timer in the same batch.
        async def read(connection: AsyncConnection) -> dict[tuple[str, str], Timer]:
            keys = {entry.key for entry in due}
            return await self._select_timers(connection, keys, plain_read=True)

        stored = await self._read(read)
        claimed: list[Timer] = []
        for entry in due:
            timer = stored.get(entry.key)
            if (
                timer is not None
                and timer.version == entry.version
                and timer.status is TimerStatus.scheduled
            ):
                claimed.append(timer)

        return claimed

    async def record_outcomes(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []

        # An outcome that reschedules may change the whole definition; any
        # other changes only the state columns, written by a narrower update.
        prepared = [self._prepare_outcome(outcome) for outcome in outcomes]

        async def apply(connection: AsyncConnection) -> list[bool]:
            # Both fences must hold from the moment they are checked until
            # commit. On SQLite the writer holds the database's write lock
            # for the whole transaction, which is enough. On PostgreSQL, at
            # READ COMMITTED, other processes write meanwhile, so the rows
            # are locked as they are read: the leases FOR SHARE, which makes
            # a takeover (an UPDATE of the epoch) wait until this commits,
            # so an outcome is only ever written while its epoch is current;
            # and the timers FOR UPDATE, which makes an update through the
            # API wait too, so the version checked is the one overwritten.
            # Leases first, then timers, each in key order, so that writers
            # in several processes lock in one order; the rare deadlock left
            # (a takeover in the same batch as outcomes) is undone by the
            # database and the batch runs again.
            epochs = await self._select_epochs(
                connection, {outcome.timer.shard for outcome in outcomes}
            )
            versions = await self._select_versions(
                connection, {outcome.timer.key for outcome in outcomes}
            )
            applied: list[bool] = []
            full_updates: list[Any] = []
            state_updates: list[Any] = []
            attempt_rows: list[Any] = []
            touched: dict[tuple[str, str], None] = {}
            for outcome, (full, update, attempt_row) in zip(
                outcomes, prepared, strict=True
            ):
                key = outcome.timer.key
                ok = (
                    versions.get(key) == outcome.expected_version
                    and epochs.get(outcome.timer.shard) == outcome.epoch
                )
                if ok:
                    # A later outcome of the same timer in this batch must
                    # expect the version this one writes.
                    versions[key] = outcome.timer.version
                    (full_updates if full else state_updates).append(update)

                    attempt_rows.append(attempt_row)
                    # Attempts are numbered from 1 and go with their timer
                    # when it is deleted, so up to the limit none is old.
                    if outcome.attempt.seq > ATTEMPTS_KEPT:
                        touched[key] = None

                applied.append(ok)

            # Every update's version was read and locked above, so each must
            # change exactly one row.
            if state_updates:
                result = await connection.exec_driver_sql(
                    self._update_state.sql, state_updates
                )
                _check_rowcount(result.rowcount, len(state_updates))

            if full_updates:
                result = await connection.execute(UPDATE_TIMER, full_updates)
                _check_rowcount(result.rowcount, len(full_updates))

            if attempt_rows:
                await connection.exec_driver_sql(
                    self._upsert_attempt_rows.sql, attempt_rows
                )

            if touched:
                await connection.execute(
                    TRIM_ATTEMPTS,
                    [
                        {
                            "namespace": namespace,
                            "timer_id": timer_id,
                            "keep": ATTEMPTS_KEPT - 1,
                        }
                        for namespace, timer_id in touched
                    ],
                )

            return applied

        return await self._write(apply)

    def _prepare_outcome(self, outcome: Outcome) -> tuple[bool, Any, Any]:
        """Return whether *outcome* rewrites the whole timer, and its parameters.

        An outcome that reschedules may change the whole definition; any
        other changes only the state columns, written by a narrower update
        through the driver.
        """
        timer = outcome.timer
        attempt = self._upsert_attempt_rows.parameters(
            self._storable(attempt_to_row(timer.namespace, timer.id, outcome.attempt))
        )
        if outcome.attempt.outcome is AttemptOutcome.rescheduled:
            full = self._storable(_update_parameters(timer, outcome.expected_version))
            return True, full, attempt

        state = self._storable(_state_parameters(timer, outcome.expected_version))
        return False, self._update_state.parameters(state), attempt

    async def _select_versions(
        self, connection: AsyncConnection, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        versions: dict[tuple[str, str], int] = {}
        wanted = sorted(key for key in keys if not self._never_stored(*key))
        by_arrays = self._versions_by_arrays
        if by_arrays is not None:
            # Locked as probed, in key order: writers in several processes
            # lock in one order.
            async for namespace, timer_id, version in self._rows_by_key_arrays(
                connection, by_arrays, wanted
            ):
                versions[(namespace, timer_id)] = version

            return versions

        for chunk in _chunks(wanted, _CHUNK):
            statement = sa.select(
                TIMERS.c.namespace, TIMERS.c.id, TIMERS.c.version
            ).where(keys_match(chunk))
            if self._dialect.locks_rows:
                statement = statement.order_by(
                    TIMERS.c.namespace, TIMERS.c.id
                ).with_for_update()

            for namespace, timer_id, version in await connection.execute(statement):
                versions[(namespace, timer_id)] = version

        return versions

    async def _select_epochs(
        self, connection: AsyncConnection, shards: Collection[int]
    ) -> dict[int, int]:
        epochs: dict[int, int] = {}
        for chunk in _chunks(sorted(shards), _CHUNK):
            statement = sa.select(LEASES.c.shard, LEASES.c.epoch).where(
                LEASES.c.shard.in_(chunk)
            )
            if self._dialect.locks_rows:
                statement = statement.order_by(LEASES.c.shard).with_for_update(
                    read=True
                )

            for shard, epoch in await connection.execute(statement):
                epochs[shard] = epoch

        return epochs

    # -- leases -----------------------------------------------------------------

    async def heartbeat(
        self, runner_id: str, *, now: datetime, ttl: float
    ) -> list[str]:
        now_us = to_micros(now)
        expires_us = to_micros(now + timedelta(seconds=ttl))

        async def apply(connection: AsyncConnection) -> list[str]:
            await connection.execute(
                self._upsert_runner.values(runner_id=runner_id, expires_at=expires_us)
            )
            await connection.execute(
                sa.delete(RUNNERS).where(RUNNERS.c.expires_at <= now_us)
            )
            live = await connection.scalars(sa.select(RUNNERS.c.runner_id))
            return sorted(live)

        return await self._write(apply)

    async def remove_runner(self, runner_id: str) -> None:
        async def apply(connection: AsyncConnection) -> None:
            await connection.execute(
                sa.delete(RUNNERS).where(RUNNERS.c.runner_id == runner_id)
            )

        await self._write(apply)

    async def list_leases(self) -> list[Lease]:
        statement = sa.select(
            LEASES.c.shard, LEASES.c.owner, LEASES.c.epoch, LEASES.c.expires_at
        ).order_by(LEASES.c.shard)
        return [
            Lease(shard, owner, epoch, from_micros(expires_at))
            for shard, owner, epoch, expires_at in await self._rows(statement)
        ]

    async def acquire_leases(
        self, runner_id: str, shards: Collection[int], *, now: datetime, duration: float
    ) -> dict[int, int]:
        wanted = sorted(set(shards))
        if not wanted:
            return {}

        now_us = sa.literal(to_micros(now), sa.BigInteger)
        expires_us = to_micros(now + timedelta(seconds=duration))

        async def apply(connection: AsyncConnection) -> dict[int, int]:
            held: dict[int, int] = {}
            for chunk in _chunks(wanted, _CHUNK):
                statement = self._dialect.insert(LEASES).values(
                    [
                        {
                            "shard": shard,
                            "owner": runner_id,
                            "epoch": 1,
                            "expires_at": expires_us,
                        }
                        for shard in chunk
                    ]
                )
                proposed = statement.excluded
                # One conditional upsert: a free, expired or own lease is
                # taken; a live lease of another runner is left alone. The
                # epoch stays only when the owner extends a live lease.
                statement = statement.on_conflict_do_update(
                    index_elements=[LEASES.c.shard],
                    set_={
                        "epoch": sa.case(
                            (
                                sa.and_(
                                    LEASES.c.owner == proposed.owner,
                                    LEASES.c.expires_at > now_us,
                                ),
                                LEASES.c.epoch,
                            ),
                            else_=LEASES.c.epoch + 1,
                        ),
                        "owner": proposed.owner,
                        "expires_at": proposed.expires_at,
                    },
                    where=sa.or_(
                        LEASES.c.owner.is_(None),
                        LEASES.c.expires_at <= now_us,
                        LEASES.c.owner == proposed.owner,
                    ),
                ).returning(LEASES.c.shard, LEASES.c.epoch)
                for shard, epoch in await connection.execute(statement):
                    held[shard] = epoch

            return held

        return await self._write(apply)

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
        expires_us = to_micros(now + timedelta(seconds=duration))
        pairs = sorted(leases.items())

        async def apply(connection: AsyncConnection) -> dict[int, int]:
            renewed: dict[int, int] = {}
            for chunk in _chunks(pairs, _CHUNK):
                statement = (
                    sa.update(LEASES)
                    .where(
                        LEASES.c.owner == runner_id,
                        LEASES.c.expires_at > now_us,
                        sa.or_(
                            *(
                                sa.and_(
                                    LEASES.c.shard == shard, LEASES.c.epoch == epoch
                                )
                                for shard, epoch in chunk
                            )
                        ),
                    )
                    .values(expires_at=expires_us)
                    .returning(LEASES.c.shard, LEASES.c.epoch)
                )
                for shard, epoch in await connection.execute(statement):
                    renewed[shard] = epoch

            return renewed

        return await self._write(apply)

    async def release_leases(self, runner_id: str, shards: Collection[int]) -> None:
        wanted = sorted(set(shards))
        if not wanted:
            return

        async def apply(connection: AsyncConnection) -> None:
            for chunk in _chunks(wanted, _CHUNK):
                await connection.execute(
                    sa.update(LEASES)
                    .where(LEASES.c.owner == runner_id, LEASES.c.shard.in_(chunk))
                    .values(owner=None)
                )

        await self._write(apply)


class _LostConnection(StorageUnavailable):
    """A read's connection was found dead; the read may run once more."""


def _state_parameters(timer: Timer, expected_version: int) -> dict[str, Any]:
    return {
        **state_of(timer),
        "key_namespace": timer.namespace,
        "key_id": timer.id,
        "expected_version": expected_version,
    }


def _check_rowcount(rowcount: int, expected: int) -> None:
    # Drivers that cannot count the rows of a batch report -1.
    if 0 <= rowcount != expected:
        raise StorageError(f"{rowcount} of {expected} fenced updates applied")


def _update_parameters(timer: Timer, expected_version: int) -> dict[str, Any]:
    return {
        **changed_columns(timer_to_row(timer)),
        "key_namespace": timer.namespace,
        "key_id": timer.id,
        "expected_version": expected_version,
    }


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
