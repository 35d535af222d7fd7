"""The async client's own HTTP/1.1 transport, under httpx.AsyncClient."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sdk_stub import Reply, StubServer, closed_port, json_reply
from timerclient import AsyncTimerClient, TimerClient
from timerclient._transport import KeepAliveTransport

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=KeepAliveTransport(), timeout=5.0) as client:
        yield client


def raw(*lines: str, body: bytes = b"") -> bytes:
    return "\r\n".join([*lines, "", ""]).encode() + body


class TestConnections:
    async def test_connections_are_kept_alive_and_reused(
        self, http: httpx.AsyncClient, stub: StubServer
    ) -> None:
        stub.add(*[json_reply(200, {"n": index}) for index in range(3)])

        answers = [(await http.get(f"{stub.url}/n")).json() for _ in range(3)]

        assert answers == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert len({seen.client_port for seen in stub.seen}) == 1

    async def test_connection_close_is_honoured(
        self, http: httpx.AsyncClient, stub: StubServer
    ) -> None:
        stub.add(Reply(200, b"a", close=True), Reply(200, b"b"))

        first = await http.get(f"{stub.url}/a")
        second = await http.get(f"{stub.url}/b")

        assert (first.text, second.text) == ("a", "b")
        assert stub.seen[0].client_port != stub.seen[1].client_port

    async def test_a_reused_connection_dropped_by_the_server_is_redone_for_get(
        self, http: httpx.AsyncClient, stub: StubServer
    ) -> None:
        stub.add(Reply(200, b"first"), Reply(drop=True), Reply(200, b"again"))

        await http.get(f"{stub.url}/x")
        answer = await http.get(f"{stub.url}/x")

        assert answer.text == "again"
        ports = [seen.client_port for seen in stub.seen]
        assert ports[0] == ports[1] != ports[2]

    async def test_a_reused_connection_dropped_is_not_redone_for_post(
        self, http: httpx.AsyncClient, stub: StubServer
    ) -> None:
        stub.add(Reply(200, b"first"), Reply(drop=True), Reply(200, b"never"))

        await http.get(f"{stub.url}/x")
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(f"{stub.url}/x", content=b"{}")

        assert len(stub.seen) == 2

    async def test_requests_beyond_the_limit_wait_for_a_slot(
        self, stub: StubServer
    ) -> None:
        stub.add(*[Reply(200, b"ok", delay=0.2) for _ in range(4)])
        transport = KeepAliveTransport(max_connections=2)

        async with httpx.AsyncClient(transport=transport, timeout=5.0) as http:
            answers = await asyncio.gather(
                *(http.get(f"{stub.url}/{index}") for index in range(4))
            )

        assert [answer.text for answer in answers] == ["ok"] * 4
        assert len({seen.client_port for seen in stub.seen}) == 2

    async def test_waiting_for_a_slot_is_bounded_by_the_pool_timeout(
        self, stub: StubServer
    ) -> None:
        release = threading.Event()
        stub.add(Reply(200, b"slow", hold=release))
        transport = KeepAliveTransport(max_connections=1)
        timeout = httpx.Timeout(5.0, pool=0.1)

        async with httpx.AsyncClient(transport=transport, timeout=timeout) as http:
            slow = asyncio.create_task(http.get(f"{stub.url}/slow"))
            await stub.wait_for_requests(1)
            started = time.monotonic()
            with pytest.raises(httpx.PoolTimeout):
                await http.get(f"{stub.url}/fast")
            waited = time.monotonic() - started

            release.set()
            assert (await slow).text == "slow"

        assert 0.09 <= waited < 3.0
        assert len(stub.seen) == 1

    async def test_a_refused_connection_is_a_connect_error(
        self, http: httpx.AsyncClient
    ) -> None:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{closed_port()}/")

    async def test_a_silent_server_is_a_read_timeout(self, stub: StubServer) -> None:
        stub.add(Reply(200, b"late", delay=2.0))

        async with httpx.AsyncClient(
            transport=KeepAliveTransport(), timeout=0.2
        ) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(f"{stub.url}/")

    async def test_closing_the_transport_closes_idle_connections(
        self, stub: StubServer
    ) -> None:
        stub.add(Reply(200, b"ok"))
        transport = KeepAliveTransport()

        async with httpx.AsyncClient(transport=transport) as http:
            await http.get(f"{stub.url}/")

        with pytest.raises(RuntimeError, match="closed"):
            await transport.handle_async_request(httpx.Request("GET", stub.url))


class TestFraming:
    async def test_chunked_answers_are_joined(
        self, http: httpx.AsyncClient, stub: StubServer
    ) -> None:
        body = b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n"
        stub.add(
            Reply(raw=raw("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", body=body)),
            Reply(200, b"next"),
        )

        first = await http.get(f"{stub.url}/")
        second = await http.get(f"{stub.url}/")

        assert first.text == "hello world"
        assert second.text == "next"
        assert stub.seen[0].client_port == stub.seen[1].client_port

    async def test_a_body_without_length_runs_to_the_end_of_the_connection(
        self, http: httpx.AsyncClient, stub: StubServer
    ) -> None:
        stub.add(Reply(raw=raw("HTTP/1.0 200 OK", body=b"until the end"), close=True))

        answer = await http.get(f"{stub.url}/")

        assert answer.text == "until the end"
        assert answer.http_version == "HTTP/1.0"

    async def test_interim_answers_are_skipped(
        self, http: httpx.AsyncClient, stub: StubServer
    ) -> None:
        stub.add(
            Reply(
                raw=raw("HTTP/1.1 100 Continue")
                + raw("HTTP/1.1 201 Created", "Content-Length: 2", body=b"ok")
            )
        )

        answer = await http.post(f"{stub.url}/", content=b"{}")

        assert (answer.status_code, answer.text) == (201, "ok")
        assert answer.reason_phrase == "Created"

    async def test_head_and_204_have_no_body(
        self, http: httpx.AsyncClient, stub: StubServer
    ) -> None:
        stub.add(
            Reply(raw=raw("HTTP/1.1 200 OK", "Content-Length: 10")),
            Reply(204),
            Reply(200, b"after"),
        )

        head = await http.head(f"{stub.url}/")
        empty = await http.delete(f"{stub.url}/")
        after = await http.get(f"{stub.url}/")

        assert (head.content, empty.status_code, empty.content) == (b"", 204, b"")
        assert after.text == "after"
        assert len({seen.client_port for seen in stub.seen}) == 1

    async def test_gzip_answers_are_decoded(
        self, http: httpx.AsyncClient, stub: StubServer
    ) -> None:
        stub.add(Reply(200, gzip.compress(b'{"a":1}'), {"Content-Encoding": "gzip"}))

        answer = await http.get(f"{stub.url}/")

        assert answer.json() == {"a": 1}

    async def test_request_bodies_and_queries_arrive_whole(
        self, http: httpx.AsyncClient, stub: StubServer
    ) -> None:
        stub.add(Reply(200, b"ok"))
        body = b"x" * 300_000

        await http.post(f"{stub.url}/p", params={"a": "1 2", "b": "é"}, content=body)

        seen = stub.only()
        assert seen.body == body
        assert seen.query == [("a", "1 2"), ("b", "é")]
        assert seen.headers["content-length"] == "300000"

    async def test_a_streamed_request_body_is_sent_with_its_length(
        self, http: httpx.AsyncClient, stub: StubServer
    ) -> None:
        stub.add(Reply(200, b"ok"))

        async def parts() -> AsyncIterator[bytes]:
            yield b"hello "
            yield b"world"

        await http.post(f"{stub.url}/", content=parts())

        seen = stub.only()
        assert seen.body == b"hello world"
        assert "transfer-encoding" not in seen.headers

    @pytest.mark.parametrize(
        "answer",
        [
            pytest.param(b"HELLO\r\n\r\n", id="no-status-line"),
            pytest.param(raw("HTTP/1.1 abc OK"), id="bad-status"),
            pytest.param(raw("HTTP/1.1 200 OK", "no colon here"), id="bad-header"),
            pytest.param(raw("HTTP/1.1 200 OK", "Content-Length: x"), id="bad-length"),
            pytest.param(
                raw("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", body=b"zz\r\n"),
                id="bad-chunk",
            ),
        ],
    )
    async def test_answers_that_are_not_http_are_protocol_errors(
        self, http: httpx.AsyncClient, stub: StubServer, answer: bytes
    ) -> None:
        stub.add(Reply(raw=answer, close=True))

        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"{stub.url}/")

    async def test_line_breaks_in_headers_are_refused(
        self, http: httpx.AsyncClient, stub: StubServer
    ) -> None:
        with pytest.raises(httpx.LocalProtocolError):
            await http.get(f"{stub.url}/", headers={"X-Evil": "a\r\nX-Injected: 1"})

        assert stub.seen == []


def _self_signed(directory: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")

    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


async def test_https_with_a_private_certificate_authority(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    trusted = ssl.create_default_context(cafile=str(cert))

    with StubServer(tls=server_side) as stub:
        stub.add(
            json_reply(200, {"namespaces": []}), json_reply(200, {"namespaces": []})
        )
        async with AsyncTimerClient(stub.url, verify=trusted) as client:
            assert await client.list_namespaces() == []
            assert await client.list_namespaces() == []

        assert len({seen.client_port for seen in stub.seen}) == 1


async def test_https_refuses_an_unknown_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    with StubServer(tls=server_side) as stub:
        async with httpx.AsyncClient(
            transport=KeepAliveTransport(), timeout=5.0
        ) as http:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(f"{stub.url}/")


async def test_a_proxy_in_the_environment_keeps_httpx_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    async with AsyncTimerClient("https://timers.example", timeout=7) as proxied:
        assert proxied._direct is None
        assert proxied._http is not None
        assert proxied.timeout == 7

    monkeypatch.setenv("NO_PROXY", "timers.example")
    async with AsyncTimerClient("https://timers.example") as bypassed:
        assert isinstance(bypassed._direct, KeepAliveTransport)
        assert bypassed._http is None


async def test_https_checks_can_be_turned_off(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    with StubServer(tls=server_side) as stub:
        stub.add(json_reply(200, {"namespaces": []}))
        async with AsyncTimerClient(stub.url, verify=False) as client:
            assert await client.list_namespaces() == []


def test_the_sync_client_takes_a_tls_context(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    trusted = ssl.create_default_context(cafile=str(cert))

    with StubServer(tls=server_side) as stub:
        stub.add(json_reply(200, {"namespaces": []}))
        with TimerClient(stub.url, verify=trusted) as client:
            assert client.list_namespaces() == []


async def test_requests_go_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch, stub: StubServer
) -> None:
    monkeypatch.setenv("HTTP_PROXY", stub.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    stub.add(json_reply(200, {"namespaces": []}))

    async with AsyncTimerClient("http://timers.example") as client:
        assert await client.list_namespaces() == []

    seen = stub.only()
    assert seen.path == "/api/v1/namespaces"
    assert seen.headers["host"] == "timers.example"
