"""Waiters queued on futures, woken oldest first."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TypeVar

T = TypeVar("T")


def wake_oldest(waiters: deque[asyncio.Future[T]], value: T) -> bool:
    """Give *value* to the oldest waiter still waiting; say whether there was one.

    A waiter whose task was cancelled, or that gave up at a deadline, has a
    future already done before its task runs again to leave the queue:
    it is passed over and dropped.
    """
    while waiters:
        waiter = waiters.popleft()
        if not waiter.done():
            waiter.set_result(value)
            return True

    return False
