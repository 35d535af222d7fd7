"""The tables of the SQL store, as SQLAlchemy Core sees them.

These objects build the queries; the migrations in :mod:`._migrations` create
the tables. The two must agree, and a test compares them column by column.

Times of timers and attempts are integer milliseconds since the Unix epoch
(:func:`timerkernel.to_millis`). Times of leases and runners are integer
microseconds: a runner's clock is not rounded to the millisecond, and a lease
must come back exactly as it was taken.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

TIMERS = sa.Table(
    "timers",
    metadata,
    sa.Column("namespace", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("shard", sa.Integer, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("fire_at", sa.BigInteger, nullable=False),
    sa.Column("next_attempt_at", sa.BigInteger),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("attempt_seq", sa.BigInteger, nullable=False),
    sa.Column("first_attempt_at", sa.BigInteger),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("executed_at", sa.BigInteger),
    sa.Column("initial_fire_at", sa.BigInteger),
    sa.Column("definition_digest", sa.Text, nullable=False),
    sa.Column("callback_url", sa.Text, nullable=False),
    sa.Column("callback_timeout", sa.Double, nullable=False),
    sa.Column("callback_headers", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("initial_interval", sa.Double, nullable=False),
    sa.Column("backoff_coefficient", sa.Double, nullable=False),
    sa.Column("max_interval", sa.Double, nullable=False),
    sa.Column("max_duration", sa.Double),
    sa.Column("error_at", sa.BigInteger),
    sa.Column("error_kind", sa.Text),
    sa.Column("error_message", sa.Text),
    sa.Column("error_status", sa.Integer),
)

ATTEMPTS = sa.Table(
    "timer_attempts",
    metadata,
    sa.Column("namespace", sa.Text, primary_key=True),
    sa.Column("timer_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("fire_at", sa.BigInteger, nullable=False),
    sa.Column("started_at", sa.BigInteger, nullable=False),
    sa.Column("duration_ms", sa.BigInteger, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error_at", sa.BigInteger),
    sa.Column("error_kind", sa.Text),
    sa.Column("error_message", sa.Text),
    sa.Column("error_status", sa.Integer),
)

LEASES = sa.Table(
    "shard_leases",
    metadata,
    sa.Column("shard", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("owner", sa.Text),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
)

RUNNERS = sa.Table(
    "runners",
    metadata,
    sa.Column("runner_id", sa.Text, primary_key=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
)

STORE_META = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# Written by the migration runner itself, so it is not part of any migration.
SCHEMA_VERSION = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at", sa.BigInteger, nullable=False),
)

TIMER_COLUMNS = tuple(TIMERS.c)
"""Every column of ``timers``, in the order :func:`._rows.timer_from_row` reads."""

ATTEMPT_COLUMNS = tuple(ATTEMPTS.c)
"""Every column of ``timer_attempts``, in the order ``attempt_from_row`` reads."""
