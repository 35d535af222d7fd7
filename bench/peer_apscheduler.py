"""The APScheduler 3.x peer of the benchmark, run as a process of its own.

    python bench/peer_apscheduler.py --store PATH [--pool 10]

It runs a ``BackgroundScheduler`` on a ``SQLAlchemyJobStore`` over the SQLite
file PATH, then reads commands from stdin, one JSON object a line, and answers
each with one JSON line on stdout (``bench/peers.py`` drives it). It exits at
the end of stdin. Started again on the same file (after a SIGKILL, say), it
runs whatever the file still holds.

Each job is a ``date`` trigger whose function POSTs one callback body to the
benchmark's receiver over a keep-alive ``http.client.HTTPConnection`` of the
pool thread that runs it: the cheapest client for blocking jobs on threads.
The scheduler thread hands each due job to the pool, then deletes it from
the store, one commit a job: a kill between the two runs the job again after
the restart (a duplicate), and a kill while it waits in the pool loses it.

The configuration is the one a user after throughput would pick, and why:

- ``BackgroundScheduler`` with a ``ThreadPoolExecutor`` of 10 threads (the
  default size): a job blocks on one loopback round trip, so a few threads
  keep the receiver busy, and more only add contention for the GIL (4, 10
  and 32 threads measured within noise of each other, 32 the slowest). An
  ``AsyncIOScheduler`` with an aiohttp session delivered a burst no faster
  from its due instant to its last arrival: its scheduler loop deletes every
  due job from the store before any coroutine runs, so it only looks faster
  when the rate is counted from the first arrival.
- ``misfire_grace_time=None``: a job runs however late it is. With a grace
  time, a backlog past it (or the jobs due while the process was down) would
  be dropped as misfired, and counted here as lost.
- ``coalesce=False``: irrelevant for one-shot jobs, but explicit.
- SQLite in WAL mode with ``synchronous=NORMAL``, set on each connection of
  the store's engine: the same durability as our service's SQLite storage
  (committed work survives a killed process, not a power cut). With
  SQLite's defaults (a rollback journal, ``synchronous=FULL``), each add and
  each removal waits for an fsync: creation measured 4.5 times slower, and
  delivery 3.7 times (330 and 340 per second here).
- Jobs are added by textual reference (``peer_apscheduler:deliver``), as
  persistent stores need, and with their own ids, as our timers have.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import event, func, select

#: Seconds a delivery may take before it counts as failed.
DELIVERY_TIMEOUT = 10.0

_local = threading.local()


def deliver(url: str, namespace: str, timer_id: str, fire_at: str) -> None:
    """POST one callback body to *url* on this thread's keep-alive connection.

    The body has the fields of our service's callbacks. A failed request
    closes the connection (the next job opens another) and raises, which
    APScheduler logs as a job error.
    """
    parts = urlsplit(url)
    body = json.dumps(
        {
            "namespace": namespace,
            "id": timer_id,
            "fire_at": fire_at,
            "attempt": 1,
            "payload": {"order": timer_id, "amount": 42},
        }
    ).encode()
    connections: dict[str, http.client.HTTPConnection] = _local.__dict__.setdefault(
        "connections", {}
    )
    connection = connections.get(parts.netloc)
    if connection is None:
        connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=DELIVERY_TIMEOUT
        )
        connections[parts.netloc] = connection

    try:
        connection.request(
            "POST", parts.path, body, {"Content-Type": "application/json"}
        )
        answer = connection.getresponse()
        answer.read()
    except (OSError, http.client.HTTPException):
        connection.close()
        del connections[parts.netloc]
        raise

    if answer.status != 200:
        raise RuntimeError(f"the receiver answered {answer.status}")


def _tune_sqlite(connection: sqlite3.Connection, _record: object) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.close()


class Counters:
    """Outcomes of the jobs this process ran, from the scheduler's events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.executed = 0
        self.errors = 0
        self.missed = 0
        #: The time the last job of each prefix finished (Unix seconds).
        self.last_finished: dict[str, float] = {}

    def count(self, job_event: JobEvent) -> None:
        finished = time.time()
        with self._lock:
            self.last_finished[job_event.job_id.rstrip("0123456789")] = finished
            if job_event.code == EVENT_JOB_EXECUTED:
                self.executed += 1
            elif job_event.code == EVENT_JOB_ERROR:
                self.errors += 1
            else:
                self.missed += 1


