"""The Python client of the timer service.

:class:`TimerClient` and :class:`AsyncTimerClient` call the REST API;
:mod:`timerclient.webhooks` verifies and answers the callbacks it makes.
"""

from __future__ import annotations

from ._async_client import AsyncTimerClient
from ._client import TimerClient
from ._exceptions import (
    AlreadyExists,
    ApiError,
    ConnectionFailed,
    Internal,
    InvalidArgument,
    InvalidResponse,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    PreconditionFailed,
    RequestTimedOut,
    TimerClientError,
    Unauthenticated,
    Unavailable,
)
from ._models import (
    UNSET,
    Attempt,
    AttemptOutcome,
    BatchResult,
    Callback,
    ErrorKind,
    FieldViolation,
    LastError,
    Namespace,
    RetryPolicy,
    Timer,
    TimerCounts,
    TimerPage,
    TimerSpec,
    TimerStatus,
)
from ._requests import DEFAULT_BASE_URL, DEFAULT_TIMEOUT_SECONDS, USER_AGENT
from ._retry import RetrySettings
from ._version import __version__
from .webhooks import (
    Delivery,
    InvalidDelivery,
    InvalidSignature,
    Reschedule,
    WebhookError,
    WebhookReceiver,
    WebhookResponse,
    parse_callback,
    reschedule,
    verify_signature,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT_SECONDS",
    "UNSET",
    "USER_AGENT",
    "AlreadyExists",
    "ApiError",
    "AsyncTimerClient",
    "Attempt",
    "AttemptOutcome",
    "BatchResult",
    "Callback",
    "ConnectionFailed",
    "Delivery",
    "ErrorKind",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "InvalidDelivery",
    "InvalidResponse",
    "InvalidSignature",
    "LastError",
    "Namespace",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PreconditionFailed",
    "RequestTimedOut",
    "Reschedule",
    "RetryPolicy",
    "RetrySettings",
    "Timer",
    "TimerClient",
    "TimerClientError",
    "TimerCounts",
    "TimerPage",
    "TimerSpec",
    "TimerStatus",
    "Unauthenticated",
    "Unavailable",
    "WebhookError",
    "WebhookReceiver",
    "WebhookResponse",
    "__version__",
    "parse_callback",
    "reschedule",
    "verify_signature",
]
