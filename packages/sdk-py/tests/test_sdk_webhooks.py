"""Signatures, callback bodies and answers, against the shared test vectors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from timerclient import (
    UNSET,
    Callback,
    Delivery,
    InvalidDelivery,
    InvalidSignature,
    Reschedule,
    RetryPolicy,
    TimerClientError,
    WebhookReceiver,
    parse_callback,
    reschedule,
    verify_signature,
)
from timerclient.webhooks import sign

VECTORS_FILE = Path(__file__).parents[3] / "testdata" / "signatures.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))

SECRET = "whsec_test_1"
BODY = (
    b'{"namespace":"billing","id":"invoice-7","fire_at":"2026-01-01T00:00:00.000Z",'
    b'"attempt":2,"payload":{"amount":42}}'
)
NOW = 1767225600


def _cases(section: str) -> list[Any]:
    return [pytest.param(case, id=case["name"]) for case in VECTORS[section]]


class TestVectors:
    def test_the_vectors_are_there(self) -> None:
        assert len(VECTORS["verifying"]) >= 17
        assert len(VECTORS["signing"]) >= 5

    @pytest.mark.parametrize("case", _cases("verifying"))
    def test_verifying(self, case: dict[str, Any]) -> None:
        def verify() -> None:
            verify_signature(
                case["header"],
                case["body"].encode(),
                case["secrets"],
                tolerance_seconds=case["tolerance_seconds"],
                now=case["now"],
            )

        if case["valid"]:
            verify()
        else:
            with pytest.raises(InvalidSignature):
                verify()

    @pytest.mark.parametrize("case", _cases("signing"))
    def test_signing(self, case: dict[str, Any]) -> None:
        header = sign(case["body"].encode(), case["secrets"], case["timestamp"])

        assert header == case["header"]
        verify_signature(
            header, case["body"].encode(), case["secrets"], now=case["timestamp"]
        )


class TestVerify:
    def test_now_may_be_an_aware_datetime(self) -> None:
        header = sign(BODY, SECRET, NOW)

        verify_signature(
            header, BODY, SECRET, now=datetime.fromtimestamp(NOW + 299, UTC)
        )
        with pytest.raises(InvalidSignature, match="tolerance"):
            verify_signature(
                header, BODY, SECRET, now=datetime.fromtimestamp(NOW + 301, UTC)
            )

    def test_the_tolerance_is_adjustable(self) -> None:
        header = sign(BODY, SECRET, NOW)

        verify_signature(header, BODY, SECRET, now=NOW + 1000, tolerance_seconds=1000)
        with pytest.raises(InvalidSignature):
            verify_signature(header, BODY, SECRET, now=NOW + 11, tolerance_seconds=10)

    def test_the_system_clock_is_the_default(self) -> None:
        with pytest.raises(InvalidSignature, match="tolerance"):
            verify_signature(sign(BODY, SECRET, NOW - 10_000), BODY, SECRET)

    @pytest.mark.parametrize(
        "header",
        [
            pytest.param(None, id="absent"),
            pytest.param("t=1767225600,t=1767225600,v1=00", id="two-times"),
            pytest.param("t=1767225600,v1=é", id="non-ascii-signature"),
            pytest.param("t=١٧٦٧٢٢٥٦٠٠,v1=00", id="non-ascii-digits"),
        ],
    )
    def test_odd_headers_are_refused(self, header: str | None) -> None:
        with pytest.raises(InvalidSignature):
            verify_signature(header, BODY, SECRET, now=NOW)

    def test_secrets_may_be_bytes(self) -> None:
        verify_signature(
            sign(BODY, SECRET, NOW), BODY, [b"other", SECRET.encode()], now=NOW
        )

    @pytest.mark.parametrize("secrets", [[], "", [SECRET, ""]])
    def test_no_secret_is_a_usage_error(self, secrets: Any) -> None:
        with pytest.raises(ValueError, match="secret"):
            verify_signature("t=1,v1=00", BODY, secrets, now=1)

    def test_invalid_signature_is_a_client_error(self) -> None:
        assert issubclass(InvalidSignature, TimerClientError)


class TestParse:
    def test_a_callback_body_becomes_a_delivery(self) -> None:
        delivery = parse_callback(BODY)

        assert delivery == Delivery(
            namespace="billing",
            id="invoice-7",
            fire_at=datetime(2026, 1, 1, tzinfo=UTC),
            attempt=2,
            payload={"amount": 42},
        )
        assert delivery.fire_at.tzinfo is UTC

    def test_text_bodies_are_read_too(self) -> None:
        assert parse_callback(BODY.decode()).id == "invoice-7"

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param(b"not json", id="not-json"),
            pytest.param(b"[1, 2]", id="not-an-object"),
            pytest.param(
                b'{"namespace": "a", "id": "b", "attempt": 1}', id="no-fire-at"
            ),
            pytest.param(
                b'{"namespace": "a", "id": "b", "attempt": 1, "fire_at": "soon"}',
                id="bad-time",
            ),
            pytest.param(
                b'{"namespace": "a", "id": 7, "attempt": 1,'
                b' "fire_at": "2026-01-01T00:00:00Z"}',
                id="id-not-a-string",
            ),
            pytest.param(
                b'{"namespace": "a", "id": "b", "attempt": true,'
                b' "fire_at": "2026-01-01T00:00:00Z"}',
                id="attempt-not-a-number",
            ),
        ],
    )
    def test_other_bodies_are_refused(self, body: bytes) -> None:
        with pytest.raises(InvalidDelivery):
            parse_callback(body)


class TestReschedule:
    def test_a_delay_alone(self) -> None:
        assert reschedule(next_delay_seconds=3600).to_dict() == {
            "next_delay_seconds": 3600
        }

    def test_a_time_with_everything_replaced(self) -> None:
        answer = reschedule(
            next_fire_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            payload=None,
            callback="https://shop.example/next",
            retry_policy=RetryPolicy(max_attempts=3),
        )

        assert answer.to_dict() == {
            "next_fire_at": "2026-01-02T03:04:05Z",
            "payload": None,
            "callback": {
                "url": "https://shop.example/next",
                "timeout_seconds": 10.0,
                "headers": {},
            },
            "retry_policy": {
                "max_attempts": 3,
                "initial_interval_seconds": 1.0,
                "backoff_coefficient": 2.0,
                "max_interval_seconds": 600.0,
                "max_duration_seconds": None,
            },
        }
        assert json.loads(answer.to_json()) == answer.to_dict()

    def test_payload_is_left_out_unless_given(self) -> None:
        assert "payload" not in reschedule(next_delay_seconds=1).to_dict()
        assert Reschedule(next_delay_seconds=1).payload is UNSET

    @pytest.mark.parametrize(
        "when",
        [
            pytest.param({}, id="neither"),
            pytest.param(
                {
                    "next_fire_at": datetime(2026, 1, 1, tzinfo=UTC),
                    "next_delay_seconds": 1,
                },
                id="both",
            ),
        ],
    )
    def test_exactly_one_next_time(self, when: dict[str, Any]) -> None:
        with pytest.raises(ValueError, match="exactly one"):
            reschedule(**when)

    def test_a_naive_time_is_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            reschedule(next_fire_at=datetime(2026, 1, 1))


class TestReceiver:
    def _receiver(self) -> WebhookReceiver:
        return WebhookReceiver([SECRET, "old-secret"], clock=lambda: NOW + 5)

    def test_a_done_delivery_answers_204(self) -> None:
        seen: list[Delivery] = []

        def on_delivery(delivery: Delivery) -> None:
            seen.append(delivery)

        answer = self._receiver().answer(
            {"Timer-Signature": sign(BODY, "old-secret", NOW)}, BODY, on_delivery
        )

        assert (answer.status, answer.body) == (204, b"")
        assert [delivery.id for delivery in seen] == ["invoice-7"]

    def test_a_reschedule_answers_200_with_its_object(self) -> None:
        answer = self._receiver().answer(
            [
                (b"content-type", b"application/json"),
                (b"timer-signature", sign(BODY, SECRET, NOW).encode()),
            ],
            BODY,
            lambda delivery: reschedule(
                next_delay_seconds=60, payload={"round": delivery.attempt}
            ),
        )

        assert answer.status == 200
        assert answer.headers == {"Content-Type": "application/json"}
        assert json.loads(answer.body) == {
            "next_delay_seconds": 60,
            "payload": {"round": 2},
        }

    def test_header_names_are_matched_in_any_case(self) -> None:
        receiver = self._receiver()

        delivery = receiver.parse({"timer-SIGNATURE": sign(BODY, SECRET, NOW)}, BODY)

        assert delivery.namespace == "billing"

    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param({}, id="unsigned"),
            pytest.param(
                {"Timer-Signature": sign(BODY, "wrong", NOW)}, id="wrong-secret"
            ),
            pytest.param(
                {"Timer-Signature": sign(BODY, SECRET, NOW - 600)}, id="stale"
            ),
        ],
    )
    def test_untrusted_requests_answer_401_without_calling_back(
        self, headers: dict[str, str]
    ) -> None:
        called: list[Delivery] = []

        answer = self._receiver().answer(headers, BODY, called.append)

        assert answer.status == 401
        assert called == []

    def test_a_signed_body_that_is_not_a_callback_answers_400(self) -> None:
        body = b'{"hello": "world"}'

        answer = self._receiver().answer(
            {"Timer-Signature": sign(body, SECRET, NOW)}, body, lambda delivery: None
        )

        assert answer.status == 400
        assert b"lacks" in answer.body

    def test_errors_of_the_callback_function_propagate(self) -> None:
        def on_delivery(delivery: Delivery) -> None:
            raise RuntimeError("the database is down")

        with pytest.raises(RuntimeError, match="database"):
            self._receiver().answer(
                {"Timer-Signature": sign(BODY, SECRET, NOW)}, BODY, on_delivery
            )

    @pytest.mark.anyio
    async def test_async_callback_functions(self) -> None:
        async def on_delivery(delivery: Delivery) -> Reschedule | None:
            return reschedule(next_fire_at=delivery.fire_at.replace(year=2027))

        answer = await self._receiver().answer_async(
            {"Timer-Signature": sign(BODY, SECRET, NOW)}, BODY, on_delivery
        )
        refused = await self._receiver().answer_async({}, BODY, on_delivery)

        assert json.loads(answer.body) == {"next_fire_at": "2027-01-01T00:00:00Z"}
        assert refused.status == 401

    def test_a_receiver_needs_a_secret(self) -> None:
        with pytest.raises(ValueError, match="secret"):
            WebhookReceiver([])


def test_callback_headers_are_copied() -> None:
    headers = {"X-A": "1"}
    callback = Callback("https://a.example", headers=headers)
    headers["X-B"] = "2"

    assert callback.headers == {"X-A": "1"}
