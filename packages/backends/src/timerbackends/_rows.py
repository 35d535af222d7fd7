"""Timers and attempts to rows and back, for every store of this package.

The SQL tables, the Cassandra tables and the MongoDB documents hold the
same columns under the same names (:data:`TIMER_COLUMN_NAMES`,
:data:`ATTEMPT_COLUMN_NAMES`). Callback and retry policy have a column per
field, so that reading a timer
parses JSON only for the headers and the payload. A store must give a timer
back equal to what it was given: JSON keeps ints as ints and writes floats
with ``repr``, which reads back to the same float, and every time is whole
milliseconds (a store is only ever given those).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from timerkernel import (
    Attempt,
    AttemptOutcome,
    Callback,
    ErrorKind,
    LastError,
    RetryPolicy,
    Timer,
    TimerStatus,
    encode_json,
    from_millis,
    to_millis,
)

#: Every column of a timer, in the order :func:`timer_from_row` reads them.
TIMER_COLUMN_NAMES = (
    "namespace",
    "id",
    "shard",
    "version",
    "status",
    "fire_at",
    "next_attempt_at",
    "attempts",
    "attempt_seq",
    "first_attempt_at",
    "created_at",
    "updated_at",
    "executed_at",
    "initial_fire_at",
    "definition_digest",
    "callback_url",
    "callback_timeout",
    "callback_headers",
    "payload",
    "max_attempts",
    "initial_interval",
    "backoff_coefficient",
    "max_interval",
    "max_duration",
    "error_at",
    "error_kind",
    "error_message",
    "error_status",
)

#: Every column of an attempt, in the order :func:`attempt_from_row` reads.
ATTEMPT_COLUMN_NAMES = (
    "namespace",
    "timer_id",
    "seq",
    "attempt",
    "fire_at",
    "started_at",
    "duration_ms",
    "outcome",
    "status_code",
    "error_at",
    "error_kind",
    "error_message",
    "error_status",
)

_EPOCH = from_millis(0)
_MICROSECOND = timedelta(microseconds=1)

# Looking enum members up by value through a dict is several times faster
# than calling the enum, which matters when a list call decodes many rows.
_STATUSES = {status.value: status for status in TimerStatus}
_ERROR_KINDS = {kind.value: kind for kind in ErrorKind}
_OUTCOMES = {outcome.value: outcome for outcome in AttemptOutcome}

# The standard library, because it refuses NaN and infinities where orjson
# would write null; reading, where nothing is refused, takes orjson.
_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":")
).encode


def _decode(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # Integers past 64 bits, which orjson does not read.
        return json.loads(text)


def to_micros(moment: datetime) -> int:
    """Return *moment* as whole microseconds since the Unix epoch."""
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """Return the UTC datetime *micros* microseconds after the Unix epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def floor_millis(moment: datetime) -> int:
    """Return *moment* as milliseconds since the epoch, rounded down.

    A stored time (whole milliseconds) is at or before *moment* exactly when
    it is at or before this value.
    """
    return to_micros(moment) // 1000


def _optional_millis(moment: datetime | None) -> int | None:
    return None if moment is None else to_millis(moment)


def _optional_time(millis: int | None) -> datetime | None:
    return None if millis is None else from_millis(millis)


def _error_columns(error: LastError | None) -> dict[str, Any]:
    if error is None:
        return {
            "error_at": None,
            "error_kind": None,
            "error_message": None,
            "error_status": None,
        }

    return {
        "error_at": to_millis(error.at),
        "error_kind": error.kind.value,
        "error_message": error.message,
        "error_status": error.status_code,
    }


def _error_from(
    at: int | None, kind: str | None, message: str | None, status: int | None
) -> LastError | None:
    if kind is None:
        return None

    assert at is not None
    assert message is not None
    return LastError(from_millis(at), _ERROR_KINDS[kind], message, status)


