"""Which requests are retried, how often, and how long the client waits."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from sdk_api import Api, Kind, open_api
from sdk_stub import (
    Reply,
    Sleeps,
    StubServer,
    closed_port,
    error_reply,
    json_reply,
    timer_json,
)
from timerclient import (
    ApiError,
    ConnectionFailed,
    Internal,
    RetrySettings,
    TimerSpec,
    Unavailable,
)
from timerclient._retry import parse_retry_after

pytestmark = pytest.mark.anyio

UNAVAILABLE = error_reply(503, "unavailable", "the storage is unavailable")
DROP = Reply(drop=True)


class TestBackoff:
    def test_the_bound_doubles_from_the_initial_up_to_the_cap(self) -> None:
        settings = RetrySettings()

        bounds = [
            settings.backoff(retry, uniform=lambda low, high: high)
            for retry in range(1, 9)
        ]

        assert bounds == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]

    def test_full_jitter_draws_from_zero_to_the_bound(self) -> None:
        settings = RetrySettings()
        draws: list[tuple[float, float]] = []

        def uniform(low: float, high: float) -> float:
            draws.append((low, high))
            return (low + high) / 4

        delay = settings.backoff(3, uniform=uniform)

        assert draws == [(0.0, 0.8)]
        assert delay == pytest.approx(0.2)

    def test_jittered_waits_spread_within_the_bound(self) -> None:
        rng = random.Random(7)
        settings = RetrySettings()

        delays = [settings.backoff(2, uniform=rng.uniform) for _ in range(200)]

        assert all(0.0 <= delay <= 0.4 for delay in delays)
        assert max(delays) - min(delays) > 0.3

    def test_retry_after_is_honoured_up_to_the_cap(self) -> None:
        settings = RetrySettings()

        assert settings.backoff(1, retry_after=1.5) == 1.5
        assert settings.backoff(1, retry_after=120) == 5.0

    @pytest.mark.parametrize(
        ("header", "seconds"),
        [
            pytest.param("3", 3.0, id="seconds"),
            pytest.param(" 0.5 ", 0.5, id="fraction"),
            pytest.param("-4", 0.0, id="negative"),
            pytest.param("nan", None, id="nan"),
            pytest.param("soon", None, id="garbage"),
            pytest.param(None, None, id="absent"),
        ],
    )
    def test_retry_after_numbers(
        self, header: str | None, seconds: float | None
    ) -> None:
        assert parse_retry_after(header) == seconds

    def test_retry_after_as_an_http_date(self) -> None:
        now = datetime(2026, 12, 3, 8, tzinfo=UTC)
        header = format_datetime(now + timedelta(seconds=4), usegmt=True)

        assert parse_retry_after(header, now) == 4.0

    def test_negative_settings_are_refused(self) -> None:
        with pytest.raises(ValueError, match="max_retries"):
            RetrySettings(max_retries=-1)


class TestWhatIsRetried:
    async def test_503_is_retried_three_times_then_raised(
        self, api: Api, stub: StubServer, sleeps: Sleeps
    ) -> None:
        stub.add(
            UNAVAILABLE,
            UNAVAILABLE,
            UNAVAILABLE,
            UNAVAILABLE,
            json_reply(200, timer_json()),
        )

        with pytest.raises(Unavailable):
            await api.get_timer("shop", "cart-7")

        assert len(stub.seen) == 4
        assert len(sleeps.delays) == 3
        for retry, delay in enumerate(sleeps.delays, start=1):
            assert 0.0 <= delay <= 0.2 * 2 ** (retry - 1)

    async def test_503_then_success_returns_the_answer(
        self, api: Api, stub: StubServer, sleeps: Sleeps
    ) -> None:
        stub.add(UNAVAILABLE, json_reply(200, timer_json()))

        timer = await api.get_timer("shop", "cart-7")

        assert timer.id == "cart-7"
        assert len(stub.seen) == 2
        assert len(sleeps.delays) == 1

    async def test_retry_after_of_a_503_sets_the_wait(
        self, api: Api, stub: StubServer, sleeps: Sleeps
    ) -> None:
        stub.add(
            Reply(503, UNAVAILABLE.body, {**UNAVAILABLE.headers, "Retry-After": "2"}),
            Reply(503, UNAVAILABLE.body, {**UNAVAILABLE.headers, "Retry-After": "60"}),
            Reply(204),
        )

        await api.delete_timer("shop", "cart-7")

        assert sleeps.delays == [2.0, 5.0]

    async def test_a_dropped_connection_is_retried_for_a_read(
        self, api: Api, stub: StubServer, sleeps: Sleeps
    ) -> None:
        stub.add(DROP, DROP, json_reply(200, {"namespaces": []}))

        assert await api.list_namespaces() == []
        assert len(stub.seen) == 3
        assert len(sleeps.delays) == 2

    async def test_creates_are_retried_because_the_server_deduplicates(
        self, api: Api, stub: StubServer, sleeps: Sleeps
    ) -> None:
        stub.add(
            DROP,
            UNAVAILABLE,
            json_reply(200, timer_json()),
            DROP,
            json_reply(200, {"results": [{"status": 200, "timer": timer_json()}]}),
        )

        await api.create_timer(
            "shop", "cart-7", callback="https://a.example", delay_seconds=5
        )
        await api.batch_create_timers(
            "shop", [TimerSpec("cart-7", callback="https://a.example", delay_seconds=5)]
        )

        bodies = [seen.body for seen in stub.seen]
        assert bodies[0] == bodies[1] == bodies[2]
        assert bodies[3] == bodies[4]
        assert len(sleeps.delays) == 3

    async def test_update_without_expected_version_is_not_retried(
        self, api: Api, stub: StubServer, sleeps: Sleeps
    ) -> None:
        stub.add(UNAVAILABLE, json_reply(200, timer_json()))

        with pytest.raises(Unavailable):
            await api.update_timer("shop", "cart-7", payload={"n": 1})

        assert len(stub.seen) == 1
        assert sleeps.delays == []

    async def test_update_without_expected_version_is_not_resent_after_a_drop(
        self, api: Api, stub: StubServer, sleeps: Sleeps
    ) -> None:
        stub.add(DROP, json_reply(200, timer_json()))

        with pytest.raises(ConnectionFailed):
            await api.update_timer("shop", "cart-7", payload={"n": 1})

        assert len(stub.seen) == 1

    async def test_update_with_expected_version_is_retried(
        self, api: Api, stub: StubServer, sleeps: Sleeps
    ) -> None:
        stub.add(UNAVAILABLE, DROP, json_reply(200, timer_json(version=3)))

        timer = await api.update_timer(
            "shop", "cart-7", payload={"n": 1}, expected_version=2
        )

        assert timer.version == 3
        assert [seen.headers["if-match"] for seen in stub.seen] == ['"2"'] * 3
        assert len(sleeps.delays) == 2

    @pytest.mark.parametrize(
        "reply",
        [
            pytest.param(error_reply(500, "internal", "bug"), id="500"),
            pytest.param(error_reply(404, "not_found", "no"), id="404"),
            pytest.param(Reply(502, b"bad gateway"), id="502"),
        ],
    )
    async def test_other_errors_are_not_retried(
        self, api: Api, stub: StubServer, sleeps: Sleeps, reply: Reply
    ) -> None:
        stub.add(reply, json_reply(200, timer_json()))

        with pytest.raises(ApiError) as caught:
            await api.get_timer("shop", "cart-7")

        assert caught.value.status == reply.status
        assert len(stub.seen) == 1
        assert sleeps.delays == []

    async def test_a_refused_connection_is_retried_then_raised(
        self, kind: Kind, sleeps: Sleeps
    ) -> None:
        async with open_api(
            kind, f"http://127.0.0.1:{closed_port()}", sleeps=sleeps
        ) as api:
            with pytest.raises(ConnectionFailed) as caught:
                await api.get_timer("shop", "cart-7")

        assert isinstance(caught.value, ConnectionError)
        assert "GET http://127.0.0.1:" in str(caught.value)
        assert len(sleeps.delays) == 3

    async def test_retries_follow_the_settings(
        self, kind: Kind, stub: StubServer, sleeps: Sleeps
    ) -> None:
        settings = RetrySettings(
            max_retries=1, initial_backoff_seconds=1, max_backoff_seconds=1
        )
        stub.add(UNAVAILABLE, UNAVAILABLE, json_reply(200, timer_json()))

        async with open_api(kind, stub.url, retry=settings, sleeps=sleeps) as api:
            with pytest.raises(Unavailable):
                await api.get_timer("shop", "cart-7")

        assert len(stub.seen) == 2
        assert len(sleeps.delays) == 1
        assert 0.0 <= sleeps.delays[0] <= 1.0

    async def test_no_retries_when_turned_off(
        self, kind: Kind, stub: StubServer, sleeps: Sleeps
    ) -> None:
        stub.add(error_reply(500, "internal", "bug"), UNAVAILABLE)

        async with open_api(
            kind, stub.url, retry=RetrySettings(max_retries=0), sleeps=sleeps
        ) as api:
            with pytest.raises(Internal):
                await api.get_timer("shop", "a")
            with pytest.raises(Unavailable):
                await api.get_timer("shop", "b")

        assert len(stub.seen) == 2
        assert sleeps.delays == []


async def test_real_waits_happen_between_attempts(kind: Kind, stub: StubServer) -> None:
    """Without a fake wait, retries do sleep: about the configured backoff."""
    settings = RetrySettings(
        max_retries=2, initial_backoff_seconds=0.05, max_backoff_seconds=0.05
    )
    stub.add(
        Reply(503, b"", {"Retry-After": "0.05"}),
        Reply(503, b"", {"Retry-After": "0.05"}),
        json_reply(200, timer_json()),
    )

    started = time.monotonic()
    async with open_api(kind, stub.url, retry=settings) as api:
        await api.get_timer("shop", "cart-7")
    elapsed = time.monotonic() - started

    assert len(stub.seen) == 3
    assert 0.1 <= elapsed < 5
