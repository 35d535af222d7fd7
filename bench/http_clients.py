"""Compare async HTTP clients on the callback workload of the HTTP dispatcher.

A receiver runs in a separate process on 127.0.0.1: a bare asyncio protocol
that speaks just enough HTTP/1.1 to answer every request with ``200 OK`` and
an empty body over keep-alive connections (standard library only, and on the
standard event loop unless ``--receiver-uvloop``). Each client then POSTs a
callback-shaped JSON body (about 200 bytes, with the callback's headers) from
``--concurrency`` tasks until ``--requests`` answers are in, reading each
answer's body, on the standard event loop unless ``--client-uvloop``. Runs
are interleaved across clients so that drift of the machine spreads over
all of them.

Run it from the repository root with the test environment::

    .nox/tests/bin/python bench/http_clients.py

It prints the median requests per second with the min–max of the runs, and
writes them to ``bench/results/http_clients.json``. Every loop is bounded in
count and in time, and only the loopback address is used.

``--dispatcher-at REV`` adds ``HttpDispatcher`` as ``http.py`` was at git
revision REV (its other modules as they are now), so that a change of the
dispatcher can be measured against what it replaces in the same
interleaved runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

HOST = "127.0.0.1"
REPOSITORY = Path(__file__).parent.parent
RESULTS = Path(__file__).parent / "results" / "http_clients.json"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
SECRET = "bench-secret"
# Requests sent before a timed run, so that connections are open and any
# lazy setup of the client is done when the clock starts.
WARMUP_PER_TASK = 4

Post = Callable[[], Awaitable[None]]
Run = Callable[..., Coroutine[Any, Any, "Rate"]]


@dataclass(frozen=True)
class Rate:
    """One timed run: requests per second, and CPU time of this process.

    The CPU time counts every thread of the client's process, so a client
    that works in threads of its own pays for them here too.
    """

    per_second: float
    cpu_us_per_request: float
    completed: int


# -- the receiver ----------------------------------------------------------


class _Responder(asyncio.Protocol):
    """Answers each HTTP/1.1 request on one connection with an empty 200."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they
        # have the same methods.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        answers = 0
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                break

            total = end + 4 + _content_length(bytes(self._buffer[:end]))
            if len(self._buffer) < total:
                break

            del self._buffer[:total]
            answers += 1

        if answers:
            self._transport.write(RESPONSE * answers)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())

    return 0


def _serve(port_out: Connection, use_uvloop: bool) -> None:
    async def receive() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Responder, HOST, 0, backlog=1024)
        port_out.send(server.sockets[0].getsockname()[1])
        # The parent closes its end of the pipe when it is done; the
        # receiver then stops by itself, even if the parent died.
        await loop.run_in_executor(None, _wait_closed, port_out)
        server.close()

    if use_uvloop:
        import uvloop

        uvloop.run(receive())
    else:
        asyncio.run(receive())


def _wait_closed(pipe: Connection) -> None:
    with contextlib.suppress(EOFError):
        pipe.recv()


# -- the workload ----------------------------------------------------------

_NAMESPACE = "billing"
_TIMER_ID = "invoice-2026-12-000123:reminder"
_PAYLOAD = {"invoice": "INV-000123", "customer": "c-81723", "step": 2}


def _callback_request() -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "namespace": _NAMESPACE,
            "id": _TIMER_ID,
            "fire_at": "2026-12-03T08:00:00.000Z",
            "attempt": 1,
            "payload": _PAYLOAD,
        },
        separators=(",", ":"),
    ).encode()
    timestamp = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    headers = {
        "X-Tenant": "acme",
        "Content-Type": "application/json",
        "User-Agent": "timerkernel/bench",
        "Timer-Namespace": _NAMESPACE,
        "Timer-Id": _TIMER_ID,
        "Timer-Attempt": "1",
        "Timer-Signature": f"t={timestamp},v1={digest.hexdigest()}",
    }
    return body, headers


async def _drive(post: Post, *, requests: int, concurrency: int, limit: float) -> Rate:
    """Send *requests* through *post* from *concurrency* tasks and time them.

    A client too slow to finish within *limit* seconds is stopped there and
    rated on the requests it completed.
    """
    warmup = [post() for _ in range(concurrency * WARMUP_PER_TASK)]
    await asyncio.wait_for(asyncio.gather(*warmup), limit)

    remaining = requests
    completed = 0
    deadline = time.perf_counter() + limit

    async def worker() -> None:
        nonlocal remaining, completed
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            await post()
            completed += 1

    started = time.perf_counter()
    cpu_started = time.process_time()
    await asyncio.wait_for(
        asyncio.gather(*(worker() for _ in range(concurrency))), limit + 30
    )
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return Rate(completed / elapsed, cpu / completed * 1e6, completed)


