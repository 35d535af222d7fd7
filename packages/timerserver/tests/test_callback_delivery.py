"""Callback delivery: the request, its timing, and what each answer leads to."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from blackbox import (
    FAST_RETRY,
    LAST_ERROR_FIELDS,
    SIGNING_SECRET,
    Api,
    Receiver,
    Reply,
    ServerProcess,
    in_seconds,
    iso,
    parse_time,
    refused_url,
    timer_body,
    utc_now,
)

ONE_ATTEMPT = dict(FAST_RETRY, max_attempts=1)
# Receive times come from the same machine clock the server reads; the small
# allowance only absorbs float rounding of millisecond timestamps.
EPSILON = 0.002


def epoch(text: str) -> float:
    return parse_time(text).timestamp()


class TestCallbackRequest:
    def test_callback_is_a_post_with_the_contract_headers_and_body(
        self, api: Api, receiver: Receiver
    ) -> None:
        callback = {
            "url": receiver.url("/hook"),
            "headers": {"X-Tenant": "acme", "Authorization": "Bearer t0ken"},
        }
        payload = {"order": 7, "text": "grüße", "list": [1, None]}
        timer = api.created(
            timer_body(
                "shape", "", fire_at=utc_now(), callback=callback, payload=payload
            )
        )

        (request,) = receiver.wait_for(1, "/hook")

        assert request.method == "POST"
        assert (
            request.headers["content-type"].split(";")[0].strip() == "application/json"
        )
        assert re.fullmatch(
            r"timerkernel/[0-9A-Za-z.+-]+", request.headers["user-agent"]
        )
        assert request.headers["timer-namespace"] == api.ns
        assert request.headers["timer-id"] == "shape"
        assert request.headers["timer-attempt"] == "1"
        assert request.headers["x-tenant"] == "acme"
        assert request.headers["authorization"] == "Bearer t0ken"
        body = json.loads(request.body.decode("utf-8"))
        assert body == {
            "namespace": api.ns,
            "id": "shape",
            "fire_at": timer["fire_at"],
            "attempt": 1,
            "payload": payload,
        }

    def test_null_payload_is_sent_as_null(self, api: Api, receiver: Receiver) -> None:
        api.created(timer_body("bare", receiver.url("/bare"), fire_at=utc_now()))

        (request,) = receiver.wait_for(1, "/bare")

        assert request.json()["payload"] is None

    def test_query_string_of_the_url_is_kept(
        self, api: Api, receiver: Receiver
    ) -> None:
        url = receiver.url("/q?tenant=acme&x=1")
        api.created(timer_body("query", url, fire_at=utc_now()))

        (request,) = receiver.wait_for(1, "/q")

        assert request.query == "tenant=acme&x=1"

    def test_signature_verifies_with_the_secret(
        self, api: Api, receiver: Receiver
    ) -> None:
        api.created(
            timer_body(
                "signed", receiver.url("/signed"), fire_at=utc_now(), payload=[1]
            )
        )

        (request,) = receiver.wait_for(1, "/signed")

        header = request.headers["timer-signature"]
        parts = [part.split("=", 1) for part in header.split(",")]
        assert all(len(part) == 2 for part in parts), header
        values: dict[str, list[str]] = {}
        for key, value in parts:
            values.setdefault(key.strip(), []).append(value.strip())

        (stamp,) = values["t"]
        assert stamp.isdigit()
        assert abs(int(stamp) - request.at) < 60
        expected = hmac.new(
            SIGNING_SECRET.encode(),
            stamp.encode() + b"." + request.body,
            hashlib.sha256,
        ).hexdigest()
        assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in values["v1"]), header
        assert expected in values["v1"]

    def test_signature_does_not_verify_with_another_secret(
        self, api: Api, receiver: Receiver
    ) -> None:
        api.created(timer_body("signed", receiver.url("/signed"), fire_at=utc_now()))

        (request,) = receiver.wait_for(1, "/signed")

        fields = dict(
            part.split("=", 1) for part in request.headers["timer-signature"].split(",")
        )
        forged = hmac.new(
            b"another-secret",
            fields["t"].encode() + b"." + request.body,
            hashlib.sha256,
        ).hexdigest()
        assert forged != fields["v1"]

    def test_no_signature_without_a_secret(
        self, limited_server: ServerProcess, receiver: Receiver, ns: str
    ) -> None:
        with limited_server.client() as client:
            Api(client, ns).created(
                timer_body("unsigned", receiver.url("/unsigned"), fire_at=utc_now())
            )

            (request,) = receiver.wait_for(1, "/unsigned")

        assert "timer-signature" not in request.headers
        assert request.headers["timer-id"] == "unsigned"


class TestTiming:
    def test_timers_fire_no_earlier_than_fire_at_and_within_a_second(
        self, api: Api, receiver: Receiver
    ) -> None:
        due: dict[str, float] = {}
        for i in range(6):
            fire_at = iso(in_seconds(2.0 + i * 0.3))
            timer = api.created(
                timer_body(f"punctual-{i}", receiver.url("/on-time"), fire_at=fire_at)
            )
            due[timer["id"]] = epoch(timer["fire_at"])

        requests = receiver.wait_for(6, "/on-time", timeout=10)

        lateness = {r.json()["id"]: r.at - due[r.json()["id"]] for r in requests}
        assert set(lateness) == set(due)
        assert all(late >= -EPSILON for late in lateness.values()), lateness
        assert all(late <= 1.0 for late in lateness.values()), lateness

    def test_delay_seconds_fires_after_the_delay(
        self, api: Api, receiver: Receiver
    ) -> None:
        created_at = time.time()
        timer = api.created(
            timer_body("delay", receiver.url("/delay"), delay_seconds=1.5)
        )

        (request,) = receiver.wait_for(1, "/delay", timeout=5)

        assert request.at >= created_at + 1.5 - EPSILON
        assert request.at >= epoch(timer["fire_at"]) - EPSILON
        assert request.at <= epoch(timer["fire_at"]) + 1.0

    def test_slow_target_does_not_delay_others(
        self, api: Api, receiver: Receiver
    ) -> None:
        receiver.script("/slow", Reply(delay=4.0))
        fire_at = iso(in_seconds(1.0))
        slow_callback = {"url": receiver.url("/slow"), "timeout_seconds": 10}
        for i in range(5):
            api.created(
                timer_body(f"slow-{i}", "", fire_at=fire_at, callback=slow_callback)
            )

        api.created(timer_body("fast", receiver.url("/fast"), fire_at=fire_at))

        (fast,) = receiver.wait_for(1, "/fast", timeout=5)
        assert fast.at <= epoch(fire_at) + 1.0
        assert api.wait_status("fast", "succeeded", timeout=3)["attempts"] == 1


class TestAnswers:
    @pytest.mark.parametrize(
        "reply",
        [
            pytest.param(Reply(status=200), id="200-empty"),
            pytest.param(Reply(status=204), id="204"),
            pytest.param(Reply(status=201, json={"id": "x"}), id="201-json"),
            pytest.param(
                Reply(body=b"ok", headers={"content-type": "text/plain"}),
                id="text-body",
            ),
            pytest.param(Reply(json={"received": True}), id="object-without-keys"),
            pytest.param(Reply(json=[1, 2]), id="json-array"),
            pytest.param(Reply(json="next_delay_seconds"), id="json-string"),
            pytest.param(
                Reply(body=b"{broken", headers={"content-type": "application/json"}),
                id="broken-json",
            ),
        ],
    )
    def test_2xx_without_reschedule_keys_means_delivered(
        self, api: Api, receiver: Receiver, reply: Reply
    ) -> None:
        receiver.script("/done", reply)
        timer = api.created(
            timer_body("done", receiver.url("/done"), fire_at=utc_now())
        )

        done = api.wait_status("done", ["succeeded", "failed"])

        assert done["status"] == "succeeded"
        assert done["attempts"] == 1
        assert done["next_attempt_at"] is None
        assert done["last_error"] is None
        assert parse_time(done["executed_at"]) >= parse_time(timer["fire_at"])
        (request,) = receiver.requests("/done")
        assert epoch(done["executed_at"]) >= request.at - EPSILON
        assert done["version"] > timer["version"]
        assert len(receiver.requests("/done")) == 1

    def test_next_delay_seconds_reschedules_with_the_new_payload(
        self, api: Api, receiver: Receiver
    ) -> None:
        receiver.script(
            "/cron",
            Reply(json={"next_delay_seconds": 1.0, "payload": {"round": 2}}),
            Reply(status=200),
        )
        first_timer = api.created(
            timer_body(
                "cron", receiver.url("/cron"), fire_at=utc_now(), payload={"round": 1}
            )
        )
        (first,) = receiver.wait_for(1, "/cron")
        receiver.wait_answered(1, "/cron")

        waiting = wait_for_change(api, "cron", first_timer["fire_at"])

        assert waiting["status"] == "scheduled"
        assert waiting["attempts"] == 0
        assert waiting["payload"] == {"round": 2}
        assert waiting["next_attempt_at"] == waiting["fire_at"]
        assert waiting["executed_at"] is not None
        assert epoch(waiting["fire_at"]) >= first.at + 1.0 - 0.05
        second = receiver.wait_for(2, "/cron", timeout=5)[1]
        assert first.json()["payload"] == {"round": 1}
        assert second.json()["payload"] == {"round": 2}
        assert second.json()["fire_at"] == waiting["fire_at"]
        assert second.headers["timer-attempt"] == "1"
        assert second.at >= epoch(waiting["fire_at"]) - EPSILON
        done = api.wait_status("cron", "succeeded")
        assert done["payload"] == {"round": 2}
        assert done["fire_at"] == waiting["fire_at"]

    def test_next_fire_at_reschedules_to_that_time(
        self, api: Api, receiver: Receiver
    ) -> None:
        next_fire_at = iso(in_seconds(1.5))
        receiver.script(
            "/at", Reply(json={"next_fire_at": next_fire_at}), Reply(status=200)
        )
        api.created(timer_body("at", receiver.url("/at"), fire_at=utc_now()))

        second = receiver.wait_for(2, "/at", timeout=6)[1]

        assert second.json()["fire_at"] == next_fire_at
        assert second.at >= epoch(next_fire_at) - EPSILON
        assert second.at <= epoch(next_fire_at) + 1.0
        assert api.wait_status("at", "succeeded")["fire_at"] == next_fire_at

    def test_reschedule_answer_may_replace_callback_and_retry_policy(
        self, api: Api, receiver: Receiver
    ) -> None:
        receiver.script(
            "/first",
            Reply(
                json={
                    "next_delay_seconds": 0.2,
                    "callback": {
                        "url": receiver.url("/second"),
                        "headers": {"X-Round": "2"},
                    },
                    "retry_policy": {"max_attempts": 2},
                }
            ),
        )
        api.created(timer_body("move", receiver.url("/first"), fire_at=utc_now()))

        (second,) = receiver.wait_for(1, "/second", timeout=5)

        assert second.headers["x-round"] == "2"
        done = api.wait_status("move", "succeeded")
        assert done["callback"]["url"] == receiver.url("/second")
        assert done["retry_policy"]["max_attempts"] == 2
        assert done["retry_policy"]["initial_interval_seconds"] == 1
        assert len(receiver.requests("/first")) == 1

    @pytest.mark.parametrize(
        "answer",
        [
            pytest.param({"next_delay_seconds": "soon"}, id="delay-string"),
            pytest.param({"next_delay_seconds": -5}, id="delay-negative"),
            pytest.param({"next_fire_at": "tomorrow"}, id="fire-at-word"),
            pytest.param({"next_fire_at": 1234}, id="fire-at-number"),
            pytest.param({"next_delay_seconds": 1e300}, id="delay-out-of-range"),
            pytest.param(
                {"next_fire_at": "2031-01-01T00:00:00Z", "next_delay_seconds": 1},
                id="both-keys",
            ),
            pytest.param(
                {"next_delay_seconds": 1, "payload": "x" * 70_000},
                id="payload-too-large",
            ),
            pytest.param(
                {"next_delay_seconds": 1, "callback": {"url": "ftp://example.com/"}},
                id="callback-invalid",
            ),
        ],
    )
    def test_invalid_reschedule_answer_is_a_failed_attempt(
        self, api: Api, receiver: Receiver, answer: dict[str, Any]
    ) -> None:
        receiver.script("/odd", Reply(json=answer))
        api.created(
            timer_body(
                "odd", receiver.url("/odd"), fire_at=utc_now(), retry_policy=ONE_ATTEMPT
            )
        )

        failed = api.wait_status("odd", ["failed", "succeeded"])

        assert failed["status"] == "failed"
        assert failed["last_error"]["kind"] == "invalid_response"


def wait_for_change(api: Api, timer_id: str, old_fire_at: str) -> dict[str, Any]:
    """Poll until the timer's fire_at moved away from *old_fire_at*."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        timer = api.timer(timer_id)
        if timer["fire_at"] != old_fire_at:
            return timer

        time.sleep(0.02)

    raise AssertionError(f"timer {timer_id} was not rescheduled")


