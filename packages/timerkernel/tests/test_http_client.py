"""Tests of the HTTP/1.1 client under the dispatcher, against real servers.

The servers of ``test_http`` run on 127.0.0.1; most tests go through
:class:`HttpDispatcher`, a few use the client itself. Every test runs on the
standard event loop and on uvloop.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from test_http import (
    EVENT_LOOPS,
    WAIT,
    Handler,
    Reply,
    Request,
    answer_json,
    answer_with,
    make_timer,
    serving,
    started,
)
from timerkernel import Delivered, DeliveryFailed, ErrorKind, Rescheduled
from timerkernel._http1 import Http1Client, endpoint_of
from timerkernel.http import HttpDispatcher

pytestmark = pytest.mark.anyio

RESCHEDULE = {"next_delay_seconds": 5, "payload": {"step": 2}}
RESCHEDULE_BODY = json.dumps(RESCHEDULE).encode()


@pytest.fixture(params=EVENT_LOOPS)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


def reply_raw(raw: bytes, *, close: bool = False) -> Reply:
    return Reply(raw=raw, close=close)


def answer_in_turn(*replies: Reply | None) -> Handler:
    """Answer the n-th request with the n-th reply; the last one after that."""
    calls = 0

    async def handler(request: Request) -> Reply | None:
        nonlocal calls
        calls += 1
        return replies[min(calls, len(replies)) - 1]

    return handler


async def deliver_twice(dispatcher: HttpDispatcher, url: str) -> list[Any]:
    return [await dispatcher.deliver(make_timer(url), 1) for _ in range(2)]


def connections_of(dispatcher: HttpDispatcher) -> tuple[int, int]:
    """Count the client's open connections, and the idle ones among them."""
    client = dispatcher._client
    assert client is not None
    return len(client._connections), len(client._idle_order)


# -- framing of answers ----------------------------------------------------------


