from __future__ import annotations

import heapq
import itertools
from datetime import datetime, timedelta

import anyio

from ._model import UTC
from .abc import Clock


class SystemClock(Clock):
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, deadline: datetime) -> None:
        # Wall time may jump; sleep in short steps when far off so that a
        # jump forward is noticed within a second.
        while True:
            remaining = (deadline - self.now()).total_seconds()
            if remaining <= 0:
                return

            await anyio.sleep(min(remaining, 1.0))


class ManualClock(Clock):
    """A clock that moves only when told to, for tests in virtual time.

    Sleepers wake when :meth:`advance` or :meth:`set` moves the time past
    their deadline.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2030, 1, 1, tzinfo=UTC)
        self._sleepers: list[tuple[datetime, int, anyio.Event]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, deadline: datetime) -> None:
        if deadline <= self._now:
            await anyio.lowlevel.checkpoint()
            return

        event = anyio.Event()
        heapq.heappush(self._sleepers, (deadline, next(self._order), event))
        await event.wait()

    def advance(self, seconds: float) -> None:
        """Move the time forward by *seconds* and wake the sleepers now due."""
        self.set(self._now + timedelta(seconds=seconds))

    def set(self, moment: datetime) -> None:
        """Move the time to *moment* (never backwards) and wake sleepers."""
        if moment < self._now:
            raise ValueError("a ManualClock never goes backwards")

        self._now = moment
        while self._sleepers and self._sleepers[0][0] <= moment:
            _, _, event = heapq.heappop(self._sleepers)
            event.set()

    @property
    def next_deadline(self) -> datetime | None:
        """The earliest deadline anyone sleeps until, if any."""
        return self._sleepers[0][0] if self._sleepers else None
