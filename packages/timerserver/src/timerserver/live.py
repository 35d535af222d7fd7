"""What the web UI watches: a stream of timer events, and recent activity.

Both are fed by the kernel's listeners, so they see what this process does:
everything in the single-process shape (``timerserver serve`` with its
runner), but in the cluster shape an API process started with
``--no-runner`` sees the creations, changes and deletions made through it
and none of the deliveries, which happen in the runner processes.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import anyio
import orjson
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from timerkernel import (
    Kernel,
    TimerEvent,
    TimerEventKind,
    format_time,
    timer_to_dict,
)

#: Events a subscriber may fall behind by before its stream is closed; the
#: browser's EventSource then reconnects and reloads what it shows.
SUBSCRIBER_BUFFER = 1000
KEEP_ALIVE_SECONDS = 15.0
RECONNECT_MILLISECONDS = 2000

#: Seconds of activity kept, and namespaces kept apart (the least recently
#: active ones are forgotten first; the total over all namespaces is kept).
ACTIVITY_SECONDS = 900
ACTIVITY_NAMESPACES = 1000

_DELIVERED = frozenset({TimerEventKind.delivered, TimerEventKind.rescheduled})
_READY = f"retry: {RECONNECT_MILLISECONDS}\nevent: ready\ndata: {{}}\n\n".encode()


class EventHub:
    """Fans the kernel's timer events out to server-sent-event subscribers.

    The kernel calls :meth:`observe` inside its own calls, so it only
    encodes an event when someone watches its namespace, and never waits: a
    subscriber whose buffer is full is dropped.
    """

    def __init__(self, buffer: int = SUBSCRIBER_BUFFER) -> None:
        self._buffer = buffer
        self._subscribers: dict[str, set[MemoryObjectSendStream[bytes]]] = {}
        self._closed = False

    def watch(self, kernel: Kernel) -> None:
        """Take the events of *kernel* from now on."""
        kernel.add_listener(self.observe)

    def observe(self, event: TimerEvent) -> None:
        subscribers = self._subscribers.get(event.timer.namespace)
        if not subscribers:
            return

        message = _event_message(event)
        for stream in tuple(subscribers):
            try:
                stream.send_nowait(message)
            except anyio.WouldBlock:
                # Too far behind to catch up from here: end its stream.
                subscribers.discard(stream)
                stream.close()

    async def stream(self, namespace: str) -> AsyncIterator[bytes]:
        """The event stream of *namespace*, in the text/event-stream format.

        It starts with a ``ready`` event once the subscription is live, sends
        a comment every :data:`KEEP_ALIVE_SECONDS` so that proxies keep the
        connection, and ends when the hub closes or drops the subscriber.
        """
        if self._closed:
            return

        send, receive = anyio.create_memory_object_stream[bytes](self._buffer)
        self._subscribers.setdefault(namespace, set()).add(send)
        try:
            yield _READY
            async for message in _with_keep_alive(receive):
                yield message
        finally:
            subscribers = self._subscribers.get(namespace)
            if subscribers is not None:
                subscribers.discard(send)
                if not subscribers:
                    del self._subscribers[namespace]

            send.close()
            receive.close()

    def subscriber_count(self, namespace: str) -> int:
        return len(self._subscribers.get(namespace, ()))

    def close(self) -> None:
        """End every stream, so that a draining server is not held open."""
        self._closed = True
        for subscribers in self._subscribers.values():
            for stream in subscribers:
                stream.close()

        self._subscribers.clear()


async def _with_keep_alive(
    receive: MemoryObjectReceiveStream[bytes],
) -> AsyncIterator[bytes]:
    while True:
        with anyio.move_on_after(KEEP_ALIVE_SECONDS) as waited:
            try:
                message = await receive.receive()
            except anyio.EndOfStream:
                return

        if waited.cancelled_caught:
            yield b": keep-alive\n\n"
        else:
            yield message


def _event_message(event: TimerEvent) -> bytes:
    data = orjson.dumps({"kind": event.kind.value, "timer": timer_to_dict(event.timer)})
    return b"event: " + event.kind.value.encode() + b"\ndata: " + data + b"\n\n"


class _Series:
    """Per-second counts over a ring of :data:`ACTIVITY_SECONDS` seconds."""

    def __init__(self) -> None:
        self.counts = [0] * ACTIVITY_SECONDS
        # The second each slot counts; a slot from an older lap reads as 0.
        self.seconds = [-1] * ACTIVITY_SECONDS

    def add(self, second: int) -> None:
        slot = second % ACTIVITY_SECONDS
        if self.seconds[slot] != second:
            self.seconds[slot] = second
            self.counts[slot] = 0

        self.counts[slot] += 1

    def last(self, end: int, seconds: int) -> list[int]:
        """The counts of the *seconds* seconds before second *end*."""
        values = []
        for second in range(end - seconds, end):
            slot = second % ACTIVITY_SECONDS
            values.append(self.counts[slot] if self.seconds[slot] == second else 0)

        return values


class Activity:
    """Creations, deliveries and final failures per second, recently.

    :param now: the wall clock in seconds since the epoch; tests set it.
    """

    KINDS = ("created", "delivered", "failed")

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._total = {kind: _Series() for kind in self.KINDS}
        self._by_namespace: OrderedDict[str, dict[str, _Series]] = OrderedDict()

    def watch(self, kernel: Kernel) -> None:
        """Count the events of *kernel* from now on."""
        kernel.add_listener(self.observe)

    def observe(self, event: TimerEvent) -> None:
        kind = _activity_kind(event.kind)
        if kind is None:
            return

        second = math.floor(self._now())
        self._total[kind].add(second)
        self._namespace_series(event.timer.namespace)[kind].add(second)

    def _namespace_series(self, namespace: str) -> dict[str, _Series]:
        series = self._by_namespace.get(namespace)
        if series is None:
            if len(self._by_namespace) >= ACTIVITY_NAMESPACES:
                self._by_namespace.popitem(last=False)

            series = {kind: _Series() for kind in self.KINDS}
            self._by_namespace[namespace] = series
        else:
            self._by_namespace.move_to_end(namespace)

        return series

    def report(self, seconds: int, namespace: str | None = None) -> dict[str, object]:
        """The last *seconds* whole seconds, oldest first, as the API sends it.

        The second under way is left out, since its counts are not final.
        """
        end = math.floor(self._now())
        if namespace is None:
            series = self._total
        else:
            series = self._by_namespace.get(namespace) or {
                kind: _Series() for kind in self.KINDS
            }

        report: dict[str, object] = {
            "step_seconds": 1,
            "end": format_time(datetime.fromtimestamp(end, UTC)),
        }
        for kind in self.KINDS:
            report[kind] = series[kind].last(end, seconds)

        return report


def _activity_kind(kind: TimerEventKind) -> str | None:
    if kind is TimerEventKind.created:
        return "created"

    if kind in _DELIVERED:
        return "delivered"

    if kind is TimerEventKind.failed:
        return "failed"

    return None
