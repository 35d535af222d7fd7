"""Group commit: concurrent writes gathered into shared transactions.

A commit costs far more than the statements before it, and SQLite admits
one writer at a time anyway. So writers queue their work; whichever caller
finds no batch under way leads: it takes everything queued, hands it to the
store's batch function (one transaction), and wakes each caller with its own
result. Callers that queued meanwhile form the next batch, led by the first
of them. No background task is needed, so nothing outlives the calls, and
one caller's cancellation cannot abandon the others' writes: the leader
writes shielded, and a follower cancelled before its turn withdraws.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import anyio
import anyio.lowlevel
from sqlalchemy.ext.asyncio import AsyncConnection

from timerkernel import StorageError

T = TypeVar("T")

WriteFunction = Callable[[AsyncConnection], Awaitable[T]]


class Write(Generic[T]):
    """One caller's change, waiting to be written by a batch.

    ``apply`` runs inside the batch's transaction and returns the caller's
    result, or raises an exception meant for that caller alone; it must
    then have changed nothing. Results count only once the batch commits.
    """

    def __init__(self, apply: WriteFunction[T]) -> None:
        self.apply = apply
        self._woken = anyio.Event()
        self._finished = False
        self._taken = False
        self._leading = False
        self._result: T | None = None
        self._error: BaseException | None = None
        self._cause: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self._finished

    def succeed(self, result: T) -> None:
        """Record the committed result and wake the caller."""
        self._result = result
        self._finish()

    def fail(self, error: BaseException, *, cause: BaseException | None = None) -> None:
        """Record why the write failed and wake the caller.

        Each caller gets an error of its own; *cause*, the driver's error
        that a whole batch may share, is chained to it when it is raised.
        """
        self._error = error
        self._cause = cause
        self._finish()

    def outcome(self) -> T:
        """Return the result, or raise the error, of a finished write."""
        assert self._finished
        if self._error is not None:
            if self._cause is not None:
                raise self._error from self._cause

            raise self._error

        return self._result  # type: ignore[return-value]  # set by succeed

    def _finish(self) -> None:
        self._finished = True
        self._woken.set()


BatchFunction = Callable[[Sequence[Write[Any]]], Awaitable[None]]


class GroupCommit:
    """Runs queued writes in batches, one batch at a time.

    :param write_batch: writes a batch in one transaction and finishes every
        write in it, with a result or an error.
    :param max_batch: the most writes one transaction takes.
    """

    def __init__(self, write_batch: BatchFunction, *, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")

        self._write_batch = write_batch
        self._max_batch = max_batch
        self._queue: deque[Write[Any]] = deque()
        self._busy = False

    async def submit(self, write: Write[T]) -> T:
        """Queue *write*, wait until a batch has written it, and return its result."""
        self._queue.append(write)
        if self._busy:
            try:
                await write._woken.wait()
            except BaseException:
                self._withdraw(write)
                raise

            if write.finished:
                return write.outcome()
        else:
            self._busy = True

        # This caller leads. Its write is at the head of the queue: either
        # the queue was empty, or the previous leader handed over to it.
        try:
            with anyio.CancelScope(shield=True):
                # One pass of the event loop lets callers that are about to
                # queue join this batch.
                await anyio.lowlevel.cancel_shielded_checkpoint()
                batch = self._take_batch()
                try:
                    await self._write_batch(batch)
                finally:
                    for unfinished in batch:
                        if not unfinished.finished:
                            unfinished.fail(StorageError("the write was abandoned"))
        finally:
            self._hand_over()

        return write.outcome()

    def _take_batch(self) -> list[Write[Any]]:
        batch: list[Write[Any]] = []
        while self._queue and len(batch) < self._max_batch:
            write = self._queue.popleft()
            write._taken = True
            batch.append(write)

        return batch

    def _hand_over(self) -> None:
        if self._queue:
            successor = self._queue[0]
            successor._leading = True
            successor._woken.set()
        else:
            self._busy = False

    def _withdraw(self, write: Write[Any]) -> None:
        if write._taken:
            # A batch has it; its result is written but no longer awaited.
            return

        self._queue.remove(write)
        if write._leading:
            # It was handed the lead but was cancelled before taking it.
            self._hand_over()