async def _run_httpx(url: str, concurrency: int, **drive: Any) -> Rate:
    import httpx

    body, headers = _callback_request()
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency
    )
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:

        async def post() -> None:
            response = await client.post(url, content=body, headers=headers)
            response.raise_for_status()

        return await _drive(post, concurrency=concurrency, **drive)


async def _run_aiohttp(url: str, concurrency: int, **drive: Any) -> Rate:
    import aiohttp

    body, headers = _callback_request()
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=10.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def post() -> None:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                response.raise_for_status()

        return await _drive(post, concurrency=concurrency, **drive)


async def _run_pyreqwest(url: str, concurrency: int, **drive: Any) -> Rate:
    from pyreqwest.client import ClientBuilder

    body, headers = _callback_request()
    client = (
        ClientBuilder()
        .max_connections(concurrency)
        .pool_max_idle_per_host(concurrency)
        .timeout(timedelta(seconds=10))
        .follow_redirects(False)
        .build()
    )
    async with client:

        async def post() -> None:
            request = client.post(url).headers(headers).body_bytes(body).build()
            response = await request.send()
            await response.bytes()
            response.error_for_status()

        return await _drive(post, concurrency=concurrency, **drive)


async def _run_http1(url: str, concurrency: int, **drive: Any) -> Rate:
    """The dispatcher's own HTTP/1.1 client, without the dispatcher."""
    from timerkernel._http1 import Http1Client, endpoint_of

    body, headers = _callback_request()
    endpoint = endpoint_of(url)
    assert endpoint is not None
    header_list = list(headers.items())
    client = Http1Client(max_idle=concurrency, max_idle_per_origin=concurrency)
    loop = asyncio.get_running_loop()

    def read_body(status: int) -> bool:
        return True

    try:

        async def post() -> None:
            response = await client.post(
                endpoint,
                header_list,
                body,
                deadline=loop.time() + 10.0,
                max_body=65536,
                read_body=read_body,
            )
            if not 200 <= response.status < 300:
                raise RuntimeError(f"HTTP {response.status}")

        return await _drive(post, concurrency=concurrency, **drive)
    finally:
        await client.close()


async def _run_dispatcher(
    url: str, concurrency: int, *, revision: str | None = None, **drive: Any
) -> Rate:
    """The dispatcher around its chosen client, to show what it adds."""
    from timerkernel import Callback, Delivered, RetryPolicy, Timer, TimerStatus

    dispatcher_class = (
        _dispatcher_at(revision) if revision else _dispatcher_at_work_tree()
    )
    moment = datetime(2026, 12, 3, 8, tzinfo=UTC)
    timer = Timer(
        namespace=_NAMESPACE,
        id=_TIMER_ID,
        fire_at=moment,
        callback=Callback(url=url, timeout_seconds=10.0, headers={"X-Tenant": "acme"}),
        payload=_PAYLOAD,
        retry_policy=RetryPolicy(),
        status=TimerStatus.scheduled,
        attempts=0,
        next_attempt_at=moment,
        last_error=None,
        created_at=moment,
        updated_at=moment,
        executed_at=None,
        version=1,
        shard=0,
    )
    dispatcher = dispatcher_class(
        max_connections=concurrency, max_per_host=concurrency, signing_secret=SECRET
    )
    await dispatcher.start()
    try:

        async def post() -> None:
            result = await dispatcher.deliver(timer, 1)
            if not isinstance(result, Delivered):
                raise RuntimeError(f"the delivery failed: {result!r}")

        return await _drive(post, concurrency=concurrency, **drive)
    finally:
        await dispatcher.close()


def _dispatcher_at_work_tree() -> Any:
    from timerkernel.http import HttpDispatcher

    return HttpDispatcher


