"""The procrastinate peer of the benchmark: a worker, or a client that defers.

    python bench/peer_procrastinate.py worker --url URL [--concurrency 16]
    python bench/peer_procrastinate.py client --url URL [--apply-schema]

``worker`` runs one procrastinate worker until SIGTERM (a graceful stop) or
SIGKILL. ``client`` reads commands from stdin, one JSON object a line, defers
the jobs they describe, and answers each with one JSON line on stdout
(``bench/peers.py`` drives both). Both use the psycopg 3 connector.

A job is the task ``deliver``, deferred with ``schedule_at``; it POSTs one
callback body to the benchmark's receiver through one ``aiohttp.ClientSession``
that the worker shares among its jobs (keep-alive connections). In
``bench/http_clients.py``, aiohttp costs about the CPU per request of our
own dispatcher (159 and 170 µs), where httpx's ``AsyncClient`` costs some
3,000 µs; only pyreqwest, a less common choice, was cheaper. The worker's
fetch loop, not the client, bounds its rate.

The worker's configuration, and why:

- ``concurrency=16``: the jobs are async and wait on the network, so several
  run at once; a worker still fetches one job per query, in turn, which
  bounds its rate whatever the concurrency (4, 16 and 64 measured alike).
- ``fetch_job_polling_interval=0.1``: a job deferred for later sends no
  notification when it falls due, so a worker finds it only by polling;
  at the default of 5 s, lateness would be up to 5 s by construction.
- ``listen_notify=False``: the notification comes when a job is inserted,
  so for jobs due later it only wakes the worker for a fetch that finds
  nothing due, after walking the pending jobs. Polling finds them anyway.
- ``update_heartbeat_interval=1`` and a recovery loop that, every second,
  retries the jobs of workers silent for 5 s (``get_stalled_jobs`` and
  ``retry_job``, the recipe of procrastinate's documentation, run more
  often than its example): without it, the jobs a killed worker had taken
  stay ``doing`` forever, and are lost.
- ``delete_jobs`` keeps its default (``never``), which costs the same query.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import procrastinate
from procrastinate.job_context import JobContext
from procrastinate.jobs import Job
from procrastinate.tasks import Task

from driven import answer_commands

logger = logging.getLogger(__name__)

#: Seconds a delivery may take before it counts as failed.
DELIVERY_TIMEOUT = 10.0
#: Jobs per call of the batch defer API.
BATCH = 1000
#: Concurrent callers of the batch defer API, as run.py's batch creates.
BATCH_CONCURRENCY = 4
#: Seconds without a heartbeat after which a worker's jobs are retried.
STALLED_AFTER = 5.0

DeliverTask = Task[Any, Any, Any]


async def deliver(
    context: JobContext, url: str, namespace: str, timer_id: str, fire_at: str
) -> None:
    """POST one callback body to *url* with the worker's shared session."""
    session: aiohttp.ClientSession = context.additional_context["session"]
    body = json.dumps(
        {
            "namespace": namespace,
            "id": timer_id,
            "fire_at": fire_at,
            "attempt": context.job.attempts + 1,
            "payload": {"order": timer_id, "amount": 42},
        }
    )
    async with session.post(
        url, data=body, headers={"Content-Type": "application/json"}
    ) as answer:
        await answer.read()
        if answer.status != 200:
            raise RuntimeError(f"the receiver answered {answer.status}")


def make_app(url: str, pool_size: int) -> tuple[procrastinate.App, DeliverTask]:
    """Return an app on the database at *url*, and its task ``deliver``."""
    connector = procrastinate.PsycopgConnector(
        conninfo=url, min_size=pool_size, max_size=pool_size
    )
    app = procrastinate.App(connector=connector)
    task: DeliverTask = app.task(name="deliver", pass_context=True)(deliver)
    return app, task


# -- the worker ---------------------------------------------------------------


async def retry_stalled_jobs(app: procrastinate.App) -> None:
    """Every second, put back the jobs of workers that stopped beating."""
    while True:
        await asyncio.sleep(1.0)
        try:
            stalled = await app.job_manager.get_stalled_jobs(
                seconds_since_heartbeat=STALLED_AFTER
            )
            for job in stalled:
                await app.job_manager.retry_job(job)
        except Exception:
            logger.exception("retrying stalled jobs failed; trying again")


async def run_worker(
    url: str, concurrency: int, poll: float, listen_notify: bool
) -> None:
    app, _ = make_app(url, pool_size=concurrency + 4)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        app.open_async(),
    ):
        recovery = asyncio.create_task(retry_stalled_jobs(app))
        print(json.dumps({"ready": True}), flush=True)
        try:
            await app.run_worker_async(
                concurrency=concurrency,
                fetch_job_polling_interval=poll,
                listen_notify=listen_notify,
                update_heartbeat_interval=1.0,
                stalled_worker_timeout=STALLED_AFTER,
                additional_context={"session": session},
            )
        finally:
            recovery.cancel()


