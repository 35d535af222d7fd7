"""Validation of client input: timer specs, patches, callback answers, times."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from timerkernel import (
    NAMESPACE_PATTERN,
    TIMER_ID_PATTERN,
    UNSET,
    Callback,
    Delivered,
    DeliveryFailed,
    ErrorKind,
    InvalidArgument,
    PayloadTooLarge,
    Rescheduled,
    RetryPolicy,
    TimerPatch,
    TimerSpec,
    format_time,
    parse_callback_answer,
    parse_time,
    parse_timer_patch,
    parse_timer_spec,
)
from timerkernel._parsing import encode_json, plain_json

LIMIT = 1024
URL = "https://target.example/hook"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
DROP = object()


def body(**changes: Any) -> dict[str, Any]:
    """A valid create body, with *changes* applied; ``DROP`` removes a field."""
    data: dict[str, Any] = {
        "id": "t1",
        "fire_at": "2030-01-01T00:00:10.000Z",
        "callback": {"url": URL},
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not DROP}


def with_callback(**changes: Any) -> dict[str, Any]:
    return body(callback={"url": URL, **changes})


def with_policy(**fields: Any) -> dict[str, Any]:
    return body(retry_policy=fields)


def parse(data: Any) -> TimerSpec:
    return parse_timer_spec(data, max_payload_bytes=LIMIT)


def patch(data: Any) -> TimerPatch:
    return parse_timer_patch(data, max_payload_bytes=LIMIT)


def bad_fields(parser: Callable[[Any], object], data: Any) -> dict[str, str]:
    """The fields *parser* refuses in *data*, each with its reason."""
    with pytest.raises(InvalidArgument) as caught:
        parser(data)

    fields = [error.field for error in caught.value.fields]
    assert len(fields) == len(set(fields)), f"a field is named twice: {fields}"
    return {error.field: error.reason for error in caught.value.fields}


class TestParseTimerSpec:
    def test_minimal_body_takes_the_defaults(self) -> None:
        parsed = parse(body())

        assert parsed == TimerSpec(
            id="t1",
            callback=Callback(URL, timeout_seconds=10.0, headers={}),
            fire_at=NOW + timedelta(seconds=10),
            delay_seconds=None,
            payload=None,
            retry_policy=RetryPolicy(
                max_attempts=10,
                initial_interval_seconds=1.0,
                backoff_coefficient=2.0,
                max_interval_seconds=600.0,
                max_duration_seconds=None,
            ),
        )

    def test_every_field_is_read(self) -> None:
        parsed = parse(
            body(
                payload={"order": [1, 2, {"x": None}]},
                callback={
                    "url": "http://10.0.0.1:8080/path?q=1",
                    "timeout_seconds": 2.5,
                    "headers": {"X-Api-Key": "secret", "Authorization": "Bearer t"},
                },
                retry_policy={
                    "max_attempts": 3,
                    "initial_interval_seconds": 0.5,
                    "backoff_coefficient": 1.5,
                    "max_interval_seconds": 30,
                    "max_duration_seconds": 120,
                },
            )
        )

        assert parsed.payload == {"order": [1, 2, {"x": None}]}
        assert parsed.callback == Callback(
            "http://10.0.0.1:8080/path?q=1",
            timeout_seconds=2.5,
            headers={"X-Api-Key": "secret", "Authorization": "Bearer t"},
        )
        assert parsed.retry_policy == RetryPolicy(3, 0.5, 1.5, 30.0, 120.0)

    def test_missing_retry_fields_take_the_defaults(self) -> None:
        parsed = parse(with_policy(max_attempts=3))

        assert parsed.retry_policy == RetryPolicy(max_attempts=3)

    @pytest.mark.parametrize(
        "timer_id",
        [
            pytest.param("a", id="one-char"),
            pytest.param("0", id="digit"),
            pytest.param("Order-42.v1:retry@eu_west", id="every-punctuation"),
            pytest.param("a" * 255, id="longest"),
        ],
    )
    def test_well_formed_id_is_accepted(self, timer_id: str) -> None:
        assert parse(body(id=timer_id)).id == timer_id

    @pytest.mark.parametrize(
        "timer_id",
        [
            pytest.param("", id="empty"),
            pytest.param("a" * 256, id="too-long"),
            pytest.param("-a", id="dash-first"),
            pytest.param(".a", id="dot-first"),
            pytest.param("_a", id="underscore-first"),
            pytest.param("a b", id="space"),
            pytest.param("a/b", id="slash"),
            pytest.param("é", id="not-ascii"),
            pytest.param("a\n", id="trailing-newline"),
            pytest.param(42, id="number"),
            pytest.param(None, id="null"),
            pytest.param(DROP, id="missing"),
        ],
    )
    def test_malformed_id_is_refused(self, timer_id: object) -> None:
        assert bad_fields(parse, body(id=timer_id)).keys() == {"id"}

    def test_id_and_namespace_patterns_are_the_contracts(self) -> None:
        assert TIMER_ID_PATTERN.pattern == r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,254}"
        assert NAMESPACE_PATTERN.pattern == r"[a-z0-9][a-z0-9_-]{0,63}"

    def test_delay_is_read_instead_of_fire_at(self) -> None:
        parsed = parse(body(fire_at=DROP, delay_seconds=30))

        assert parsed.fire_at is None
        assert parsed.delay_seconds == 30.0

    @pytest.mark.parametrize(
        "delay",
        [pytest.param(0, id="zero"), pytest.param(0.25, id="fraction")],
    )
    def test_delay_from_zero_up_is_accepted(self, delay: float) -> None:
        assert parse(body(fire_at=DROP, delay_seconds=delay)).delay_seconds == delay

    @pytest.mark.parametrize(
        "delay",
        [
            pytest.param(-0.001, id="negative"),
            pytest.param(True, id="bool"),
            pytest.param("10", id="string"),
            pytest.param(None, id="null"),
            pytest.param(float("inf"), id="infinite"),
            pytest.param(float("nan"), id="nan"),
            pytest.param(1e12, id="too-far"),
        ],
    )
    def test_bad_delay_is_refused(self, delay: object) -> None:
        fields = bad_fields(parse, body(fire_at=DROP, delay_seconds=delay))

        assert fields.keys() == {"delay_seconds"}

    def test_fire_at_and_delay_together_are_refused(self) -> None:
        fields = bad_fields(parse, body(delay_seconds=5))

        assert fields.keys() == {"fire_at"}
        assert "not both" in fields["fire_at"]

    def test_missing_fire_time_is_refused(self) -> None:
        fields = bad_fields(parse, body(fire_at=DROP))

        assert fields.keys() == {"fire_at"}
        assert "delay_seconds" in fields["fire_at"]

    def test_fire_at_in_the_past_is_accepted(self) -> None:
        parsed = parse(body(fire_at="2001-01-01T00:00:00Z"))

        assert parsed.fire_at == datetime(2001, 1, 1, tzinfo=UTC)

    @pytest.mark.parametrize(
        "fire_at",
        [
            pytest.param("2030-01-01T00:00:00", id="no-offset"),
            pytest.param("2030-01-01", id="date-only"),
            pytest.param("tomorrow", id="words"),
            pytest.param("", id="empty"),
            pytest.param(1893456000, id="unix-seconds"),
            pytest.param(None, id="null"),
        ],
    )
    def test_bad_fire_at_is_refused(self, fire_at: object) -> None:
        assert bad_fields(parse, body(fire_at=fire_at)).keys() == {"fire_at"}

    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("http://example.com", id="http"),
            pytest.param("https://example.com/a/b?c=d#e", id="https-with-path"),
            pytest.param("HTTPS://EXAMPLE.COM/", id="upper-case-scheme"),
            pytest.param("http://127.0.0.1:9000/", id="ip-and-port"),
            pytest.param("http://[::1]:8080/", id="ipv6"),
        ],
    )
    def test_absolute_http_url_is_accepted(self, url: str) -> None:
        assert parse(with_callback(url=url)).callback.url == url

    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("/relative/path", id="relative"),
            pytest.param("example.com/hook", id="no-scheme"),
            pytest.param("ftp://example.com/", id="ftp"),
            pytest.param("file:///etc/passwd", id="file"),
            pytest.param("mailto:someone@example.com", id="mailto"),
            pytest.param("http://", id="no-host"),
            pytest.param("https://user:pw@example.com/", id="credentials"),
            pytest.param("http://example.com:99999/", id="bad-port"),
            pytest.param("http://[::1/", id="broken-ipv6"),
            pytest.param("http://exa mple.com/", id="space"),
            pytest.param("http://example.com/\x00", id="control-character"),
            pytest.param("http://example.com/" + "a" * 2048, id="too-long"),
            pytest.param("", id="empty"),
            pytest.param(42, id="number"),
            pytest.param(DROP, id="missing"),
        ],
    )
    def test_bad_url_is_refused(self, url: object) -> None:
        fields = bad_fields(parse, with_callback(url=url))

        assert fields.keys() == {"callback.url"}

    def test_url_guard_can_refuse_a_url(self) -> None:
        def no_internal(url: str) -> str | None:
            return "points inside the network" if "internal" in url else None

        with pytest.raises(InvalidArgument) as caught:
            parse_timer_spec(
                with_callback(url="http://internal.example/"),
                max_payload_bytes=LIMIT,
                url_guard=no_internal,
            )

        assert [(e.field, e.reason) for e in caught.value.fields] == [
            ("callback.url", "points inside the network")
        ]

    @pytest.mark.parametrize(
        "timeout", [pytest.param(0.1, id="lowest"), pytest.param(300, id="highest")]
    )
    def test_timeout_within_range_is_accepted(self, timeout: float) -> None:
        assert parse(
            with_callback(timeout_seconds=timeout)
        ).callback.timeout_seconds == (timeout)

    @pytest.mark.parametrize(
        "timeout",
        [
            pytest.param(0, id="zero"),
            pytest.param(0.099, id="just-too-short"),
            pytest.param(300.001, id="just-too-long"),
            pytest.param(-1, id="negative"),
            pytest.param(True, id="bool"),
            pytest.param("10", id="string"),
            pytest.param(None, id="null"),
        ],
    )
    def test_timeout_out_of_range_is_refused(self, timeout: object) -> None:
        fields = bad_fields(parse, with_callback(timeout_seconds=timeout))

        assert fields.keys() == {"callback.timeout_seconds"}

    def test_twenty_headers_are_accepted(self) -> None:
        headers = {f"X-H{n}": str(n) for n in range(20)}

        assert parse(with_callback(headers=headers)).callback.headers == headers

    def test_more_than_twenty_headers_are_refused(self) -> None:
        headers = {f"X-H{n}": str(n) for n in range(21)}

        assert bad_fields(parse, with_callback(headers=headers)).keys() == {
            "callback.headers"
        }

    @pytest.mark.parametrize(
        "name",
        [
            "Content-Type",
            "content-length",
            "User-Agent",
            "Host",
            "Timer-Namespace",
            "timer-id",
            "TIMER-ATTEMPT",
            "Timer-Signature",
            "traceparent",
            "Transfer-Encoding",
            "Connection",
        ],
    )
    def test_header_set_by_the_service_is_refused(self, name: str) -> None:
        fields = bad_fields(parse, with_callback(headers={name: "x"}))

        assert fields.keys() == {f"callback.headers.{name}"}

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            pytest.param("Bad Name", "x", id="space-in-name"),
            pytest.param("", "x", id="empty-name"),
            pytest.param("X-Num", 5, id="number-value"),
            pytest.param("X-Null", None, id="null-value"),
            pytest.param("X-Split", "a\r\nInjected: 1", id="line-break-in-value"),
            pytest.param("X-Long", "a" * 4097, id="too-long-value"),
        ],
    )
    def test_bad_header_is_refused(self, name: str, value: object) -> None:
        fields = bad_fields(parse, with_callback(headers={name: value}))

        assert fields.keys() == {f"callback.headers.{name}"}

    @pytest.mark.parametrize(
        "headers",
        [pytest.param([], id="list"), pytest.param("X: 1", id="string")],
    )
    def test_headers_that_are_not_an_object_are_refused(self, headers: object) -> None:
        fields = bad_fields(parse, with_callback(headers=headers))

        assert fields.keys() == {"callback.headers"}

    @pytest.mark.parametrize(
        "callback",
        [
            pytest.param(DROP, id="missing"),
            pytest.param(None, id="null"),
            pytest.param(URL, id="string"),
        ],
    )
    def test_callback_that_is_not_an_object_is_refused(self, callback: object) -> None:
        assert bad_fields(parse, body(callback=callback)).keys() == {"callback"}

    def test_payload_at_the_limit_is_accepted(self) -> None:
        payload = "x" * (LIMIT - 2)

        assert parse(body(payload=payload)).payload == payload

    def test_payload_over_the_limit_is_too_large(self) -> None:
        with pytest.raises(PayloadTooLarge) as caught:
            parse(body(payload="x" * (LIMIT - 1)))

        assert (caught.value.size, caught.value.limit) == (LIMIT + 1, LIMIT)

    def test_payload_size_counts_utf8_bytes(self) -> None:
        with pytest.raises(PayloadTooLarge) as caught:
            parse(body(payload="é" * (LIMIT // 2)))

        assert caught.value.size == LIMIT + 2

    @pytest.mark.parametrize(
        "payload",
        [
            pytest.param(float("nan"), id="nan"),
            pytest.param({1, 2}, id="set"),
            pytest.param(object(), id="object"),
        ],
    )
    def test_payload_that_is_not_plain_json_is_refused(self, payload: object) -> None:
        assert bad_fields(parse, body(payload=payload)).keys() == {"payload"}

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            pytest.param(body(colour="red"), "colour", id="top-level"),
            pytest.param(body(status="failed"), "status", id="server-field"),
            pytest.param(with_callback(method="PUT"), "callback.method", id="callback"),
            pytest.param(
                with_policy(jitter=True), "retry_policy.jitter", id="retry-policy"
            ),
        ],
    )
    def test_unknown_field_is_named_with_its_path(
        self, data: dict[str, Any], field: str
    ) -> None:
        fields = bad_fields(parse, data)

        assert fields.keys() == {field}
        assert fields[field] == "is not a known field"

    def test_every_bad_field_is_reported_at_once(self) -> None:
        data = {
            "id": "-bad",
            "fire_at": "soon",
            "callback": {"url": "ftp://x", "timeout_seconds": 0, "retries": 3},
            "retry_policy": {"backoff_coefficient": 0.5, "max_attempts": -1},
            "extra": 1,
        }

        fields = bad_fields(parse, data)

        assert fields.keys() == {
            "id",
            "fire_at",
            "callback.url",
            "callback.timeout_seconds",
            "callback.retries",
            "retry_policy.backoff_coefficient",
            "retry_policy.max_attempts",
            "extra",
        }

    def test_bad_fields_are_reported_before_the_payload_size(self) -> None:
        fields = bad_fields(parse, body(id="-bad", payload="x" * (2 * LIMIT)))

        assert fields.keys() == {"id"}

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param([], id="list"),
            pytest.param("text", id="string"),
            pytest.param(None, id="null"),
        ],
    )
    def test_body_that_is_not_an_object_is_refused(self, data: object) -> None:
        assert bad_fields(parse, data).keys() == {"body"}


class TestRetryPolicyRules:
    @pytest.mark.parametrize(
        "fields",
        [
            pytest.param({"max_attempts": 0}, id="max-attempts-unlimited"),
            pytest.param({"max_attempts": 1}, id="max-attempts-one"),
            pytest.param({"max_attempts": 1_000_000}, id="max-attempts-highest"),
            pytest.param({"initial_interval_seconds": 0.001}, id="initial-small"),
            pytest.param({"backoff_coefficient": 1}, id="coefficient-one"),
            pytest.param({"backoff_coefficient": 100}, id="coefficient-highest"),
            pytest.param({"max_interval_seconds": 0.5}, id="max-interval-small"),
            pytest.param({"max_duration_seconds": None}, id="max-duration-null"),
            pytest.param({"max_duration_seconds": 0.5}, id="max-duration-small"),
        ],
    )
    def test_value_in_range_is_accepted(self, fields: dict[str, Any]) -> None:
        policy = parse(with_policy(**fields)).retry_policy

        for name, value in fields.items():
            assert getattr(policy, name) == value

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            pytest.param("max_attempts", -1, id="max-attempts-negative"),
            pytest.param("max_attempts", 1_000_001, id="max-attempts-too-many"),
            pytest.param("max_attempts", 2.5, id="max-attempts-fraction"),
            pytest.param("max_attempts", True, id="max-attempts-bool"),
            pytest.param("max_attempts", "3", id="max-attempts-string"),
            pytest.param("initial_interval_seconds", 0, id="initial-zero"),
            pytest.param("initial_interval_seconds", -1, id="initial-negative"),
            pytest.param("initial_interval_seconds", False, id="initial-bool"),
            pytest.param("backoff_coefficient", 0.999, id="coefficient-below-one"),
            pytest.param("backoff_coefficient", 0, id="coefficient-zero"),
            pytest.param("backoff_coefficient", 100.5, id="coefficient-too-big"),
            pytest.param("backoff_coefficient", True, id="coefficient-bool"),
            pytest.param("max_interval_seconds", 0, id="max-interval-zero"),
            pytest.param("max_interval_seconds", True, id="max-interval-bool"),
            pytest.param("max_duration_seconds", 0, id="max-duration-zero"),
            pytest.param("max_duration_seconds", -5, id="max-duration-negative"),
            pytest.param("max_duration_seconds", True, id="max-duration-bool"),
            pytest.param("max_duration_seconds", "1h", id="max-duration-string"),
        ],
    )
    def test_value_out_of_range_is_refused(self, name: str, value: object) -> None:
        fields = bad_fields(parse, with_policy(**{name: value}))

        assert fields.keys() == {f"retry_policy.{name}"}

    @pytest.mark.parametrize(
        "policy",
        [pytest.param(None, id="null"), pytest.param([], id="list")],
    )
    def test_policy_that_is_not_an_object_is_refused(self, policy: object) -> None:
        assert bad_fields(parse, body(retry_policy=policy)).keys() == {"retry_policy"}


class TestParseTimerPatch:
    def test_empty_patch_changes_nothing(self) -> None:
        assert patch({}) == TimerPatch()

    def test_each_field_is_read(self) -> None:
        parsed = patch(
            {
                "fire_at": "2030-01-01T02:00:00+02:00",
                "callback": {"url": URL},
                "payload": [1],
                "retry_policy": {"max_attempts": 2},
            }
        )

        assert parsed == TimerPatch(
            fire_at=NOW,
            callback=Callback(URL),
            payload=[1],
            retry_policy=RetryPolicy(max_attempts=2),
        )

    def test_delay_is_read(self) -> None:
        parsed = patch({"delay_seconds": 5})

        assert parsed.delay_seconds == 5.0
        assert parsed.fire_at is UNSET

    def test_null_payload_is_a_change(self) -> None:
        assert patch({"payload": None}).payload is None

    def test_missing_payload_is_unset(self) -> None:
        assert patch({"delay_seconds": 1}).payload is UNSET

    def test_fire_at_and_delay_together_are_refused(self) -> None:
        data = {"fire_at": "2030-01-01T00:00:00Z", "delay_seconds": 1}

        assert bad_fields(patch, data).keys() == {"fire_at"}

    def test_id_cannot_be_changed(self) -> None:
        fields = bad_fields(patch, {"id": "other"})

        assert fields == {"id": "cannot be changed"}

    def test_unknown_fields_are_named(self) -> None:
        data = {"colour": 1, "callback": {"url": URL, "verb": "GET"}}

        assert bad_fields(patch, data).keys() == {"colour", "callback.verb"}

    def test_every_bad_field_is_reported_at_once(self) -> None:
        data = {
            "fire_at": 5,
            "callback": {"url": "nope", "headers": {"Host": "x"}},
            "retry_policy": {"max_interval_seconds": -1},
        }

        assert bad_fields(patch, data).keys() == {
            "fire_at",
            "callback.url",
            "callback.headers.Host",
            "retry_policy.max_interval_seconds",
        }

    def test_null_fire_at_is_refused(self) -> None:
        assert bad_fields(patch, {"fire_at": None}).keys() == {"fire_at"}

    def test_payload_over_the_limit_is_too_large(self) -> None:
        with pytest.raises(PayloadTooLarge):
            patch({"payload": "x" * LIMIT})

    def test_body_that_is_not_an_object_is_refused(self) -> None:
        assert bad_fields(patch, [{"payload": 1}]).keys() == {"body"}


def answer(raw: bytes | str) -> object:
    data = raw.encode() if isinstance(raw, str) else raw
    return parse_callback_answer(data, now=NOW, max_payload_bytes=LIMIT)


class TestParseCallbackAnswer:
    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param(b"", id="empty"),
            pytest.param(b"  \n", id="whitespace"),
            pytest.param(b"OK", id="plain-text"),
            pytest.param(b"<html></html>", id="html"),
            pytest.param(b"\xff\xfe", id="not-utf8"),
            pytest.param(b"null", id="json-null"),
            pytest.param(b"[1, 2]", id="json-array"),
            pytest.param(b'"done"', id="json-string"),
            pytest.param(b'{"status": "ok"}', id="object-without-reschedule"),
            pytest.param(b'{"payload": 5}', id="payload-without-time"),
            pytest.param(b"[" * 100_000, id="deeply-nested"),
        ],
    )
    def test_answer_without_a_reschedule_is_a_delivery(self, raw: bytes) -> None:
        assert answer(raw) == Delivered()

    def test_next_fire_at_reschedules(self) -> None:
        result = answer('{"next_fire_at": "2030-01-01T03:00:00.0001+01:00"}')

        assert result == Rescheduled(
            fire_at=NOW + timedelta(hours=2, milliseconds=1),
            payload=UNSET,
            callback=UNSET,
            retry_policy=UNSET,
        )

    def test_next_delay_is_counted_from_now_and_rounded_up(self) -> None:
        result = answer('{"next_delay_seconds": 1.0001}')

        assert isinstance(result, Rescheduled)
        assert result.fire_at == NOW + timedelta(seconds=1, milliseconds=1)

    def test_reschedule_may_replace_payload_callback_and_policy(self) -> None:
        raw = (
            '{"next_delay_seconds": 60, "payload": {"step": 2}, '
            '"callback": {"url": "https://next.example/"}, '
            '"retry_policy": {"max_attempts": 1}}'
        )

        result = answer(raw)

        assert result == Rescheduled(
            fire_at=NOW + timedelta(seconds=60),
            payload={"step": 2},
            callback=Callback("https://next.example/"),
            retry_policy=RetryPolicy(max_attempts=1),
        )

    def test_reschedule_may_clear_the_payload(self) -> None:
        result = answer('{"next_delay_seconds": 1, "payload": null}')

        assert isinstance(result, Rescheduled)
        assert result.payload is None

    @pytest.mark.parametrize(
        ("raw", "field"),
        [
            pytest.param(
                '{"next_fire_at": "2030-01-01T00:00:00Z", "next_delay_seconds": 1}',
                "next_fire_at",
                id="both-times",
            ),
            pytest.param('{"next_fire_at": "later"}', "next_fire_at", id="bad-time"),
            pytest.param('{"next_fire_at": null}', "next_fire_at", id="null-time"),
            pytest.param(
                '{"next_delay_seconds": -1}', "next_delay_seconds", id="negative-delay"
            ),
            pytest.param(
                '{"next_delay_seconds": true}', "next_delay_seconds", id="bool-delay"
            ),
            pytest.param(
                '{"next_delay_seconds": 1e300}', "next_delay_seconds", id="huge-delay"
            ),
            pytest.param(
                '{"next_delay_seconds": 1, "callback": {"url": "ftp://x"}}',
                "callback.url",
                id="bad-callback",
            ),
            pytest.param(
                '{"next_delay_seconds": 1, "retry_policy": {"max_attempts": -1}}',
                "retry_policy.max_attempts",
                id="bad-retry-policy",
            ),
            pytest.param(
                '{"next_delay_seconds": 1, "payload": "' + "x" * LIMIT + '"}',
                "payload",
                id="payload-too-large",
            ),
        ],
    )
    def test_invalid_reschedule_is_a_failed_attempt(self, raw: str, field: str) -> None:
        result = answer(raw)

        assert isinstance(result, DeliveryFailed)
        assert result.kind is ErrorKind.invalid_response
        assert field in result.message


class TestTimes:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                "2026-12-03T10:00:00+02:00",
                "2026-12-03T08:00:00.000Z",
                id="plus-offset",
            ),
            pytest.param(
                "2026-12-03T10:00:00-05:30",
                "2026-12-03T15:30:00.000Z",
                id="minus-offset",
            ),
            pytest.param(
                "2026-12-03T23:30:00-01:00", "2026-12-04T00:30:00.000Z", id="next-day"
            ),
            pytest.param("2026-12-03T10:00:00Z", "2026-12-03T10:00:00.000Z", id="zulu"),
            pytest.param(
                "2026-12-03t10:00:00z", "2026-12-03T10:00:00.000Z", id="lower-case"
            ),
            pytest.param(
                "2026-12-03 10:00:00Z", "2026-12-03T10:00:00.000Z", id="space-separator"
            ),
            pytest.param(
                "2026-12-03T10:00:00-00:00",
                "2026-12-03T10:00:00.000Z",
                id="unknown-offset",
            ),
            pytest.param(
                "2026-12-03T10:00:00.1Z", "2026-12-03T10:00:00.100Z", id="tenths"
            ),
            pytest.param(
                "2026-12-03T10:00:00.123Z", "2026-12-03T10:00:00.123Z", id="millis"
            ),
            pytest.param(
                "2026-12-03T10:00:00.1231Z", "2026-12-03T10:00:00.124Z", id="rounded-up"
            ),
            pytest.param(
                "2026-12-03T10:00:00.0000001Z",
                "2026-12-03T10:00:00.001Z",
                id="rounded-up-below-a-microsecond",
            ),
            pytest.param(
                "2026-12-03T10:00:00.0010000000Z",
                "2026-12-03T10:00:00.001Z",
                id="trailing-zeros",
            ),
            pytest.param(
                "2026-12-03T23:59:59.9995Z",
                "2026-12-04T00:00:00.000Z",
                id="rounded-up-into-the-next-day",
            ),
            pytest.param(
                "2028-02-29T00:00:00Z", "2028-02-29T00:00:00.000Z", id="leap-day"
            ),
        ],
    )
    def test_time_is_read_into_utc_milliseconds(self, text: str, expected: str) -> None:
        moment = parse_time(text)

        assert moment.tzinfo is not None
        assert moment.utcoffset() == timedelta(0)
        assert moment.microsecond % 1000 == 0
        assert format_time(moment) == expected

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param("2026-12-03T10:00:00", id="no-offset"),
            pytest.param("2026-12-03", id="date-only"),
            pytest.param("10:00:00Z", id="time-only"),
            pytest.param("2026-12-03T10:00Z", id="no-seconds"),
            pytest.param("2026-12-03T10:00:00+0200", id="offset-without-colon"),
            pytest.param("2026-12-03T10:00:00.Z", id="empty-fraction"),
            pytest.param("2026-13-01T00:00:00Z", id="month-13"),
            pytest.param("2026-02-29T00:00:00Z", id="not-a-leap-year"),
            pytest.param("2026-12-03T24:00:00Z", id="hour-24"),
            pytest.param("2026-12-03T10:00:60Z", id="leap-second"),
            pytest.param("2026-12-03T10:00:00+24:00", id="offset-too-big"),
            pytest.param("0000-01-01T00:00:00Z", id="year-zero"),
            pytest.param("9999-12-31T23:59:59.9999Z", id="rounds-past-year-9999"),
            pytest.param("0001-01-01T00:00:00+01:00", id="before-year-1-in-utc"),
            pytest.param(" 2026-12-03T10:00:00Z", id="leading-space"),
            pytest.param("2026-12-03T10:00:00Z\n", id="trailing-newline"),
            pytest.param("next tuesday", id="words"),
        ],
    )
    def test_invalid_time_is_refused(self, text: str) -> None:
        with pytest.raises(ValueError, match=r"."):
            parse_time(text)

    @pytest.mark.parametrize(
        ("moment", "expected"),
        [
            pytest.param(
                datetime(2026, 12, 3, 8, tzinfo=UTC),
                "2026-12-03T08:00:00.000Z",
                id="utc",
            ),
            pytest.param(
                datetime(
                    2026, 12, 3, 10, 0, 0, 5000, tzinfo=timezone(timedelta(hours=2))
                ),
                "2026-12-03T08:00:00.005Z",
                id="offset-converted",
            ),
            pytest.param(
                datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z", id="year-one"
            ),
        ],
    )
    def test_time_is_written_in_utc_with_milliseconds(
        self, moment: datetime, expected: str
    ) -> None:
        assert format_time(moment) == expected

    def test_written_time_reads_back_equal(self) -> None:
        moment = datetime(2030, 6, 15, 12, 30, 45, 678000, tzinfo=UTC)

        assert parse_time(format_time(moment)) == moment


_JSON_VALUES: list[Any] = [
    None,
    True,
    0,
    -7,
    2**63 - 1,
    2**70,
    0.1,
    100.0,
    1e16,
    1e-7,
    2.5e-05,
    "plain",
    "with.dot",
    "é and ☃",
    "\x7f",
    "\x1f\b\n",
    'quote " and \\ backslash',
    "3e5",
    [],
    {},
    {"b": 1, "a": [1, "x", {"d": None, "c": False}]},
    {"order": "s1", "amount": 42},
    {"é": 1, "e": 2},
    {"n": None},
    {"at": "2026-12-03T19:44:56.708Z", "v": "1.5", "w": "2e5"},
    [1.5, -2.25, 1e15, 1e16, 1e-05, -0.0, 123456789.125],
    {"a": [0, {"b": -1.5e300}], "c": "x:1.5,[2e3"},
    -3.5,
    1e22,
]


class TestPlainJson:
    """The orjson shortcut must give the standard library's bytes or nothing."""

    @pytest.mark.parametrize("value", _JSON_VALUES, ids=repr)
    def test_compact_encoding_is_the_standard_librarys(self, value: Any) -> None:
        expected = json.dumps(
            value, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )

        assert encode_json(value) == expected
        plain = plain_json(value)
        assert plain is None or plain.decode() == expected

    @pytest.mark.parametrize("value", _JSON_VALUES, ids=repr)
    def test_sorted_encoding_is_the_digests_canonical_form(self, value: Any) -> None:
        expected = json.dumps(value, sort_keys=True, separators=(",", ":"))

        plain = plain_json(value, sort_keys=True)
        assert plain is None or plain.decode() == expected

    @pytest.mark.parametrize("value", [math.nan, math.inf, [1, -math.inf]], ids=repr)
    def test_non_finite_numbers_are_refused_as_before(self, value: Any) -> None:
        assert plain_json(value) is None
        with pytest.raises(ValueError, match="not JSON compliant"):
            encode_json(value)

    def test_plain_values_take_the_shortcut(self) -> None:
        assert plain_json({"order": "s1", "amount": 42}) is not None
        assert plain_json({"price": 1.5}) is None
        assert plain_json([1, -2e16]) is None

    def test_dots_inside_strings_take_the_shortcut(self) -> None:
        # Times, versions and host names: most payloads and every callback.
        assert plain_json({"at": "2026-12-03T19:44:56.708Z", "n": 3}) is not None
        assert plain_json(["v1.2", "host.example"], sort_keys=True) is not None
