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
_HEAD_END = b"\r\n\r\n"


class _Connection(asyncio.Protocol):
    """One client connection: requests parsed straight from the bytes received.

    A protocol rather than asyncio's streams, which cost the receiver about
    twice the CPU per request; on two shared cores every microsecond the
    receiver spends is taken from the service being measured.
    """

    def __init__(self, seen: list[list[object]]) -> None:
        self.seen = seen
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses.
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        received = time.time()
        buffer = self.buffer + data if self.buffer else data
        answers: list[bytes] = []
        start = 0
        while True:
            head_end = buffer.find(_HEAD_END, start)
            if head_end < 0:
                break

            head = buffer[start:head_end]
            length = _content_length(head)
            body_start = head_end + 4
            if len(buffer) < body_start + length:
                break

            body = buffer[body_start : body_start + length]
            start = body_start + length
            answers.append(self._answer(head, body, received))

        self.buffer = buffer[start:]
        if answers and self.transport is not None:
            self.transport.write(b"".join(answers))

    def _answer(self, head: bytes, body: bytes, received: float) -> bytes:
        if head.startswith(b"GET /arrivals?prefix="):
            prefix = head.split(b" ", 2)[1].split(b"=", 1)[1].decode()
            return _arrivals(self.seen, prefix)

        try:
            callback = json.loads(body)
            self.seen.append(
                [received, callback["id"], callback["fire_at"], callback["attempt"]]
            )
        except (ValueError, KeyError, TypeError):
            self.seen.append([received, None, None, None])

        return _ANSWER


def _content_length(head: bytes) -> int:
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        return 0

    end = head.find(b"\r\n", at + 2)
    return int(head[at + 17 : end if end >= 0 else len(head)])


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

    server = await loop.create_server(
        lambda: _Connection(seen), "127.0.0.1", port, backlog=1024
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
