"""A backup of a SQLite or PostgreSQL store restores every timer, and they fire.

Each test runs a store as a server would: a runner holds its shards, some
timers have been delivered and more are scheduled. The backup is taken
while the runner runs, as ``docs/backends.md`` says: SQLite's online backup
API (what the ``sqlite3`` shell's ``.backup`` calls), or ``pg_dump
--format=custom``. It is restored into a fresh database (the file put in
place; ``pg_restore``), and a new runner there must find every timer as it
was, take over the shards once the old runner's leases have run out, fire
every scheduled timer once and none of the delivered ones again.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from timerbackends.sql import SQLAlchemyStore
from timerbackends.testing.postgres import PostgresServer, ensure_postgres_bin
from timerkernel import (
    Attempt,
    Callback,
    FunctionDispatcher,
    Kernel,
    KernelSettings,
    Rescheduled,
    Runner,
    RunnerSettings,
    Timer,
    TimerQuery,
    TimerSpec,
    TimerStatus,
)

pytestmark = pytest.mark.anyio

NAMESPACE = "backups"
SHARDS = 4
DELIVERED = 5
SCHEDULED = 40
# Far enough ahead that the backup is taken before the first of them is due.
SCHEDULED_DELAY = 3.0
# Short leases, so that the restored store's runner takes over the shards of
# the runner that held them at the backup within seconds.
PACE = RunnerSettings(
    lookahead_seconds=1.0,
    poll_interval_seconds=0.1,
    lease_duration_seconds=1.5,
    heartbeat_interval_seconds=0.5,
)
WAIT = 45.0
COMMAND_TIMEOUT = 60.0
CALLBACK = Callback(url="http://127.0.0.1:9/not-called")

Backup = Callable[[], Awaitable[None]]


class Deliveries:
    """What a runner fired: timer ids in the order they fired."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._fired = anyio.Event()

    async def deliver(self, timer: Timer, attempt: int) -> Rescheduled | None:
        self.ids.append(timer.id)
        self._fired.set()
        return None

    async def wait_for(self, ids: set[str]) -> None:
        """Return once every one of *ids* has fired."""
        with anyio.fail_after(WAIT):
            while not ids <= set(self.ids):
                await self._fired.wait()
                self._fired = anyio.Event()


async def every_timer(kernel: Kernel) -> list[Timer]:
    page = await kernel.list_timers(NAMESPACE, TimerQuery(limit=1000))
    assert page.next_page_token is None
    return page.timers


async def attempts_of(kernel: Kernel, timers: list[Timer]) -> dict[str, list[Attempt]]:
    return {
        timer.id: await kernel.list_attempts(NAMESPACE, timer.id) for timer in timers
    }


async def wait_until_succeeded(kernel: Kernel, ids: set[str]) -> None:
    with anyio.fail_after(WAIT):
        while True:
            timers = await every_timer(kernel)
            done = {t.id for t in timers if t.status is TimerStatus.succeeded}
            if ids <= done:
                return

            await anyio.sleep(0.05)


def specs(prefix: str, count: int, delay: float) -> list[TimerSpec]:
    return [
        TimerSpec(
            id=f"{prefix}-{index:03d}",
            callback=CALLBACK,
            delay_seconds=delay,
            payload={"n": index},
        )
        for index in range(count)
    ]


async def run_and_back_up(
    store: SQLAlchemyStore, backup: Backup
) -> tuple[list[Timer], dict[str, list[Attempt]]]:
    """Fill *store* as a running server would, back it up, return what it held."""
    kernel = Kernel(store, settings=KernelSettings(shard_count=SHARDS))
    await kernel.initialize()
    deliveries = Deliveries()
    runner = Runner(
        kernel,
        FunctionDispatcher(deliveries.deliver),
        settings=PACE,
        runner_id="before-the-backup",
    )
    try:
        async with anyio.create_task_group() as task_group:
            await task_group.start(runner.run)

            # Delivered before the backup: these must not fire again.
            delivered = specs("delivered", DELIVERED, 0.0)
            await kernel.create_timers(NAMESPACE, delivered)
            await wait_until_succeeded(kernel, {spec.id for spec in delivered})

            # Still scheduled at the backup, with the runner holding the leases.
            await kernel.create_timers(
                NAMESPACE, specs("scheduled", SCHEDULED, SCHEDULED_DELAY)
            )
            held = await every_timer(kernel)
            attempts = await attempts_of(kernel, held)
            await backup()

            assert all(
                timer.status is TimerStatus.scheduled
                for timer in await every_timer(kernel)
                if timer.id.startswith("scheduled-")
            ), "the backup took longer than the scheduled timers' delay"
            runner.stop()
    finally:
        await kernel.close()

    return held, attempts


