"""Tests of the HTTP dispatcher against real HTTP servers on 127.0.0.1.

Each test starts its own small HTTP/1.1 server on a free loopback port: it
records every request as received on the socket, counts connections and
requests in flight, and answers as the test tells it to. Every test runs on
the standard event loop and on uvloop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import importlib.util
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import attrs
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.tls import TLSListener

import timerkernel
from timerkernel import (
    Callback,
    Delivered,
    DeliveryFailed,
    ErrorKind,
    ManualClock,
    Rescheduled,
    RetryPolicy,
    Timer,
    TimerStatus,
)
from timerkernel.http import HttpDispatcher, _Slots, sign

pytestmark = pytest.mark.anyio


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


# The signature test vectors shared with the SDKs, at the repository's root.
VECTORS_FILE = Path(__file__).parents[3] / "testdata" / "signatures.json"
SIGNING_VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text())["signing"]

FIRE_AT = datetime(2026, 12, 3, 8, 0, 0, 123_000, tzinfo=UTC)
# Long enough for any loopback exchange on a loaded CI machine, short enough
# that a test that goes wrong ends quickly.
WAIT = 10.0

EVENT_LOOPS = [
    pytest.param(("asyncio", {"use_uvloop": False}), id="asyncio"),
    pytest.param(
        ("asyncio", {"use_uvloop": True}),
        id="uvloop",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("uvloop") is None, reason="needs uvloop"
        ),
    ),
]


@pytest.fixture(params=EVENT_LOOPS)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


# -- a recording HTTP server -------------------------------------------------


@attrs.define
class Request:
    """One request as the server read it off the socket."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    connection: int = 0
    """The number of the connection it came on, from 1."""

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


@attrs.define
class Reply:
    """What the server answers; ``raw`` replaces the whole answer if set.

    With ``close``, the server closes the connection once it is sent.
    """

    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    chunked: bool = False
    raw: bytes | None = None
    close: bool = False


Handler = Callable[[Request], Awaitable[Reply | None]]
"""Makes the answer to a request; ``None`` closes the connection unanswered."""


async def answer_empty(request: Request) -> Reply:
    return Reply()


def answer_with(reply: Reply) -> Handler:
    async def handler(request: Request) -> Reply:
        return reply

    return handler


def answer_json(document: Any) -> Handler:
    return answer_with(
        Reply(
            headers=[("Content-Type", "application/json")],
            body=json.dumps(document).encode(),
        )
    )


@attrs.define(eq=False)
class Server:
    """A loopback HTTP/1.1 server with keep-alive that records what it gets."""

    handler: Handler
    port: int = 0
    scheme: str = "http"
    requests: list[Request] = attrs.Factory(list)
    connections: int = 0
    closed_connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    in_flight_changed: anyio.Event = attrs.Factory(anyio.Event)
    connection_closed: anyio.Event = attrs.Factory(anyio.Event)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/hook"

    async def wait_in_flight(self, count: int) -> None:
        """Wait until *count* requests are being handled at once."""
        with anyio.fail_after(WAIT):
            while self.in_flight != count:
                await self.in_flight_changed.wait()

    async def wait_closed(self, count: int) -> None:
        """Wait until *count* connections have ended."""
        with anyio.fail_after(WAIT):
            while self.closed_connections < count:
                await self.connection_closed.wait()

    def _count(self, change: int) -> None:
        self.in_flight += change
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.in_flight_changed.set()
        self.in_flight_changed = anyio.Event()

    async def serve_connection(self, stream: anyio.abc.ByteStream) -> None:
        self.connections += 1
        number = self.connections
        try:
            await self._serve_requests(stream, number)
        finally:
            self.closed_connections += 1
            self.connection_closed.set()
            self.connection_closed = anyio.Event()

    async def _serve_requests(self, stream: anyio.abc.ByteStream, number: int) -> None:
        buffered = BufferedByteReceiveStream(stream)
        async with stream:
            while True:
                try:
                    request = await _read_request(buffered)
                except (
                    anyio.EndOfStream,
                    anyio.IncompleteRead,
                    anyio.BrokenResourceError,
                ):
                    return

                request.connection = number
                self.requests.append(request)
                self._count(+1)
                try:
                    reply = await self.handler(request)
                finally:
                    self._count(-1)

                if reply is None:
                    return

                try:
                    await stream.send(_encode_reply(reply))
                except anyio.BrokenResourceError:
                    return

                if reply.close:
                    return