class TestRetries:
    def test_server_error_is_retried_with_backoff(
        self, api: Api, receiver: Receiver
    ) -> None:
        receiver.script(
            "/flaky",
            Reply(status=500),
            Reply(status=500),
            Reply(status=500),
            Reply(status=200),
        )
        policy = {
            "initial_interval_seconds": 0.2,
            "backoff_coefficient": 2,
            "max_interval_seconds": 10,
        }
        api.created(
            timer_body(
                "flaky", receiver.url("/flaky"), fire_at=utc_now(), retry_policy=policy
            )
        )
        receiver.wait_for(1, "/flaky")

        retrying = api.wait_attempts("flaky", 1)

        assert retrying["status"] == "scheduled"
        error = retrying["last_error"]
        assert set(error) == LAST_ERROR_FIELDS
        assert error["kind"] == "http_status"
        assert error["status_code"] == 500
        assert isinstance(error["message"], str)
        assert epoch(retrying["next_attempt_at"]) >= epoch(error["at"]) + 0.2 - EPSILON
        requests = receiver.wait_for(4, "/flaky", timeout=10)
        done = api.wait_status("flaky", "succeeded")
        assert done["attempts"] == 4
        assert [r.headers["timer-attempt"] for r in requests] == ["1", "2", "3", "4"]
        assert [r.json()["attempt"] for r in requests] == [1, 2, 3, 4]
        gaps = [
            later.at - earlier.at for earlier, later in itertools.pairwise(requests)
        ]
        for gap, expected in zip(gaps, [0.2, 0.4, 0.8], strict=True):
            assert expected - EPSILON <= gap <= expected + 1.0, gaps

    def test_backoff_is_capped_at_max_interval(
        self, api: Api, receiver: Receiver
    ) -> None:
        receiver.script("/capped", *[Reply(status=500)] * 3, then=Reply(status=200))
        policy = {
            "initial_interval_seconds": 0.2,
            "backoff_coefficient": 10,
            "max_interval_seconds": 0.4,
        }
        api.created(
            timer_body(
                "capped",
                receiver.url("/capped"),
                fire_at=utc_now(),
                retry_policy=policy,
            )
        )

        requests = receiver.wait_for(4, "/capped", timeout=8)

        gaps = [
            later.at - earlier.at for earlier, later in itertools.pairwise(requests)
        ]
        for gap, expected in zip(gaps, [0.2, 0.4, 0.4], strict=True):
            assert expected - EPSILON <= gap <= expected + 1.0, gaps

    @pytest.mark.parametrize(
        "status", [pytest.param(503, id="503"), pytest.param(429, id="429")]
    )
    def test_retry_after_is_honoured(
        self, api: Api, receiver: Receiver, status: int
    ) -> None:
        receiver.script(
            "/busy",
            Reply(status=status, headers={"Retry-After": "1"}),
            Reply(status=200),
        )
        policy = {"initial_interval_seconds": 0.05, "backoff_coefficient": 1}
        api.created(
            timer_body(
                "busy", receiver.url("/busy"), fire_at=utc_now(), retry_policy=policy
            )
        )

        first, second = receiver.wait_for(2, "/busy", timeout=6)

        assert 1.0 - EPSILON <= second.at - first.at <= 2.0
        done = api.wait_status("busy", "succeeded")
        assert done["attempts"] == 2

    def test_retry_after_as_an_http_date_is_honoured(
        self, api: Api, receiver: Receiver
    ) -> None:
        when = format_datetime(utc_now() + timedelta(seconds=3), usegmt=True)
        receiver.script(
            "/busy", Reply(status=503, headers={"Retry-After": when}), Reply()
        )
        policy = {"initial_interval_seconds": 0.05, "backoff_coefficient": 1}
        api.created(
            timer_body(
                "busy", receiver.url("/busy"), fire_at=utc_now(), retry_policy=policy
            )
        )

        first, second = receiver.wait_for(2, "/busy", timeout=8)

        assert second.at - first.at >= 1.5

    def test_retry_after_is_capped_at_max_interval(
        self, api: Api, receiver: Receiver
    ) -> None:
        receiver.script(
            "/busy", Reply(status=503, headers={"Retry-After": "60"}), Reply()
        )
        policy = {"initial_interval_seconds": 0.05, "max_interval_seconds": 0.3}
        api.created(
            timer_body(
                "busy", receiver.url("/busy"), fire_at=utc_now(), retry_policy=policy
            )
        )

        first, second = receiver.wait_for(2, "/busy", timeout=5)

        assert 0.3 - EPSILON <= second.at - first.at <= 1.3

    def test_timeout_is_a_failed_attempt_of_kind_timeout(
        self, api: Api, receiver: Receiver
    ) -> None:
        receiver.script("/hang", Reply(delay=3.0))
        callback = {"url": receiver.url("/hang"), "timeout_seconds": 0.5}
        api.created(
            timer_body(
                "hang",
                "",
                fire_at=utc_now(),
                callback=callback,
                retry_policy=ONE_ATTEMPT,
            )
        )
        (request,) = receiver.wait_for(1, "/hang")

        failed = api.wait_status("hang", ["failed", "succeeded"], timeout=5)

        assert time.time() - request.at < 2.5
        assert failed["status"] == "failed"
        assert failed["last_error"]["kind"] == "timeout"
        assert failed["last_error"]["status_code"] is None
        (attempt,) = api.attempts("hang")
        assert attempt["outcome"] == "failed"
        assert attempt["status_code"] is None
        assert attempt["error"]["kind"] == "timeout"
        assert 400 <= attempt["duration_ms"] <= 2000

    def test_refused_connection_is_a_failed_attempt_of_kind_connection(
        self, api: Api
    ) -> None:
        api.created(
            timer_body(
                "refused", refused_url(), fire_at=utc_now(), retry_policy=ONE_ATTEMPT
            )
        )

        failed = api.wait_status("refused", ["failed", "succeeded"])

        assert failed["status"] == "failed"
        assert failed["last_error"]["kind"] == "connection"
        assert failed["last_error"]["status_code"] is None
        assert failed["last_error"]["message"]

    def test_tls_to_a_plain_http_port_is_a_failed_attempt(
        self, api: Api, receiver: Receiver
    ) -> None:
        url = receiver.url("/tls").replace("http://", "https://")
        api.created(timer_body("tls", url, fire_at=utc_now(), retry_policy=ONE_ATTEMPT))

        failed = api.wait_status("tls", ["failed", "succeeded"])

        assert failed["status"] == "failed"
        assert failed["last_error"]["kind"] in {"connection", "invalid_response"}

    def test_exhausted_attempts_fail_the_timer(
        self, api: Api, receiver: Receiver
    ) -> None:
        receiver.script("/down", Reply(status=500))
        policy = dict(FAST_RETRY, max_attempts=3)
        api.created(
            timer_body(
                "down", receiver.url("/down"), fire_at=utc_now(), retry_policy=policy
            )
        )

        failed = api.wait_status("down", "failed")
        time.sleep(0.6)

        requests = receiver.requests("/down")
        assert [r.headers["timer-attempt"] for r in requests] == ["1", "2", "3"]
        assert failed["attempts"] == 3
        assert failed["next_attempt_at"] is None
        assert failed["executed_at"] is None
        assert failed["last_error"]["kind"] == "http_status"
        assert failed["last_error"]["status_code"] == 500

    def test_unlimited_attempts_go_past_the_default(
        self, api: Api, receiver: Receiver
    ) -> None:
        receiver.script("/long", *[Reply(status=500)] * 11, then=Reply(status=200))
        policy = {
            "max_attempts": 0,
            "initial_interval_seconds": 0.02,
            "backoff_coefficient": 1,
        }
        api.created(
            timer_body(
                "long", receiver.url("/long"), fire_at=utc_now(), retry_policy=policy
            )
        )

        done = api.wait_status("long", "succeeded", timeout=20)

        assert done["attempts"] == 12

    def test_max_duration_ends_the_retries(self, api: Api, receiver: Receiver) -> None:
        receiver.script("/down", Reply(status=500))
        policy = {
            "max_attempts": 0,
            "initial_interval_seconds": 0.2,
            "backoff_coefficient": 1,
            "max_duration_seconds": 0.7,
        }
        api.created(
            timer_body(
                "down", receiver.url("/down"), fire_at=utc_now(), retry_policy=policy
            )
        )

        failed = api.wait_status("down", "failed", timeout=6)
        time.sleep(0.5)

        requests = receiver.requests("/down")
        assert 2 <= len(requests) <= 5
        assert requests[-1].at - requests[0].at <= 0.7 + 0.5
        assert failed["last_error"]["kind"] == "http_status"

    @pytest.mark.parametrize(
        "status",
        [
            pytest.param(302, id="302"),
            pytest.param(307, id="307"),
            pytest.param(301, id="301"),
        ],
    )
    def test_redirect_is_a_failed_attempt_and_is_not_followed(
        self, api: Api, receiver: Receiver, status: int
    ) -> None:
        receiver.script(
            "/moved", Reply(status=status, headers={"Location": receiver.url("/new")})
        )
        api.created(
            timer_body(
                "moved",
                receiver.url("/moved"),
                fire_at=utc_now(),
                retry_policy=ONE_ATTEMPT,
            )
        )

        failed = api.wait_status("moved", ["failed", "succeeded"])
        time.sleep(0.3)

        assert failed["status"] == "failed"
        assert failed["last_error"]["kind"] == "http_status"
        assert failed["last_error"]["status_code"] == status
        assert receiver.requests("/new") == []

    @pytest.mark.parametrize(
        "status",
        [
            pytest.param(400, id="400"),
            pytest.param(404, id="404"),
            pytest.param(410, id="410"),
        ],
    )
    def test_client_error_is_a_failed_attempt(
        self, api: Api, receiver: Receiver, status: int
    ) -> None:
        receiver.script("/gone", Reply(status=status), then=Reply(status=200))
        api.created(
            timer_body(
                "gone",
                receiver.url("/gone"),
                fire_at=utc_now(),
                retry_policy=FAST_RETRY,
            )
        )

        done = api.wait_status("gone", "succeeded")

        assert done["attempts"] == 2
        assert [a["status_code"] for a in api.attempts("gone")][1] == status
