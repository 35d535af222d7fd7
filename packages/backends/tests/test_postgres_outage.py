"""The PostgreSQL store across an outage: it fails fast, then recovers by itself.

These tests stop and start a server of their own, so that the session's
server stays up for the other tests.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from backend_support import NAMESPACE, SHARDS, at, failed_outcome, make_timer
from postgres_support import require_postgres
from timerbackends.sql import SQLAlchemyStore
from timerbackends.testing.postgres import PostgresServer
from timerkernel import StorageUnavailable, TimerQuery

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    require_postgres()
    server = PostgresServer(tmp_path_factory.mktemp("postgres-outage"))
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
async def outage_store(
    own_server: PostgresServer, request: pytest.FixtureRequest
) -> AsyncIterator[SQLAlchemyStore]:
    name = f"outage_{request.node.name.split('[')[0][5:45]}"
    own_server.drop_database(name)
    store = SQLAlchemyStore(own_server.create_database(name))
    await store.initialize(shard_count=SHARDS)
    try:
        yield store
    finally:
        # Whatever the test did, the server is up for the next one.
        own_server.start()
        await store.close()


def store_calls(store: SQLAlchemyStore) -> list[Callable[[], Awaitable[Any]]]:
    return [
        lambda: store.get_timer(NAMESPACE, "kept"),
        lambda: store.insert_timers([make_timer("refused")]),
        lambda: store.list_timers(NAMESPACE, TimerQuery()),
        lambda: store.fetch_due(range(SHARDS), horizon=at(10**6), limit=10),
        lambda: store.acquire_leases("r", [1], now=at(0), duration=10),
        lambda: store.record_outcomes([failed_outcome(make_timer("kept"), epoch=1)]),
        lambda: store.heartbeat("r", now=at(0), ttl=10),
    ]


async def test_calls_fail_as_unavailable_while_down_and_work_after(
    own_server: PostgresServer, outage_store: SQLAlchemyStore
) -> None:
    kept = make_timer("kept")
    await outage_store.insert_timers([kept])
    own_server.stop()

    for call in store_calls(outage_store):
        started = time.monotonic()
        with anyio.fail_after(10), pytest.raises(StorageUnavailable):
            await call()

        assert time.monotonic() - started < 5

    own_server.start()

    # The same store, not a new one: its dead connections are replaced.
    assert await outage_store.get_timer(NAMESPACE, "kept") == kept
    assert await outage_store.insert_timers([make_timer("after")]) == [None]
    assert await outage_store.acquire_leases("r", [1], now=at(0), duration=10) == {1: 1}
    await outage_store.ping()


async def test_a_restart_between_calls_goes_unnoticed(
    own_server: PostgresServer, outage_store: SQLAlchemyStore
) -> None:
    kept = make_timer("kept")
    await outage_store.insert_timers([kept])
    await outage_store.get_timer(NAMESPACE, "kept")

    own_server.restart()

    assert await outage_store.get_timer(NAMESPACE, "kept") == kept
    assert await outage_store.insert_timers([make_timer("after")]) == [None]


async def test_a_restart_between_runner_reads_goes_unnoticed(
    own_server: PostgresServer, outage_store: SQLAlchemyStore
) -> None:
    # The runner's reads go to the driver's own fetch, past SQLAlchemy's
    # handling of lost connections: they must recover the same way.
    await outage_store.insert_timers([make_timer(f"t{n}") for n in range(20)])
    shards = range(SHARDS)

    async def read_as_a_runner() -> int:
        due = await outage_store.fetch_due(shards, horizon=at(10**6), limit=100)
        return len(await outage_store.claim_timers(due))

    # Several at once, so that the pool holds several connections to lose.
    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(read_as_a_runner)

    own_server.restart()

    for _ in range(3):
        assert await read_as_a_runner() == 20


async def test_ping_fails_fast_while_down(
    own_server: PostgresServer, outage_store: SQLAlchemyStore
) -> None:
    await outage_store.ping()
    own_server.stop()

    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await outage_store.ping()

    assert time.monotonic() - started < 2.5


async def test_ping_is_bounded_when_the_server_does_not_answer(
    own_server: PostgresServer, outage_store: SQLAlchemyStore
) -> None:
    await outage_store.ping()
    pids = [
        int(pid)
        for (pid,) in own_server.execute(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND pid <> pg_backend_pid()",
            database="postgres",
        )
        if pid is not None
    ]
    assert own_server._process is not None
    frozen = [own_server._process.pid, *pids]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)

    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="did not answer"):
            await outage_store.ping()

        elapsed = time.monotonic() - started
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)

    assert 1.5 < elapsed < 3
    # The connection abandoned mid-query is not handed out again.
    with anyio.fail_after(10):
        await outage_store.ping()
        assert await outage_store.get_timer(NAMESPACE, "x") is None


async def test_initialising_while_down_is_unavailable_then_works(
    own_server: PostgresServer, tmp_path: Path
) -> None:
    own_server.drop_database("outage_init")
    url = own_server.create_database("outage_init")
    own_server.stop()
    store = SQLAlchemyStore(url)
    try:
        with anyio.fail_after(10), pytest.raises(StorageUnavailable):
            await store.initialize(shard_count=4)

        own_server.start()
        assert await store.initialize(shard_count=4) == 4
    finally:
        own_server.start()
        await store.close()
