"""Requests that get no answer in time fail with RequestTimedOut."""

from __future__ import annotations

import time

import httpx
import pytest

from sdk_api import Kind, open_api
from sdk_stub import Reply, Sleeps, StubServer, json_reply, timer_json
from timerclient import (
    DEFAULT_TIMEOUT_SECONDS,
    AsyncTimerClient,
    RequestTimedOut,
    TimerClient,
    TimerClientError,
)

pytestmark = pytest.mark.anyio


async def test_a_slow_answer_times_out_and_is_not_retried(
    kind: Kind, stub: StubServer, sleeps: Sleeps
) -> None:
    stub.add(Reply(200, b"{}", delay=3.0), json_reply(200, timer_json()))

    started = time.monotonic()
    async with open_api(kind, stub.url, timeout=0.2, sleeps=sleeps) as api:
        with pytest.raises(RequestTimedOut) as caught:
            await api.get_timer("shop", "cart-7")
    elapsed = time.monotonic() - started

    assert isinstance(caught.value, TimeoutError)
    assert isinstance(caught.value, TimerClientError)
    assert "timed out" in str(caught.value)
    assert 0.15 <= elapsed < 2.0
    assert len(stub.seen) == 1
    assert sleeps.delays == []


async def test_an_answer_within_the_timeout_is_read(
    kind: Kind, stub: StubServer
) -> None:
    stub.add(json_reply(200, timer_json(), delay=0.1))

    async with open_api(kind, stub.url, timeout=2.0) as api:
        timer = await api.get_timer("shop", "cart-7")

    assert timer.id == "cart-7"


async def test_the_default_timeout_is_thirty_seconds() -> None:
    assert DEFAULT_TIMEOUT_SECONDS == 30.0
    with TimerClient() as client:
        assert client.timeout == 30.0

    async with AsyncTimerClient() as aio:
        assert aio.timeout == 30.0

    async with AsyncTimerClient(timeout=2.5) as aio:
        assert aio.timeout == 2.5


async def test_a_given_timeout_overrides_an_injected_clients(stub: StubServer) -> None:
    stub.add(Reply(200, b"{}", delay=3.0))

    async with httpx.AsyncClient(timeout=60.0) as http:
        client = AsyncTimerClient(stub.url, http_client=http, timeout=0.2)
        with pytest.raises(RequestTimedOut):
            await client.get_timer("shop", "cart-7")

        await client.aclose()
        assert not http.is_closed
