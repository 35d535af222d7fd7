"""The JSON shape of timers and attempts, as the API and the stores use it."""

from __future__ import annotations

from typing import Any

from ._model import (
    Attempt,
    Callback,
    LastError,
    RetryPolicy,
    Timer,
)
from ._times import format_time


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


def last_error_to_dict(error: LastError | None) -> dict[str, Any] | None:
    if error is None:
        return None

    return {
        "at": format_time(error.at),
        "kind": error.kind.value,
        "message": error.message,
        "status_code": error.status_code,
    }


def timer_to_dict(timer: Timer) -> dict[str, Any]:
    """Return the API representation of *timer*."""
    return {
        "namespace": timer.namespace,
        "id": timer.id,
        "fire_at": format_time(timer.fire_at),
        "callback": callback_to_dict(timer.callback),
        "payload": timer.payload,
        "retry_policy": retry_policy_to_dict(timer.retry_policy),
        "status": timer.status.value,
        "attempts": timer.attempts,
        "next_attempt_at": (
            None
            if timer.next_attempt_at is None
            else format_time(timer.next_attempt_at)
        ),
        "last_error": last_error_to_dict(timer.last_error),
        "created_at": format_time(timer.created_at),
        "updated_at": format_time(timer.updated_at),
        "executed_at": None
        if timer.executed_at is None
        else format_time(timer.executed_at),
        "version": timer.version,
    }


def attempt_to_dict(attempt: Attempt) -> dict[str, Any]:
    """Return the API representation of one delivery attempt."""
    return {
        "attempt": attempt.attempt,
        "fire_at": format_time(attempt.fire_at),
        "started_at": format_time(attempt.started_at),
        "duration_ms": attempt.duration_ms,
        "outcome": attempt.outcome.value,
        "status_code": attempt.status_code,
        "error": last_error_to_dict(attempt.error),
    }
