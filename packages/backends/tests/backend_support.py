"""The backends under test, and builders of the values the tests store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import attrs
import pytest

from timerkernel import (
    Attempt,
    AttemptOutcome,
    Callback,
    ErrorKind,
    LastError,
    Outcome,
    RetryPolicy,
    Timer,
    TimerStatus,
    from_millis,
    shard_of,
    to_millis,
)
from timerkernel.abc import Store

SHARDS = 8
NAMESPACE = "orders"
BASE = datetime(2030, 1, 1, tzinfo=UTC)


class AddMigration(Protocol):
    def __call__(self, store: Store, floor: int | None = None) -> None: ...


@attrs.frozen
class Backend:
    """A store under test and how to make one.

    :param name: the test id.
    :param make: makes a store over the data kept under a directory; called
        twice with one directory, a durable backend gives two views of the
        same data.
    :param durable: whether data outlives the store that wrote it.
    :param marks: pytest marks, for backends that need a server.
    :param add_migration: gives a store of the backend one migration more
        than the code has, a harmless one, as the next release's code would
        (durable backends only); with ``floor``, a contract migration that
        older code no longer fits.
    """

    name: str
    make: Callable[[Path], Store]
    durable: bool
    marks: tuple[pytest.MarkDecorator, ...] = ()
    add_migration: AddMigration | None = None

    def param(self) -> Any:
        """This backend as a parameter of a fixture."""
        return pytest.param(self, id=self.name, marks=self.marks)


def at(seconds: float) -> datetime:
    """The time *seconds* after :data:`BASE`, whole milliseconds."""
    return from_millis(to_millis(BASE + timedelta(seconds=seconds)))


def make_timer(
    timer_id: str = "t-1",
    *,
    namespace: str = NAMESPACE,
    fire_at: datetime | None = None,
    **changes: Any,
) -> Timer:
    """A scheduled timer at version 1, with *changes* applied."""
    fire = fire_at or at(60)
    timer = Timer(
        namespace=namespace,
        id=timer_id,
        fire_at=fire,
        callback=Callback("https://hooks.example/fire", 2.5, {"X-Token": "abc"}),
        payload={"order": 1, "note": "zażółć ✓"},
        retry_policy=RetryPolicy(5, 0.25, 1.5, 30.0, None),
        status=TimerStatus.scheduled,
        attempts=0,
        next_attempt_at=fire,
        last_error=None,
        created_at=at(0),
        updated_at=at(0),
        executed_at=None,
        version=1,
        shard=shard_of(namespace, timer_id, SHARDS),
        definition_digest="0123456789abcdef0123456789abcdef",
        initial_fire_at=fire,
    )
    return attrs.evolve(timer, **changes)


def make_attempt(seq: int, **changes: Any) -> Attempt:
    """A failed attempt numbered *seq*."""
    attempt = Attempt(
        seq=seq,
        attempt=seq,
        fire_at=at(60),
        started_at=at(60 + seq),
        duration_ms=120 + seq,
        outcome=AttemptOutcome.failed,
        status_code=503,
        error=LastError(at(61 + seq), ErrorKind.http_status, "503 from target", 503),
    )
    return attrs.evolve(attempt, **changes)


def failed_outcome(timer: Timer, *, epoch: int, retry_in: float = 10) -> Outcome:
    """The outcome of a failed delivery of *timer* as stored, to retry later."""
    seq = timer.attempt_seq + 1
    finished = at(100 + seq)
    error = LastError(finished, ErrorKind.timeout, "timed out", None)
    changed = attrs.evolve(
        timer,
        attempts=timer.attempts + 1,
        attempt_seq=seq,
        next_attempt_at=at(100 + seq + retry_in),
        first_attempt_at=timer.first_attempt_at or at(99 + seq),
        last_error=error,
        updated_at=finished,
        version=timer.version + 1,
    )
    attempt = Attempt(
        seq=seq,
        attempt=changed.attempts,
        fire_at=timer.fire_at,
        started_at=at(99 + seq),
        duration_ms=1000,
        outcome=AttemptOutcome.failed,
        status_code=None,
        error=error,
    )
    return Outcome(changed, timer.version, attempt, epoch)


def succeeded_outcome(timer: Timer, *, epoch: int) -> Outcome:
    """The outcome of a successful delivery of *timer* as stored."""
    seq = timer.attempt_seq + 1
    finished = at(200 + seq)
    changed = attrs.evolve(
        timer,
        status=TimerStatus.succeeded,
        attempts=timer.attempts + 1,
        attempt_seq=seq,
        next_attempt_at=None,
        executed_at=finished,
        updated_at=finished,
        version=timer.version + 1,
    )
    attempt = Attempt(
        seq=seq,
        attempt=changed.attempts,
        fire_at=timer.fire_at,
        started_at=at(199 + seq),
        duration_ms=15,
        outcome=AttemptOutcome.succeeded,
    )
    return Outcome(changed, timer.version, attempt, epoch)