class TestAnswerFraming:
    async def test_chunked_answer_in_many_chunks_is_read(self) -> None:
        payload = "x" * 5000
        body = json.dumps({"next_delay_seconds": 5, "payload": payload}).encode()
        reply = Reply(body=body, chunked=True)
        async with (
            serving(answer_with(reply)) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            results = await deliver_twice(dispatcher, server.url)

        assert [type(result) for result in results] == [Rescheduled, Rescheduled]
        assert results[0].payload == payload
        assert server.connections == 1

    async def test_chunk_extensions_and_trailer_are_skipped(self) -> None:
        half = len(RESCHEDULE_BODY) // 2
        first, second = RESCHEDULE_BODY[:half], RESCHEDULE_BODY[half:]
        raw = (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + f"{len(first):X};name=value\r\n".encode()
            + first
            + b"\r\n"
            + f"{len(second):x}\r\n".encode()
            + second
            + b"\r\n0\r\nX-Checksum: abc\r\n\r\n"
        )
        async with (
            serving(answer_with(reply_raw(raw))) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            results = await deliver_twice(dispatcher, server.url)

        assert [type(result) for result in results] == [Rescheduled, Rescheduled]
        assert server.connections == 1

    async def test_interim_answers_are_skipped(self) -> None:
        raw = (
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(RESCHEDULE_BODY)}\r\n\r\n".encode()
            + RESCHEDULE_BODY
        )
        async with (
            serving(answer_with(reply_raw(raw))) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            results = await deliver_twice(dispatcher, server.url)

        assert [type(result) for result in results] == [Rescheduled, Rescheduled]
        assert results[0].status_code == 200
        assert server.connections == 1

    async def test_http10_answer_is_read_until_close(self) -> None:
        raw = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
        reply = reply_raw(raw + RESCHEDULE_BODY, close=True)
        async with (
            serving(answer_with(reply)) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            results = await deliver_twice(dispatcher, server.url)

        assert [type(result) for result in results] == [Rescheduled, Rescheduled]
        assert [request.connection for request in server.requests] == [1, 2]

    async def test_http10_answer_with_length_is_not_kept_alive(self) -> None:
        raw = b"HTTP/1.0 204 No Content\r\nContent-Length: 0\r\n\r\n"
        async with (
            serving(answer_with(reply_raw(raw))) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            results = await deliver_twice(dispatcher, server.url)

        assert results == [Delivered(status_code=204)] * 2
        assert [request.connection for request in server.requests] == [1, 2]

    async def test_http10_keep_alive_is_honoured(self) -> None:
        raw = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"
        async with (
            serving(answer_with(reply_raw(raw))) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            results = await deliver_twice(dispatcher, server.url)

        assert results == [Delivered(status_code=200)] * 2
        assert server.connections == 1

    async def test_connection_close_is_honoured(self) -> None:
        # The server would go on; the client closes as the answer says.
        reply = Reply(headers=[("Connection", "close")])
        async with (
            serving(answer_with(reply)) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            results = await deliver_twice(dispatcher, server.url)
            await server.wait_closed(2)

        assert results == [Delivered(status_code=200)] * 2
        assert [request.connection for request in server.requests] == [1, 2]

    async def test_answer_until_close_over_the_limit_is_plain_delivery(self) -> None:
        raw = b"HTTP/1.1 200 OK\r\n\r\n" + RESCHEDULE_BODY
        dispatcher = HttpDispatcher(max_answer_bytes=len(RESCHEDULE_BODY) - 1)
        async with (
            serving(answer_with(reply_raw(raw, close=True))) as server,
            started(dispatcher),
        ):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert result == Delivered(status_code=200)

    async def test_bare_line_feeds_are_accepted(self) -> None:
        raw = b"HTTP/1.1 200 OK\nContent-Length: %d\n\n" % len(RESCHEDULE_BODY)
        async with (
            serving(answer_with(reply_raw(raw + RESCHEDULE_BODY))) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert isinstance(result, Rescheduled)

    async def test_headers_are_read_in_any_case_and_folded(self) -> None:
        raw = (
            b"HTTP/1.1 503 Service Unavailable\r\nRETRY-after:\r\n  7\r\n"
            b"content-LENGTH: 0\r\n\r\n"
        )
        async with (
            serving(answer_with(reply_raw(raw))) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert isinstance(result, DeliveryFailed)
        assert result.status_code == 503
        assert result.retry_after_seconds == 7.0

    async def test_error_answer_body_is_not_waited_for(self) -> None:
        # Only the start of the body comes; the status says all there is.
        raw = b"HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\nab"
        async with (
            serving(answer_with(reply_raw(raw))) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            results = await deliver_twice(dispatcher, server.url)

        assert (
            results
            == [
                DeliveryFailed(
                    ErrorKind.http_status,
                    "HTTP 500 Internal Server Error",
                    status_code=500,
                )
            ]
            * 2
        )
        assert [request.connection for request in server.requests] == [1, 2]

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            pytest.param(b"garbage\r\n\r\n", "status line", id="status-line"),
            pytest.param(b"HTTP/1.1 2000 OK\r\n\r\n", "status line", id="status"),
            pytest.param(
                b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header", id="header"
            ),
            pytest.param(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
                "Content-Length",
                id="two-lengths",
            ),
            pytest.param(
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "Content-Length",
                id="negative-length",
            ),
            pytest.param(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "chunk size",
                id="chunk-size",
            ),
            pytest.param(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
                "chunk",
                id="chunk-too-long",
            ),
            pytest.param(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
                "101",
                id="upgrade",
            ),
            pytest.param(
                b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
                "head",
                id="head-too-large",
            ),
        ],
    )
    async def test_malformed_answer_is_connection_failure(
        self, raw: bytes, reason: str
    ) -> None:
        async with (
            serving(answer_with(reply_raw(raw, close=True))) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.connection
        assert result.message.startswith(
            f"the exchange with {server.url} failed: the answer is malformed"
        )
        assert reason in result.message

    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param(
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{", id="content-length"
            ),
            pytest.param(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n{",
                id="chunked",
            ),
            pytest.param(b"HTTP/1.1 200 OK\r\nContent-Le", id="head"),
        ],
    )
    async def test_server_closing_mid_answer_is_connection_failure(
        self, raw: bytes
    ) -> None:
        async with (
            serving(answer_with(reply_raw(raw, close=True))) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert result == DeliveryFailed(
            ErrorKind.connection,
            f"the exchange with {server.url} failed: "
            "the connection closed in the middle of the answer",
        )
        assert len(server.requests) == 1


# -- the request -------------------------------------------------------------------


class TestRequestEncoding:
    async def test_host_target_and_utf8_header_values(self) -> None:
        async with serving() as server, started(HttpDispatcher()) as dispatcher:
            timer = make_timer(
                server.url + "/é?q=ü#fragment", headers={"X-Note": "café ✓"}
            )
            result = await dispatcher.deliver(timer, 1)

        [request] = server.requests
        note = request.header("X-Note")
        assert note is not None

        assert result == Delivered(status_code=200)
        assert request.target == "/hook/%C3%A9?q=%C3%BC"
        assert request.header_all("Host") == [f"127.0.0.1:{server.port}"]
        # The test server reads heads as Latin-1.
        assert note.encode("latin-1").decode() == "café ✓"

    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param({"X-Bad": "a\r\nX-Injected: 1"}, id="line-break"),
            pytest.param({"X-Bad": "a\x00b"}, id="nul"),
            pytest.param({"X-Bad": "a\x7fb"}, id="delete"),
            pytest.param({"Bad Name": "a"}, id="name"),
        ],
    )
    async def test_bad_header_is_not_sent(self, headers: dict[str, str]) -> None:
        async with serving() as server, started(HttpDispatcher()) as dispatcher:
            result = await dispatcher.deliver(
                make_timer(server.url, headers=headers), 1
            )

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.connection
        assert result.message.startswith(f"no request can be made to {server.url}: ")
        assert "X-Injected" not in result.message
        assert server.requests == []

    async def test_tab_in_a_header_value_is_sent(self) -> None:
        async with serving() as server, started(HttpDispatcher()) as dispatcher:
            headers = {"X-Tabbed": "a\tb"}
            result = await dispatcher.deliver(
                make_timer(server.url, headers=headers), 1
            )

        assert result == Delivered(status_code=200)
        assert server.requests[0].header("X-Tabbed") == "a\tb"


# -- connections ---------------------------------------------------------------------


class TestConnectionReuse:
    async def test_second_delivery_uses_the_same_connection(self) -> None:
        async with serving() as server, started(HttpDispatcher()) as dispatcher:
            results = await deliver_twice(dispatcher, server.url)

        assert results == [Delivered(status_code=200)] * 2
        assert [request.connection for request in server.requests] == [1, 1]

    async def test_stale_pooled_connection_is_retried_once_on_a_new_one(
        self,
    ) -> None:
        # The second request finds its pooled connection closed without a
        # byte of answer, as after the server's own idle timeout.
        handler = answer_in_turn(Reply(), None, Reply())
        async with serving(handler) as server, started(HttpDispatcher()) as dispatcher:
            results = await deliver_twice(dispatcher, server.url)

        first, dropped, retried = server.requests

        assert results == [Delivered(status_code=200)] * 2
        assert [first.connection, dropped.connection, retried.connection] == [1, 1, 2]
        assert retried.body == dropped.body
        assert retried.headers == dropped.headers

    async def test_stale_connection_is_retried_only_once(self) -> None:
        handler = answer_in_turn(Reply(), None)
        async with serving(handler) as server, started(HttpDispatcher()) as dispatcher:
            first, second = await deliver_twice(dispatcher, server.url)

        assert first == Delivered(status_code=200)
        assert isinstance(second, DeliveryFailed)
        assert second.kind is ErrorKind.connection
        assert "closed before an answer" in second.message
        assert [request.connection for request in server.requests] == [1, 1, 2]

    async def test_connection_closed_by_the_server_while_idle(self) -> None:
        async with (
            serving(answer_with(Reply(close=True))) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            first = await dispatcher.deliver(make_timer(server.url), 1)
            await server.wait_closed(1)
            second = await dispatcher.deliver(make_timer(server.url), 1)

        assert first == second == Delivered(status_code=200)
        assert [request.connection for request in server.requests] == [1, 2]

    async def test_fresh_connection_closed_without_answer_is_not_retried(
        self,
    ) -> None:
        async with (
            serving(answer_in_turn(None)) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert result == DeliveryFailed(
            ErrorKind.connection,
            f"the exchange with {server.url} failed: "
            "the connection closed before an answer",
        )
        assert len(server.requests) == 1

    async def test_reused_connection_closed_mid_answer_is_not_retried(self) -> None:
        partial = reply_raw(
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{", close=True
        )
        handler = answer_in_turn(Reply(), partial)
        async with serving(handler) as server, started(HttpDispatcher()) as dispatcher:
            first, second = await deliver_twice(dispatcher, server.url)

        assert first == Delivered(status_code=200)
        assert isinstance(second, DeliveryFailed)
        assert second.kind is ErrorKind.connection
        assert len(server.requests) == 2

    async def test_answer_over_the_limit_closes_the_connection(self) -> None:
        reply = Reply(body=RESCHEDULE_BODY)
        dispatcher = HttpDispatcher(max_answer_bytes=len(RESCHEDULE_BODY) - 1)
        async with serving(answer_with(reply)) as server, started(dispatcher):
            results = await deliver_twice(dispatcher, server.url)

        assert results == [Delivered(status_code=200)] * 2
        assert [request.connection for request in server.requests] == [1, 2]

    async def test_idle_connection_is_closed_after_idle_seconds(self) -> None:
        client = Http1Client(idle_seconds=0.05)
        async with serving() as server:
            endpoint = endpoint_of(server.url)
            assert endpoint is not None
            response = await client.post(
                endpoint,
                [],
                b"",
                deadline=anyio.current_time() + WAIT,
                max_body=100,
                read_body=lambda status: True,
            )
            await server.wait_closed(1)
            await client.close()

        assert response.status == 200
        assert server.connections == 1


# -- timeouts, cancellation, closing -------------------------------------------------


class TestTimeouts:
    async def test_timeout_during_a_slow_answer_drops_the_connection(self) -> None:
        stalled = reply_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{")
        handler = answer_in_turn(stalled, Reply())
        async with serving(handler) as server, started(HttpDispatcher()) as dispatcher:
            slow = await dispatcher.deliver(
                make_timer(server.url, timeout_seconds=0.3), 1
            )
            await server.wait_closed(1)
            after = await dispatcher.deliver(make_timer(server.url), 1)

        assert slow == DeliveryFailed(
            ErrorKind.timeout, f"no complete answer from {server.url} within 0.3 s"
        )
        assert after == Delivered(status_code=200)
        assert [request.connection for request in server.requests] == [1, 2]

    async def test_cancelled_delivery_drops_its_connection(self) -> None:
        release = anyio.Event()

        async def hold_first(request: Request) -> Reply:
            if len(server.requests) == 1:
                await release.wait()

            return Reply()

        async with (
            serving(hold_first) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as group:

                    async def cancel_when_sent() -> None:
                        await server.wait_in_flight(1)
                        scope.cancel()

                    group.start_soon(cancel_when_sent)
                    await dispatcher.deliver(make_timer(server.url), 1)

            # The late answer goes nowhere, and the server finds the
            # connection closed.
            release.set()
            await server.wait_closed(1)
            after = await dispatcher.deliver(make_timer(server.url), 1)

        assert scope.cancelled_caught
        assert after == Delivered(status_code=200)
        assert [request.connection for request in server.requests] == [1, 2]

    async def test_deliveries_cancelled_while_connecting_leave_nothing_open(
        self,
    ) -> None:
        # Cancelled at points spread over the making of a connection, where
        # uvloop may hand over a connection that nobody awaits any more.
        async with serving() as server, started(HttpDispatcher()) as dispatcher:
            for step in range(100):
                with anyio.move_on_after(step * 0.00002):
                    await dispatcher.deliver(make_timer(server.url), 1)

            _, pooled = connections_of(dispatcher)
            await server.wait_closed(server.connections - pooled)
            open_connections, _ = connections_of(dispatcher)

        assert open_connections == pooled

    async def test_close_fails_the_deliveries_in_flight(self) -> None:
        never = anyio.Event()

        async def hang(request: Request) -> Reply:
            await never.wait()
            return Reply()

        results = []
        dispatcher = HttpDispatcher()
        async with serving(hang) as server:
            await dispatcher.start()
            async with anyio.create_task_group() as group:

                async def deliver() -> None:
                    results.append(await dispatcher.deliver(make_timer(server.url), 1))

                group.start_soon(deliver)
                await server.wait_in_flight(1)
                await dispatcher.close()

        assert results == [
            DeliveryFailed(
                ErrorKind.connection,
                f"the exchange with {server.url} failed: the client was closed",
            )
        ]


# -- TLS -----------------------------------------------------------------------------


@attrs.frozen
class Certificates:
    authority: Path
    certificate: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.authority))


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A private authority and a certificate for timers.test and 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")

    folder = tmp_path_factory.mktemp("tls")
    extensions = folder / "server.ext"
    extensions.write_text(
        "subjectAltName=DNS:timers.test,IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    commands = [
        [
            *["openssl", "req", "-x509", *new_key, "-days", "2"],
            *["-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=test authority"],
            *["-addext", "basicConstraints=critical,CA:TRUE"],
            *["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ],
        [
            *["openssl", "req", *new_key, "-keyout", "server.key"],
            *["-out", "server.csr", "-subj", "/CN=timers.test"],
        ],
        [
            *["openssl", "x509", "-req", "-in", "server.csr", "-days", "2"],
            *["-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "1"],
            *["-extfile", "server.ext", "-out", "server.pem"],
        ],
    ]
    for command in commands:
        subprocess.run(command, cwd=folder, check=True, capture_output=True, timeout=60)

    return Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")


def resolve_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every host name resolve to 127.0.0.1, through the client's hook."""

    async def resolve(self: Http1Client, host: str, port: int) -> list[tuple[int, str]]:
        return [(socket.AF_INET, "127.0.0.1")]

    monkeypatch.setattr(Http1Client, "resolve", resolve)


class TestTls:
    async def test_https_with_a_private_authority(
        self, certificates: Certificates
    ) -> None:
        dispatcher = HttpDispatcher(ssl_context=certificates.client_context())
        async with (
            serving(
                answer_json(RESCHEDULE), tls=certificates.server_context()
            ) as server,
            started(dispatcher),
        ):
            results = await deliver_twice(dispatcher, server.url)

        assert [type(result) for result in results] == [Rescheduled, Rescheduled]
        assert [request.connection for request in server.requests] == [1, 1]

    async def test_untrusted_certificate_is_connection_failure(
        self, certificates: Certificates
    ) -> None:
        async with (
            serving(tls=certificates.server_context()) as server,
            started(HttpDispatcher()) as dispatcher,
        ):
            result = await dispatcher.deliver(make_timer(server.url), 1)

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.connection
        assert result.message.startswith(
            f"cannot connect to {server.url}: the TLS certificate of "
            f"127.0.0.1:{server.port} is not accepted: "
        )
        assert "certificate" in result.message.removeprefix(
            f"cannot connect to {server.url}: the TLS certificate"
        )
        assert server.requests == []

    async def test_host_name_is_sent_as_sni_and_verified(
        self, certificates: Certificates, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        resolve_to_loopback(monkeypatch)
        names: list[str | None] = []
        context = certificates.server_context()
        context.sni_callback = lambda connection, name, context: names.append(name)
        dispatcher = HttpDispatcher(ssl_context=certificates.client_context())
        async with serving(tls=context) as server, started(dispatcher):
            url = f"https://timers.test:{server.port}/hook"
            result = await dispatcher.deliver(make_timer(url), 1)

        assert result == Delivered(status_code=200)
        assert names == ["timers.test"]
        assert server.requests[0].header("Host") == f"timers.test:{server.port}"

    async def test_wrong_host_name_is_refused(
        self, certificates: Certificates, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        resolve_to_loopback(monkeypatch)
        dispatcher = HttpDispatcher(ssl_context=certificates.client_context())
        async with (
            serving(tls=certificates.server_context()) as server,
            started(dispatcher),
        ):
            url = f"https://elsewhere.test:{server.port}/hook"
            result = await dispatcher.deliver(make_timer(url), 1)

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.connection
        assert "not accepted" in result.message
        assert "elsewhere.test" in result.message
        assert server.requests == []
