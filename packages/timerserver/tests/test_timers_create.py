"""POST /api/v1/namespaces/{ns}/timers: creating timers and the dedup rules."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin

import pytest

from blackbox import (
    DEFAULT_RETRY_POLICY,
    TIMER_FIELDS,
    Api,
    Receiver,
    ServerProcess,
    error_of,
    etag_version,
    in_seconds,
    iso,
    parse_time,
    timer_body,
    timer_path,
    utc_now,
)


class TestCreate:
    def test_new_timer_answers_201_with_location_etag_and_the_timer(
        self, api: Api, server: ServerProcess, ns: str, receiver: Receiver
    ) -> None:
        fire_at = iso(in_seconds(3600))
        before = utc_now() - timedelta(seconds=5)

        response = api.create(
            timer_body("first", receiver.url("/hook"), fire_at=fire_at)
        )

        assert response.status_code == 201
        location = response.headers["location"]
        assert urljoin(server.base_url + "/", location) == server.base_url + timer_path(
            ns, "first"
        )
        assert etag_version(response) == 1
        assert response.headers["content-type"].startswith("application/json")
        timer = response.json()
        assert set(timer) == TIMER_FIELDS
        assert timer["namespace"] == ns
        assert timer["id"] == "first"
        assert timer["fire_at"] == fire_at
        assert timer["status"] == "scheduled"
        assert timer["attempts"] == 0
        assert timer["next_attempt_at"] == fire_at
        assert timer["last_error"] is None
        assert timer["executed_at"] is None
        assert timer["version"] == 1
        created_at = parse_time(timer["created_at"])
        assert before <= created_at <= utc_now() + timedelta(seconds=5)
        assert timer["updated_at"] == timer["created_at"]

    def test_location_names_the_created_timer(
        self, api: Api, server: ServerProcess
    ) -> None:
        response = api.create(timer_body("located", "http://127.0.0.1:9/x"))

        fetched = api.client.get(
            urljoin(server.base_url + "/", response.headers["location"])
        )

        assert fetched.status_code == 200
        assert fetched.json() == response.json()

    def test_omitted_fields_take_the_defaults(
        self, api: Api, receiver: Receiver
    ) -> None:
        timer = api.created(timer_body("defaults", receiver.url("/hook")))

        assert timer["callback"] == {
            "url": receiver.url("/hook"),
            "timeout_seconds": 10,
            "headers": {},
        }
        assert timer["payload"] is None
        assert timer["retry_policy"] == DEFAULT_RETRY_POLICY

    def test_partial_retry_policy_takes_defaults_for_missing_fields(
        self, api: Api, receiver: Receiver
    ) -> None:
        body = timer_body("partial", receiver.url(), retry_policy={"max_attempts": 3})

        timer = api.created(body)

        assert timer["retry_policy"] == dict(DEFAULT_RETRY_POLICY, max_attempts=3)

    def test_given_fields_are_kept(self, api: Api, receiver: Receiver) -> None:
        callback = {
            "url": receiver.url("/hook?source=test"),
            "timeout_seconds": 2.5,
            "headers": {"X-Tenant": "acme", "Authorization": "Bearer abc"},
        }
        payload = {
            "order": 17,
            "items": ["a", "ü", None, True, 1.5],
            "nested": {"k": []},
        }
        retry_policy = {
            "max_attempts": 0,
            "initial_interval_seconds": 0.5,
            "backoff_coefficient": 3,
            "max_interval_seconds": 30,
            "max_duration_seconds": 3600,
        }
        body = timer_body(
            "kept", "", callback=callback, payload=payload, retry_policy=retry_policy
        )

        timer = api.created(body)

        assert timer["callback"] == callback
        assert timer["payload"] == payload
        assert timer["retry_policy"] == retry_policy

    @pytest.mark.parametrize(
        "payload",
        [
            pytest.param("text", id="string"),
            pytest.param(0, id="zero"),
            pytest.param(-2.5, id="float"),
            pytest.param(False, id="false"),
            pytest.param([1, [2, [3]]], id="array"),
            pytest.param({}, id="empty-object"),
        ],
    )
    def test_payload_may_be_any_json_value(
        self, api: Api, receiver: Receiver, payload: Any
    ) -> None:
        timer = api.created(timer_body("any", receiver.url(), payload=payload))

        assert timer["payload"] == payload
        assert api.timer("any")["payload"] == payload

    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            pytest.param(
                "2030-12-03T10:00:00+02:00",
                "2030-12-03T08:00:00.000Z",
                id="plus-offset",
            ),
            pytest.param(
                "2030-12-03T03:30:00-04:30",
                "2030-12-03T08:00:00.000Z",
                id="minus-offset",
            ),
            pytest.param("2030-12-03T08:00:00Z", "2030-12-03T08:00:00.000Z", id="zulu"),
            pytest.param(
                "2030-12-03T08:00:00.5Z", "2030-12-03T08:00:00.500Z", id="tenths"
            ),
            pytest.param(
                "2030-12-03T08:00:00.123+00:00", "2030-12-03T08:00:00.123Z", id="millis"
            ),
            pytest.param(
                "2031-01-01T01:00:00+02:00",
                "2030-12-31T23:00:00.000Z",
                id="across-a-year",
            ),
            pytest.param(
                "2030-12-03t08:00:00z", "2030-12-03T08:00:00.000Z", id="lowercase"
            ),
        ],
    )
    def test_fire_at_is_returned_in_utc_with_milliseconds(
        self, api: Api, receiver: Receiver, given: str, expected: str
    ) -> None:
        timer = api.created(timer_body("offset", receiver.url(), fire_at=given))

        assert timer["fire_at"] == expected
        assert timer["next_attempt_at"] == expected
        assert api.timer("offset")["fire_at"] == expected

    def test_delay_seconds_sets_fire_at_from_now(
        self, api: Api, receiver: Receiver
    ) -> None:
        before = utc_now()

        timer = api.created(timer_body("delayed", receiver.url(), delay_seconds=120))

        after = utc_now()
        fire_at = parse_time(timer["fire_at"])
        assert before + timedelta(seconds=120) - timedelta(milliseconds=1) <= fire_at
        assert fire_at <= after + timedelta(seconds=120, milliseconds=1)
        assert "delay_seconds" not in timer

    def test_fire_at_in_the_past_fires_at_once(
        self, api: Api, receiver: Receiver
    ) -> None:
        fire_at = iso(utc_now() - timedelta(hours=1))
        api.created(timer_body("overdue", receiver.url("/overdue"), fire_at=fire_at))
        started = time.time()

        (request,) = receiver.wait_for(1, "/overdue", timeout=5)

        assert request.at - started < 1.5
        assert request.json()["fire_at"] == fire_at
        assert api.wait_status("overdue", "succeeded")["fire_at"] == fire_at

    def test_delay_zero_fires_at_once(self, api: Api, receiver: Receiver) -> None:
        api.created(timer_body("now", receiver.url("/now"), delay_seconds=0))
        started = time.time()

        (request,) = receiver.wait_for(1, "/now", timeout=5)

        assert request.at - started < 1.5

    @pytest.mark.parametrize(
        "timer_id",
        [
            pytest.param("a", id="one-character"),
            pytest.param("Z9._:@-z", id="every-punctuation"),
            pytest.param("order:2026-12-03@eu.west-1", id="realistic"),
            pytest.param("x" * 255, id="longest"),
        ],
    )
    def test_every_valid_id_is_accepted(
        self, api: Api, receiver: Receiver, timer_id: str
    ) -> None:
        timer = api.created(timer_body(timer_id, receiver.url()))

        assert timer["id"] == timer_id
        assert api.timer(timer_id)["id"] == timer_id

    @pytest.mark.parametrize(
        "namespace",
        [
            pytest.param("0", id="one-character"),
            pytest.param("a-b_c-9", id="punctuation"),
            pytest.param("n" * 64, id="longest"),
        ],
    )
    def test_every_valid_namespace_is_accepted(
        self, api: Api, receiver: Receiver, namespace: str
    ) -> None:
        other = Api(api.client, namespace)
        other.delete("ns-check")

        timer = other.created(timer_body("ns-check", receiver.url()))

        assert timer["namespace"] == namespace
        assert other.delete("ns-check").status_code == 204

    def test_same_id_in_another_namespace_is_another_timer(
        self, api: Api, receiver: Receiver
    ) -> None:
        other = Api(api.client, api.ns + "-other")
        api.created(timer_body("shared-id", receiver.url(), payload=1))

        response = other.create(timer_body("shared-id", receiver.url(), payload=2))

        assert response.status_code == 201
        assert api.timer("shared-id")["payload"] == 1
        assert other.timer("shared-id")["payload"] == 2

    @pytest.mark.parametrize(
        "timeout", [pytest.param(0.1, id="shortest"), pytest.param(300, id="longest")]
    )
    def test_callback_timeout_bounds_are_accepted(
        self, api: Api, receiver: Receiver, timeout: float
    ) -> None:
        callback = {"url": receiver.url(), "timeout_seconds": timeout}

        timer = api.created(timer_body("bounds", "", callback=callback))

        assert timer["callback"]["timeout_seconds"] == timeout

    def test_twenty_callback_headers_are_accepted(
        self, api: Api, receiver: Receiver
    ) -> None:
        headers = {f"X-H{i}": str(i) for i in range(20)}
        callback = {"url": receiver.url(), "headers": headers}

        timer = api.created(timer_body("headers", "", callback=callback))

        assert timer["callback"]["headers"] == headers

    def test_json_content_type_with_charset_is_accepted(
        self, api: Api, receiver: Receiver
    ) -> None:
        response = api.client.post(
            f"/api/v1/namespaces/{api.ns}/timers",
            content=b'{"id": "charset", "delay_seconds": 600, "callback": {"url": "'
            + receiver.url().encode()
            + b'"}}',
            headers={"Content-Type": "application/json; charset=utf-8"},
        )

        assert response.status_code == 201


class TestRepeatedCreate:
    def test_same_definition_with_fire_at_answers_200_unchanged(
        self, api: Api, receiver: Receiver
    ) -> None:
        body = timer_body(
            "again",
            receiver.url(),
            payload={"a": 1},
            retry_policy={"max_attempts": 4},
        )
        first = api.create(body)
        time.sleep(0.01)

        second = api.create(body)

        assert first.status_code == 201
        assert second.status_code == 200
        assert second.json() == first.json()
        assert etag_version(second) == 1
        assert api.timer("again") == first.json()

    def test_same_definition_with_delay_seconds_answers_200_unchanged(
        self, api: Api, receiver: Receiver
    ) -> None:
        first = api.create(timer_body("again", receiver.url(), delay_seconds=300))
        time.sleep(0.05)

        second = api.create(timer_body("again", receiver.url(), delay_seconds=300))
        third = api.create(timer_body("again", receiver.url(), delay_seconds=900))

        assert first.status_code == 201
        assert second.status_code == 200
        assert second.json() == first.json()
        assert third.status_code == 200
        assert third.json()["fire_at"] == first.json()["fire_at"]

    def test_same_instant_in_another_offset_is_the_same_definition(
        self, api: Api, receiver: Receiver
    ) -> None:
        api.created(
            timer_body("instant", receiver.url(), fire_at="2031-05-01T12:00:00+02:00")
        )

        response = api.create(
            timer_body("instant", receiver.url(), fire_at="2031-05-01T10:00:00.000Z")
        )

        assert response.status_code == 200

    def test_defaults_given_explicitly_are_the_same_definition(
        self, api: Api, receiver: Receiver
    ) -> None:
        fire_at = iso(in_seconds(3600))
        first = api.created(timer_body("explicit", receiver.url(), fire_at=fire_at))
        explicit = timer_body(
            "explicit",
            "",
            fire_at=fire_at,
            callback={"url": receiver.url(), "timeout_seconds": 10, "headers": {}},
            payload=None,
            retry_policy=DEFAULT_RETRY_POLICY,
        )

        response = api.create(explicit)

        assert response.status_code == 200
        assert response.json() == first

    @pytest.mark.parametrize(
        "change",
        [
            pytest.param({"fire_at": "2032-01-01T00:00:00.000Z"}, id="fire-at"),
            pytest.param(
                {"callback": {"url": "http://127.0.0.1:9/other"}}, id="callback-url"
            ),
            pytest.param(
                {"callback": {"url": "http://127.0.0.1:9/hook", "timeout_seconds": 3}},
                id="callback-timeout",
            ),
            pytest.param(
                {
                    "callback": {
                        "url": "http://127.0.0.1:9/hook",
                        "headers": {"X-A": "2"},
                    }
                },
                id="callback-headers",
            ),
            pytest.param({"payload": {"n": 2}}, id="payload"),
            pytest.param({"payload": None}, id="payload-removed"),
            pytest.param({"retry_policy": {"max_attempts": 2}}, id="retry-policy"),
        ],
    )
    def test_different_definition_answers_409_with_the_existing_timer(
        self, api: Api, change: dict[str, Any]
    ) -> None:
        original = timer_body(
            "taken",
            "",
            fire_at="2031-01-01T00:00:00.000Z",
            callback={"url": "http://127.0.0.1:9/hook", "headers": {"X-A": "1"}},
            payload={"n": 1},
        )
        existing = api.created(original)

        response = api.create(dict(original, **change))

        error = error_of(response, 409, "already_exists")
        assert error["details"]["existing"] == existing
        assert api.timer("taken") == existing

    def test_repeated_create_after_firing_does_not_fire_again(
        self, api: Api, receiver: Receiver
    ) -> None:
        body = timer_body("once", receiver.url("/once"), fire_at=utc_now())
        api.created(body)
        receiver.wait_for(1, "/once", timeout=5)
        fired = api.wait_status("once", "succeeded")

        response = api.create(body)
        time.sleep(1.5)

        assert response.status_code == 200
        assert response.json() == fired
        assert len(receiver.requests("/once")) == 1
        assert api.timer("once")["status"] == "succeeded"

    def test_repeated_delay_create_after_firing_does_not_fire_again(
        self, api: Api, receiver: Receiver
    ) -> None:
        body = timer_body("once", receiver.url("/once"), delay_seconds=0)
        api.created(body)
        receiver.wait_for(1, "/once", timeout=5)
        api.wait_status("once", "succeeded")

        response = api.create(body)
        time.sleep(1.5)

        assert response.status_code == 200
        assert response.json()["status"] == "succeeded"
        assert len(receiver.requests("/once")) == 1
