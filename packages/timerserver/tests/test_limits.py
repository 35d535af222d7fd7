"""Limits that are settings: the size of a request's head, and of a list page.

(The body, payload and batch limits have their tests in test_bad_input.py.)
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from typing import Any

import httpx
import pytest

from blackbox import (
    LOOPBACK,
    Api,
    ServerFactory,
    ServerProcess,
    bad_fields,
    error_of,
    timer_body,
)

DEFAULT_HEAD_LIMIT = 32 * 1024
CHUNK = 64 * 1024
# Far past any limit; a server that reads it all has no limit.
ENDLESS_HEAD = 16 * 1024 * 1024


def head_of(size: int, *, close: bool = True) -> bytes:
    """A GET whose request line and headers come to *size* bytes.

    With *close*, it asks the server to close the connection after answering.
    """
    connection = "close" if close else "keep-alive"
    start = (
        f"GET /healthz HTTP/1.1\r\nHost: {LOOPBACK}\r\n"
        f"Connection: {connection}\r\nX-Filler: "
    ).encode()
    return start + b"f" * (size - len(start) - 4) + b"\r\n\r\n"


def exchange(port: int, request: bytes) -> bytes:
    """Send *request* on a connection of its own and read until the server closes."""
    with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(CHUNK):
            chunks.append(chunk)

    return b"".join(chunks)


def status_and_body(answer: bytes) -> tuple[int, Any]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body.startswith(b"{") else body


class TestHeadLimit:
    def test_head_within_the_limit_is_served(self, server: ServerProcess) -> None:
        answer = exchange(server.port, head_of(DEFAULT_HEAD_LIMIT - 1024))

        status, _ = status_and_body(answer)
        assert status == 200, answer[:300]

    def test_head_over_the_limit_answers_431_in_the_error_model(
        self, server: ServerProcess
    ) -> None:
        answer = exchange(server.port, head_of(DEFAULT_HEAD_LIMIT + 1024))

        status, body = status_and_body(answer)
        assert status == 431, answer[:300]
        assert body["error"]["code"] == "payload_too_large"
        assert body["error"]["details"] == {
            "field": "headers",
            "limit": DEFAULT_HEAD_LIMIT,
        }

    def test_endless_head_is_cut_off_without_being_read(
        self, server: ServerProcess
    ) -> None:
        sent = 0
        answer = b""
        with socket.create_connection((LOOPBACK, server.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Endless: ")
            deadline = time.monotonic() + 20
            # A closed connection ends the loop; a server that stopped
            # reading without closing makes sendall time out, and fails.
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                while sent < ENDLESS_HEAD and time.monotonic() < deadline:
                    sock.sendall(b"e" * CHUNK)
                    sent += CHUNK

            # The answer may be lost to the reset of a connection written to
            # after it closed; when it arrives, it is the 431.
            with contextlib.suppress(ConnectionResetError):
                answer = sock.recv(CHUNK)

        assert sent < ENDLESS_HEAD
        if answer:
            assert status_and_body(answer)[0] == 431

    def test_limit_holds_for_each_request_of_a_connection(
        self, server: ServerProcess
    ) -> None:
        small = head_of(1024, close=False)
        large = head_of(DEFAULT_HEAD_LIMIT + 1024)

        answer = exchange(server.port, small + small + large)

        assert answer.count(b"HTTP/1.1 200 OK") == 2
        assert b"HTTP/1.1 431" in answer


@pytest.fixture
def small_limits(server_factory: ServerFactory) -> ServerProcess:
    return server_factory(
        env={
            "TIMERSERVER_LIMITS__MAX_HEADER_BYTES": "4096",
            "TIMERSERVER_LIMITS__MAX_PAGE_SIZE": "5",
        },
        args=["--no-runner"],
    )


class TestConfiguredLimits:
    def test_head_limit_is_a_setting(self, small_limits: ServerProcess) -> None:
        within = exchange(small_limits.port, head_of(3000))
        over = exchange(small_limits.port, head_of(5000))

        assert status_and_body(within)[0] == 200
        status, body = status_and_body(over)
        assert status == 431
        assert body["error"]["details"]["limit"] == 4096

    def test_page_size_limit_is_a_setting(self, small_limits: ServerProcess) -> None:
        with small_limits.client() as client:
            api = Api(client, "pages")
            for n in range(7):
                api.created(timer_body(f"t{n}", "http://127.0.0.1:9/"))

            default = api.list_timers()
            largest = api.list_timers(limit=5)
            over = api.list_timers(limit=6)

        assert len(default.json()["timers"]) == 5
        assert default.json()["next_page_token"] is not None
        assert len(largest.json()["timers"]) == 5
        assert "from 1 to 5" in bad_fields(over)["limit"]

    def test_document_states_the_configured_limits(
        self, small_limits: ServerProcess
    ) -> None:
        document = httpx.get(f"{small_limits.base_url}/api/v1/openapi.json").json()

        (path,) = [p for p in document["paths"] if p.endswith("/timers")]
        parameters = document["paths"][path]["get"]["parameters"]
        (limit,) = [p for p in parameters if p["name"] == "limit"]
        assert limit["schema"]["maximum"] == 5
        assert limit["schema"]["default"] == 5

    def test_a_limit_below_one_is_refused_at_start(
        self, server_factory: ServerFactory
    ) -> None:
        process = server_factory(
            env={"TIMERSERVER_LIMITS__MAX_PAGE_SIZE": "0"}, start=False
        )
        process.start(ready=False)

        assert process.wait() == 2
        assert "max_page_size" in process.stderr()


def test_431_reaches_an_http_client_as_an_error_answer(server: ServerProcess) -> None:
    filler = "f" * (DEFAULT_HEAD_LIMIT + 10)

    response = httpx.get(f"{server.base_url}/healthz", headers={"X-Filler": filler})

    error_of(response, 431, "payload_too_large")
