"""Validation of client input: JSON-shaped data into the kernel's value objects.

Every check collects a :class:`FieldError` instead of stopping, so that one
answer names every bad field of a request.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import attrs

from ._exceptions import FieldError, InvalidArgument, PayloadTooLarge
from ._model import (
    UNSET,
    Callback,
    Delivered,
    DeliveryFailed,
    DeliveryResult,
    ErrorKind,
    Rescheduled,
    RetryPolicy,
    TimerPatch,
    TimerSpec,
    ceil_to_millis,
)
from ._times import parse_time

NAMESPACE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
TIMER_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,254}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")

MAX_URL_LENGTH = 2048
MAX_HEADERS = 20
MAX_HEADER_VALUE_LENGTH = 4096
MIN_TIMEOUT_SECONDS = 0.1
MAX_TIMEOUT_SECONDS = 300.0
# Ten thousand years of seconds is past the last representable time anyway;
# the bound keeps float arithmetic on delays exact enough.
MAX_SECONDS = 315_360_000_000.0
MAX_ATTEMPTS_LIMIT = 1_000_000

# Headers the service sets itself on every callback: a timer may not set them.
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "host",
        "user-agent",
        "timer-namespace",
        "timer-id",
        "timer-attempt",
        "timer-signature",
        "traceparent",
        "tracestate",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)

_CREATE_FIELDS = frozenset(
    {"id", "fire_at", "delay_seconds", "callback", "payload", "retry_policy"}
)
_CALLBACK_FIELDS = frozenset({"url", "timeout_seconds", "headers"})
_RETRY_FIELDS = frozenset(attrs.fields_dict(RetryPolicy))

_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
# Most retry policies are the defaults; one frozen instance serves them all.
_DEFAULT_RETRY_POLICY = RetryPolicy()

UrlGuard = Callable[[str], "str | None"]
"""Checks a callback URL against a policy; returns why it is refused, or None."""


def encode_json(value: Any) -> str:
    """Serialize *value* compactly, as the kernel measures and stores it."""
    plain = plain_json(value)
    if plain is not None:
        return plain.decode()

    return _encode_compact(value)


_encode_compact = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode

# orjson is optional: the kernel depends on nothing compiled, and without
# it every encoding takes the standard library's path.
_orjson: ModuleType | None
try:
    import orjson as _orjson_module
except ImportError:  # pragma: no cover - the server always has it
    _orjson = None
else:
    _orjson = _orjson_module

# Where orjson's output may differ from the standard library's: bytes
# outside printable ASCII (which the standard library may escape), any
# escape, numbers with a fraction or an exponent (formatted differently for
# some values), and null (which orjson also writes for NaN and infinities,
# where the standard library refuses them). Numbers and null are looked for
# outside strings only, so that a time or a host name in a string (in most
# payloads, and in every callback body) does not count; without escapes, a
# string is all that lies between two quotes.
_STRING = re.compile(rb'"[^"]*"')
_NOT_PLAIN_OUTSIDE_STRINGS = re.compile(rb"[0-9][.eE]|null")


def plain_json(value: Any, *, sort_keys: bool = False) -> bytes | None:
    """Return *value* as compact JSON, if orjson writes it as json would.

    That is: printable ASCII without escapes, and no number other than an
    integer, where the two agree byte for byte (with ``sort_keys``, also on
    the order of keys). Otherwise, or without orjson, return None: the
    caller encodes with the standard library. The cheap path matters on
    every create, where a payload is measured and digested.
    """
    if _orjson is None:
        return None

    try:
        text: bytes = _orjson.dumps(
            value, option=_orjson.OPT_SORT_KEYS if sort_keys else 0
        )
    except TypeError:
        return None

    if not text.isascii() or b"\\" in text or b"\x7f" in text:
        return None

    if _NOT_PLAIN_OUTSIDE_STRINGS.search(_STRING.sub(b"", text)):
        return None

    return text


def check_namespace(namespace: str) -> None:
    """:raises InvalidArgument: if *namespace* is not a valid namespace."""
    if not NAMESPACE_PATTERN.fullmatch(namespace):
        raise InvalidArgument(
            [FieldError("namespace", f"must match {NAMESPACE_PATTERN.pattern}")]
        )


def check_timer_id(timer_id: str) -> None:
    """:raises InvalidArgument: if *timer_id* is not a valid timer id."""
    if not TIMER_ID_PATTERN.fullmatch(timer_id):
        raise InvalidArgument(
            [FieldError("id", f"must match {TIMER_ID_PATTERN.pattern}")]
        )


@attrs.define
class _Checker:
    """Collects the errors of one request while its fields are read."""

    errors: list[FieldError] = attrs.Factory(list)

    def fail(self, field: str, reason: str) -> None:
        self.errors.append(FieldError(field, reason))

    def unknown_fields(
        self, data: Mapping[str, Any], known: frozenset[str], prefix: str
    ) -> None:
        for name in data:
            if name not in known:
                self.fail(f"{prefix}{name}", "is not a known field")

    def number(
        self,
        data: Mapping[str, Any],
        name: str,
        field: str,
        *,
        default: float,
        low: float,
        high: float,
        low_inclusive: bool = True,
    ) -> float:
        value = data.get(name, default)
        if not _is_number(value):
            self.fail(field, "must be a number")
            return default

        number = float(value)
        too_low = number < low if low_inclusive else number <= low
        if too_low or number > high or not math.isfinite(number):
            bound = ">=" if low_inclusive else ">"
            self.fail(field, f"must be {bound} {low:g} and <= {high:g}")
            return default

        return number

    def time(self, value: Any, field: str) -> datetime | None:
        if not isinstance(value, str):
            self.fail(field, "must be an RFC 3339 time string")
            return None

        try:
            return parse_time(value)
        except ValueError as exc:
            self.fail(field, str(exc))
            return None

    def raise_if_failed(self) -> None:
        if self.errors:
            raise InvalidArgument(self.errors)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_timer_spec(
    data: Any,
    *,
    max_payload_bytes: int,
    url_guard: UrlGuard | None = None,
) -> TimerSpec:
    """Read a create request body into a :class:`TimerSpec`.

    :raises InvalidArgument: naming every bad field.
    :raises PayloadTooLarge: if the payload is over *max_payload_bytes*.
    """
    checker = _Checker()
    if not isinstance(data, dict):
        raise InvalidArgument([FieldError("body", "must be a JSON object")])

    checker.unknown_fields(data, _CREATE_FIELDS, "")

    timer_id = data.get("id")
    if not isinstance(timer_id, str):
        checker.fail("id", "is required and must be a string")
    elif not TIMER_ID_PATTERN.fullmatch(timer_id):
        checker.fail("id", f"must match {TIMER_ID_PATTERN.pattern}")

    fire_at, delay = _read_fire_time(checker, data, required=True)

    callback = None
    if "callback" not in data:
        checker.fail("callback", "is required")
    else:
        callback = _read_callback(checker, data["callback"], url_guard)

    retry_policy = (
        _read_retry_policy(checker, data["retry_policy"])
        if "retry_policy" in data
        else _DEFAULT_RETRY_POLICY
    )
    payload = data.get("payload")
    checker.raise_if_failed()
    check_payload_size(payload, max_payload_bytes)

    assert isinstance(timer_id, str)
    assert callback is not None
    return TimerSpec(
        id=timer_id,
        callback=callback,
        fire_at=fire_at,
        delay_seconds=delay,
        payload=payload,
        retry_policy=retry_policy,
    )


def parse_timer_patch(
    data: Any,
    *,
    max_payload_bytes: int,
    url_guard: UrlGuard | None = None,
) -> TimerPatch:
    """Read an update request body into a :class:`TimerPatch`.

    :raises InvalidArgument: naming every bad field.
    :raises PayloadTooLarge: if the payload is over *max_payload_bytes*.
    """
    checker = _Checker()
    if not isinstance(data, dict):
        raise InvalidArgument([FieldError("body", "must be a JSON object")])

    # An id is a known field that a patch may not hold: it gets its own reason.
    checker.unknown_fields(data, _CREATE_FIELDS, "")
    if "id" in data:
        checker.fail("id", "cannot be changed")

    fire_at, delay = _read_fire_time(checker, data, required=False)
    callback = (
        _read_callback(checker, data["callback"], url_guard)
        if "callback" in data
        else UNSET
    )
    retry_policy = (
        _read_retry_policy(checker, data["retry_policy"])
        if "retry_policy" in data
        else UNSET
    )
    checker.raise_if_failed()

    payload = data.get("payload", UNSET)
    if payload is not UNSET:
        check_payload_size(payload, max_payload_bytes)

    return TimerPatch(
        fire_at=UNSET if fire_at is None else fire_at,
        delay_seconds=UNSET if delay is None else delay,
        callback=callback if callback is not None else UNSET,
        payload=payload,
        retry_policy=retry_policy,
    )


def check_payload_size(payload: Any, limit: int) -> None:
    """:raises PayloadTooLarge: if *payload* serializes to over *limit* bytes."""
    try:
        size = len(encode_json(payload).encode())
    except (TypeError, ValueError):
        raise InvalidArgument([FieldError("payload", "must be plain JSON")]) from None

    if size > limit:
        raise PayloadTooLarge(size, limit)


def fire_time_from_delay(now: datetime, delay_seconds: float) -> datetime:
    """Return ``now + delay_seconds``, rounded up to the millisecond.

    :raises InvalidArgument: if the result is past the last representable time.
    """
    try:
        return ceil_to_millis(now + timedelta(seconds=delay_seconds))
    except OverflowError:
        raise InvalidArgument(
            [FieldError("delay_seconds", "puts the fire time out of range")]
        ) from None


def _read_fire_time(
    checker: _Checker, data: Mapping[str, Any], *, required: bool
) -> tuple[datetime | None, float | None]:
    has_fire_at = "fire_at" in data
    has_delay = "delay_seconds" in data
    if has_fire_at and has_delay:
        checker.fail("fire_at", "give fire_at or delay_seconds, not both")
        return None, None

    if has_fire_at:
        return checker.time(data["fire_at"], "fire_at"), None

    if has_delay:
        delay = checker.number(
            data, "delay_seconds", "delay_seconds", default=-1, low=0, high=MAX_SECONDS
        )
        return None, (delay if delay >= 0 else None)

    if required:
        checker.fail("fire_at", "one of fire_at or delay_seconds is required")

    return None, None


def _read_callback(
    checker: _Checker, data: Any, url_guard: UrlGuard | None
) -> Callback | None:
    if not isinstance(data, dict):
        checker.fail("callback", "must be an object")
        return None

    errors_before = len(checker.errors)
    checker.unknown_fields(data, _CALLBACK_FIELDS, "callback.")

    url = data.get("url")
    if not isinstance(url, str):
        checker.fail("callback.url", "is required and must be a string")
    else:
        reason = url_problem(url)
        if reason is None and url_guard is not None:
            reason = url_guard(url)

        if reason is not None:
            checker.fail("callback.url", reason)

    timeout = checker.number(
        data,
        "timeout_seconds",
        "callback.timeout_seconds",
        default=10.0,
        low=MIN_TIMEOUT_SECONDS,
        high=MAX_TIMEOUT_SECONDS,
    )
    headers = _read_headers(checker, data.get("headers", {}))
    if len(checker.errors) > errors_before:
        return None

    assert isinstance(url, str)
    return Callback(url=url, timeout_seconds=timeout, headers=headers)


@functools.lru_cache(maxsize=4096)
def url_problem(url: str) -> str | None:
    """Say why *url* is not an absolute http(s) URL, or return None if it is.

    Cached: many timers share a few callback URLs.
    """
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"

    if _CONTROL_OR_SPACE.search(url):
        return "must not contain spaces or control characters"

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a valid URL"

    if parts.scheme not in ("http", "https"):
        return "must be an absolute http or https URL"

    if not parts.hostname:
        return "must name a host"

    if parts.username is not None or parts.password is not None:
        return "must not carry credentials; use callback.headers"

    return None


def _read_headers(checker: _Checker, data: Any) -> dict[str, str]:
    if not isinstance(data, dict):
        checker.fail("callback.headers", "must be an object of strings")
        return {}

    if len(data) > MAX_HEADERS:
        checker.fail("callback.headers", f"must have at most {MAX_HEADERS} entries")
        return {}

    headers: dict[str, str] = {}
    for name, value in data.items():
        field = f"callback.headers.{name}"
        if not _HEADER_NAME.fullmatch(name):
            checker.fail(field, "is not a valid header name")
        elif name.lower() in RESERVED_HEADERS:
            checker.fail(field, "is set by the service and cannot be overridden")
        elif not isinstance(value, str):
            checker.fail(field, "must be a string")
        elif len(value) > MAX_HEADER_VALUE_LENGTH or any(
            c in value for c in "\r\n\x00"
        ):
            checker.fail(
                field,
                f"must be at most {MAX_HEADER_VALUE_LENGTH} characters, "
                "without line breaks",
            )
        else:
            headers[name] = value

    return headers


def _read_retry_policy(checker: _Checker, data: Any) -> RetryPolicy:
    if not isinstance(data, dict):
        checker.fail("retry_policy", "must be an object")
        return RetryPolicy()

    checker.unknown_fields(data, _RETRY_FIELDS, "retry_policy.")
    defaults = RetryPolicy()

    max_attempts = data.get("max_attempts", defaults.max_attempts)
    if not isinstance(max_attempts, int) or isinstance(max_attempts, bool):
        checker.fail("retry_policy.max_attempts", "must be an integer")
        max_attempts = defaults.max_attempts
    elif not 0 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
        checker.fail(
            "retry_policy.max_attempts", f"must be >= 0 and <= {MAX_ATTEMPTS_LIMIT}"
        )
        max_attempts = defaults.max_attempts

    initial = checker.number(
        data,
        "initial_interval_seconds",
        "retry_policy.initial_interval_seconds",
        default=defaults.initial_interval_seconds,
        low=0,
        high=MAX_SECONDS,
        low_inclusive=False,
    )
    coefficient = checker.number(
        data,
        "backoff_coefficient",
        "retry_policy.backoff_coefficient",
        default=defaults.backoff_coefficient,
        low=1,
        high=100,
    )
    max_interval = checker.number(
        data,
        "max_interval_seconds",
        "retry_policy.max_interval_seconds",
        default=defaults.max_interval_seconds,
        low=0,
        high=MAX_SECONDS,
        low_inclusive=False,
    )

    max_duration: float | None = None
    if data.get("max_duration_seconds") is not None:
        max_duration = checker.number(
            data,
            "max_duration_seconds",
            "retry_policy.max_duration_seconds",
            default=0,
            low=0,
            high=MAX_SECONDS,
            low_inclusive=False,
        )

    return RetryPolicy(
        max_attempts=max_attempts,
        initial_interval_seconds=initial,
        backoff_coefficient=coefficient,
        max_interval_seconds=max_interval,
        max_duration_seconds=max_duration,
    )


_ANSWER_KEYS = ("next_fire_at", "next_delay_seconds")


def parse_callback_answer(
    body: bytes,
    *,
    now: datetime,
    max_payload_bytes: int,
    url_guard: UrlGuard | None = None,
) -> DeliveryResult:
    """Read a 2xx answer of a callback target into what happens next.

    A body that is empty, not JSON, or an object without ``next_fire_at`` or
    ``next_delay_seconds`` means plain delivery. An object with either asks
    for a reschedule; if what it asks for is invalid, the attempt failed with
    ``invalid_response``, so that a broken target shows up in ``last_error``
    instead of being silently taken as done.
    """
    try:
        answer = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        return Delivered()

    if not isinstance(answer, dict) or not any(key in answer for key in _ANSWER_KEYS):
        return Delivered()

    checker = _Checker()
    fire_at: datetime | None = None
    if "next_fire_at" in answer and "next_delay_seconds" in answer:
        checker.fail(
            "next_fire_at", "give next_fire_at or next_delay_seconds, not both"
        )
    elif "next_fire_at" in answer:
        fire_at = checker.time(answer["next_fire_at"], "next_fire_at")
    else:
        delay = checker.number(
            answer,
            "next_delay_seconds",
            "next_delay_seconds",
            default=-1,
            low=0,
            high=MAX_SECONDS,
        )
        if delay >= 0:
            try:
                fire_at = fire_time_from_delay(now, delay)
            except InvalidArgument:
                checker.fail("next_delay_seconds", "puts the fire time out of range")

    callback = (
        _read_callback(checker, answer["callback"], url_guard)
        if "callback" in answer
        else UNSET
    )
    retry_policy = (
        _read_retry_policy(checker, answer["retry_policy"])
        if "retry_policy" in answer
        else UNSET
    )
    payload = answer.get("payload", UNSET)
    if payload is not UNSET:
        try:
            check_payload_size(payload, max_payload_bytes)
        except (InvalidArgument, PayloadTooLarge) as exc:
            checker.fail("payload", str(exc))

    if checker.errors or fire_at is None:
        summary = "; ".join(f"{error.field} {error.reason}" for error in checker.errors)
        return DeliveryFailed(
            kind=ErrorKind.invalid_response,
            message=f"the reschedule answer is invalid: {summary}",
        )

    return Rescheduled(
        fire_at=fire_at,
        payload=payload,
        callback=UNSET if callback is None else callback,
        retry_policy=retry_policy,
    )