async def restore_check(
    store: SQLAlchemyStore, held: list[Timer], attempts: dict[str, list[Attempt]]
) -> None:
    """Open the restored *store*: every timer is there, and the due ones fire."""
    kernel = Kernel(store, settings=KernelSettings(shard_count=SHARDS))
    await kernel.initialize()
    deliveries = Deliveries()
    runner = Runner(
        kernel,
        FunctionDispatcher(deliveries.deliver),
        settings=PACE,
        runner_id="after-the-restore",
    )
    scheduled = {timer.id for timer in held if timer.status is TimerStatus.scheduled}
    try:
        restored = await every_timer(kernel)
        restored_attempts = await attempts_of(kernel, restored)

        async with anyio.create_task_group() as task_group:
            await task_group.start(runner.run)
            await deliveries.wait_for(scheduled)
            await wait_until_succeeded(kernel, scheduled)
            # A delivered timer fired again would show up within a few polls.
            await anyio.sleep(1.0)
            runner.stop()

        after = await every_timer(kernel)
    finally:
        await kernel.close()

    assert restored == held
    assert restored_attempts == attempts
    assert len(scheduled) == SCHEDULED
    assert sorted(deliveries.ids) == sorted(scheduled)
    assert {timer.id for timer in after} == {timer.id for timer in held}
    assert all(timer.status is TimerStatus.succeeded for timer in after)


def sqlite_online_backup(source: Path, target: Path) -> None:
    """Copy the live database *source* to *target* with SQLite's backup API."""
    with (
        contextlib.closing(sqlite3.connect(source)) as live,
        contextlib.closing(sqlite3.connect(target)) as copy,
    ):
        live.backup(copy)


def run(*command: str | Path) -> None:
    subprocess.run(
        [str(part) for part in command],
        check=True,
        capture_output=True,
        timeout=COMMAND_TIMEOUT,
    )


async def test_sqlite_online_backup_restores_every_timer_and_they_fire(
    tmp_path: Path,
) -> None:
    live = tmp_path / "live" / "timers.db"
    backup = tmp_path / "backup.db"
    restored = tmp_path / "restored" / "timers.db"
    live.parent.mkdir()
    restored.parent.mkdir()

    async def back_up() -> None:
        await anyio.to_thread.run_sync(sqlite_online_backup, live, backup)

    held, attempts = await run_and_back_up(
        SQLAlchemyStore(f"sqlite:///{live}"), back_up
    )
    # Restoring is putting the file in place while no server uses it.
    restored.write_bytes(backup.read_bytes())
    await restore_check(SQLAlchemyStore(f"sqlite:///{restored}"), held, attempts)


@pytest.mark.postgres
async def test_pg_dump_and_pg_restore_bring_back_every_timer_and_they_fire(
    postgres_url: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    binaries = ensure_postgres_bin()
    dump = tmp_path / "timers.dump"
    restored = f"restored_{uuid.uuid4().hex[:12]}"

    async def back_up() -> None:
        await anyio.to_thread.run_sync(
            lambda: run(
                binaries / "pg_dump",
                "--format=custom",
                "--file",
                dump,
                "--dbname",
                postgres_url,
            )
        )

    held, attempts = await run_and_back_up(SQLAlchemyStore(postgres_url), back_up)
    restored_url = postgres_server.create_database(restored)
    try:
        run(binaries / "pg_restore", "--no-owner", "--dbname", restored_url, dump)
        await restore_check(SQLAlchemyStore(restored_url), held, attempts)
    finally:
        postgres_server.drop_database(restored)
