"""The wire format: JSON objects of the API to models, and back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ._exceptions import (
    ERROR_CLASSES,
    STATUS_CODES,
    AlreadyExists,
    ApiError,
)
from ._models import (
    DEFAULT_CALLBACK_TIMEOUT_SECONDS,
    Attempt,
    AttemptOutcome,
    BatchResult,
    Callback,
    ErrorKind,
    LastError,
    Namespace,
    RetryPolicy,
    Timer,
    TimerCounts,
    TimerPage,
    TimerSpec,
    TimerStatus,
)


class DecodeError(ValueError):
    """A server answer that does not have the contract's shape."""


# -- times ------------------------------------------------------------------


def format_time(moment: datetime) -> str:
    """Format an aware *moment* as RFC 3339 in UTC, with ``Z``.

    Microseconds are kept: the server rounds them up to the millisecond, so
    a timer never fires before the instant asked for.
    """
    if moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone; use an aware datetime")

    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 time into an aware datetime in UTC."""
    moment = _parsed.get(text)
    if moment is None:
        moment = datetime.fromisoformat(text)
        if moment.utcoffset() is None:
            raise ValueError(f"time {text!r} has no offset")

        moment = moment.astimezone(UTC)
        if len(_parsed) >= _PARSED_KEPT:
            _parsed.clear()

        _parsed[text] = moment

    return moment


# The timers of one answer share most of their times (created and updated
# at one instant, often one fire time): each is parsed once.
_parsed: dict[str, datetime] = {}
_PARSED_KEPT = 4096


def _time(data: Mapping[str, Any], key: str) -> datetime:
    value = data[key]
    if not isinstance(value, str):
        raise DecodeError(f"{key} must be a time string, not {value!r}")

    return parse_time(value)


def _optional_time(data: Mapping[str, Any], key: str) -> datetime | None:
    return None if data.get(key) is None else _time(data, key)


def _enum(enum_type: type[Any], value: Any) -> Any:
    # A value this version does not know stays a string rather than failing
    # the whole answer: the contract may add states within v1.
    try:
        return enum_type(value)
    except ValueError:
        return str(value)


# -- answers into models -----------------------------------------------------


def callback_from_dict(data: Mapping[str, Any]) -> Callback:
    return Callback(
        url=data["url"],
        timeout_seconds=float(
            data.get("timeout_seconds", DEFAULT_CALLBACK_TIMEOUT_SECONDS)
        ),
        # The model copies the headers itself.
        headers=data.get("headers") or {},
    )


def retry_policy_from_dict(data: Mapping[str, Any]) -> RetryPolicy:
    max_duration = data.get("max_duration_seconds")
    return RetryPolicy(
        max_attempts=int(data["max_attempts"]),
        initial_interval_seconds=float(data["initial_interval_seconds"]),
        backoff_coefficient=float(data["backoff_coefficient"]),
        max_interval_seconds=float(data["max_interval_seconds"]),
        max_duration_seconds=None if max_duration is None else float(max_duration),
    )


def last_error_from_dict(data: Mapping[str, Any] | None) -> LastError | None:
    if data is None:
        return None

    return LastError(
        at=_time(data, "at"),
        kind=_enum(ErrorKind, data["kind"]),
        message=str(data["message"]),
        status_code=data.get("status_code"),
    )


def timer_from_dict(data: Mapping[str, Any]) -> Timer:
    """Build a :class:`Timer` from the API's JSON object."""
    try:
        return Timer(
            namespace=data["namespace"],
            id=data["id"],
            fire_at=_time(data, "fire_at"),
            callback=callback_from_dict(data["callback"]),
            payload=data.get("payload"),
            retry_policy=retry_policy_from_dict(data["retry_policy"]),
            status=_enum(TimerStatus, data["status"]),
            attempts=int(data["attempts"]),
            next_attempt_at=_optional_time(data, "next_attempt_at"),
            last_error=last_error_from_dict(data.get("last_error")),
            created_at=_time(data, "created_at"),
            updated_at=_time(data, "updated_at"),
            executed_at=_optional_time(data, "executed_at"),
            version=int(data["version"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"not a timer: {exc!r}") from exc


def page_from_dict(data: Mapping[str, Any]) -> TimerPage:
    return TimerPage(
        timers=tuple(timer_from_dict(item) for item in data["timers"]),
        next_page_token=data.get("next_page_token") or None,
    )


def namespaces_from_dict(data: Mapping[str, Any]) -> list[Namespace]:
    namespaces = []
    for item in data["namespaces"]:
        counts = item.get("counts") or {}
        namespaces.append(
            Namespace(
                name=item["name"],
                counts=TimerCounts(
                    scheduled=int(counts.get("scheduled", 0)),
                    succeeded=int(counts.get("succeeded", 0)),
                    failed=int(counts.get("failed", 0)),
                ),
            )
        )

    return namespaces


def attempts_from_dict(data: Mapping[str, Any]) -> list[Attempt]:
    return [
        Attempt(
            attempt=int(item["attempt"]),
            fire_at=_time(item, "fire_at"),
            started_at=_time(item, "started_at"),
            duration_ms=float(item["duration_ms"]),
            outcome=_enum(AttemptOutcome, item["outcome"]),
            status_code=item.get("status_code"),
            error=last_error_from_dict(item.get("error")),
        )
        for item in data["attempts"]
    ]


def batch_from_dict(data: Mapping[str, Any]) -> list[BatchResult]:
    results = []
    for item in data["results"]:
        status = int(item["status"])
        if item.get("timer") is not None:
            results.append(BatchResult(status, timer=timer_from_dict(item["timer"])))
        else:
            results.append(BatchResult(status, error=error_from_body(status, item)))

    return results


def error_from_body(status: int, body: Any, text: str = "") -> ApiError:
    """Build the error of the contract's ``{"error": {...}}`` answer.

    A body of another shape still gives an error, of the class of its status.
    """
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        code: str = error["code"]
        message = str(error.get("message") or code)
        details = error.get("details")
        details = details if isinstance(details, dict) else {}
    else:
        code = STATUS_CODES.get(status, "unknown")
        message = text.strip()[:500] or f"HTTP {status}"
        details = {}

    cls = ERROR_CLASSES.get(code, ApiError)
    if cls is AlreadyExists:
        existing = details.get("existing")
        timer = None
        if isinstance(existing, dict):
            try:
                timer = timer_from_dict(existing)
            except DecodeError:
                timer = None

        return AlreadyExists(status, code, message, details, existing=timer)

    return cls(status, code, message, details)


# -- requests from models ----------------------------------------------------


def callback_to_dict(callback: Callback) -> dict[str, Any]:
    return {
        "url": callback.url,
        "timeout_seconds": callback.timeout_seconds,
        "headers": dict(callback.headers),
    }


def retry_policy_to_dict(policy: RetryPolicy) -> dict[str, Any]:
    return {
        "max_attempts": policy.max_attempts,
        "initial_interval_seconds": policy.initial_interval_seconds,
        "backoff_coefficient": policy.backoff_coefficient,
        "max_interval_seconds": policy.max_interval_seconds,
        "max_duration_seconds": policy.max_duration_seconds,
    }


def spec_to_dict(spec: TimerSpec) -> dict[str, Any]:
    """The create body of *spec*."""
    body: dict[str, Any] = {"id": spec.id}
    if spec.fire_at is not None:
        body["fire_at"] = format_time(spec.fire_at)
    else:
        body["delay_seconds"] = spec.delay_seconds

    body["callback"] = callback_to_dict(spec.callback)
    body["payload"] = spec.payload
    if spec.retry_policy is not None:
        body["retry_policy"] = retry_policy_to_dict(spec.retry_policy)

    return body
