"""The resources of the API as frozen value objects.

Times are timezone-aware :class:`~datetime.datetime` values in UTC. Values
that the server sends are built by :mod:`timerclient._codec`; the ones a
program builds (:class:`Callback`, :class:`RetryPolicy`, :class:`TimerSpec`)
are checked for what the client can tell on its own, and the server judges
the rest.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

if TYPE_CHECKING:
    from ._exceptions import ApiError

DEFAULT_CALLBACK_TIMEOUT_SECONDS = 10.0


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


#: Marks an argument that was not given, where ``None`` is a value of its own
#: (a timer's payload may be JSON ``null``).
UNSET: Final = _Unset.UNSET


class TimerStatus(enum.StrEnum):
    """Where a timer is in its life."""

    scheduled = "scheduled"
    succeeded = "succeeded"
    failed = "failed"


class ErrorKind(enum.StrEnum):
    """Why a delivery attempt failed."""

    timeout = "timeout"
    connection = "connection"
    http_status = "http_status"
    invalid_response = "invalid_response"


class AttemptOutcome(enum.StrEnum):
    """What one delivery attempt led to."""

    succeeded = "succeeded"
    rescheduled = "rescheduled"
    failed = "failed"


def aware(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (
        not isinstance(value, datetime) or value.utcoffset() is None
    ):
        raise ValueError(f"{attribute.name} must be a timezone-aware datetime")


def _copied_headers(value: Mapping[str, str]) -> Mapping[str, str]:
    # A copy, so that changing the caller's dict later changes no callback.
    return dict(value)


def _to_callback(value: Callback | str) -> Callback:
    return Callback(value) if isinstance(value, str) else value


@attrs.frozen
class Callback:
    """Where and how the service delivers a timer.

    :param url: the absolute ``http`` or ``https`` URL the service POSTs to
    :param timeout_seconds: how long one delivery attempt may take
    :param headers: extra request headers of each delivery
    """

    url: str
    timeout_seconds: float = DEFAULT_CALLBACK_TIMEOUT_SECONDS
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_copied_headers)


@attrs.frozen
class RetryPolicy:
    """How the service retries failed deliveries of a timer.

    ``max_attempts`` counts every attempt, the first included; ``0`` means
    no limit. ``max_duration_seconds`` gives up that long after the first
    attempt; ``None`` means no limit.
    """

    max_attempts: int = 10
    initial_interval_seconds: float = 1.0
    backoff_coefficient: float = 2.0
    max_interval_seconds: float = 600.0
    max_duration_seconds: float | None = None


@attrs.frozen
class LastError:
    """Why a delivery attempt failed."""

    at: datetime
    kind: ErrorKind | str
    message: str
    status_code: int | None = None


@attrs.frozen
class Timer:
    """A timer as the service stores it.

    The service sets the fields after ``retry_policy``: ``status``;
    ``attempts``, the delivery attempts since the timer was last
    (re)scheduled; ``next_attempt_at``, when the next delivery is due
    (``fire_at`` before the first attempt, the retry time after a failure,
    ``None`` once finished); ``last_error``, why the latest attempt failed;
    ``executed_at``, when the last successful delivery completed; and
    ``version``, 1 at creation and one more on every change, the value that
    ``expected_version`` compares with.
    """

    namespace: str
    id: str
    fire_at: datetime
    callback: Callback
    payload: Any
    retry_policy: RetryPolicy
    status: TimerStatus | str
    attempts: int
    next_attempt_at: datetime | None
    last_error: LastError | None
    created_at: datetime
    updated_at: datetime
    executed_at: datetime | None
    version: int


@attrs.frozen
class TimerSpec:
    """What a program asks for when it creates a timer.

    Exactly one of *fire_at* and *delay_seconds* is given: a delay counts
    from the moment the server takes the request, so a retried create with
    a delay is judged the same timer.

    :param id: the timer's id, unique within its namespace
    :param callback: the callback, or just its URL
    :param fire_at: when the timer is due (timezone-aware)
    :param delay_seconds: how long after the server takes the request
    :param payload: any JSON value, handed back in the callback
    :param retry_policy: the delivery retries; the server's defaults if
        ``None``
    """

    id: str
    callback: Callback = attrs.field(converter=_to_callback)
    fire_at: datetime | None = attrs.field(default=None, validator=aware)
    delay_seconds: float | None = None
    payload: Any = None
    retry_policy: RetryPolicy | None = None

    def __attrs_post_init__(self) -> None:
        if (self.fire_at is None) == (self.delay_seconds is None):
            raise ValueError("give exactly one of fire_at and delay_seconds")


@attrs.frozen
class FieldViolation:
    """One bad field of a request that the server refused, and why.

    :param field: the field's path, such as ``callback.timeout_seconds``
    :param reason: what is wrong with it, for people
    """

    field: str
    reason: str


@attrs.frozen
class TimerPage:
    """One page of a listing; ``next_page_token`` is ``None`` on the last."""

    timers: tuple[Timer, ...]
    next_page_token: str | None


@attrs.frozen
class TimerCounts:
    """How many timers of a namespace are in each status."""

    scheduled: int
    succeeded: int
    failed: int


@attrs.frozen
class Namespace:
    """A namespace and the counts of its timers."""

    name: str
    counts: TimerCounts


@attrs.frozen
class Attempt:
    """One delivery attempt of a timer.

    ``status_code`` and ``error`` are ``None`` where they do not apply.
    """

    attempt: int
    fire_at: datetime
    started_at: datetime
    duration_ms: float
    outcome: AttemptOutcome | str
    status_code: int | None
    error: LastError | None


@attrs.frozen
class BatchResult:
    """The answer for one item of a batch create, in the order of the request.

    ``status`` is the HTTP status the item would have had alone: ``201``
    (created) and ``200`` (the same timer existed) carry ``timer``; any
    other carries ``error``, the error a single create would have raised.
    """

    status: int
    timer: Timer | None = None
    error: ApiError | None = None

    @property
    def ok(self) -> bool:
        """Whether the timer exists as asked: created now or before."""
        return self.timer is not None
