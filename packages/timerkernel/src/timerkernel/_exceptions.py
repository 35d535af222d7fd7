"""Errors raised by the kernel and its stores.

::

    TimerKernelError
    ├── InvalidArgument (ValueError)        a request field is wrong
    ├── TimerNotFound (LookupError)         no timer with that id
    ├── TimerAlreadyExists                  the id holds a different timer
    ├── VersionConflict                     the expected version did not match
    ├── PayloadTooLarge (ValueError)        payload over the configured limit
    └── StorageError                        the store failed
        └── StorageUnavailable              the store cannot be reached now
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ._model import Timer


class TimerKernelError(Exception):
    """The root of every error the kernel raises."""


@attrs.frozen
class FieldError:
    """One bad field of a request: its dotted path and why it is bad."""

    field: str
    reason: str


class InvalidArgument(TimerKernelError, ValueError):
    """A request has one or more bad fields; :attr:`fields` names each."""

    def __init__(self, fields: Sequence[FieldError]) -> None:
        self.fields = list(fields)
        summary = "; ".join(f"{error.field}: {error.reason}" for error in self.fields)
        super().__init__(f"invalid request: {summary}")


class TimerNotFound(TimerKernelError, LookupError):
    """No timer has this id in this namespace."""

    def __init__(self, namespace: str, timer_id: str) -> None:
        self.namespace = namespace
        self.timer_id = timer_id
        super().__init__(f"timer {timer_id!r} not found in namespace {namespace!r}")


class TimerAlreadyExists(TimerKernelError):
    """A create named an id that already holds a different timer."""

    def __init__(self, existing: Timer) -> None:
        self.existing = existing
        super().__init__(
            f"timer {existing.id!r} already exists in namespace "
            f"{existing.namespace!r} with a different definition"
        )


class VersionConflict(TimerKernelError):
    """The timer's version is not the one the caller expected."""

    def __init__(
        self, namespace: str, timer_id: str, expected: int, actual: int | None
    ) -> None:
        self.namespace = namespace
        self.timer_id = timer_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"timer {timer_id!r} in namespace {namespace!r} is at version "
            f"{actual}, not {expected}"
        )


class PayloadTooLarge(TimerKernelError, ValueError):
    """The serialized payload is larger than the configured limit."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"payload is {size} bytes serialized, over the limit of {limit}"
        )


class StorageError(TimerKernelError):
    """The store failed to carry out an operation."""


class StorageUnavailable(StorageError):
    """The store cannot be reached; the operation may succeed if retried."""
