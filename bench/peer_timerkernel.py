"""Our service embedded, as a program runs it: timerkernel in one process.

    python bench/peer_timerkernel.py --store PATH

A :class:`~timerkernel.Kernel` on the SQLite store at PATH and a
:class:`~timerkernel.Runner` with the :class:`~timerkernel.http.HttpDispatcher`,
both in this process on one uvloop event loop, with the settings of
``timerserver serve``. It answers the commands of
``bench/peer_apscheduler.py`` (one JSON object a line on stdin, one answer a
line on stdout), so that ``bench/peers.py`` measures it as it measures the
peers: the same workload, the same receiver, in-process creates as
APScheduler's ``add_job`` are. It exits at the end of stdin. Started again on
the same file (after a SIGKILL, say), it fires whatever the file still holds.

Creates build :class:`~timerkernel.TimerSpec` values and call
``create_timer`` (single, from concurrent tasks) or ``create_timers``
(batches of 1,000, four at once); the kernel validates the timer id and
namespace as the server would, and the runner posts each callback with the
service's own body and headers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from driven import answer_commands
from timerbackends import create_store
from timerkernel import (
    Callback,
    Kernel,
    Runner,
    TimerEvent,
    TimerEventKind,
    TimerQuery,
    TimerSpec,
    TimerStatus,
)
from timerkernel.http import HttpDispatcher

#: Timers per ``create_timers`` call, and how many calls run at once: as
#: ``bench/run.py`` sends its batch creates.
BATCH = 1000
BATCH_CONCURRENCY = 4
#: Deletes under way at once when the pending timers are cleared.
CLEAR_CONCURRENCY = 64


def _namespace(prefix: str) -> str:
    # "burst-" holds the timers "burst-0", "burst-1", ...
    return prefix.rstrip("-").lower()


class Peer:
    """The kernel, its runner, and the commands they answer."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        #: When the last delivery of each namespace finished (Unix seconds).
        self.last_finished: dict[str, float] = {}
        self.delivered: defaultdict[str, int] = defaultdict(int)
        kernel.add_listener(self._count)

    def _count(self, event: TimerEvent) -> None:
        if event.kind in (TimerEventKind.delivered, TimerEventKind.failed):
            namespace = event.timer.namespace
            self.last_finished[namespace] = time.time()
            self.delivered[namespace] += 1

    async def create(
        self,
        prefix: str,
        count: int,
        first: float,
        spacing: float,
        url: str,
        mode: str,
        concurrency: int,
    ) -> dict[str, float]:
        """Create timer *i* ``{prefix}{i}``, due at ``first + i * spacing``."""
        namespace = _namespace(prefix)
        callback = Callback(url)
        specs = [
            TimerSpec(
                id=f"{prefix}{index}",
                callback=callback,
                fire_at=datetime.fromtimestamp(first + index * spacing, UTC),
                payload={"order": f"{prefix}{index}", "amount": 42},
            )
            for index in range(count)
        ]
        started = time.perf_counter()
        if mode == "single":
            await self._create_single(namespace, specs, max(1, concurrency))
        else:
            await self._create_batches(namespace, specs)

        return {
            "seconds": time.perf_counter() - started,
            "finished_at": time.time(),
        }

    async def _create_single(
        self, namespace: str, specs: list[TimerSpec], concurrency: int
    ) -> None:
        async def stripe(offset: int) -> None:
            for spec in specs[offset::concurrency]:
                await self.kernel.create_timer(namespace, spec)

        async with anyio.create_task_group() as group:
            for offset in range(concurrency):
                group.start_soon(stripe, offset)

    async def _create_batches(self, namespace: str, specs: list[TimerSpec]) -> None:
        chunks = [specs[start : start + BATCH] for start in range(0, len(specs), BATCH)]

        async def lane(offset: int) -> None:
            for chunk in chunks[offset::BATCH_CONCURRENCY]:
                for result in await self.kernel.create_timers(namespace, chunk):
                    if isinstance(result, Exception):
                        raise result

        async with anyio.create_task_group() as group:
            for offset in range(BATCH_CONCURRENCY):
                group.start_soon(lane, offset)

    async def status(self, prefix: str) -> dict[str, Any]:
        """Count the scheduled timers of *prefix*: stored, or being delivered.

        A timer stays scheduled until the outcome of its delivery is
        written, so none is finished before it counts no more.
        """
        namespace = _namespace(prefix)
        scheduled = 0
        for found in await self.kernel.count_timers():
            if found.name == namespace:
                scheduled = found.counts.get(TimerStatus.scheduled, 0)

        return {
            "stored": scheduled,
            "running": 0,
            "executed": self.delivered[namespace],
            "last_finished": self.last_finished.get(namespace),
        }

    async def clear(self, prefixes: list[str]) -> dict[str, Any]:
        """Delete the scheduled timers of *prefixes*."""
        for prefix in prefixes:
            namespace = _namespace(prefix)
            query = TimerQuery(statuses=frozenset({TimerStatus.scheduled}), limit=1000)
            while True:
                page = await self.kernel.list_timers(namespace, query)
                if not page.timers:
                    break

                ids = [timer.id for timer in page.timers]
                async with anyio.create_task_group() as group:
                    for offset in range(CLEAR_CONCURRENCY):
                        group.start_soon(
                            self._delete, namespace, ids[offset::CLEAR_CONCURRENCY]
                        )

        return {}

    async def _delete(self, namespace: str, ids: list[str]) -> None:
        for timer_id in ids:
            await self.kernel.delete_timer(namespace, timer_id)

    async def answer(self, command: dict[str, Any]) -> dict[str, Any]:
        operation = command.pop("op")
        if operation == "create":
            # APScheduler's driver names its concurrency "threads".
            threads = command.pop("threads", None)
            command.setdefault("mode", "single")
            command.setdefault("concurrency", threads or 1)
            return await self.create(**command)

        if operation == "status":
            return await self.status(**command)

        if operation == "clear":
            return await self.clear(command.get("prefixes", []))

        raise ValueError(f"unknown command {operation!r}")


async def serve(store_path: Path) -> None:
    kernel = Kernel(create_store(f"sqlite:///{store_path}"))
    await kernel.initialize()
    peer = Peer(kernel)
    runner = Runner(kernel, HttpDispatcher())
    async with anyio.create_task_group() as group:
        await group.start(runner.run)
        print(json.dumps({"ready": True}), flush=True)
        await answer_commands(peer.answer)
        runner.stop()

    await kernel.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    arguments = parser.parse_args()
    anyio.run(serve, arguments.store, backend_options={"use_uvloop": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