async def _read_request(stream: BufferedByteReceiveStream) -> Request:
    head = await stream.receive_until(b"\r\n\r\n", 65536)
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ")
    headers = []
    for line in lines:
        name, _, value = line.partition(":")
        headers.append((name, value.strip()))

    length = sum(
        int(value) for name, value in headers if name.lower() == "content-length"
    )
    body = await stream.receive_exactly(length) if length else b""
    return Request(method, target, headers, body)


def _encode_reply(reply: Reply) -> bytes:
    if reply.raw is not None:
        return reply.raw

    lines = [f"HTTP/1.1 {reply.status} Whatever"]
    lines += [f"{name}: {value}" for name, value in reply.headers]
    if reply.status in (204, 304):
        body = b""
    elif reply.chunked:
        lines.append("Transfer-Encoding: chunked")
        body = b"".join(
            f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            for piece in (
                reply.body[i : i + 1000] for i in range(0, len(reply.body), 1000)
            )
        )
        body += b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(reply.body)}")
        body = reply.body

    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@asynccontextmanager
async def serving(
    handler: Handler = answer_empty, *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Server]:
    """Serve on a free loopback port; https with the *tls* context if given."""
    server = Server(handler, scheme="http" if tls is None else "https")
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
    server.port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener: anyio.abc.Listener[Any] = (
        tcp if tls is None else TLSListener(tcp, tls, standard_compatible=False)
    )
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, server.serve_connection)
        try:
            yield server
        finally:
            group.cancel_scope.cancel()


@asynccontextmanager
async def started(dispatcher: HttpDispatcher) -> AsyncIterator[HttpDispatcher]:
    await dispatcher.start()
    try:
        yield dispatcher
    finally:
        await dispatcher.close()


def make_timer(
    url: str,
    *,
    timeout_seconds: float = WAIT,
    headers: dict[str, str] | None = None,
    namespace: str = "billing",
    timer_id: str = "invoice-42",
    payload: Any = None,
) -> Timer:
    return Timer(
        namespace=namespace,
        id=timer_id,
        fire_at=FIRE_AT,
        callback=Callback(
            url=url, timeout_seconds=timeout_seconds, headers=headers or {}
        ),
        payload={"invoice": "INV-42", "note": "café ✓"} if payload is None else payload,
        retry_policy=RetryPolicy(),
        status=TimerStatus.scheduled,
        attempts=0,
        next_attempt_at=FIRE_AT,
        last_error=None,
        created_at=FIRE_AT,
        updated_at=FIRE_AT,
        executed_at=None,
        version=1,
        shard=0,
    )