def _dispatcher_at(revision: str) -> Any:
    """Load ``HttpDispatcher`` from ``http.py`` as it was at git *revision*."""
    import timerkernel

    name = f"timerkernel._http_at_{revision.replace('-', '_').replace('.', '_')}"
    module = sys.modules.get(name)
    if module is None:
        path = "packages/timerkernel/src/timerkernel/http.py"
        source = subprocess.run(
            ["git", "show", f"{revision}:{path}"],
            cwd=REPOSITORY,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        module = types.ModuleType(name)
        module.__package__ = timerkernel.__name__
        sys.modules[name] = module
        exec(compile(source, f"{revision}:{path}", "exec"), module.__dict__)

    return module.HttpDispatcher


CLIENTS: dict[str, tuple[str, Run]] = {
    "httpx.AsyncClient": ("httpx", _run_httpx),
    "aiohttp.ClientSession": ("aiohttp", _run_aiohttp),
    "pyreqwest.Client": ("pyreqwest", _run_pyreqwest),
    "timerkernel Http1Client": ("timerkernel", _run_http1),
    "timerkernel HttpDispatcher": ("timerkernel", _run_dispatcher),
}


# -- the run and its report ------------------------------------------------


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _measure(url: str, args: argparse.Namespace) -> dict[str, list[Rate]]:
    available: dict[str, Run] = {}
    for name in args.clients:
        package, run = CLIENTS[name]
        if _package_version(package) is None:
            print(f"skipping {name}: {package} is not installed", file=sys.stderr)
        else:
            available[name] = run

    for revision in args.dispatcher_at:
        available[f"HttpDispatcher at {revision}"] = functools.partial(
            _run_dispatcher, revision=revision
        )

    run_loop: Callable[[Coroutine[Any, Any, Rate]], Rate] = asyncio.run
    if args.client_uvloop:
        import uvloop

        run_loop = uvloop.run

    rates: dict[str, list[Rate]] = {name: [] for name in available}
    for index in range(args.runs):
        for name, run in available.items():
            rate = run_loop(
                run(
                    url,
                    args.concurrency,
                    requests=args.requests,
                    limit=args.time_limit,
                )
            )
            rates[name].append(rate)
            print(
                f"run {index + 1}/{args.runs} {name:<32} "
                f"{rate.per_second:>9,.0f} req/s {rate.cpu_us_per_request:>6,.0f} "
                "µs CPU/req",
                flush=True,
            )

    return rates


def _summary(rates: list[Rate]) -> dict[str, Any]:
    per_second = [rate.per_second for rate in rates]
    return {
        "median_rps": round(statistics.median(per_second)),
        "min_rps": round(min(per_second)),
        "max_rps": round(max(per_second)),
        "runs_rps": [round(value) for value in per_second],
        "runs_completed": [rate.completed for rate in rates],
        "median_cpu_us_per_request": round(
            statistics.median(rate.cpu_us_per_request for rate in rates)
        ),
    }


def _report(args: argparse.Namespace, rates: dict[str, list[Rate]]) -> dict[str, Any]:
    receiver_loop = "uvloop" if args.receiver_uvloop else "standard event loop"
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "workload": {
            "requests_per_run": args.requests,
            "concurrency": args.concurrency,
            "runs": args.runs,
            "warmup_requests_per_run": args.concurrency * WARMUP_PER_TASK,
            "request_body_bytes": len(_callback_request()[0]),
            "receiver": "asyncio.Protocol answering HTTP/1.1 keep-alive requests "
            f"with an empty 200, in a separate process ({receiver_loop})",
            "client_event_loop": "uvloop"
            if args.client_uvloop
            else "asyncio, standard event loop",
            "dispatchers_at_revisions": args.dispatcher_at,
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            # Other work on the machine skews the rates; CPU time per request
            # suffers less from it.
            "load_average_1min_before": round(args.load_before, 2),
            "load_average_1min_after": round(os.getloadavg()[0], 2),
        },
        "versions": {
            package: _package_version(package)
            for package in (
                "httpx",
                "httpcore",
                "sniffio",
                "aiohttp",
                "pyreqwest",
                "uvloop",
                "timerkernel",
            )
        },
        "results": {name: _summary(values) for name, values in rates.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--time-limit", type=float, default=30.0, help="seconds per run, at most"
    )
    parser.add_argument("--clients", nargs="*", default=list(CLIENTS))
    parser.add_argument("--receiver-uvloop", action="store_true")
    parser.add_argument("--client-uvloop", action="store_true")
    parser.add_argument(
        "--dispatcher-at",
        action="append",
        default=[],
        metavar="REV",
        help="also measure HttpDispatcher as http.py was at this git revision",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    unknown = set(args.clients) - set(CLIENTS)
    if unknown:
        parser.error(f"unknown clients: {', '.join(sorted(unknown))}")

    args.load_before = os.getloadavg()[0]
    context = multiprocessing.get_context("spawn")
    port_in, port_out = context.Pipe()
    receiver = context.Process(
        target=_serve, args=(port_out, args.receiver_uvloop), daemon=True
    )
    receiver.start()
    port_out.close()
    try:
        if not port_in.poll(10):
            raise SystemExit("the receiver did not start within 10 s")

        rates = _measure(f"http://{HOST}:{port_in.recv()}/callback", args)
    finally:
        port_in.close()
        receiver.join(10)
        if receiver.is_alive():
            receiver.terminate()

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(_report(args, rates), indent=2) + "\n")

    print(f"\n{'client':<32} {'median req/s':>13}   {'min–max':<15} CPU µs/req")
    for name, values in rates.items():
        summary = _summary(values)
        spread = f"{summary['min_rps']:,}–{summary['max_rps']:,}"
        print(
            f"{name:<32} {summary['median_rps']:>13,}   {spread:<15} "
            f"{summary['median_cpu_us_per_request']:>10,}"
        )

    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
