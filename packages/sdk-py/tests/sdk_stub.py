"""A scripted HTTP/1.1 server on 127.0.0.1, in a thread of the test process.

Each request takes the next scripted :class:`Reply` (a JSON answer, raw
bytes, a delay, an answer held back until the test lets it go, or a
dropped connection) and is recorded as a :class:`Seen`, so that tests
check what the client really put on the wire.
"""

from __future__ import annotations

import asyncio
import collections
import json
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Reply:
    """What the stub does with one request.

    ``drop`` closes the connection without answering; ``raw`` is sent as
    the whole answer, bytes as they are; ``delay`` waits first, and
    ``hold`` waits until the test sets it (both cut short when the stub
    stops, a hold also after :data:`HOLD_LIMIT_SECONDS`).
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hold: threading.Event | None = None
    drop: bool = False
    raw: bytes | None = None
    close: bool = False


HOLD_LIMIT_SECONDS = 10.0


@dataclass(frozen=True)
class Seen:
    """One request as the stub received it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    client_port: int

    def json(self) -> Any:
        return json.loads(self.body)


def json_reply(status: int, data: Any, **options: Any) -> Reply:
    headers = {"Content-Type": "application/json", **options.pop("headers", {})}
    return Reply(status, json.dumps(data).encode(), headers, **options)


def error_reply(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Reply:
    return json_reply(
        status,
        {"error": {"code": code, "message": message, "details": details or {}}},
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        stub = self.server.stub
        stub.record(
            Seen(
                method=self.command,
                path=parts.path,
                query=parse_qsl(parts.query, keep_blank_values=True),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                client_port=self.client_address[1],
            )
        )
        reply = stub.next_reply()
        if reply.delay:
            stub.stopping.wait(reply.delay)

        if reply.hold is not None:
            deadline = time.monotonic() + HOLD_LIMIT_SECONDS
            while not (reply.hold.is_set() or stub.stopping.is_set()):
                if time.monotonic() > deadline:
                    break

                reply.hold.wait(0.01)

        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return

        if reply.raw is not None:
            self.wfile.write(reply.raw)
            self.wfile.flush()
            self.close_connection = reply.close
            return

        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)

        if reply.status not in (204, 304):
            self.send_header("Content-Length", str(len(reply.body)))

        if reply.close:
            self.send_header("Connection", "close")
            self.close_connection = True

        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Handler threads end by themselves (delays stop with the stub); the
    # server does not wait for them on close.
    block_on_close = False

    def __init__(self, stub: StubServer, tls: ssl.SSLContext | None) -> None:
        self.stub = stub
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout under test) closed its end
        # before the answer: expected, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            return

        super().handle_error(request, client_address)


class StubServer:
    """The scripted server; use it as a context manager.

    With *tls* (a server-side context) it speaks HTTPS.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.scheme = "https" if tls is not None else "http"
        self._lock = threading.Lock()
        self._replies: collections.deque[Reply] = collections.deque()
        self._seen: list[Seen] = []
        self.stopping = threading.Event()
        self._server = _Server(self, tls)
        # Stopping waits for the next poll, and every test stops a stub.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def add(self, *replies: Reply) -> None:
        """Script the answers of the next requests, in order."""
        with self._lock:
            self._replies.extend(replies)

    def next_reply(self) -> Reply:
        with self._lock:
            if self._replies:
                return self._replies.popleft()

        return error_reply(599, "stub", "no reply was scripted for this request")

    def record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    async def wait_for_requests(self, count: int, within: float = 5.0) -> None:
        """Wait until the stub has received *count* requests in all."""
        deadline = time.monotonic() + within
        while len(self.seen) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self.seen)} requests within {within:g} s, not {count}"
                )

            await asyncio.sleep(0.01)

    def only(self) -> Seen:
        """The one request the stub received."""
        seen = self.seen
        assert len(seen) == 1, [f"{item.method} {item.path}" for item in seen]
        return seen[0]


@dataclass
class Sleeps:
    """A fake wait between retries: records the delays, waits for none."""

    delays: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.delays.append(seconds)


def closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (refuses connections)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timer_json(namespace: str = "shop", id: str = "cart-7", **fields: Any) -> Any:
    """A timer as the server answers it, with *fields* replaced."""
    data = {
        "namespace": namespace,
        "id": id,
        "fire_at": "2026-12-03T08:00:00.000Z",
        "callback": {
            "url": "https://shop.example/hooks/cart",
            "timeout_seconds": 10.0,
            "headers": {},
        },
        "payload": {"cart": 7},
        "retry_policy": {
            "max_attempts": 10,
            "initial_interval_seconds": 1.0,
            "backoff_coefficient": 2.0,
            "max_interval_seconds": 600.0,
            "max_duration_seconds": None,
        },
        "status": "scheduled",
        "attempts": 0,
        "next_attempt_at": "2026-12-03T08:00:00.000Z",
        "last_error": None,
        "created_at": "2026-12-01T10:00:00.000Z",
        "updated_at": "2026-12-01T10:00:00.000Z",
        "executed_at": None,
        "version": 1,
    }
    data.update(fields)
    return data
