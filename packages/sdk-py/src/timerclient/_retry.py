"""When a failed request is tried again, and after how long."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import attrs


def _non_negative(
    instance: object, attribute: attrs.Attribute[Any], value: float
) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, not {value!r}")


@attrs.frozen
class RetrySettings:
    """How the client retries a request that got no answer or a 503.

    Only requests that are safe to repeat are retried: reads, deletes,
    creates (the server deduplicates them by id) and updates that carry an
    expected version (a repeat cannot apply twice). The wait before retry
    *n* (1-based) is drawn uniformly from ``[0, min(max_backoff_seconds,
    initial_backoff_seconds * 2 ** (n - 1))]`` ("full jitter"); a 503 with
    ``Retry-After`` waits what it says, up to ``max_backoff_seconds``.

    :param max_retries: retries after the first attempt; ``0`` turns
        retrying off
    :param initial_backoff_seconds: the bound of the first wait
    :param max_backoff_seconds: the bound of any wait
    """

    max_retries: int = attrs.field(default=3, validator=_non_negative)
    initial_backoff_seconds: float = attrs.field(default=0.2, validator=_non_negative)
    max_backoff_seconds: float = attrs.field(default=5.0, validator=_non_negative)

    def backoff(
        self,
        retry: int,
        retry_after: float | None = None,
        *,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> float:
        """Return the seconds to wait before retry number *retry* (1-based).

        :param retry_after: the server's ``Retry-After`` in seconds, if any
        :param uniform: draws the jitter; ``random.uniform`` by default
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff_seconds)

        bound = min(
            self.max_backoff_seconds,
            self.initial_backoff_seconds * 2 ** (retry - 1),
        )
        return uniform(0.0, bound)


NO_RETRIES = RetrySettings(max_retries=0)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds of a ``Retry-After`` header: a number, or an HTTP date."""
    if value is None:
        return None

    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None

    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)

    return max((moment - (now or datetime.now(UTC))).total_seconds(), 0.0)
