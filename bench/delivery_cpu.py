"""CPU per delivery of one runner, in one process, by store.

    python bench/delivery_cpu.py --stores memory,sqlite,postgres --due 20000 --runs 3

For each store, a :class:`~timerkernel.Kernel` and a
:class:`~timerkernel.Runner` with the :class:`~timerkernel.http.HttpDispatcher`
run in this process on uvloop, as ``timerserver runner`` runs them. The
timers are created first, all due at once, with the runner stopped; then
the runner starts and delivers them to ``bench/receiver.py`` in its own
process. Measured from the runner's start to the last outcome written:
the process's CPU (every thread: SQLite's included), the event loop
thread's alone, and the wall time. Stores alternate run by run, so a slow
spell of the machine falls on all of them.

PostgreSQL is a throwaway node of the test harness, on the same two cores.
``--profile DIR`` also saves a pyinstrument profile of each store's first
run (text and HTML). Results go to ``bench/results/delivery_cpu.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from run import free_port, spread, stop_process
from timerbackends import create_store
from timerkernel import (
    Callback,
    Kernel,
    Runner,
    RunnerSettings,
    TimerEvent,
    TimerEventKind,
    TimerSpec,
)
from timerkernel.http import HttpDispatcher

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "delivery_cpu.json"
BATCH = 1000


@contextmanager
def _receiver() -> Iterator[str]:
    port = free_port()
    output = Path(tempfile.mkdtemp()) / "arrivals.json"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "receiver.py"), str(port), str(output)],
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        stop_process(process, timeout=30)


async def _one_run(
    url: str, hook: str, due: int, profile: Path | None
) -> dict[str, Any]:
    kernel = Kernel(create_store(url))
    await kernel.initialize()
    namespace = f"cpu-{time.monotonic_ns()}"
    callback = Callback(hook)
    fire_at = datetime.now(UTC) - timedelta(seconds=1)
    specs = [
        TimerSpec(
            id=f"t-{index}",
            callback=callback,
            fire_at=fire_at,
            payload={"order": index, "amount": 42},
        )
        for index in range(due)
    ]
    for start in range(0, due, BATCH):
        for result in await kernel.create_timers(
            namespace, specs[start : start + BATCH]
        ):
            if isinstance(result, Exception):
                raise result

    finished = anyio.Event()
    delivered = 0

    def count(event: TimerEvent) -> None:
        nonlocal delivered
        if (
            event.kind is TimerEventKind.delivered
            and event.timer.namespace == namespace
        ):
            delivered += 1
            if delivered == due:
                finished.set()

    kernel.add_listener(count)
    runner = Runner(kernel, HttpDispatcher(), settings=RunnerSettings())
    gc.collect()
    profiler = None
    if profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled")
        profiler.start()

    started = time.perf_counter()
    process_started = time.process_time()
    thread_started = time.thread_time()
    async with anyio.create_task_group() as group:
        await group.start(runner.run)
        with anyio.fail_after(300):
            await finished.wait()

        wall = time.perf_counter() - started
        process_cpu = time.process_time() - process_started
        thread_cpu = time.thread_time() - thread_started
        runner.stop()

    if profiler is not None and profile is not None:
        profiler.stop()
        # The run is over: blocking the loop while writing costs nothing now.
        _save_profile(profiler, profile, url.split(":", 1)[0])

    await kernel.close()
    return {
        "deliveries_per_second": due / wall,
        "cpu_us_per_delivery": process_cpu / due * 1e6,
        "loop_cpu_us_per_delivery": thread_cpu / due * 1e6,
    }


def _save_profile(profiler: Any, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    (folder / f"delivery-{name}.txt").write_text(text)
    (folder / f"delivery-{name}.html").write_text(profiler.output_html())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="memory,sqlite,postgres")
    parser.add_argument("--due", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--output", type=Path, default=RESULTS)
    arguments = parser.parse_args()
    stores = arguments.stores.split(",")

    with ExitStack() as stack:
        hook = stack.enter_context(_receiver())
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        urls: dict[str, str] = {}
        for store in stores:
            if store == "memory":
                urls[store] = "memory://"
            elif store == "sqlite":
                urls[store] = f"sqlite:///{work / 'timers.db'}"
            elif store == "postgres":
                from timerbackends.testing.postgres import PostgresServer

                server = stack.enter_context(PostgresServer(work / "pg"))
                server.start()
                urls[store] = server.url
            else:
                parser.error(f"unknown store {store!r}")

        runs: dict[str, list[dict[str, Any]]] = {store: [] for store in stores}
        for run in range(arguments.runs):
            for store in stores:
                profile = arguments.profile if run == 0 else None
                result = anyio.run(
                    _one_run,
                    urls[store],
                    hook,
                    arguments.due,
                    profile,
                    backend_options={"use_uvloop": True},
                )
                runs[store].append(result)
                print(store, json.dumps(result), flush=True)

    summary = {
        store: {
            measure: spread([result[measure] for result in results])
            for measure in results[0]
        }
        for store, results in runs.items()
    }
    for store, measures in summary.items():
        figures = [
            f"{measure} {v['median']:,.0f} ({v['min']:,.0f}–{v['max']:,.0f})"
            for measure, v in measures.items()
        ]
        print(f"{store:10} " + "  ".join(figures))

    arguments.output.write_text(
        json.dumps({"due": arguments.due, "runs": runs, "summary": summary}, indent=2)
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
