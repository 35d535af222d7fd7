"""The errors of the client.

::

    TimerClientError
    ├── ApiError                      the server answered with an error
    │   ├── InvalidArgument           400 invalid_argument (also a ValueError)
    │   ├── Unauthenticated           401 unauthenticated
    │   ├── PermissionDenied          403 permission_denied
    │   ├── NotFound                  404 not_found (also a LookupError)
    │   ├── AlreadyExists             409 already_exists, with .existing
    │   ├── PreconditionFailed        412 precondition_failed
    │   ├── PayloadTooLarge           413 payload_too_large
    │   ├── Internal                  500 internal
    │   └── Unavailable               503 unavailable
    ├── ConnectionFailed              no answer: refused, reset, DNS (a ConnectionError)
    ├── RequestTimedOut               no answer in time (a TimeoutError)
    ├── InvalidResponse               a success answer the client cannot read
    └── webhooks.WebhookError         a callback request that is not to be trusted
        ├── webhooks.InvalidSignature
        └── webhooks.InvalidDelivery

An error code the client does not know (the contract may add some) raises a
plain :class:`ApiError` with that code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ._models import FieldViolation, Timer


class TimerClientError(Exception):
    """The root of every error the client raises."""


class ApiError(TimerClientError):
    """The server answered a request with an error.

    :param status: the HTTP status of the answer
    :param code: the contract's error code, such as ``not_found``
    :param message: the server's message, for people
    :param details: the ``details`` object of the answer (``{}`` if none)
    """

    #: The contract code that selects this class.
    error_code: ClassVar[str | None] = None

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: Mapping[str, Any] = dict(details or {})

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r})"
        )

    @property
    def fields(self) -> list[FieldViolation]:
        """The bad fields of an ``invalid_argument`` answer, in the server's
        order; empty for other errors."""
        fields = self.details.get("fields")
        if not isinstance(fields, list):
            return []

        return [
            FieldViolation(str(item.get("field", "")), str(item.get("reason", "")))
            for item in fields
            if isinstance(item, dict)
        ]


class InvalidArgument(ApiError, ValueError):
    """A field is of the wrong type or out of range; see :attr:`fields`."""

    error_code = "invalid_argument"


class Unauthenticated(ApiError):
    """The bearer token is missing or wrong."""

    error_code = "unauthenticated"


class PermissionDenied(ApiError):
    """The token does not cover this namespace."""

    error_code = "permission_denied"


class NotFound(ApiError, LookupError):
    """No such timer, or no such route."""

    error_code = "not_found"


class AlreadyExists(ApiError):
    """A create named an id that holds a different timer.

    :attr:`existing` is the stored timer, when the answer carried it.
    """

    error_code = "already_exists"

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        existing: Timer | None = None,
    ) -> None:
        super().__init__(status, code, message, details)
        self.existing = existing


class PreconditionFailed(ApiError):
    """The timer's version is not the expected one: it changed meanwhile."""

    error_code = "precondition_failed"


class PayloadTooLarge(ApiError):
    """The request body or the payload is over the server's limit."""

    error_code = "payload_too_large"


class Internal(ApiError):
    """A bug of the server."""

    error_code = "internal"


class Unavailable(ApiError):
    """The server cannot reach its storage; a later retry may succeed."""

    error_code = "unavailable"


class ConnectionFailed(TimerClientError, ConnectionError):
    """The request got no answer: the connection failed or broke."""


class RequestTimedOut(TimerClientError, TimeoutError):
    """The request got no answer within the client's timeout."""


class InvalidResponse(TimerClientError):
    """The server answered with success, but not in the contract's shape.

    Seen when the base URL points at something other than the timer
    service.
    """


ERROR_CLASSES: Mapping[str, type[ApiError]] = {
    cls.error_code: cls
    for cls in (
        InvalidArgument,
        Unauthenticated,
        PermissionDenied,
        NotFound,
        AlreadyExists,
        PreconditionFailed,
        PayloadTooLarge,
        Internal,
        Unavailable,
    )
    if cls.error_code is not None
}

#: The contract code of each status, for error answers without a JSON body
#: (from a proxy in front of the server, say).
STATUS_CODES: Mapping[int, str] = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    409: "already_exists",
    412: "precondition_failed",
    413: "payload_too_large",
    500: "internal",
    503: "unavailable",
}
