"""The public surface and the metadata of the distribution."""

from __future__ import annotations

import importlib.metadata
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import timerclient
from timerclient import Callback, RetryPolicy, TimerSpec, _codec, webhooks
from timerclient._codec import format_time, parse_time

EXPECTED_EXPORTS = {
    # clients and their settings
    "AsyncTimerClient",
    "TimerClient",
    "RetrySettings",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT_SECONDS",
    "USER_AGENT",
    "__version__",
    # models
    "UNSET",
    "Attempt",
    "AttemptOutcome",
    "BatchResult",
    "Callback",
    "ErrorKind",
    "FieldViolation",
    "LastError",
    "Namespace",
    "RetryPolicy",
    "Timer",
    "TimerCounts",
    "TimerPage",
    "TimerSpec",
    "TimerStatus",
    # errors
    "TimerClientError",
    "ApiError",
    "InvalidArgument",
    "Unauthenticated",
    "PermissionDenied",
    "NotFound",
    "AlreadyExists",
    "PreconditionFailed",
    "PayloadTooLarge",
    "Internal",
    "Unavailable",
    "ConnectionFailed",
    "RequestTimedOut",
    "InvalidResponse",
    # webhooks
    "Delivery",
    "InvalidDelivery",
    "InvalidSignature",
    "Reschedule",
    "WebhookError",
    "WebhookReceiver",
    "WebhookResponse",
    "parse_callback",
    "reschedule",
    "verify_signature",
}


def test_the_exported_names() -> None:
    assert set(timerclient.__all__) == EXPECTED_EXPORTS
    for name in EXPECTED_EXPORTS:
        assert hasattr(timerclient, name), name


def test_webhook_names_are_the_same_objects() -> None:
    assert timerclient.verify_signature is webhooks.verify_signature
    assert timerclient.WebhookError is webhooks.WebhookError


def test_the_version_is_the_distributions() -> None:
    assert timerclient.__version__ == "0.1.0"
    assert importlib.metadata.version("timerkernel-client") == timerclient.__version__


def test_it_is_typed_and_depends_on_httpx_and_attrs_only() -> None:
    assert (Path(timerclient.__file__).parent / "py.typed").is_file()
    requirements = importlib.metadata.requires("timerkernel-client") or []
    names = {
        requirement.split(">")[0].split("=")[0].strip() for requirement in requirements
    }
    assert names == {"httpx", "attrs"}


class TestTimes:
    def test_times_are_sent_in_utc_with_z(self) -> None:
        moment = datetime(2026, 12, 3, 10, 0, 0, 1, tzinfo=timezone(timedelta(hours=2)))

        assert format_time(moment) == "2026-12-03T08:00:00.000001Z"

    def test_naive_times_are_refused(self) -> None:
        with pytest.raises(ValueError, match="time zone"):
            format_time(datetime(2026, 1, 1))

    @pytest.mark.parametrize(
        "text",
        [
            "2026-12-03T08:00:00.000Z",
            "2026-12-03T10:00:00+02:00",
            "2026-12-03T08:00:00Z",
        ],
    )
    def test_times_are_read_into_utc(self, text: str) -> None:
        moment = parse_time(text)

        assert moment == datetime(2026, 12, 3, 8, tzinfo=UTC)
        assert moment.tzinfo is UTC

    def test_parsed_times_are_kept_in_bounds(self) -> None:
        start = datetime(2026, 1, 1, tzinfo=UTC)

        for second in range(5000):
            moment = start + timedelta(seconds=second)
            assert parse_time(format_time(moment)) == moment

        assert len(_codec._parsed) <= _codec._PARSED_KEPT

    def test_a_time_without_offset_is_refused(self) -> None:
        with pytest.raises(ValueError, match="offset"):
            parse_time("2026-12-03T08:00:00")


class TestModels:
    def test_models_are_frozen(self) -> None:
        callback = Callback("https://a.example")

        with pytest.raises(AttributeError):
            callback.url = "https://b.example"  # type: ignore[misc]  # frozen on purpose

    def test_defaults_are_the_contracts(self) -> None:
        assert Callback("https://a.example").timeout_seconds == 10.0
        assert RetryPolicy() == RetryPolicy(10, 1.0, 2.0, 600.0, None)

    def test_a_spec_takes_a_plain_url(self) -> None:
        spec = TimerSpec("a", callback="https://a.example", delay_seconds=1)

        assert spec.callback == Callback("https://a.example")