def free_port() -> int:
    """Return a loopback port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def expected_signature(secret: bytes, header: str, body: bytes) -> tuple[int, str]:
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return timestamp, digest.hexdigest()


# -- the request ---------------------------------------------------------------


class TestRequest:
    async def test_request_follows_the_contract(self) -> None:
        headers = {"X-Tenant": "acme", "Authorization": "Bearer abc"}
        async with serving() as server, started(HttpDispatcher()) as dispatcher:
            timer = make_timer(server.url + "?k=v", headers=headers)
            result = await dispatcher.deliver(timer, 3)

        [request] = server.requests
        names = [name.lower() for name, _ in request.headers]
        ours = [
            "content-type",
            "user-agent",
            "timer-namespace",
            "timer-id",
            "timer-attempt",
        ]
        expected_body = json.dumps(
            {
                "namespace": "billing",
                "id": "invoice-42",
                "fire_at": "2026-12-03T08:00:00.123Z",
                "attempt": 3,
                "payload": {"invoice": "INV-42", "note": "café ✓"},
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()

        assert result == Delivered(status_code=200)
        assert request.method == "POST"
        assert request.target == "/hook?k=v"
        assert request.body == expected_body
        assert names[:2] == ["x-tenant", "authorization"]
        assert [name for name in names if name in ours] == ours
        assert names.index("authorization") < names.index("content-type")
        assert request.header("X-Tenant") == "acme"
        assert request.header("Authorization") == "Bearer abc"
        assert request.header("Content-Type") == "application/json"
        assert request.header_all("User-Agent") == [
            f"timerkernel/{timerkernel.__version__}"
        ]
        assert request.header("Timer-Namespace") == "billing"
        assert request.header("Timer-Id") == "invoice-42"
        assert request.header("Timer-Attempt") == "3"
        assert request.header("Timer-Signature") is None
        assert request.header("Content-Length") == str(len(expected_body))
        assert request.header("Accept-Encoding") is None

    async def test_service_headers_win_over_callback_headers(self) -> None:
        # Validation refuses these names; a timer built in code skips it.
        headers = {"user-agent": "impostor", "Timer-Id": "other", "X-Ok": "1"}
        dispatcher = HttpDispatcher(user_agent="custom/1.0")
        async with serving() as server, started(dispatcher):
            await dispatcher.deliver(make_timer(server.url, headers=headers), 1)

        [request] = server.requests

        assert request.header_all("User-Agent") == ["custom/1.0"]
        assert request.header_all("Timer-Id") == ["invoice-42"]
        assert request.header("X-Ok") == "1"

    @pytest.mark.parametrize(
        "secret",
        [pytest.param("s3cret", id="str"), pytest.param(b"\x00k\xff", id="bytes")],
    )
    async def test_signature_verifies_over_the_exact_body(
        self, secret: str | bytes
    ) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        dispatcher = HttpDispatcher(signing_secret=secret)
        async with serving() as server, started(dispatcher):
            before = int(time.time())
            await dispatcher.deliver(make_timer(server.url), 1)
            after = int(time.time())

        [request] = server.requests
        header = request.header("Timer-Signature")
        assert header is not None
        timestamp, digest = expected_signature(key, header, request.body)

        assert header == f"t={timestamp},v1={digest}"
        assert before <= timestamp <= after
        assert sign(secret, timestamp, request.body) == header

    async def test_signature_per_namespace_with_rotation(self) -> None:
        secrets: dict[str, list[str | bytes]] = {"billing": ["new", b"old"]}
        dispatcher = HttpDispatcher(signing_secret=secrets.get)
        async with serving() as server, started(dispatcher):
            await dispatcher.deliver(make_timer(server.url), 1)
            await dispatcher.deliver(make_timer(server.url, namespace="other"), 1)

        signed, unsigned = server.requests
        header = signed.header("Timer-Signature")
        assert header is not None
        timestamp = int(header.split(",")[0].removeprefix("t="))
        digests = [
            hmac.new(key, f"{timestamp}.".encode() + signed.body, hashlib.sha256)
            for key in (b"new", b"old")
        ]

        assert (
            header
            == f"t={timestamp},v1={digests[0].hexdigest()},v1={digests[1].hexdigest()}"
        )
        assert unsigned.header("Timer-Signature") is None

    def test_sign_matches_the_contract(self) -> None:
        body = b'{"id":"x"}'
        digest = hmac.new(b"key", b"1700000000." + body, hashlib.sha256).hexdigest()

        assert sign("key", 1_700_000_000, body) == f"t=1700000000,v1={digest}"

    @pytest.mark.parametrize(
        "case", SIGNING_VECTORS, ids=[case["name"] for case in SIGNING_VECTORS]
    )
    def test_sign_gives_the_shared_vectors(self, case: dict[str, Any]) -> None:
        # The file every SDK's verifier is tested against.
        secrets = case["secrets"]
        secret = secrets[0] if len(secrets) == 1 else secrets

        assert sign(secret, case["timestamp"], case["body"].encode()) == case["header"]

    @pytest.mark.parametrize(
        "secret",
        [
            pytest.param("", id="empty"),
            pytest.param([], id="none"),
            pytest.param([b""], id="empty-item"),
        ],
    )
    def test_empty_secret_is_refused(self, secret: Any) -> None:
        with pytest.raises(ValueError, match="signing secret"):
            HttpDispatcher(signing_secret=secret)

    @pytest.mark.parametrize(
        "options",
        [
            pytest.param({"max_connections": 0}, id="max_connections"),
            pytest.param({"max_per_host": 0}, id="max_per_host"),
            pytest.param({"max_answer_bytes": -1}, id="max_answer_bytes"),
        ],
    )
    def test_bad_limits_are_refused(self, options: dict[str, Any]) -> None:
        with pytest.raises(ValueError, match="must be"):
            HttpDispatcher(**options)

    async def test_deliver_needs_start(self) -> None:
        with pytest.raises(RuntimeError, match="start"):
            await HttpDispatcher().deliver(make_timer("http://127.0.0.1:9/"), 1)


# -- the answer ----------------------------------------------------------------


class TestAnswer:
    @pytest.mark.parametrize(
        "reply",
        [
            pytest.param(Reply(), id="empty"),
            pytest.param(Reply(status=204), id="204"),
            pytest.param(Reply(body=b"OK"), id="not-json"),
            pytest.param(Reply(body=b'{"received": true}'), id="other-object"),
            pytest.param(Reply(body=b"accepted", chunked=True), id="chunked"),
        ],
    )
    async def test_plain_2xx_is_delivered(self, reply: Reply) -> None:
        async with (
            serving(answer_with(reply)) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert result == Delivered(status_code=reply.status)

    async def test_answer_reschedules_with_payload(self) -> None:
        clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
        answer = {"next_delay_seconds": 5, "payload": {"step": 2}}
        async with (
            serving(answer_json(answer)) as server,
            started(HttpDispatcher(clock=clock)) as dispatcher,
        ):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert result == Rescheduled(
            fire_at=datetime(2030, 1, 1, 0, 0, 5, tzinfo=UTC),
            payload={"step": 2},
            status_code=200,
        )

    async def test_invalid_reschedule_is_invalid_response(self) -> None:
        answer = {"next_delay_seconds": "soon"}
        async with (
            serving(answer_json(answer)) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.invalid_response
        assert "next_delay_seconds" in result.message

    async def test_answer_payload_over_limit_is_invalid_response(self) -> None:
        answer = {"next_delay_seconds": 1, "payload": "x" * 200}
        dispatcher = HttpDispatcher(max_payload_bytes=100)
        async with serving(answer_json(answer)) as server, started(dispatcher):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.invalid_response

    async def test_url_guard_checks_a_new_callback(self) -> None:
        answer = {
            "next_delay_seconds": 1,
            "callback": {"url": "http://10.0.0.1/hook"},
        }
        dispatcher = HttpDispatcher(url_guard=lambda url: "is a private address")
        async with serving(answer_json(answer)) as server, started(dispatcher):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.invalid_response
        assert "private address" in result.message

    @pytest.mark.parametrize(
        "chunked",
        [pytest.param(False, id="content-length"), pytest.param(True, id="chunked")],
    )
    async def test_answer_over_max_answer_bytes_is_plain_delivery(
        self, chunked: bool
    ) -> None:
        body = json.dumps({"next_delay_seconds": 1, "payload": "x" * 4000}).encode()
        reply = Reply(body=body, chunked=chunked)
        dispatcher = HttpDispatcher(max_answer_bytes=len(body) - 1)
        async with serving(answer_with(reply)) as server, started(dispatcher):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert result == Delivered(status_code=200)

    @pytest.mark.parametrize(
        "chunked",
        [pytest.param(False, id="content-length"), pytest.param(True, id="chunked")],
    )
    async def test_answer_at_max_answer_bytes_is_read(self, chunked: bool) -> None:
        body = json.dumps({"next_delay_seconds": 1, "payload": "x" * 4000}).encode()
        reply = Reply(body=body, chunked=chunked)
        dispatcher = HttpDispatcher(max_answer_bytes=len(body))
        async with serving(answer_with(reply)) as server, started(dispatcher):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert isinstance(result, Rescheduled)
        assert result.payload == "x" * 4000


# -- failed attempts -------------------------------------------------------------


class TestFailure:
    async def test_server_error_is_http_status(self) -> None:
        reply = Reply(status=500, body=b"boom")
        async with (
            serving(answer_with(reply)) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert result == DeliveryFailed(
            ErrorKind.http_status, "HTTP 500 Internal Server Error", status_code=500
        )

    async def test_client_error_is_http_status(self) -> None:
        async with (
            serving(answer_with(Reply(status=404))) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert result == DeliveryFailed(
            ErrorKind.http_status, "HTTP 404 Not Found", status_code=404
        )

    @pytest.mark.parametrize(
        ("status", "value", "seconds"),
        [
            pytest.param(503, "7", 7.0, id="503-seconds"),
            pytest.param(429, "0", 0.0, id="429-zero"),
            pytest.param(503, "soon", None, id="not-a-value"),
            pytest.param(503, "-3", None, id="negative"),
            pytest.param(503, "1.5", None, id="fraction"),
            pytest.param(500, "7", None, id="not-429-or-503"),
        ],
    )
    async def test_retry_after_seconds(
        self, status: int, value: str, seconds: float | None
    ) -> None:
        reply = Reply(status=status, headers=[("Retry-After", value)])
        async with (
            serving(answer_with(reply)) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.http_status
        assert result.status_code == status
        assert result.retry_after_seconds == seconds

    @pytest.mark.parametrize(
        ("offset", "seconds"),
        [pytest.param(90, 90.0, id="future"), pytest.param(-90, 0.0, id="past")],
    )
    async def test_retry_after_http_date(self, offset: int, seconds: float) -> None:
        clock = ManualClock(datetime(2030, 1, 1, 12, 0, tzinfo=UTC))
        date = format_datetime(clock.now() + timedelta(seconds=offset), usegmt=True)
        reply = Reply(status=429, headers=[("Retry-After", date)])
        async with (
            serving(answer_with(reply)) as server,
            started(HttpDispatcher(clock=clock)) as dispatcher,
        ):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert isinstance(result, DeliveryFailed)
        assert result.status_code == 429
        assert result.message == "HTTP 429 Too Many Requests"
        assert result.retry_after_seconds == seconds

    async def test_redirect_is_not_followed(self) -> None:
        async with serving() as target:
            reply = Reply(status=302, headers=[("Location", target.url)])
            async with (
                serving(answer_with(reply)) as server,
                started(HttpDispatcher()) as dispatcher,
            ):
                result = await dispatcher.deliver(make_timer(server.url), 1)

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.http_status
        assert result.status_code == 302
        assert result.message.startswith("HTTP 302 Found")
        assert target.url in result.message
        assert len(server.requests) == 1
        assert target.requests == []

    async def test_silent_server_is_timeout(self) -> None:
        never = anyio.Event()

        async def hang(request: Request) -> Reply:
            await never.wait()
            return Reply()

        async with serving(hang) as server, started(HttpDispatcher()) as dispatcher:
            started_at = time.monotonic()
            result = await dispatcher.deliver(
                make_timer(server.url, timeout_seconds=0.3), 1
            )
            elapsed = time.monotonic() - started_at

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.timeout
        assert "0.3 s" in result.message
        assert 0.25 <= elapsed < 3

    async def test_stalled_answer_body_is_timeout(self) -> None:
        # The head and the start of the body go out, then nothing more.
        raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"
        async with (
            serving(answer_with(Reply(raw=raw))) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            result = await dispatcher.deliver(
                make_timer(server.url, timeout_seconds=0.3), 1
            )

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.timeout

    async def test_refused_connection_is_connection(self) -> None:
        url = f"http://127.0.0.1:{free_port()}/hook"
        async with started(HttpDispatcher()) as dispatcher:
            result = await dispatcher.deliver(make_timer(url), 1)

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.connection
        assert result.message.startswith(f"cannot connect to {url}")
        assert "refused" in result.message.lower()

    async def test_connection_closed_without_answer_is_connection(self) -> None:
        async def hang_up(request: Request) -> None:
            return None

        async with serving(hang_up) as server, started(HttpDispatcher()) as dispatcher:
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.connection

    async def test_tls_failure_is_connection(self) -> None:
        # A plain HTTP server on the port of an https URL: the handshake fails.
        async def answer_in_plain_text(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                await stream.receive()
                await stream.send(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
                )

        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as group:
            group.start_soon(listener.serve, answer_in_plain_text)
            async with started(HttpDispatcher()) as dispatcher:
                url = f"https://127.0.0.1:{port}/hook"
                result = await dispatcher.deliver(make_timer(url), 1)

            group.cancel_scope.cancel()

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.connection
        assert result.message.startswith(f"cannot connect to {url}")


class TestAddressGuard:
    """The guard judges the addresses a name resolves to, right before use."""

    @staticmethod
    def refusing(*prefixes: str) -> tuple[Callable[[str], str | None], list[str]]:
        seen: list[str] = []

        def guard(address: str) -> str | None:
            seen.append(address)
            refused = any(address.startswith(prefix) for prefix in prefixes)
            return "a loopback address" if refused else None

        return guard, seen

    async def test_name_resolving_to_a_refused_address_is_not_called(self) -> None:
        guard, seen = self.refusing("127.", "::1")
        dispatcher = HttpDispatcher(address_guard=guard)

        async with serving() as server, started(dispatcher):
            url = f"http://localhost:{server.port}/hook"
            result = await dispatcher.deliver(make_timer(url), 1)

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.connection
        assert result.message.startswith(
            f"cannot connect to {url}: refused to connect to localhost ("
        )
        assert result.message.endswith(": a loopback address")
        assert "127.0.0.1" in seen
        assert server.requests == []

    async def test_allowed_addresses_of_a_name_are_still_tried(self) -> None:
        # localhost may also resolve to ::1, where the server does not
        # listen: refusing that one leaves 127.0.0.1.
        guard, seen = self.refusing("::1")
        dispatcher = HttpDispatcher(address_guard=guard)

        async with serving() as server, started(dispatcher):
            url = f"http://localhost:{server.port}/hook"
            result = await dispatcher.deliver(make_timer(url), 1)

        assert result == Delivered(status_code=200)
        assert "127.0.0.1" in seen
        assert len(server.requests) == 1

    async def test_address_literal_is_checked_as_well(self) -> None:
        guard, _ = self.refusing("127.")
        dispatcher = HttpDispatcher(address_guard=guard)

        async with serving() as server, started(dispatcher):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert isinstance(result, DeliveryFailed)
        assert result.message == (
            f"cannot connect to {server.url}: refused to connect to 127.0.0.1: "
            "a loopback address"
        )
        assert server.requests == []


# -- pooling, bounds and cancellation ---------------------------------------------


class TestConnections:
    async def test_keep_alive_reuses_one_connection(self) -> None:
        async with serving() as server, started(HttpDispatcher()) as dispatcher:
            for _ in range(30):
                assert await dispatcher.deliver(make_timer(server.url), 1) == Delivered(
                    status_code=200
                )

        assert len(server.requests) == 30
        assert server.connections == 1

    async def test_concurrent_deliveries_use_few_connections(self) -> None:
        dispatcher = HttpDispatcher(max_per_host=4)
        results = []

        async def deliver_some() -> None:
            for _ in range(10):
                results.append(await dispatcher.deliver(make_timer(server.url), 1))

        async with (
            serving() as server,
            started(dispatcher),
            anyio.create_task_group() as group,
        ):
            for _ in range(8):
                group.start_soon(deliver_some)

        assert results == [Delivered(status_code=200)] * 80
        assert server.max_in_flight <= 4
        assert server.connections <= 4

    async def test_slow_target_holds_only_its_own_slots(self) -> None:
        release = anyio.Event()

        async def slow(request: Request) -> Reply:
            await release.wait()
            return Reply()

        # Five shared slots: if the deliveries queued for the slow target held
        # shared ones while waiting, none would be left for the fast target.
        dispatcher = HttpDispatcher(max_connections=5, max_per_host=2)
        results = []

        async def deliver_slow() -> None:
            results.append(await dispatcher.deliver(make_timer(slow_server.url), 1))

        async with (
            serving(slow) as slow_server,
            serving() as fast_server,
            started(dispatcher),
            anyio.create_task_group() as group,
        ):
            for _ in range(6):
                group.start_soon(deliver_slow)

            await slow_server.wait_in_flight(2)
            fast = await dispatcher.deliver(make_timer(fast_server.url), 1)

            slow_in_flight = slow_server.in_flight
            release.set()

        assert fast == Delivered(status_code=200)
        assert slow_in_flight == 2
        assert results == [Delivered(status_code=200)] * 6
        assert slow_server.max_in_flight == 2

    async def test_wait_for_a_target_slot_is_bounded_by_the_timeout(self) -> None:
        release = anyio.Event()

        async def slow(request: Request) -> Reply:
            await release.wait()
            return Reply()

        dispatcher = HttpDispatcher(max_per_host=1)
        async with (
            serving(slow) as server,
            started(dispatcher),
            anyio.create_task_group() as group,
        ):
            group.start_soon(dispatcher.deliver, make_timer(server.url), 1)
            await server.wait_in_flight(1)
            result = await dispatcher.deliver(
                make_timer(server.url, timeout_seconds=0.2), 1
            )
            release.set()

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.timeout
        assert f"127.0.0.1:{server.port}" in result.message
        assert len(server.requests) == 1

    async def test_cancellation_propagates_and_frees_the_slot(self) -> None:
        never = anyio.Event()
        calls = 0

        async def hang_once(request: Request) -> Reply:
            nonlocal calls
            calls += 1
            if calls == 1:
                await never.wait()

            return Reply()

        dispatcher = HttpDispatcher(max_per_host=1)
        async with serving(hang_once) as server, started(dispatcher):
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as group:

                    async def cancel_when_sent() -> None:
                        await server.wait_in_flight(1)
                        scope.cancel()

                    group.start_soon(cancel_when_sent)
                    await dispatcher.deliver(make_timer(server.url), 1)
                    pytest.fail("the delivery was not cancelled")

            after = await dispatcher.deliver(make_timer(server.url), 1)

        assert scope.cancelled_caught
        assert after == Delivered(status_code=200)

    async def test_waiters_take_freed_slots_in_order(self) -> None:
        slots = _Slots(1)
        deadline = _loop_time() + 10
        assert await slots.take_by(deadline)
        taken: list[int] = []

        async def wait(number: int) -> None:
            assert await slots.take_by(deadline)
            taken.append(number)

        async with anyio.create_task_group() as group:
            for number in range(3):
                group.start_soon(wait, number)
                await anyio.wait_all_tasks_blocked()

            for _ in range(3):
                slots.release()
                await anyio.wait_all_tasks_blocked()

        assert taken == [0, 1, 2]
        assert slots.free == 0

    async def test_a_waiter_past_its_deadline_gives_up_and_is_skipped(self) -> None:
        slots = _Slots(1)
        assert await slots.take_by(_loop_time() + 10)

        assert not await slots.take_by(_loop_time() + 0.05)

        # The slot that comes back goes to nobody, so it is free again.
        slots.release()
        assert slots.free == 1

    async def test_a_cancelled_waiter_does_not_keep_a_slot(self) -> None:
        slots = _Slots(1)
        assert await slots.take_by(_loop_time() + 10)

        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(slots.take_by, _loop_time() + 10)
                await anyio.wait_all_tasks_blocked()
                scope.cancel()

        slots.release()
        assert slots.free == 1

    async def test_a_slot_handed_to_a_task_being_cancelled_is_passed_on(
        self,
    ) -> None:
        slots = _Slots(1)
        assert await slots.take_by(_loop_time() + 10)
        first = asyncio.ensure_future(slots.take_by(_loop_time() + 10))
        second = asyncio.ensure_future(slots.take_by(_loop_time() + 10))
        await anyio.wait_all_tasks_blocked()

        # The slot reaches the first waiter, whose task is cancelled before
        # it runs again: the slot must go on to the second.
        slots.release()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first

        assert await second
        assert slots.free == 0

    async def test_environment_proxy_is_not_used(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async with serving() as proxy, serving() as server:
            for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
                monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")

            async with started(HttpDispatcher()) as dispatcher:
                result = await dispatcher.deliver(make_timer(server.url), 1)

        assert result == Delivered(status_code=200)
        assert len(server.requests) == 1
        assert proxy.requests == []

    async def test_restart_after_close(self) -> None:
        dispatcher = HttpDispatcher()
        async with serving() as server:
            async with started(dispatcher):
                first = await dispatcher.deliver(make_timer(server.url), 1)

            async with started(dispatcher):
                second = await dispatcher.deliver(make_timer(server.url), 1)

        assert first == second == Delivered(status_code=200)

    async def test_start_twice_is_refused(self) -> None:
        async with started(HttpDispatcher()) as dispatcher:
            with pytest.raises(RuntimeError, match="started already"):
                await dispatcher.start()
