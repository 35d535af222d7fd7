"""One face for both clients, so that each test runs on the sync and the async one.

:class:`Api` has the clients' methods as coroutines: on the sync client it
calls them directly (the servers of the tests run in other threads or
processes, so blocking the event loop for a call is harmless).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Literal

from timerclient import (
    UNSET,
    AsyncTimerClient,
    Attempt,
    BatchResult,
    Callback,
    Namespace,
    RetryPolicy,
    Timer,
    TimerClient,
    TimerPage,
    TimerSpec,
)

Kind = Literal["sync", "async"]
KINDS: tuple[Kind, ...] = ("sync", "async")


class Api:
    """The methods of :class:`TimerClient`, awaited, on either client."""

    def __init__(
        self, sync: TimerClient | None = None, aio: AsyncTimerClient | None = None
    ) -> None:
        assert (sync is None) != (aio is None)
        self.sync = sync
        self.aio = aio
        self.kind: Kind = "sync" if sync is not None else "async"

    async def create_timer(
        self,
        namespace: str,
        id: str,
        *,
        callback: Callback | str,
        fire_at: datetime | None = None,
        delay_seconds: float | None = None,
        payload: Any = None,
        retry_policy: RetryPolicy | None = None,
    ) -> Timer:
        arguments: dict[str, Any] = {
            "callback": callback,
            "fire_at": fire_at,
            "delay_seconds": delay_seconds,
            "payload": payload,
            "retry_policy": retry_policy,
        }
        if self.sync is not None:
            return self.sync.create_timer(namespace, id, **arguments)

        assert self.aio is not None
        return await self.aio.create_timer(namespace, id, **arguments)

    async def batch_create_timers(
        self, namespace: str, timers: Iterable[TimerSpec]
    ) -> list[BatchResult]:
        if self.sync is not None:
            return self.sync.batch_create_timers(namespace, timers)

        assert self.aio is not None
        return await self.aio.batch_create_timers(namespace, timers)

    async def get_timer(self, namespace: str, id: str) -> Timer:
        if self.sync is not None:
            return self.sync.get_timer(namespace, id)

        assert self.aio is not None
        return await self.aio.get_timer(namespace, id)

    async def update_timer(
        self,
        namespace: str,
        id: str,
        *,
        fire_at: datetime | None = None,
        delay_seconds: float | None = None,
        callback: Callback | str | None = None,
        payload: Any = UNSET,
        retry_policy: RetryPolicy | None = None,
        expected_version: int | None = None,
    ) -> Timer:
        arguments: dict[str, Any] = {
            "fire_at": fire_at,
            "delay_seconds": delay_seconds,
            "callback": callback,
            "payload": payload,
            "retry_policy": retry_policy,
            "expected_version": expected_version,
        }
        if self.sync is not None:
            return self.sync.update_timer(namespace, id, **arguments)

        assert self.aio is not None
        return await self.aio.update_timer(namespace, id, **arguments)

    async def delete_timer(
        self, namespace: str, id: str, *, expected_version: int | None = None
    ) -> None:
        if self.sync is not None:
            self.sync.delete_timer(namespace, id, expected_version=expected_version)
            return

        assert self.aio is not None
        await self.aio.delete_timer(namespace, id, expected_version=expected_version)

    async def list_timers(self, namespace: str, **filters: Any) -> TimerPage:
        if self.sync is not None:
            return self.sync.list_timers(namespace, **filters)

        assert self.aio is not None
        return await self.aio.list_timers(namespace, **filters)

    async def all_timers(self, namespace: str, **filters: Any) -> list[Timer]:
        """Everything :meth:`~TimerClient.iter_timers` yields."""
        if self.sync is not None:
            return list(self.sync.iter_timers(namespace, **filters))

        assert self.aio is not None
        return [timer async for timer in self.aio.iter_timers(namespace, **filters)]

    async def list_attempts(self, namespace: str, id: str) -> list[Attempt]:
        if self.sync is not None:
            return self.sync.list_attempts(namespace, id)

        assert self.aio is not None
        return await self.aio.list_attempts(namespace, id)

    async def list_namespaces(self) -> list[Namespace]:
        if self.sync is not None:
            return self.sync.list_namespaces()

        assert self.aio is not None
        return await self.aio.list_namespaces()


@asynccontextmanager
async def open_api(kind: Kind, base_url: str, **options: Any) -> AsyncIterator[Api]:
    """A client of *kind* on *base_url*, closed at the end.

    ``sleeps``, a :class:`~sdk_stub.Sleeps` in *options*, becomes the
    client's wait between retries, sync or async as the kind needs.
    """
    sleeps = options.pop("sleeps", None)
    if kind == "sync":
        if sleeps is not None:
            options["sleep"] = sleeps.sleep

        with TimerClient(base_url, **options) as client:
            yield Api(sync=client)
    else:
        if sleeps is not None:
            options["sleep"] = sleeps.asleep

        async with AsyncTimerClient(base_url, **options) as aio:
            yield Api(aio=aio)