# -- the client -----------------------------------------------------------------


def _moment(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def _iso(unix: float) -> str:
    text = _moment(unix).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class Client:
    """Defers the jobs that the driver's commands describe."""

    def __init__(self, app: procrastinate.App, task: DeliverTask) -> None:
        self.app = app
        self.task = task

    def _kwargs(self, prefix: str, index: int, due: float, url: str) -> dict[str, Any]:
        return {
            "url": url,
            "namespace": prefix.rstrip("-"),
            "timer_id": f"{prefix}{index}",
            "fire_at": _iso(due),
        }

    async def defer_single(
        self,
        prefix: str,
        count: int,
        first: float,
        spacing: float,
        url: str,
        concurrency: int,
    ) -> None:
        """Defer one job per call from *concurrency* tasks."""

        async def defer_stripe(offset: int) -> None:
            for index in range(offset, count, concurrency):
                due = first + index * spacing
                deferrer = self.task.configure(schedule_at=_moment(due))
                await deferrer.defer_async(**self._kwargs(prefix, index, due, url))

        await asyncio.gather(*(defer_stripe(offset) for offset in range(concurrency)))

    async def defer_batches(
        self, prefix: str, count: int, first: float, spacing: float, url: str
    ) -> None:
        """Defer jobs a thousand per query, from BATCH_CONCURRENCY tasks.

        Jobs due at one instant go through ``batch_defer_async``, whose jobs
        share one ``schedule_at``; jobs due at different times go through
        the job manager's ``batch_defer_jobs_async``, one job object each.
        """
        starts = iter(range(0, count, BATCH))

        async def defer_some() -> None:
            for start in starts:
                indexes = range(start, min(count, start + BATCH))
                if spacing == 0:
                    deferrer = self.task.configure(schedule_at=_moment(first))
                    await deferrer.batch_defer_async(
                        *(self._kwargs(prefix, i, first, url) for i in indexes)
                    )
                    continue

                jobs: list[Job] = []
                for index in indexes:
                    due = first + index * spacing
                    deferrer = self.task.configure(schedule_at=_moment(due))
                    jobs.append(
                        deferrer.make_new_job(**self._kwargs(prefix, index, due, url))
                    )

                await self.app.job_manager.batch_defer_jobs_async(jobs)

        await asyncio.gather(*(defer_some() for _ in range(BATCH_CONCURRENCY)))

    async def answer(self, command: dict[str, Any]) -> dict[str, Any]:
        operation = command.pop("op")
        if operation != "create":
            raise ValueError(f"unknown command {operation!r}")

        mode = command.pop("mode")
        started = time.perf_counter()
        if mode == "single":
            await self.defer_single(**command)
        elif mode == "batch":
            command.pop("concurrency", None)
            await self.defer_batches(**command)
        else:
            raise ValueError(f"unknown mode {mode!r}")

        return {"seconds": time.perf_counter() - started, "finished_at": time.time()}


async def run_client(url: str, pool_size: int, apply_schema: bool) -> None:
    app, task = make_app(url, pool_size=pool_size)
    async with app.open_async():
        if apply_schema:
            await app.schema_manager.apply_schema_async()

        client = Client(app, task)
        print(json.dumps({"ready": True}), flush=True)
        await answer_commands(client.answer)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run a worker until SIGTERM")
    worker.add_argument("--url", required=True)
    worker.add_argument("--concurrency", type=int, default=16)
    worker.add_argument("--poll", type=float, default=0.1)
    worker.add_argument(
        "--listen-notify", action=argparse.BooleanOptionalAction, default=False
    )
    client = commands.add_parser("client", help="defer jobs on commands")
    client.add_argument("--url", required=True)
    client.add_argument("--pool", type=int, default=16)
    client.add_argument("--apply-schema", action="store_true")
    arguments = parser.parse_args()

    if arguments.command == "worker":
        asyncio.run(
            run_worker(
                arguments.url,
                arguments.concurrency,
                arguments.poll,
                arguments.listen_notify,
            )
        )
    else:
        asyncio.run(run_client(arguments.url, arguments.pool, arguments.apply_schema))

    return 0


if __name__ == "__main__":
    # Run as the module ``peer_procrastinate`` rather than ``__main__``:
    # procrastinate warns about an app made in the main module, whose tasks
    # a worker started elsewhere could not import.
    import peer_procrastinate

    sys.exit(peer_procrastinate.main())
