"""The group commit on its own: batching, results, errors and cancellation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pytest

from timerbackends.sql._groupcommit import GroupCommit, Write
from timerkernel import StorageError

pytestmark = pytest.mark.anyio


class Recorder:
    """A batch function that answers each write with its name, when let go."""

    def __init__(self, *, gated: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.entered = anyio.Event()
        self.gate = anyio.Event()
        if not gated:
            self.gate.set()

        self.after_batch: Callable[[], None] = lambda: None

    async def __call__(self, batch: Sequence[Write[Any]]) -> None:
        names = [write.name for write in batch]  # type: ignore[attr-defined]
        self.batches.append(names)
        self.entered.set()
        await self.gate.wait()
        for write, name in zip(batch, names, strict=True):
            if name.startswith("bad"):
                write.fail(ValueError(name))
            else:
                write.succeed(name.upper())

        self.after_batch()


async def submit(commit: GroupCommit, write: Write[str]) -> None:
    await commit.submit(write)


def named(name: str) -> Write[str]:
    async def unused(_connection: Any) -> str:
        raise AssertionError("the recorder answers instead")

    write: Write[str] = Write(unused)
    write.name = name  # type: ignore[attr-defined]
    return write


async def test_concurrent_writes_are_batched_and_answered_each() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder, max_batch=100)
    results: dict[str, str] = {}

    async def submit(name: str) -> None:
        results[name] = await commit.submit(named(name))

    async with anyio.create_task_group() as group:
        for n in range(30):
            group.start_soon(submit, f"w{n}")

    assert results == {f"w{n}": f"W{n}" for n in range(30)}
    assert len(recorder.batches) == 1


async def test_batches_hold_at_most_max_batch_writes() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder, max_batch=4)

    async with anyio.create_task_group() as group:
        for n in range(10):
            group.start_soon(submit, commit, named(f"w{n}"))

    assert [len(batch) for batch in recorder.batches] == [4, 4, 2]
    assert [name for batch in recorder.batches for name in batch] == [
        f"w{n}" for n in range(10)
    ]


async def test_an_error_reaches_only_its_own_caller() -> None:
    commit = GroupCommit(Recorder(), max_batch=10)
    outcomes: dict[str, object] = {}

    async def submit(name: str) -> None:
        try:
            result: str = await commit.submit(named(name))
            outcomes[name] = result
        except ValueError as exc:
            outcomes[name] = exc

    async with anyio.create_task_group() as group:
        for name in ("good", "bad-one", "fine"):
            group.start_soon(submit, name)

    assert outcomes.pop("good") == "GOOD"
    assert outcomes.pop("fine") == "FINE"
    assert str(outcomes.pop("bad-one")) == "bad-one"


async def test_a_cancelled_leader_still_writes_its_batch() -> None:
    recorder = Recorder(gated=True)
    commit = GroupCommit(recorder, max_batch=10)
    leader, follower = named("leader"), named("follower")

    async with anyio.create_task_group() as group:
        group.start_soon(submit, commit, leader)
        await recorder.entered.wait()
        group.start_soon(submit, commit, follower)
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
        recorder.gate.set()

    # The follower was cancelled while it waited, before any batch took it.
    assert recorder.batches == [["leader"]]
    assert leader.finished
    assert leader.outcome() == "LEADER"
    assert not follower.finished


async def test_a_follower_handed_the_lead_while_cancelled_passes_it_on() -> None:
    recorder = Recorder(gated=True)
    commit = GroupCommit(recorder, max_batch=10)
    results: dict[str, str] = {}

    async def submit(name: str, scope: anyio.CancelScope | None = None) -> None:
        with scope or anyio.CancelScope():
            results[name] = await commit.submit(named(name))

    second_scope = anyio.CancelScope()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(submit, "first")
            await recorder.entered.wait()
            group.start_soon(submit, "second", second_scope)
            group.start_soon(submit, "third")
            await anyio.wait_all_tasks_blocked()
            # Cancelled as "first" ends its batch, just before the lead
            # passes to "second".
            recorder.after_batch = second_scope.cancel
            recorder.gate.set()

    assert recorder.batches == [["first"], ["third"]]
    assert results == {"first": "FIRST", "third": "THIRD"}


async def test_an_abandoned_write_fails_instead_of_hanging() -> None:
    async def forgetful(batch: Sequence[Write[Any]]) -> None:
        pass

    commit = GroupCommit(forgetful, max_batch=10)

    with pytest.raises(StorageError, match="abandoned"):
        await commit.submit(named("lost"))


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommit(Recorder(), max_batch=0)