class Peer:
    """The scheduler, its store and executor, and the commands they answer."""

    def __init__(self, store_path: Path, pool: int) -> None:
        self.store = SQLAlchemyJobStore(url=f"sqlite:///{store_path}")
        event.listen(self.store.engine, "connect", _tune_sqlite)
        self.executor = ThreadPoolExecutor(max_workers=pool)
        self.scheduler = BackgroundScheduler(
            jobstores={"default": self.store},
            executors={"default": self.executor},
            job_defaults={
                "coalesce": False,
                "misfire_grace_time": None,
                "max_instances": 1,
            },
            timezone=UTC,
        )
        self.counters = Counters()
        self.scheduler.add_listener(
            self.counters.count, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
        )

    def create(
        self,
        prefix: str,
        count: int,
        first: float,
        spacing: float,
        url: str,
        threads: int,
    ) -> dict[str, float]:
        """Add *count* jobs with ``add_job`` from *threads* threads.

        Job *i* is ``{prefix}{i}``, due at ``first + i * spacing`` (Unix
        seconds). Return the seconds it took and when it finished.
        """
        namespace = prefix.rstrip("-")
        failures: list[BaseException] = []

        def add_stripe(offset: int) -> None:
            try:
                for index in range(offset, count, threads):
                    due = first + index * spacing
                    timer_id = f"{prefix}{index}"
                    self.scheduler.add_job(
                        "peer_apscheduler:deliver",
                        trigger="date",
                        run_date=datetime.fromtimestamp(due, UTC),
                        args=[url, namespace, timer_id, _iso(due)],
                        id=timer_id,
                    )
            except BaseException as exc:
                failures.append(exc)
                raise

        workers = [
            threading.Thread(target=add_stripe, args=(offset,), daemon=True)
            for offset in range(threads)
        ]
        started = time.perf_counter()
        for worker in workers:
            worker.start()

        for worker in workers:
            worker.join()

        seconds = time.perf_counter() - started
        if failures:
            raise RuntimeError(
                f"{len(failures)} creating threads failed"
            ) from failures[0]

        return {"seconds": seconds, "finished_at": time.time()}

    def status(self, prefix: str) -> dict[str, float | None]:
        """Count the jobs of *prefix* still stored, and those not yet finished."""
        table = self.store.jobs_t
        query = (
            select(func.count()).select_from(table).where(table.c.id.like(f"{prefix}%"))
        )
        with self.store.engine.connect() as connection:
            stored = int(connection.execute(query).scalar_one())

        # A due job counts in the executor's instances from its submission,
        # which comes before its removal from the store, until it has run:
        # nothing stored and no instance means every job has finished. A job
        # done before its submission returns leaves a count of 0 behind.
        with self.executor._lock:
            running = sum(1 for n in self.executor._instances.values() if n > 0)
        return {
            "stored": stored,
            "running": running,
            "executed": self.counters.executed,
            "errors": self.counters.errors,
            "missed": self.counters.missed,
            "last_finished": self.counters.last_finished.get(prefix),
        }

    def answer(self, command: dict[str, Any]) -> dict[str, Any]:
        operation = command.pop("op")
        if operation == "create":
            return self.create(**command)

        if operation == "status":
            return self.status(**command)

        if operation == "clear":
            self.scheduler.remove_all_jobs()
            return {}

        raise ValueError(f"unknown command {operation!r}")


def _iso(moment: float) -> str:
    text = datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--pool", type=int, default=10)
    arguments = parser.parse_args()

    peer = Peer(arguments.store, arguments.pool)
    peer.scheduler.start()
    print(json.dumps({"ready": True}), flush=True)
    try:
        # One answer per command, until the driver closes stdin.
        for line in sys.stdin:
            try:
                answer = peer.answer(json.loads(line))
            except Exception as exc:
                answer = {"error": f"{type(exc).__name__}: {exc}"}

            print(json.dumps(answer), flush=True)
    finally:
        peer.scheduler.shutdown(wait=True)

    return 0


if __name__ == "__main__":
    # Run as the module ``peer_apscheduler`` rather than ``__main__``, so that
    # the jobs' textual reference ``peer_apscheduler:deliver`` resolves to
    # this same module (its thread-local connections included).
    import peer_apscheduler

    sys.exit(peer_apscheduler.main())
