"""Generated hostile input over HTTP: query values, headers and page tokens.

Hypothesis makes the values; every answer must be the contract's error
model or a success, never a 5xx. Examples are derandomized and few, so the
file runs in seconds on every backend.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from blackbox import Api, Receiver, error_of, in_seconds, iso, timer_body, timers_path
from timerkernel import TimerQuery, parse_time
from timerkernel._kernel import _query_fingerprint

HOSTILE = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# Digits that str.isdigit takes and int refuses, digits of other scripts,
# numbers too long for int, and the usual suspects.
odd_numbers = st.one_of(
    st.text(st.sampled_from("0123456789²³¹١٢٣０１"), min_size=1, max_size=6),
    st.just("9" * 5000),
    st.text(max_size=12),
)


# What a header value may hold on the wire (tab, visible ASCII and the upper
# half, read by the server as Latin-1), without the white space around it
# or the control bytes that the client refuses to send.
header_values = st.lists(
    st.sampled_from([9, *range(0x20, 0x7F), *range(0x80, 0x100)]), max_size=24
).map(lambda octets: bytes(octets).strip(b" \t"))


def assert_answer(response: httpx.Response) -> None:
    """Any answer but a server error, and every error in the error model."""
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        error_of(response, response.status_code, response.json()["error"]["code"])


def token_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class TestQueryValues:
    @HOSTILE
    @given(value=odd_numbers)
    @example(value="²")
    @example(value="9" * 5000)
    def test_list_limit(self, api: Api, value: str) -> None:
        assert_answer(api.list_timers(limit=value))

    @HOSTILE
    @given(value=odd_numbers)
    @example(value="²")
    @example(value="9" * 5000)
    def test_activity_seconds(self, client: httpx.Client, value: str) -> None:
        assert_answer(client.get("/api/v1/activity", params={"seconds": value}))

    @HOSTILE
    @given(
        name=st.sampled_from(["fire_after", "fire_before", "id_prefix", "status"]),
        value=st.text(max_size=40),
    )
    def test_list_filters(self, api: Api, name: str, value: str) -> None:
        assert_answer(api.list_timers(**{name: value}))

    @HOSTILE
    @given(value=header_values)
    @example(value=b"\xb2")
    @example(value=b'"\xb9"')
    @example(value=b"9" * 30)
    def test_if_match(self, api: Api, receiver: Receiver, value: bytes) -> None:
        api.create(timer_body("matched", receiver.url()))

        for method in ("PATCH", "DELETE"):
            response = api.client.request(
                method,
                f"{timers_path(api.ns)}/matched",
                json={"payload": 1},
                headers={b"If-Match": value},
            )

            assert_answer(response)


class TestPageTokens:
    def create(self, api: Api, receiver: Receiver, count: int) -> None:
        base = in_seconds(3600)
        for n in range(count):
            fire_at = iso(base + timedelta(seconds=n))
            api.created(timer_body(f"t{n}", receiver.url(), fire_at=fire_at))

    def test_token_of_another_namespace_is_refused(
        self, api: Api, receiver: Receiver
    ) -> None:
        other = Api(api.client, f"{api.ns}-b")
        self.create(api, receiver, 3)
        self.create(other, receiver, 3)
        token = api.list_timers(limit=1).json()["next_page_token"]
        assert token is not None

        response = other.list_timers(limit=1, page_token=token)

        assert "page_token" in error_of(response, 400, "invalid_argument")["message"]

    @HOSTILE
    @given(
        raw=st.one_of(
            st.binary(max_size=200),
            st.recursive(
                st.none() | st.integers() | st.text(max_size=10),
                lambda inner: st.lists(inner, max_size=3),
                max_leaves=8,
            ).map(lambda value: json.dumps(value).encode()),
        )
    )
    @example(raw=b"[" * 1536)
    @example(raw=b'[0, "\\ud800", "x"]')
    def test_corrupt_token_is_a_400(self, api: Api, raw: bytes) -> None:
        response = api.list_timers(page_token=token_of(raw))

        assert response.status_code in (200, 400), response.text[:500]
        if response.status_code == 400:
            error_of(response, 400, "invalid_argument")

    @pytest.mark.parametrize(
        "timer_id",
        [
            pytest.param("\ud800", id="lone-surrogate"),
            pytest.param("a\u0000b", id="nul"),
            pytest.param("", id="empty"),
            pytest.param("x" * 300, id="too-long"),
        ],
    )
    def test_forged_token_naming_no_real_id_is_a_400(
        self, api: Api, timer_id: str
    ) -> None:
        # Anyone can work out a query's fingerprint: the token is not secret.
        fingerprint = _query_fingerprint(api.ns, TimerQuery())
        raw = json.dumps([0, timer_id, fingerprint]).encode()

        response = api.list_timers(page_token=token_of(raw))

        error_of(response, 400, "invalid_argument")

    def test_forged_token_reads_only_the_namespace_of_the_path(
        self, api: Api, receiver: Receiver
    ) -> None:
        other = Api(api.client, f"{api.ns}-b")
        self.create(api, receiver, 4)
        self.create(other, receiver, 4)
        first = parse_time(api.timer("t0")["fire_at"])
        fingerprint = _query_fingerprint(other.ns, TimerQuery())
        forged: list[dict[str, Any]] = []

        for position in (first - timedelta(days=1), first):
            millis = int(position.timestamp() * 1000)
            raw = json.dumps([millis, "t0", fingerprint]).encode()
            response = other.list_timers(page_token=token_of(raw))
            assert response.status_code == 200, response.text
            forged.extend(response.json()["timers"])

        assert forged
        assert {timer["namespace"] for timer in forged} == {other.ns}
