"""The SQL the store runs: statements built once, and builders of the rest.

Everything here is written in SQL that SQLite and PostgreSQL both accept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from timerkernel import TimerQuery, to_millis

from .._rows import STATE_COLUMNS, floor_millis
from ._schema import ATTEMPT_COLUMNS, ATTEMPTS, TIMER_COLUMNS, TIMERS

# Written into the SQL rather than bound: SQLite uses a partial index only
# if the query's WHERE visibly implies the index's, which a parameter hides.
SCHEDULED: sa.ColumnClause[str] = sa.literal_column("'scheduled'", sa.Text())


@attrs.frozen
class DriverStatement:
    """A statement compiled once for one database, run through its driver.

    Run with many rows, this skips SQLAlchemy's processing of each row's
    parameters, most of the cost of a batch of small writes. The values
    must be what the driver takes as they are: the store's rows hold only
    integers, floats, text and None, which need no conversion.
    """

    sql: str
    names: tuple[str, ...]
    #: Whether the driver takes parameters by position (SQLite, asyncpg)
    #: rather than by name (psycopg).
    positional: bool

    @classmethod
    def compile(cls, statement: sa.Executable, dialect: sa.Dialect) -> DriverStatement:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        if compiled.positional:
            names = tuple(compiled.positiontup or ())
        else:
            names = tuple(compiled.bind_names.values())

        return cls(str(compiled), names, compiled.positional)

    def parameters(
        self, values: Mapping[str, Any]
    ) -> Sequence[Any] | Mapping[str, Any]:
        """Return *values*, by name, as the driver takes them."""
        if self.positional:
            return tuple([values[name] for name in self.names])

        return values

    def parameters_in_order(
        self, values: Sequence[Any]
    ) -> Sequence[Any] | Mapping[str, Any]:
        """Return *values*, given in the order of the names, for the driver."""
        if self.positional:
            return values

        return dict(zip(self.names, values, strict=True))


# Statements run often are built once, with named parameters.

# Keeps the newest attempts of a timer: deletes those older than the
# (keep + 1)th newest, and nothing while there are fewer.
TRIM_ATTEMPTS = sa.text(
    """
    DELETE FROM timer_attempts
    WHERE namespace = :namespace AND timer_id = :timer_id AND seq < (
        SELECT seq FROM timer_attempts
        WHERE namespace = :namespace AND timer_id = :timer_id
        ORDER BY seq DESC
        LIMIT 1 OFFSET :keep
    )
    """
)

UPDATE_TIMER = sa.update(TIMERS).where(
    TIMERS.c.namespace == sa.bindparam("key_namespace"),
    TIMERS.c.id == sa.bindparam("key_id"),
    TIMERS.c.version == sa.bindparam("expected_version"),
)

UPDATE_TIMER_STATE = (
    sa.update(TIMERS)
    .where(
        TIMERS.c.namespace == sa.bindparam("key_namespace"),
        TIMERS.c.id == sa.bindparam("key_id"),
        TIMERS.c.version == sa.bindparam("expected_version"),
    )
    .values({name: sa.bindparam(name) for name in STATE_COLUMNS})
)

GET_TIMER = sa.select(*TIMER_COLUMNS).where(
    TIMERS.c.namespace == sa.bindparam("key_namespace"),
    TIMERS.c.id == sa.bindparam("key_id"),
)

LIST_ATTEMPTS = (
    sa.select(*ATTEMPT_COLUMNS)
    .where(
        ATTEMPTS.c.namespace == sa.bindparam("key_namespace"),
        ATTEMPTS.c.timer_id == sa.bindparam("key_id"),
    )
    .order_by(ATTEMPTS.c.seq.desc())
    .limit(sa.bindparam("limit"))
)

DELETE_ATTEMPTS_OF = sa.delete(ATTEMPTS).where(
    ATTEMPTS.c.namespace == sa.bindparam("key_namespace"),
    ATTEMPTS.c.timer_id == sa.bindparam("key_id"),
)

DELETE_TIMER_BY_KEY = sa.delete(TIMERS).where(
    TIMERS.c.namespace == sa.bindparam("key_namespace"),
    TIMERS.c.id == sa.bindparam("key_id"),
)


def due_statement(
    shards: Sequence[int],
    *,
    horizon_ms: int,
    limit: int,
    ordered_arms: bool = False,
    known_ms: int | None = None,
    since_ms: int | None = None,
) -> sa.Select[Any] | sa.CompoundSelect[Any]:
    """Return the query for the timers of *shards* due by *horizon_ms*.

    With *known_ms* and *since_ms*, those due by *known_ms* come back only
    if updated at or after *since_ms*. That test needs the table row, not
    just the due index, but only for the timers the caller already holds
    (typically the backlog of a busy runner); the rest of the range is
    still read from the index alone.

    One arm per shard, each an ordered range of the due index, merged in
    order and cut at *limit*. The database reads the arms lazily (SQLite's
    merge of a UNION ALL, PostgreSQL's Merge Append), so the cost is a seek
    per shard plus the rows returned, however many timers are due.
    (``shard IN (...)`` would read and sort every due entry of every shard.)

    With *ordered_arms*, each arm carries the ORDER BY and LIMIT itself.
    PostgreSQL needs that: it flattens a UNION ALL of plain arms into one
    list of scans whose ``shard = ...`` conditions it then cannot use to
    see the index order, so it would read and sort everything due; arms of
    their own are planned alone, as ordered index scans that stop early.
    """
    changed: list[sa.ColumnElement[bool]] = []
    if known_ms is not None and since_ms is not None:
        changed.append(
            sa.or_(
                TIMERS.c.next_attempt_at > known_ms,
                TIMERS.c.updated_at >= since_ms,
            )
        )

    arms = [
        sa.select(
            TIMERS.c.namespace,
            TIMERS.c.id,
            TIMERS.c.version,
            TIMERS.c.next_attempt_at,
            TIMERS.c.shard,
        ).where(
            TIMERS.c.status == SCHEDULED,
            TIMERS.c.shard == shard,
            TIMERS.c.next_attempt_at <= horizon_ms,
            *changed,
        )
        for shard in shards
    ]
    if ordered_arms and len(arms) > 1:
        arms = [
            arm.order_by(
                TIMERS.c.next_attempt_at, TIMERS.c.namespace, TIMERS.c.id
            ).limit(limit)
            for arm in arms
        ]

    merged = arms[0] if len(arms) == 1 else sa.union_all(*arms)
    columns = merged.selected_columns
    return merged.order_by(
        columns.next_attempt_at, columns.namespace, columns.id
    ).limit(limit)


def list_conditions(query: TimerQuery) -> Iterator[sa.ColumnElement[bool]]:
    # Stored times are whole milliseconds: "at or after t" is "at or after t
    # rounded up", and so is "before t" for "before t rounded up".
    if query.statuses:
        yield TIMERS.c.status.in_(sorted(status.value for status in query.statuses))

    if query.fire_after is not None:
        yield TIMERS.c.fire_at >= to_millis(query.fire_after)

    if query.fire_before is not None:
        yield TIMERS.c.fire_at < to_millis(query.fire_before)

    if query.id_prefix:
        # substr, not LIKE: SQLite's LIKE ignores the case of ASCII letters.
        prefix = query.id_prefix
        yield sa.func.substr(TIMERS.c.id, 1, len(prefix)) == prefix

    if query.after is not None:
        after_time, after_id = query.after
        after_ms = to_millis(after_time)
        if after_ms == floor_millis(after_time):
            yield sa.tuple_(TIMERS.c.fire_at, TIMERS.c.id) > sa.tuple_(
                sa.literal(after_ms), sa.literal(after_id)
            )
        else:
            # Between two milliseconds no stored time equals it.
            yield TIMERS.c.fire_at >= after_ms


def select_by_ids(
    columns: Sequence[sa.ColumnElement[Any]], count: int
) -> sa.Select[Any]:
    """Return the query for *columns* of the timers of one namespace, by id.

    Its parameters are ``namespace`` and then ``id_0`` to ``id_<count-1>``.
    """
    return sa.select(*columns).where(
        TIMERS.c.namespace == sa.bindparam("namespace"),
        TIMERS.c.id.in_([sa.bindparam(f"id_{index}") for index in range(count)]),
    )


def select_by_key_arrays(
    columns: Sequence[sa.ColumnElement[Any]], *, lock: bool = False
) -> sa.Select[Any]:
    """Return PostgreSQL's query for *columns* of the timers at given keys.

    With *lock*, each row is locked FOR UPDATE as it is probed, in the
    order of the arrays.

    Its parameters are ``namespaces`` and ``ids``, two arrays of text of
    one length, any length. Each key is its own probe of the primary key:
    the LIMIT keeps the planner from turning the lateral subquery into a
    plain join, which it would plan from statistics. Those lag behind a
    burst of creates (autovacuum analyses a table about once a minute),
    and with none it took a namespace for a few hundred rows and read all
    of it for every claim: 35 ms for 500 timers among 55,000, not 2 ms.
    """
    keys = (
        sa.func.unnest(
            sa.bindparam("namespaces", type_=sa.ARRAY(sa.Text)),
            sa.bindparam("ids", type_=sa.ARRAY(sa.Text)),
        )
        .table_valued("namespace", "id")
        .render_derived(name="keys")
    )
    one_key = (
        sa.select(*columns)
        .where(TIMERS.c.namespace == keys.c.namespace, TIMERS.c.id == keys.c.id)
        .limit(sa.literal_column("1", sa.Integer))
    )
    if lock:
        one_key = one_key.with_for_update()

    probe = one_key.lateral("probe")
    return sa.select(*probe.c).select_from(keys.join(probe, sa.true()))


#: A plain insert of one timer row, every column a parameter of its name.
INSERT_TIMER = sa.insert(TIMERS).values(
    {column.name: sa.bindparam(column.name) for column in TIMERS.c}
)


#: PostgreSQL's insert of many timers sent as one JSON array of rows.
#:
#: The database turns the JSON back into rows of the table's own type, so
#: the client encodes a batch once (orjson, about a microsecond a row)
#: instead of binding a parameter per column per row; the parsing happens
#: in the database server's process. ``ON CONFLICT DO NOTHING ...
#: RETURNING`` names exactly the rows inserted, atomically.
INSERT_TIMERS_FROM_JSON = sa.text(
    "INSERT INTO timers SELECT * FROM json_populate_recordset("
    "NULL::timers, CAST(:rows AS json)) "
    "ON CONFLICT (namespace, id) DO NOTHING RETURNING namespace, id"
)


def keys_match(keys: Iterable[tuple[str, str]]) -> sa.ColumnElement[bool]:
    # Grouped by namespace, so that each group is one index range with an
    # IN list; SQLite turns (namespace, id) IN (VALUES ...) into a scan.
    by_namespace: dict[str, list[str]] = {}
    for namespace, timer_id in keys:
        by_namespace.setdefault(namespace, []).append(timer_id)

    return sa.or_(
        *(
            sa.and_(TIMERS.c.namespace == namespace, TIMERS.c.id.in_(ids))
            for namespace, ids in by_namespace.items()
        )
    )