def timer_to_row(timer: Timer) -> dict[str, Any]:
    """Return the column values of *timer*, keyed by column name.

    :raises ValueError: if the payload or headers are not JSON data.
    :raises TypeError: likewise, for values JSON cannot represent at all.
    """
    callback = timer.callback
    policy = timer.retry_policy

    # A new timer's times are mostly the same few instants (fire time and
    # next attempt, created and updated): each converted once. This runs
    # for every timer of a batch create.
    fire_at = to_millis(timer.fire_at)
    created_at = to_millis(timer.created_at)
    row = {
        "namespace": timer.namespace,
        "id": timer.id,
        "shard": timer.shard,
        "version": timer.version,
        "status": timer.status.value,
        "fire_at": fire_at,
        "next_attempt_at": _same_millis(timer.next_attempt_at, timer.fire_at, fire_at),
        "attempts": timer.attempts,
        "attempt_seq": timer.attempt_seq,
        "first_attempt_at": _optional_millis(timer.first_attempt_at),
        "created_at": created_at,
        "updated_at": _same_millis(timer.updated_at, timer.created_at, created_at),
        "executed_at": _optional_millis(timer.executed_at),
        "initial_fire_at": _same_millis(timer.initial_fire_at, timer.fire_at, fire_at),
        "definition_digest": timer.definition_digest,
        "callback_url": callback.url,
        "callback_timeout": callback.timeout_seconds,
        "callback_headers": encode_json(dict(callback.headers))
        if callback.headers
        else "{}",
        "payload": encode_json(timer.payload),
        "max_attempts": policy.max_attempts,
        "initial_interval": policy.initial_interval_seconds,
        "backoff_coefficient": policy.backoff_coefficient,
        "max_interval": policy.max_interval_seconds,
        "max_duration": policy.max_duration_seconds,
    }
    error = timer.last_error
    if error is None:
        row.update(_NO_ERROR)
    else:
        row.update(_error_columns(error))

    return row


_NO_ERROR = _error_columns(None)


def _same_millis(
    moment: datetime | None, known: datetime, known_millis: int
) -> int | None:
    """Return *moment* in milliseconds, reusing *known_millis* if it is *known*."""
    if moment is known:
        return known_millis

    return _optional_millis(moment)


# What an outcome that does not reschedule changes: a delivery, a retry or a
# final failure never touches the definition (URL, payload, policy), so its
# update neither encodes nor rewrites those columns.
STATE_COLUMNS = (
    "status",
    "version",
    "attempts",
    "attempt_seq",
    "next_attempt_at",
    "first_attempt_at",
    "executed_at",
    "updated_at",
    "error_at",
    "error_kind",
    "error_message",
    "error_status",
)


def state_of(timer: Timer) -> dict[str, Any]:
    """Return the :data:`STATE_COLUMNS` values of *timer*, by column name."""
    return {
        "status": timer.status.value,
        "version": timer.version,
        "attempts": timer.attempts,
        "attempt_seq": timer.attempt_seq,
        "next_attempt_at": _optional_millis(timer.next_attempt_at),
        "first_attempt_at": _optional_millis(timer.first_attempt_at),
        "executed_at": _optional_millis(timer.executed_at),
        "updated_at": to_millis(timer.updated_at),
        **_error_columns(timer.last_error),
    }


