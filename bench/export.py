"""The export route's time and the server's memory while it streams.

One ``timerserver serve`` on a fresh SQLite file, on 127.0.0.1, started and
stopped by this script (the same server as ``bench/sdk_py.py``). It creates
``--timers`` timers (100,000 by default, due in a day, each with a small
payload) by batches of 1,000, then exports them ``--runs`` times in each
format, reading the answer as it streams, and samples the server's
resident memory (from /proc, so Linux only) before and during each export.

Run it from the repository root in the benchmark's environment::

    .nox/bench/bin/python bench/export.py [--timers 100000] [--runs 3]
        [--output results.json]

It prints, per format, the median time with min–max, the bytes, and the
largest growth of the server's memory over what it held before.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from sdk_py import Server

NAMESPACE = "export-bench"
BATCH = 1000


def _rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kib = int(status.split("VmRSS:")[1].split()[0])
    return kib / 1024


def _fill(client: httpx.Client, count: int) -> float:
    started = time.perf_counter()
    for first in range(0, count, BATCH):
        timers = [
            {
                "id": f"t-{index:08d}",
                "delay_seconds": 86_400,
                "callback": {"url": "http://127.0.0.1:9/hook"},
                "payload": {"order": index, "note": "x" * 100},
            }
            for index in range(first, min(first + BATCH, count))
        ]
        path = f"/api/v1/namespaces/{NAMESPACE}/timers:batchCreate"
        answer = client.post(path, json={"timers": timers})
        answer.raise_for_status()

    return time.perf_counter() - started


def _export(client: httpx.Client, pid: int, export_format: str) -> dict[str, float]:
    before = _rss_mib(pid)
    peak = before
    size = 0
    started = time.perf_counter()
    path = f"/api/v1/namespaces/{NAMESPACE}/timers:export?format={export_format}"
    with client.stream("GET", path) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_bytes():
            size += len(chunk)
            peak = max(peak, _rss_mib(pid))

    return {
        "seconds": time.perf_counter() - started,
        "bytes": size,
        "rss_before_mib": before,
        "rss_growth_mib": peak - before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, help="write the results as JSON")
    args = parser.parse_args()

    runs: dict[str, list[dict[str, float]]] = {"csv": [], "json": []}
    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder))
        try:
            server.wait_ready()
            with httpx.Client(base_url=server.url, timeout=120) as client:
                fill_seconds = _fill(client, args.timers)
                print(f"created {args.timers:,} timers in {fill_seconds:.1f} s")
                for _ in range(args.runs):
                    for export_format, results in runs.items():
                        results.append(
                            _export(client, server.process.pid, export_format)
                        )
        finally:
            server.stop()

    summary = {}
    for export_format, results in runs.items():
        seconds = [result["seconds"] for result in results]
        growth = max(result["rss_growth_mib"] for result in results)
        summary[export_format] = {
            "median_seconds": statistics.median(seconds),
            "min_seconds": min(seconds),
            "max_seconds": max(seconds),
            "bytes": results[0]["bytes"],
            "max_rss_growth_mib": growth,
            "rss_before_mib": results[0]["rss_before_mib"],
            "runs": results,
        }
        print(
            f"{export_format}: {statistics.median(seconds):.2f} s "
            f"({min(seconds):.2f}–{max(seconds):.2f}), "
            f"{results[0]['bytes'] / 1e6:.1f} MB, "
            f"server memory +{growth:.1f} MiB over {results[0]['rss_before_mib']:.0f}"
        )

    if args.output is not None:
        report = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "workload": {"timers": args.timers, "runs": args.runs},
            "results": summary,
        }
        args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
