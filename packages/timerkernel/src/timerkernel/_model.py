"""The timer model: value objects shared by the kernel, the stores and the server.

Times are timezone-aware :class:`~datetime.datetime` values in UTC with
millisecond precision; :func:`to_millis` and :func:`from_millis` convert them
to the integer milliseconds that stores keep.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC as UTC  # re-exported: the kernel's modules take it from here
from datetime import datetime, timedelta
from typing import Any

import attrs

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_INITIAL_INTERVAL_SECONDS = 1.0
DEFAULT_BACKOFF_COEFFICIENT = 2.0
DEFAULT_MAX_INTERVAL_SECONDS = 600.0


def to_millis(moment: datetime) -> int:
    """Return *moment* as milliseconds since the Unix epoch, rounded up.

    Rounding up, never down, keeps the promise that a timer never fires
    before the time its client asked for.
    """
    delta = moment - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return -(-micros // 1000)


def from_millis(millis: int) -> datetime:
    """Return the UTC datetime *millis* milliseconds after the Unix epoch."""
    # timedelta(days, seconds, microseconds, milliseconds): positional, as
    # keywords cost twice as much on a path run for every stored time read.
    return _EPOCH + timedelta(0, 0, 0, millis)


def ceil_to_millis(moment: datetime) -> datetime:
    """Round *moment* up to a whole millisecond, in UTC."""
    if moment.tzinfo is UTC and moment.microsecond % 1000 == 0:
        # Already whole: most times are, and this is on every create.
        return moment

    return from_millis(to_millis(moment))


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


@attrs.frozen
class Callback:
    """Where and how a timer is delivered."""

    url: str
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class RetryPolicy:
    """How failed deliveries are retried.

    ``max_attempts`` counts every attempt, the first included; ``0`` means
    no limit.
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    initial_interval_seconds: float = DEFAULT_INITIAL_INTERVAL_SECONDS
    backoff_coefficient: float = DEFAULT_BACKOFF_COEFFICIENT
    max_interval_seconds: float = DEFAULT_MAX_INTERVAL_SECONDS
    max_duration_seconds: float | None = None


@attrs.frozen
class LastError:
    """The error of a failed delivery attempt."""

    at: datetime
    kind: ErrorKind
    message: str
    status_code: int | None = None


@attrs.frozen
class Timer:
    """A stored timer, as the API shows it plus a few internal fields.

    Internal fields, not part of the wire format:

    * ``shard``: the shard the timer belongs to, fixed at creation;
    * ``attempt_seq``: deliveries ever attempted, across reschedules; it
      numbers the attempt history;
    * ``first_attempt_at``: start of the first attempt since the timer was
      last (re)scheduled, for ``max_duration_seconds``;
    * ``definition_digest`` and ``initial_fire_at``: the definition the
      timer was created with, which a repeated create is compared against.
    """

    namespace: str
    id: str
    fire_at: datetime
    callback: Callback
    payload: Any
    retry_policy: RetryPolicy
    status: TimerStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: LastError | None
    created_at: datetime
    updated_at: datetime
    executed_at: datetime | None
    version: int
    shard: int
    attempt_seq: int = 0
    first_attempt_at: datetime | None = None
    definition_digest: str = ""
    initial_fire_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The ``(namespace, id)`` pair that identifies the timer."""
        return (self.namespace, self.id)


@attrs.frozen
class Attempt:
    """One delivery attempt in a timer's history.

    ``seq`` orders the history (higher is newer); ``attempt`` is the 1-based
    number since the timer was last (re)scheduled, as sent in ``Timer-Attempt``.
    """

    seq: int
    attempt: int
    fire_at: datetime
    started_at: datetime
    duration_ms: int
    outcome: AttemptOutcome
    status_code: int | None = None
    error: LastError | None = None


class _Unset(enum.Enum):
    unset = "unset"


UNSET = _Unset.unset
"""Marks a field that a patch or a callback answer leaves as it is."""


@attrs.frozen
class TimerSpec:
    """What a client asks for when it creates a timer.

    Exactly one of ``fire_at`` and ``delay_seconds`` is set.
    """

    id: str
    callback: Callback
    fire_at: datetime | None = None
    delay_seconds: float | None = None
    payload: Any = None
    retry_policy: RetryPolicy = attrs.field(factory=RetryPolicy)


@attrs.frozen
class TimerPatch:
    """A change to a timer: every field left ``UNSET`` stays as it is."""

    fire_at: datetime | _Unset = UNSET
    delay_seconds: float | _Unset = UNSET
    callback: Callback | _Unset = UNSET
    payload: Any = UNSET
    retry_policy: RetryPolicy | _Unset = UNSET


@attrs.frozen
class TimerQuery:
    """Filters and keyset position of a list call.

    ``after`` is the ``(fire_at, id)`` of the last timer of the previous
    page; the page holds the timers strictly after it in that order.
    """

    statuses: frozenset[TimerStatus] = frozenset()
    fire_after: datetime | None = None
    fire_before: datetime | None = None
    id_prefix: str | None = None
    limit: int = 50
    after: tuple[datetime, str] | None = None


@attrs.frozen
class DueTimer:
    """The small index entry of a due timer that a runner keeps in memory."""

    namespace: str
    id: str
    version: int
    next_attempt_at: datetime
    shard: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.id)


@attrs.frozen
class Outcome:
    """A delivery result for a store to record.

    ``timer`` is the new state (its ``version`` one more than
    ``expected_version``); ``epoch`` is the lease epoch of ``timer.shard``
    that the runner held when it delivered.
    """

    timer: Timer
    expected_version: int
    attempt: Attempt
    epoch: int


@attrs.frozen
class Lease:
    """A runner's hold on one shard."""

    shard: int
    owner: str | None
    epoch: int
    expires_at: datetime


@attrs.frozen
class NamespaceCounts:
    """A namespace with the number of its timers in each status."""

    name: str
    counts: Mapping[TimerStatus, int]


@attrs.frozen
class Delivered:
    """The target accepted the delivery and asked for nothing more.

    ``status_code`` is the target's HTTP status, where there was one.
    """

    status_code: int | None = None


@attrs.frozen
class Rescheduled:
    """The target accepted the delivery and asked to be called again.

    ``fire_at`` is the next fire time; the other fields, unless ``UNSET``,
    replace the timer's own for the next firing.
    """

    fire_at: datetime
    payload: Any = UNSET
    callback: Callback | _Unset = UNSET
    retry_policy: RetryPolicy | _Unset = UNSET
    status_code: int | None = None


@attrs.frozen
class DeliveryFailed:
    """The attempt failed; the retry policy decides what comes next.

    ``retry_after_seconds`` carries a ``Retry-After`` answer of a 429 or 503.
    """

    kind: ErrorKind
    message: str
    status_code: int | None = None
    retry_after_seconds: float | None = None


DeliveryResult = Delivered | Rescheduled | DeliveryFailed