def timer_from_row(row: Sequence[Any]) -> Timer:
    """Return the timer of a row of :data:`TIMER_COLUMN_NAMES`, in order."""
    (
        namespace,
        timer_id,
        shard,
        version,
        status,
        fire_at,
        next_attempt_at,
        attempts,
        attempt_seq,
        first_attempt_at,
        created_at,
        updated_at,
        executed_at,
        initial_fire_at,
        definition_digest,
        callback_url,
        callback_timeout,
        callback_headers,
        payload,
        max_attempts,
        initial_interval,
        backoff_coefficient,
        max_interval,
        max_duration,
        error_at,
        error_kind,
        error_message,
        error_status,
    ) = row
    created = from_millis(created_at)
    return Timer(
        namespace=namespace,
        id=timer_id,
        fire_at=from_millis(fire_at),
        callback=_callback_of(callback_url, callback_timeout, callback_headers),
        payload=_decode(payload),
        retry_policy=_policy_of(
            max_attempts,
            initial_interval,
            backoff_coefficient,
            max_interval,
            max_duration,
        ),
        status=_STATUSES[status],
        attempts=attempts,
        next_attempt_at=_optional_time(next_attempt_at),
        last_error=_error_from(error_at, error_kind, error_message, error_status),
        created_at=created,
        updated_at=created if updated_at == created_at else from_millis(updated_at),
        executed_at=_optional_time(executed_at),
        version=version,
        shard=shard,
        attempt_seq=attempt_seq,
        first_attempt_at=_optional_time(first_attempt_at),
        definition_digest=definition_digest,
        initial_fire_at=_optional_time(initial_fire_at),
    )


# Most timers share a few callbacks and retry policies. Both are frozen, so
# rows with the same columns share one object, built (and its headers
# decoded) once instead of for every row read; a claim reads a row for each
# delivery. Each map is emptied when it reaches _SHARED_MAX entries, which
# bounds it when callbacks are all different. The keys hold the numbers'
# types too: 1 and 1.0 are one key to a dict, and a store that keeps ints
# as ints must give back what it was given.
_SHARED_MAX = 4096
_callbacks: dict[tuple[Any, ...], Callback] = {}
_policies: dict[tuple[Any, ...], RetryPolicy] = {}


def _callback_of(url: str, timeout: float, headers: str) -> Callback:
    key = (url, timeout, type(timeout), headers)
    callback = _callbacks.get(key)
    if callback is None:
        if len(_callbacks) >= _SHARED_MAX:
            _callbacks.clear()

        callback = _callbacks[key] = Callback(url, timeout, _decode(headers))

    return callback


def _policy_of(
    max_attempts: int,
    initial_interval: float,
    backoff_coefficient: float,
    max_interval: float,
    max_duration: float | None,
) -> RetryPolicy:
    fields = (
        max_attempts,
        initial_interval,
        backoff_coefficient,
        max_interval,
        max_duration,
    )
    key = (*fields, *map(type, fields))
    policy = _policies.get(key)
    if policy is None:
        if len(_policies) >= _SHARED_MAX:
            _policies.clear()

        policy = _policies[key] = RetryPolicy(*fields)

    return policy


def attempt_to_row(namespace: str, timer_id: str, attempt: Attempt) -> dict[str, Any]:
    """Return the column values of one attempt of the timer, by column name."""
    return {
        "namespace": namespace,
        "timer_id": timer_id,
        "seq": attempt.seq,
        "attempt": attempt.attempt,
        "fire_at": to_millis(attempt.fire_at),
        "started_at": to_millis(attempt.started_at),
        "duration_ms": attempt.duration_ms,
        "outcome": attempt.outcome.value,
        "status_code": attempt.status_code,
        **_error_columns(attempt.error),
    }


def attempt_from_row(row: Sequence[Any]) -> Attempt:
    """Return the attempt of a row of :data:`ATTEMPT_COLUMN_NAMES`, in order."""
    (
        _namespace,
        _timer_id,
        seq,
        attempt,
        fire_at,
        started_at,
        duration_ms,
        outcome,
        status_code,
        error_at,
        error_kind,
        error_message,
        error_status,
    ) = row
    return Attempt(
        seq=seq,
        attempt=attempt,
        fire_at=from_millis(fire_at),
        started_at=from_millis(started_at),
        duration_ms=duration_ms,
        outcome=_OUTCOMES[outcome],
        status_code=status_code,
        error=_error_from(error_at, error_kind, error_message, error_status),
    )


def changed_columns(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return the values of *row* that an update may change: all but the key."""
    return {
        name: value for name, value in row.items() if name not in ("namespace", "id")
    }
