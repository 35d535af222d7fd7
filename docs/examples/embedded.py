"""Timers inside your own program: no server, no HTTP.

The kernel runs on a SQLite file, and its runner runs in this program's own
anyio task group. Timers fire an async function here instead of a URL.
Run it with ``python docs/examples/embedded.py``.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import anyio

from timerbackends import create_store
from timerkernel import (
    Callback,
    FunctionDispatcher,
    Kernel,
    Rescheduled,
    Runner,
    RunnerSettings,
    Timer,
    TimerPatch,
    TimerSpec,
)


async def main(database: Path) -> list[str]:
    """Create, change and cancel timers, and return what fired, in order."""
    fired: list[str] = []
    all_done = anyio.Event()

    async def on_fire(timer: Timer, attempt: int) -> Rescheduled | None:
        fired.append(f"{timer.id}:{timer.payload}")
        if timer.id == "heartbeat" and timer.payload < 2:
            # Answering with a new fire time makes a recurring timer.
            return Rescheduled(
                fire_at=timer.fire_at + timedelta(seconds=0.2),
                payload=timer.payload + 1,
            )

        if len(fired) == 4:
            all_done.set()

        return None

    kernel = Kernel(create_store(f"sqlite:///{database}"))
    await kernel.initialize()
    runner = Runner(
        kernel,
        FunctionDispatcher(on_fire),
        settings=RunnerSettings(poll_interval_seconds=0.1),
    )

    # The URL is kept with the timer; FunctionDispatcher does not use it.
    callback = Callback(url="http://localhost/unused")
    async with anyio.create_task_group() as task_group:
        await task_group.start(runner.run)

        await kernel.create_timer(
            "demo",
            TimerSpec(
                id="reminder", callback=callback, delay_seconds=1.0, payload="hi"
            ),
        )
        await kernel.create_timer(
            "demo",
            TimerSpec(id="heartbeat", callback=callback, delay_seconds=0.1, payload=0),
        )
        await kernel.create_timer(
            "demo",
            TimerSpec(
                id="cancelled", callback=callback, delay_seconds=0.2, payload="no"
            ),
        )
        await kernel.update_timer("demo", "reminder", TimerPatch(payload="hello"))
        await kernel.delete_timer("demo", "cancelled")

        with anyio.fail_after(10):
            await all_done.wait()

        runner.stop()

    await kernel.close()
    return fired


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        for line in anyio.run(main, Path(folder) / "timers.db"):
            print(line)

    sys.exit(0)
