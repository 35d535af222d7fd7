"""The contract's error model: every error answer has one body shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from timerkernel import (
    FieldError,
    InvalidArgument,
    PayloadTooLarge,
    StorageError,
    TimerAlreadyExists,
    TimerKernelError,
    TimerNotFound,
    VersionConflict,
    timer_to_dict,
)


class ApiError(Exception):
    """An error answer: HTTP status, contract code, message and details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "details": self.details,
            }
        }

    def response(self) -> Response:
        return Response(
            orjson.dumps(self.body()),
            status_code=self.status,
            media_type="application/json",
            headers=self.headers,
        )


def invalid(fields: list[FieldError]) -> ApiError:
    """A 400 naming each bad field."""
    summary = "; ".join(f"{error.field}: {error.reason}" for error in fields)
    return ApiError(
        400,
        "invalid_argument",
        f"invalid request: {summary}",
        {
            "fields": [
                {"field": error.field, "reason": error.reason} for error in fields
            ]
        },
    )


def invalid_field(field: str, reason: str) -> ApiError:
    return invalid([FieldError(field, reason)])


def from_kernel_error(error: TimerKernelError) -> ApiError:
    """Translate a kernel error into its contract answer."""
    if isinstance(error, InvalidArgument):
        return invalid(error.fields)

    if isinstance(error, TimerNotFound):
        return ApiError(
            404,
            "not_found",
            str(error),
            {"namespace": error.namespace, "id": error.timer_id},
        )

    if isinstance(error, TimerAlreadyExists):
        return ApiError(
            409,
            "already_exists",
            str(error),
            {"existing": timer_to_dict(error.existing)},
        )

    if isinstance(error, VersionConflict):
        return ApiError(
            412,
            "precondition_failed",
            str(error),
            {"expected_version": error.expected, "version": error.actual},
        )

    if isinstance(error, PayloadTooLarge):
        return ApiError(
            413,
            "payload_too_large",
            str(error),
            {"field": "payload", "size": error.size, "limit": error.limit},
        )

    if isinstance(error, StorageError):
        return ApiError(
            503,
            "unavailable",
            "the storage is unavailable; retry later",
            headers={"Retry-After": "1"},
        )

    return ApiError(500, "internal", "internal error")
