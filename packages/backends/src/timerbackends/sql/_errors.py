"""Driver errors into the kernel's storage errors, at the store's boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy.exc

from timerkernel import StorageError, StorageUnavailable

from ._dialects import Dialect


def translate(exc: BaseException, dialect: Dialect) -> StorageError:
    """Return the storage error that stands for driver error *exc*.

    The caller raises it ``from exc``, so that the driver's words stay in
    the traceback.
    """
    detail = _describe(exc)
    if dialect.is_unavailable(exc):
        return StorageUnavailable(f"the database cannot be reached: {detail}")

    return StorageError(f"the database failed: {detail}")


@contextmanager
def translated(dialect: Dialect) -> Iterator[None]:
    """Raise a driver error in the block as a :class:`StorageError`.

    What counts as a driver error is ``dialect.driver_errors``.

    :raises StorageUnavailable: if the database is unreachable or busy.
    :raises StorageError: for any other driver error.
    """
    try:
        yield
    except dialect.driver_errors as exc:
        raise translate(exc, dialect) from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.orig is not None:
        # The wrapper's own text repeats the whole statement and its
        # parameters, which may hold payloads; the driver's words suffice.
        return f"{type(exc.orig).__name__}: {exc.orig}"

    return f"{type(exc).__name__}: {exc}"
