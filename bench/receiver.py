"""A fast webhook receiver for the benchmark, run as its own process.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) to take
callbacks at a high rate without becoming the bottleneck, answers each with
``200`` and an empty body, and notes for each the time it arrived and the
timer's ``id`` and ``fire_at``.

    python bench/receiver.py PORT OUTPUT.json

It writes OUTPUT.json (a list of ``[received_unix, id, fire_at, attempt]``)
when it gets SIGTERM or SIGINT, then exits. While it runs, ``GET
/arrivals?prefix=P`` answers how many callbacks of timers whose id starts
with P arrived, and when the first and the last did.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


async def _serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[list[object]]
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            received = time.time()
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])

            body = await reader.readexactly(length) if length else b""
            if head.startswith(b"GET /arrivals?prefix="):
                prefix = head.split(b" ", 2)[1].split(b"=", 1)[1].decode()
                writer.write(_arrivals(seen, prefix))
                continue

            try:
                callback = json.loads(body)
                seen.append(
                    [received, callback["id"], callback["fire_at"], callback["attempt"]]
                )
            except (ValueError, KeyError, TypeError):
                seen.append([received, None, None, None])

            writer.write(_ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def _arrivals(seen: list[list[object]], prefix: str) -> bytes:
    times = [
        float(received)  # type: ignore[arg-type]
        for received, timer_id, *_ in seen
        if isinstance(timer_id, str) and timer_id.startswith(prefix)
    ]
    body = json.dumps(
        {
            "count": len(times),
            "first": min(times, default=None),
            "last": max(times, default=None),
        }
    ).encode()
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


async def main(port: int, output: str) -> None:
    seen: list[list[object]] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    server = await asyncio.start_server(
        lambda reader, writer: _serve_connection(reader, writer, seen),
        "127.0.0.1",
        port,
        backlog=1024,
    )
    print("ready", flush=True)
    async with server:
        await stop.wait()

    # The run is over: blocking the loop while writing costs nothing now.
    Path(output).write_text(json.dumps(seen))  # noqa: ASYNC240


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
    else:
        uvloop.run(main(int(sys.argv[1]), sys.argv[2]))
