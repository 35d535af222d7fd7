"""What each call puts on the wire, and how its answer is read (both clients)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from sdk_api import Api, Kind, open_api
from sdk_stub import Reply, StubServer, error_reply, json_reply, timer_json
from timerclient import (
    DEFAULT_BASE_URL,
    USER_AGENT,
    AlreadyExists,
    AsyncTimerClient,
    Callback,
    FieldViolation,
    InvalidArgument,
    InvalidResponse,
    NotFound,
    RetryPolicy,
    TimerClient,
    TimerSpec,
    TimerStatus,
    __version__,
)

pytestmark = pytest.mark.anyio


class TestHeaders:
    async def test_user_agent_names_the_sdk_and_its_version(
        self, api: Api, stub: StubServer
    ) -> None:
        stub.add(json_reply(200, timer_json()))

        await api.get_timer("shop", "cart-7")

        seen = stub.only()
        assert seen.headers["user-agent"] == f"timerkernel-python/{__version__}"
        assert seen.headers["user-agent"] == USER_AGENT
        assert seen.headers["accept"] == "application/json"
        assert "authorization" not in seen.headers

    async def test_token_is_sent_as_bearer_and_user_agent_goes_first(
        self, kind: Kind, stub: StubServer
    ) -> None:
        stub.add(json_reply(200, {"namespaces": []}))

        async with open_api(
            kind, stub.url, token="s3cret", user_agent="billing/2.1"
        ) as api:
            await api.list_namespaces()

        seen = stub.only()
        assert seen.headers["authorization"] == "Bearer s3cret"
        assert seen.headers["user-agent"] == f"billing/2.1 {USER_AGENT}"

    async def test_base_url_path_prefix_is_kept(
        self, kind: Kind, stub: StubServer
    ) -> None:
        stub.add(json_reply(200, {"namespaces": []}))

        async with open_api(kind, stub.url + "/timers/") as api:
            await api.list_namespaces()

        assert stub.only().path == "/timers/api/v1/namespaces"


class TestCreate:
    async def test_create_with_fire_at_sends_the_whole_definition(
        self, api: Api, stub: StubServer
    ) -> None:
        stub.add(json_reply(201, timer_json(), headers={"ETag": '"1"'}))
        fire_at = datetime(
            2026, 12, 3, 10, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=2))
        )

        timer = await api.create_timer(
            "shop",
            "cart-7",
            fire_at=fire_at,
            callback=Callback(
                "https://shop.example/hooks/cart",
                timeout_seconds=5,
                headers={"X-Tenant": "acme"},
            ),
            payload={"cart": 7},
            retry_policy=RetryPolicy(max_attempts=5, initial_interval_seconds=2),
        )

        seen = stub.only()
        assert (seen.method, seen.path) == ("POST", "/api/v1/namespaces/shop/timers")
        assert seen.headers["content-type"] == "application/json"
        assert seen.json() == {
            "id": "cart-7",
            "fire_at": "2026-12-03T08:00:00.250000Z",
            "callback": {
                "url": "https://shop.example/hooks/cart",
                "timeout_seconds": 5,
                "headers": {"X-Tenant": "acme"},
            },
            "payload": {"cart": 7},
            "retry_policy": {
                "max_attempts": 5,
                "initial_interval_seconds": 2,
                "backoff_coefficient": 2.0,
                "max_interval_seconds": 600.0,
                "max_duration_seconds": None,
            },
        }
        assert timer.id == "cart-7"
        assert timer.fire_at == datetime(2026, 12, 3, 8, tzinfo=UTC)
        assert timer.fire_at.tzinfo is UTC
        assert timer.status is TimerStatus.scheduled
        assert timer.retry_policy == RetryPolicy()
        assert timer.version == 1

    async def test_create_with_a_delay_and_a_plain_url(
        self, api: Api, stub: StubServer
    ) -> None:
        stub.add(json_reply(201, timer_json()))

        await api.create_timer(
            "shop", "cart-7", delay_seconds=90, callback="https://shop.example/h"
        )

        assert stub.only().json() == {
            "id": "cart-7",
            "delay_seconds": 90,
            "callback": {
                "url": "https://shop.example/h",
                "timeout_seconds": 10.0,
                "headers": {},
            },
            "payload": None,
        }

    @pytest.mark.parametrize(
        "when",
        [
            pytest.param({}, id="neither"),
            pytest.param(
                {"fire_at": datetime(2026, 1, 1, tzinfo=UTC), "delay_seconds": 1},
                id="both",
            ),
            pytest.param({"fire_at": datetime(2026, 1, 1)}, id="naive-datetime"),
        ],
    )
    async def test_create_needs_one_aware_fire_time(
        self, api: Api, stub: StubServer, when: dict[str, Any]
    ) -> None:
        with pytest.raises(ValueError, match=r"fire_at|timezone"):
            await api.create_timer("shop", "x", callback="https://a.example", **when)

        assert stub.seen == []

    async def test_batch_create_sends_the_items_and_reads_each_result(
        self, api: Api, stub: StubServer
    ) -> None:
        existing = timer_json(id="b", version=3)
        stub.add(
            json_reply(
                200,
                {
                    "results": [
                        {"status": 201, "timer": timer_json(id="a")},
                        {"status": 200, "timer": timer_json(id="b")},
                        {
                            "status": 409,
                            "error": {
                                "code": "already_exists",
                                "message": "timer 'c' exists",
                                "details": {"existing": existing},
                            },
                        },
                        {
                            "status": 400,
                            "error": {
                                "code": "invalid_argument",
                                "message": "bad",
                                "details": {
                                    "fields": [
                                        {"field": "callback.url", "reason": "no"}
                                    ]
                                },
                            },
                        },
                    ]
                },
            )
        )
        specs = [
            TimerSpec(id, callback="https://a.example", delay_seconds=60)
            for id in ("a", "b", "c", "d")
        ]

        results = await api.batch_create_timers("shop", specs)

        seen = stub.only()
        assert seen.path == "/api/v1/namespaces/shop/timers:batchCreate"
        assert [item["id"] for item in seen.json()["timers"]] == ["a", "b", "c", "d"]
        assert [result.status for result in results] == [201, 200, 409, 400]
        assert [result.ok for result in results] == [True, True, False, False]
        assert results[0].timer is not None
        assert results[0].timer.id == "a"
        conflict = results[2].error
        assert isinstance(conflict, AlreadyExists)
        assert conflict.existing is not None
        assert conflict.existing.version == 3
        invalid = results[3].error
        assert invalid is not None
        assert invalid.fields == [FieldViolation("callback.url", "no")]

    async def test_a_batch_is_one_request_whatever_its_size(
        self, api: Api, stub: StubServer
    ) -> None:
        # The server sets the largest batch, so the client leaves it to it.
        stub.add(
            error_reply(
                400,
                "invalid_argument",
                "at most 1000 timers per batch",
                {"fields": [{"field": "timers", "reason": "too many"}]},
            )
        )
        specs = [
            TimerSpec(f"t{index}", callback="https://a.example", delay_seconds=5)
            for index in range(1001)
        ]

        with pytest.raises(InvalidArgument) as raised:
            await api.batch_create_timers("shop", specs)

        assert len(stub.only().json()["timers"]) == 1001
        assert raised.value.fields == [FieldViolation("timers", "too many")]


class TestReadUpdateDelete:
    async def test_get_quotes_the_id_as_one_segment(
        self, api: Api, stub: StubServer
    ) -> None:
        stub.add(json_reply(200, timer_json(id="invoice:7@eu.west")))

        timer = await api.get_timer("billing", "invoice:7@eu.west")

        assert stub.only().path == "/api/v1/namespaces/billing/timers/invoice:7@eu.west"
        assert timer.id == "invoice:7@eu.west"

    @pytest.mark.parametrize("bad", ["a/attempts", "", "..", "."])
    async def test_ids_that_would_change_the_path_are_refused(
        self, api: Api, stub: StubServer, bad: str
    ) -> None:
        with pytest.raises(ValueError, match="path segment"):
            await api.get_timer("shop", bad)

        assert stub.seen == []

    async def test_update_sends_only_what_is_given(
        self, api: Api, stub: StubServer
    ) -> None:
        stub.add(json_reply(200, timer_json(version=2)))

        timer = await api.update_timer(
            "shop", "cart-7", fire_at=datetime(2027, 1, 1, tzinfo=UTC), payload=None
        )

        seen = stub.only()
        assert (seen.method, seen.path) == (
            "PATCH",
            "/api/v1/namespaces/shop/timers/cart-7",
        )
        assert seen.json() == {"fire_at": "2027-01-01T00:00:00Z", "payload": None}
        assert "if-match" not in seen.headers
        assert timer.version == 2

    async def test_update_with_expected_version_sends_if_match(
        self, api: Api, stub: StubServer
    ) -> None:
        stub.add(json_reply(200, timer_json(version=4)))

        await api.update_timer(
            "shop",
            "cart-7",
            delay_seconds=30,
            callback="https://shop.example/v2",
            retry_policy=RetryPolicy(max_attempts=0),
            expected_version=3,
        )

        seen = stub.only()
        assert seen.headers["if-match"] == '"3"'
        assert seen.json() == {
            "delay_seconds": 30,
            "callback": {
                "url": "https://shop.example/v2",
                "timeout_seconds": 10.0,
                "headers": {},
            },
            "retry_policy": {
                "max_attempts": 0,
                "initial_interval_seconds": 1.0,
                "backoff_coefficient": 2.0,
                "max_interval_seconds": 600.0,
                "max_duration_seconds": None,
            },
        }

    async def test_delete_sends_if_match_when_asked_and_reads_204(
        self, api: Api, stub: StubServer
    ) -> None:
        stub.add(Reply(204), Reply(204))

        await api.delete_timer("shop", "cart-7")
        await api.delete_timer("shop", "cart-7", expected_version=9)

        first, second = stub.seen
        assert (first.method, first.path) == (
            "DELETE",
            "/api/v1/namespaces/shop/timers/cart-7",
        )
        assert "if-match" not in first.headers
        assert second.headers["if-match"] == '"9"'


class TestLists:
    async def test_list_sends_every_filter(self, api: Api, stub: StubServer) -> None:
        stub.add(json_reply(200, {"timers": [timer_json()], "next_page_token": "abc"}))

        page = await api.list_timers(
            "shop",
            status=[TimerStatus.scheduled, "failed"],
            fire_after=datetime(2026, 12, 1, tzinfo=UTC),
            fire_before=datetime(2026, 12, 2, 1, tzinfo=timezone(timedelta(hours=1))),
            id_prefix="cart-",
            limit=100,
            page_token="xyz",
        )

        seen = stub.only()
        assert (seen.method, seen.path) == ("GET", "/api/v1/namespaces/shop/timers")
        assert seen.query == [
            ("status", "scheduled"),
            ("status", "failed"),
            ("fire_after", "2026-12-01T00:00:00Z"),
            ("fire_before", "2026-12-02T00:00:00Z"),
            ("id_prefix", "cart-"),
            ("limit", "100"),
            ("page_token", "xyz"),
        ]
        assert [timer.id for timer in page.timers] == ["cart-7"]
        assert page.next_page_token == "abc"

    async def test_one_status_alone(self, api: Api, stub: StubServer) -> None:
        stub.add(json_reply(200, {"timers": [], "next_page_token": None}))

        page = await api.list_timers("shop", status="succeeded")

        assert stub.only().query == [("status", "succeeded")]
        assert page.timers == ()
        assert page.next_page_token is None

    async def test_iteration_follows_page_tokens_with_the_same_filters(
        self, api: Api, stub: StubServer
    ) -> None:
        stub.add(
            json_reply(
                200,
                {
                    "timers": [timer_json(id="a"), timer_json(id="b")],
                    "next_page_token": "p2",
                },
            ),
            json_reply(200, {"timers": [timer_json(id="c")], "next_page_token": "p3"}),
            json_reply(200, {"timers": [], "next_page_token": None}),
        )

        timers = await api.all_timers("shop", id_prefix="x", page_size=2)

        assert [timer.id for timer in timers] == ["a", "b", "c"]
        assert [seen.query for seen in stub.seen] == [
            [("id_prefix", "x"), ("limit", "2")],
            [("id_prefix", "x"), ("limit", "2"), ("page_token", "p2")],
            [("id_prefix", "x"), ("limit", "2"), ("page_token", "p3")],
        ]

    async def test_iteration_stops_when_the_server_repeats_a_token(
        self, api: Api, stub: StubServer
    ) -> None:
        page = {"timers": [timer_json(id="a")], "next_page_token": "same"}
        stub.add(json_reply(200, page), json_reply(200, page), json_reply(200, page))

        with pytest.raises(InvalidResponse, match="repeated its page token 'same'"):
            await api.all_timers("shop")

        assert len(stub.seen) == 2

    async def test_namespaces_with_counts(self, api: Api, stub: StubServer) -> None:
        stub.add(
            json_reply(
                200,
                {
                    "namespaces": [
                        {
                            "name": "shop",
                            "counts": {"scheduled": 3, "succeeded": 2, "failed": 1},
                        }
                    ]
                },
            )
        )

        namespaces = await api.list_namespaces()

        assert stub.only().path == "/api/v1/namespaces"
        assert len(namespaces) == 1
        assert namespaces[0].name == "shop"
        assert (
            namespaces[0].counts.scheduled,
            namespaces[0].counts.succeeded,
            namespaces[0].counts.failed,
        ) == (3, 2, 1)

    async def test_attempts_are_read_with_their_errors(
        self, api: Api, stub: StubServer
    ) -> None:
        stub.add(
            json_reply(
                200,
                {
                    "attempts": [
                        {
                            "attempt": 2,
                            "fire_at": "2026-12-03T08:00:00.000Z",
                            "started_at": "2026-12-03T08:00:03.010Z",
                            "duration_ms": 12.5,
                            "outcome": "succeeded",
                            "status_code": 200,
                            "error": None,
                        },
                        {
                            "attempt": 1,
                            "fire_at": "2026-12-03T08:00:00.000Z",
                            "started_at": "2026-12-03T08:00:00.004Z",
                            "duration_ms": 3,
                            "outcome": "failed",
                            "status_code": 503,
                            "error": {
                                "at": "2026-12-03T08:00:00.007Z",
                                "kind": "http_status",
                                "message": "HTTP 503",
                                "status_code": 503,
                            },
                        },
                    ]
                },
            )
        )

        attempts = await api.list_attempts("shop", "cart-7")

        assert stub.only().path == "/api/v1/namespaces/shop/timers/cart-7/attempts"
        assert [attempt.attempt for attempt in attempts] == [2, 1]
        assert attempts[0].error is None
        failed = attempts[1]
        assert failed.outcome == "failed"
        assert failed.error is not None
        assert failed.error.kind == "http_status"
        assert failed.error.at == datetime(2026, 12, 3, 8, 0, 0, 7000, tzinfo=UTC)


class TestClientSetup:
    async def test_an_injected_sync_client_is_used_and_left_open(
        self, stub: StubServer
    ) -> None:
        sent: list[str] = []

        def note(request: httpx.Request) -> None:
            sent.append(request.url.path)

        stub.add(json_reply(200, {"namespaces": []}))
        with httpx.Client(event_hooks={"request": [note]}) as http:
            with TimerClient(stub.url, http_client=http) as client:
                assert client.list_namespaces() == []

            assert not http.is_closed

        assert sent == ["/api/v1/namespaces"]

    async def test_an_injected_async_client_is_used_and_left_open(
        self, stub: StubServer
    ) -> None:
        sent: list[str] = []

        async def note(request: httpx.Request) -> None:
            sent.append(request.url.path)

        stub.add(json_reply(200, {"namespaces": []}))
        async with httpx.AsyncClient(event_hooks={"request": [note]}) as http:
            async with AsyncTimerClient(stub.url, http_client=http) as client:
                assert await client.list_namespaces() == []

            assert not http.is_closed

        assert sent == ["/api/v1/namespaces"]

    async def test_the_default_base_url(self) -> None:
        with TimerClient() as client:
            assert client.base_url == "http://127.0.0.1:8080"
            assert client.base_url == DEFAULT_BASE_URL

    async def test_one_debug_line_per_request(
        self, api: Api, stub: StubServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        stub.add(
            json_reply(200, timer_json()),
            error_reply(503, "unavailable", "later"),
            error_reply(404, "not_found", "no"),
        )

        with caplog.at_level(logging.DEBUG, logger="timerclient"):
            await api.get_timer("shop", "cart-7")
            with pytest.raises(NotFound):
                await api.get_timer("shop", "gone")

        records = [
            record
            for record in caplog.records
            if record.name.startswith("timerclient.")
        ]
        messages = [record.getMessage() for record in records]
        assert messages[0] == "GET /api/v1/namespaces/shop/timers/cart-7 -> 200"
        assert messages[1].startswith(
            "GET /api/v1/namespaces/shop/timers/gone -> 503; retry 1 in 0."
        )
        assert messages[2] == "GET /api/v1/namespaces/shop/timers/gone -> 404"
        assert len(messages) == 3
        assert records[0].__dict__["status"] == 200
        assert records[1].__dict__["retry"] == 1
        assert all(record.levelno == logging.DEBUG for record in records)
