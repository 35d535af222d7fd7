from __future__ import annotations

from collections.abc import Awaitable, Callable

from ._model import Delivered, DeliveryResult, Timer
from .abc import Dispatcher

Handler = Callable[[Timer, int], Awaitable[DeliveryResult | None]]


class FunctionDispatcher(Dispatcher):
    """Delivers timers to an async function in the same process.

    The function gets the timer and the 1-based attempt number, and returns
    a :class:`~timerkernel.DeliveryResult`, or ``None`` for plain delivery.
    An exception it raises counts as a failed attempt, retried by policy;
    the callback URL of such timers is kept but not used.

    :param handler: the async function to call.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def deliver(self, timer: Timer, attempt: int) -> DeliveryResult:
        result = await self.handler(timer, attempt)
        return Delivered() if result is None else result
