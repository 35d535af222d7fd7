"""cassandra-driver from async code: requests as awaitables, errors translated.

The driver runs its own I/O thread and calls back from it; :func:`wait_for`
hands each result to the event loop that asked, so no call blocks the loop.
Connecting and preparing statements block, and run in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cassandra import (
    ConsistencyLevel,
    CoordinationFailure,
    DriverException,
    OperationTimedOut,
    RequestExecutionException,
    Unavailable,
)
from cassandra.cluster import NoHostAvailable, ResponseFuture
from cassandra.protocol import ErrorMessage

from timerkernel import StorageError, StorageUnavailable

#: Consistency levels by the names the storage URL takes.
CONSISTENCY_LEVELS = {
    name: getattr(ConsistencyLevel, name)
    for name in (
        "ONE",
        "TWO",
        "THREE",
        "QUORUM",
        "ALL",
        "LOCAL_QUORUM",
        "EACH_QUORUM",
        "LOCAL_ONE",
    )
}
SERIAL_CONSISTENCY_LEVELS = {
    name: getattr(ConsistencyLevel, name) for name in ("SERIAL", "LOCAL_SERIAL")
}

# Errors that say the cluster could not do it now, rather than that the
# request is wrong: a caller may try again later. A timed-out write may
# still have been applied; what the store writes is safe to write twice.
_UNAVAILABLE = (
    NoHostAvailable,
    OperationTimedOut,
    Unavailable,
    CoordinationFailure,
    RequestExecutionException,
    ConnectionError,
    OSError,
)


def _settle(
    waiter: asyncio.Future[list[Any]],
    rows: list[Any] | None,
    error: BaseException | None,
) -> None:
    if waiter.done():
        # The awaiting task was cancelled; nobody wants the answer.
        return

    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(rows or [])


def wait_for(future: ResponseFuture) -> asyncio.Future[list[Any]]:
    """Return an asyncio future of *future*'s rows (its only page).

    The store's sessions do not page (``default_fetch_size = None``): every
    query it runs is bounded by its partition or its ``LIMIT``.
    """
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[list[Any]] = loop.create_future()

    def done(rows: list[Any] | None) -> None:
        loop.call_soon_threadsafe(_settle, waiter, rows, None)

    def failed(error: BaseException) -> None:
        loop.call_soon_threadsafe(_settle, waiter, None, error)

    future.add_callbacks(done, failed)
    return waiter


def describe(exc: BaseException) -> str:
    """The driver's words for *exc*, without the statement or its values."""
    if isinstance(exc, NoHostAvailable):
        reasons = "; ".join(
            f"{host}: {type(error).__name__}: {error}"
            for host, error in list(exc.errors.items())[:3]
        )
        return f"no host available ({reasons or 'none known'})"

    return f"{type(exc).__name__}: {exc}"


def translate(exc: BaseException) -> StorageError:
    """Return the storage error that stands for driver error *exc*."""
    if isinstance(exc, _UNAVAILABLE):
        return StorageUnavailable(f"Cassandra cannot be reached: {describe(exc)}")

    return StorageError(f"Cassandra failed: {describe(exc)}")


@contextmanager
def translated() -> Iterator[None]:
    """Raise a driver error in the block as a :class:`StorageError`."""
    try:
        yield
    except StorageError:
        raise
    except (DriverException, ErrorMessage, *_UNAVAILABLE) as exc:
        raise translate(exc) from exc
