"""Both clients against the real timer server, and a real receiver of its callbacks."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from sdk_api import Api, Kind, open_api
from sdk_server import Receiver, TimerServer
from timerclient import (
    AlreadyExists,
    AttemptOutcome,
    Callback,
    Delivery,
    ErrorKind,
    InvalidArgument,
    NotFound,
    PreconditionFailed,
    Reschedule,
    RetryPolicy,
    Timer,
    TimerSpec,
    TimerStatus,
    reschedule,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timerserver]

_numbers = itertools.count(1)
FAR = "http://127.0.0.1:9/never-called"


@pytest.fixture
async def live(kind: Kind, timer_server: TimerServer) -> AsyncIterator[Api]:
    async with open_api(kind, timer_server.url) as client:
        yield client


@pytest.fixture
def namespace(kind: Kind) -> str:
    return f"sdk-{kind}-{next(_numbers)}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


def in_hours(hours: float) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


async def eventually(
    check: Callable[[], Awaitable[Timer]],
    done: Callable[[Timer], bool],
    within: float = 20.0,
) -> Timer:
    """Poll *check* until *done* holds, for at most *within* seconds."""
    deadline = time.monotonic() + within
    while True:
        timer = await check()
        if done(timer):
            return timer

        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {within:g} s: {timer!r}")

        await asyncio.sleep(0.1)


class TestTimers:
    async def test_create_then_get_and_a_repeated_create_is_the_same_timer(
        self, live: Api, namespace: str
    ) -> None:
        fire_at = datetime(2030, 5, 6, 7, 8, 9, 123_400, tzinfo=UTC)

        created = await live.create_timer(
            namespace,
            "order-1:reminder",
            fire_at=fire_at,
            callback=Callback(FAR, timeout_seconds=5, headers={"X-Tenant": "acme"}),
            payload={"order": 1, "tags": ["a", "é"]},
            retry_policy=RetryPolicy(max_attempts=3, max_duration_seconds=3600),
        )
        fetched = await live.get_timer(namespace, "order-1:reminder")
        again = await live.create_timer(
            namespace,
            "order-1:reminder",
            fire_at=fire_at,
            callback=Callback(FAR, timeout_seconds=5, headers={"X-Tenant": "acme"}),
            payload={"order": 1, "tags": ["a", "é"]},
            retry_policy=RetryPolicy(max_attempts=3, max_duration_seconds=3600),
        )

        assert created == fetched == again
        assert created.namespace == namespace
        # Finer digits than milliseconds are rounded up, never down.
        assert created.fire_at == datetime(2030, 5, 6, 7, 8, 9, 124_000, tzinfo=UTC)
        assert created.callback == Callback(FAR, 5.0, {"X-Tenant": "acme"})
        assert created.retry_policy.max_attempts == 3
        assert created.retry_policy.max_duration_seconds == 3600
        assert created.status is TimerStatus.scheduled
        assert created.next_attempt_at == created.fire_at
        assert created.version == 1
        assert created.created_at.tzinfo is UTC

    async def test_create_with_a_delay(self, live: Api, namespace: str) -> None:
        before = datetime.now(UTC)

        timer = await live.create_timer(
            namespace, "later", delay_seconds=3600, callback=FAR
        )

        assert before + timedelta(seconds=3590) < timer.fire_at
        assert timer.fire_at < before + timedelta(seconds=3660)
        assert timer.payload is None

    async def test_batch_create_judges_each_item(
        self, live: Api, namespace: str
    ) -> None:
        await live.create_timer(namespace, "same", fire_at=in_hours(5), callback=FAR)
        taken = await live.create_timer(
            namespace, "taken", fire_at=in_hours(5), callback=FAR
        )
        same = await live.get_timer(namespace, "same")

        results = await live.batch_create_timers(
            namespace,
            [
                TimerSpec("new", callback=FAR, delay_seconds=600),
                TimerSpec("same", callback=FAR, fire_at=same.fire_at),
                TimerSpec("taken", callback=FAR, delay_seconds=1, payload="other"),
                TimerSpec(
                    "bad",
                    callback=Callback("ftp://nowhere", timeout_seconds=1000),
                    delay_seconds=1,
                ),
            ],
        )

        assert [result.status for result in results] == [201, 200, 409, 400]
        assert results[0].timer is not None
        assert results[0].timer.id == "new"
        assert results[1].timer == same
        conflict = results[2].error
        assert isinstance(conflict, AlreadyExists)
        assert conflict.existing == taken
        invalid = results[3].error
        assert isinstance(invalid, InvalidArgument)
        assert {violation.field for violation in invalid.fields} == {
            "callback.url",
            "callback.timeout_seconds",
        }

    async def test_a_batch_beyond_the_servers_limit_is_refused_whole(
        self, live: Api, namespace: str
    ) -> None:
        specs = [
            TimerSpec(f"bulk-{index:04d}", callback=FAR, delay_seconds=3600)
            for index in range(1001)
        ]

        with pytest.raises(InvalidArgument) as caught:
            await live.batch_create_timers(namespace, specs)

        assert [field.field for field in caught.value.fields] == ["timers"]
        assert (await live.list_timers(namespace)).timers == ()

    async def test_update_with_and_without_the_expected_version(
        self, live: Api, namespace: str
    ) -> None:
        created = await live.create_timer(
            namespace, "t", fire_at=in_hours(1), callback=FAR
        )

        moved = await live.update_timer(namespace, "t", fire_at=in_hours(2))
        changed = await live.update_timer(
            namespace, "t", payload={"step": 2}, expected_version=moved.version
        )
        with pytest.raises(PreconditionFailed) as caught:
            await live.update_timer(
                namespace, "t", payload={"step": 3}, expected_version=moved.version
            )

        assert (created.version, moved.version, changed.version) == (1, 2, 3)
        assert moved.fire_at > created.fire_at
        assert changed.payload == {"step": 2}
        assert changed.fire_at == moved.fire_at
        error = caught.value
        assert (error.status, error.code) == (412, "precondition_failed")
        assert error.details == {"expected_version": 2, "version": 3}
        assert (await live.get_timer(namespace, "t")).payload == {"step": 2}

    async def test_update_replaces_callback_and_retry_policy(
        self, live: Api, namespace: str
    ) -> None:
        await live.create_timer(namespace, "t", fire_at=in_hours(1), callback=FAR)

        timer = await live.update_timer(
            namespace,
            "t",
            delay_seconds=7200,
            callback=Callback(FAR + "/v2", timeout_seconds=2),
            retry_policy=RetryPolicy(max_attempts=0),
            payload=None,
        )

        assert timer.callback == Callback(FAR + "/v2", timeout_seconds=2)
        assert timer.retry_policy == RetryPolicy(max_attempts=0)
        assert timer.fire_at > in_hours(1.9)

    async def test_delete(self, live: Api, namespace: str) -> None:
        created = await live.create_timer(
            namespace, "t", fire_at=in_hours(1), callback=FAR
        )
        await live.create_timer(namespace, "kept", fire_at=in_hours(1), callback=FAR)

        with pytest.raises(PreconditionFailed):
            await live.delete_timer(
                namespace, "t", expected_version=created.version + 1
            )
        await live.delete_timer(namespace, "t", expected_version=created.version)
        await live.delete_timer(namespace, "kept")

        for timer_id in ("t", "kept"):
            with pytest.raises(NotFound):
                await live.get_timer(namespace, timer_id)
        with pytest.raises(NotFound):
            await live.delete_timer(namespace, "t")


class TestListing:
    async def test_filters(self, live: Api, namespace: str) -> None:
        base = datetime(2031, 1, 1, tzinfo=UTC)
        for index, timer_id in enumerate(["cart-1", "cart-2", "order-1", "cart-3"]):
            await live.create_timer(
                namespace, timer_id, fire_at=base + timedelta(hours=index), callback=FAR
            )

        carts = await live.list_timers(namespace, id_prefix="cart-")
        window = await live.list_timers(
            namespace,
            fire_after=base + timedelta(hours=1),
            fire_before=base + timedelta(hours=3),
        )
        scheduled = await live.list_timers(
            namespace, status=[TimerStatus.scheduled, "failed"]
        )
        succeeded = await live.list_timers(namespace, status="succeeded")
        first = await live.list_timers(namespace, limit=2)
        rest = await live.list_timers(
            namespace, limit=2, page_token=first.next_page_token
        )

        assert [timer.id for timer in carts.timers] == ["cart-1", "cart-2", "cart-3"]
        assert carts.next_page_token is None
        assert [timer.id for timer in window.timers] == ["cart-2", "order-1"]
        assert len(scheduled.timers) == 4
        assert succeeded.timers == ()
        assert [timer.id for timer in first.timers] == ["cart-1", "cart-2"]
        assert first.next_page_token is not None
        assert [timer.id for timer in rest.timers] == ["order-1", "cart-3"]

    async def test_iteration_goes_over_every_page(
        self, live: Api, namespace: str
    ) -> None:
        moment = datetime(2031, 6, 1, tzinfo=UTC)
        ids = [f"job-{index}" for index in range(8)]
        for index, timer_id in enumerate(reversed(ids)):
            # Two share each fire time: the order is by fire_at, then id.
            await live.create_timer(
                namespace,
                timer_id,
                fire_at=moment + timedelta(minutes=index // 2),
                callback=FAR,
            )

        timers = await live.all_timers(namespace, page_size=3)
        one = await live.all_timers(namespace, id_prefix="job-7", page_size=1)

        order = [(timer.fire_at, timer.id) for timer in timers]
        assert len(timers) == 8
        assert order == sorted(order)
        assert {timer.id for timer in timers} == set(ids)
        assert [timer.id for timer in one] == ["job-7"]

    async def test_namespaces_with_their_counts(
        self, live: Api, namespace: str
    ) -> None:
        for index in range(3):
            await live.create_timer(
                namespace, f"n{index}", fire_at=in_hours(1), callback=FAR
            )

        namespaces = {entry.name: entry for entry in await live.list_namespaces()}

        counts = namespaces[namespace].counts
        assert (counts.scheduled, counts.succeeded, counts.failed) == (3, 0, 0)


class TestErrors:
    async def test_invalid_argument_names_each_field(
        self, live: Api, namespace: str
    ) -> None:
        with pytest.raises(InvalidArgument) as caught:
            await live.create_timer(
                namespace,
                "bad",
                delay_seconds=-5,
                callback=Callback("ftp://example.com", timeout_seconds=1000),
                retry_policy=RetryPolicy(backoff_coefficient=0.5),
            )

        error = caught.value
        assert (error.status, error.code) == (400, "invalid_argument")
        fields = {violation.field for violation in error.fields}
        assert fields == {
            "delay_seconds",
            "callback.url",
            "callback.timeout_seconds",
            "retry_policy.backoff_coefficient",
        }
        assert all(violation.reason for violation in error.fields)

    async def test_not_found(self, live: Api, namespace: str) -> None:
        with pytest.raises(NotFound) as caught:
            await live.get_timer(namespace, "missing")

        error = caught.value
        assert (error.status, error.code) == (404, "not_found")
        assert error.details == {"namespace": namespace, "id": "missing"}
        assert "missing" in error.message

    async def test_already_exists_carries_the_existing_timer(
        self, live: Api, namespace: str
    ) -> None:
        stored = await live.create_timer(
            namespace, "t", fire_at=in_hours(1), callback=FAR, payload=1
        )

        with pytest.raises(AlreadyExists) as caught:
            await live.create_timer(
                namespace, "t", fire_at=in_hours(1), callback=FAR, payload=2
            )

        assert (caught.value.status, caught.value.code) == (409, "already_exists")
        assert caught.value.existing == stored

    async def test_attempts_of_a_missing_timer(self, live: Api, namespace: str) -> None:
        with pytest.raises(NotFound):
            await live.list_attempts(namespace, "missing")


class TestDelivery:
    async def test_a_due_timer_reaches_the_receiver_verified_and_typed(
        self, live: Api, namespace: str, receiver: Receiver
    ) -> None:
        created = await live.create_timer(
            namespace,
            "ping",
            fire_at=datetime.now(UTC),
            callback=receiver.url,
            payload={"hello": ["world", 1]},
        )

        delivery = receiver.next()
        done = await eventually(
            lambda: live.get_timer(namespace, "ping"),
            lambda timer: timer.status == TimerStatus.succeeded,
        )
        attempts = await live.list_attempts(namespace, "ping")

        assert delivery == Delivery(
            namespace=namespace,
            id="ping",
            fire_at=created.fire_at,
            attempt=1,
            payload={"hello": ["world", 1]},
        )
        assert done.executed_at is not None
        assert done.next_attempt_at is None
        assert [attempt.outcome for attempt in attempts] == [AttemptOutcome.succeeded]
        assert attempts[0].status_code == 204

    async def test_a_reschedule_answer_fires_the_timer_again(
        self, live: Api, namespace: str
    ) -> None:
        def decide(delivery: Delivery) -> Reschedule | None:
            if delivery.payload == {"round": 1}:
                return reschedule(next_delay_seconds=0.5, payload={"round": 2})

            return None

        with Receiver(decide=decide) as receiver:
            created = await live.create_timer(
                namespace,
                "again",
                delay_seconds=0,
                callback=receiver.url,
                payload={"round": 1},
            )

            first = receiver.next()
            second = receiver.next()
            done = await eventually(
                lambda: live.get_timer(namespace, "again"),
                lambda timer: timer.status == TimerStatus.succeeded,
            )

        attempts = await live.list_attempts(namespace, "again")
        assert first.payload == {"round": 1}
        assert first.fire_at == created.fire_at
        assert second.payload == {"round": 2}
        assert second.attempt == 1
        assert second.fire_at >= first.fire_at + timedelta(seconds=0.5)
        assert done.payload == {"round": 2}
        assert done.fire_at == second.fire_at
        assert [attempt.outcome for attempt in attempts] == [
            AttemptOutcome.succeeded,
            AttemptOutcome.rescheduled,
        ]

    async def test_a_receiver_with_another_secret_refuses_the_callback(
        self, live: Api, namespace: str
    ) -> None:
        with Receiver(secret="not-the-servers-secret") as receiver:
            await live.create_timer(
                namespace,
                "refused",
                delay_seconds=0,
                callback=receiver.url,
                retry_policy=RetryPolicy(max_attempts=1),
            )

            failed = await eventually(
                lambda: live.get_timer(namespace, "refused"),
                lambda timer: timer.status == TimerStatus.failed,
            )

            assert receiver.deliveries.empty()

        assert failed.last_error is not None
        assert failed.last_error.kind is ErrorKind.http_status
        assert failed.last_error.status_code == 401
