"""Helpers of the PostgreSQL tests: raw SQL beside the store, and plans."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from timerbackends.sql import SQLAlchemyStore
from timerbackends.testing.postgres import PostgresNotFound, ensure_postgres_bin


def require_postgres() -> None:
    """Skip the test if PostgreSQL cannot be had; on CI, fail it instead."""
    try:
        ensure_postgres_bin()
    except PostgresNotFound as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is needed on CI: {exc}")

        pytest.skip(f"PostgreSQL is not available: {exc}")


@contextmanager
def statements_run(store: SQLAlchemyStore) -> Iterator[list[tuple[str, Any]]]:
    """Collect the SQL and parameters that the store's readers send to the driver.

    Both ways: through SQLAlchemy, and the plain reads that go to asyncpg's
    own fetch (``SQLAlchemyStore._fetch``).
    """
    seen: list[tuple[str, Any]] = []
    engine = store._engines.readers

    def before(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any
    ) -> None:
        seen.append((statement, parameters))

    fetch = store._fetch

    async def fetch_and_note(
        connection: AsyncConnection, sql: str, values: Sequence[Any]
    ) -> Sequence[Sequence[Any]]:
        seen.append((sql, tuple(values)))
        return await fetch(connection, sql, values)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    store._fetch = fetch_and_note  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        del store._fetch
        event.remove(engine.sync_engine, "before_cursor_execute", before)


def commits_of(store: SQLAlchemyStore) -> list[None]:
    """A list that grows by one at every commit of the store's writer."""
    commits: list[None] = []
    event.listen(
        store._engines.writer.sync_engine, "commit", lambda _conn: commits.append(None)
    )
    return commits


async def plan_of(
    connection: AsyncConnection, statement: str, parameters: Any
) -> dict[str, Any]:
    """The planner's plan of a statement as the driver was sent it."""
    rows = await connection.exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) {statement}", tuple(parameters)
    )
    document = rows.scalar_one()
    plan: dict[str, Any] = (
        json.loads(document) if isinstance(document, str) else document
    )[0]["Plan"]
    return plan


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of *plan*, depth first."""
    yield plan
    for child in plan.get("Plans", ()):
        yield from plan_nodes(child)


async def backend_pids(connection: AsyncConnection, database: str) -> list[int]:
    """The server processes of every session on *database* but this one."""
    rows = await connection.execute(
        sa.text(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = :database AND pid <> pg_backend_pid()"
        ),
        {"database": database},
    )
    return [int(pid) for (pid,) in rows]
