"""The runner in virtual time: firing, retries, reschedules, changes in flight."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import anyio
import attrs
import pytest

from kernel_harness import (
    NS,
    SERVER_ERROR,
    Hold,
    at,
    make_harness,
    make_timer,
    running,
    spec,
)
from timerkernel import (
    AttemptOutcome,
    Callback,
    Delivered,
    DeliveryFailed,
    DeliveryResult,
    ErrorKind,
    Kernel,
    ManualClock,
    Rescheduled,
    RetryPolicy,
    RunnerSettings,
    TimerNotFound,
    TimerPatch,
    TimerStatus,
    next_state,
    retry_delay,
)
from timerkernel._runner import _HandOff

BACKOFF = RetryPolicy(
    max_attempts=6,
    initial_interval_seconds=1.0,
    backoff_coefficient=2.0,
    max_interval_seconds=10.0,
)


class TestRetryDelay:
    @pytest.mark.parametrize(
        ("policy", "attempt", "expected"),
        [
            pytest.param(BACKOFF, 1, 1.0, id="first-failure-waits-initial"),
            pytest.param(BACKOFF, 2, 2.0, id="second-failure-doubles"),
            pytest.param(BACKOFF, 4, 8.0, id="fourth-failure"),
            pytest.param(BACKOFF, 5, 10.0, id="capped-at-max-interval"),
            pytest.param(BACKOFF, 1_000, 10.0, id="thousandth-failure"),
            pytest.param(BACKOFF, 10**12, 10.0, id="huge-attempt-float-overflow"),
            pytest.param(
                RetryPolicy(backoff_coefficient=2, max_interval_seconds=10),
                10**12,
                10.0,
                id="huge-attempt-integer-coefficient",
            ),
            pytest.param(
                RetryPolicy(initial_interval_seconds=3, backoff_coefficient=1.0),
                10**12,
                3.0,
                id="coefficient-one-stays-constant",
            ),
            pytest.param(
                RetryPolicy(initial_interval_seconds=2, backoff_coefficient=1.5),
                3,
                4.5,
                id="fractional-coefficient",
            ),
            pytest.param(
                RetryPolicy(initial_interval_seconds=30, max_interval_seconds=10),
                1,
                10.0,
                id="initial-over-max-interval-is-capped",
            ),
        ],
    )
    def test_backoff_is_exponential_and_capped(
        self, policy: RetryPolicy, attempt: int, expected: float
    ) -> None:
        delay = retry_delay(make_timer(retry_policy=policy), attempt, None)

        assert delay == expected

    @pytest.mark.parametrize(
        ("retry_after", "expected"),
        [
            pytest.param(7.0, 7.0, id="honoured"),
            pytest.param(0.5, 0.5, id="shorter-than-backoff"),
            pytest.param(0.0, 0.0, id="zero"),
            pytest.param(-3.0, 0.0, id="negative-is-zero"),
            pytest.param(1e9, 10.0, id="capped-at-max-interval"),
            pytest.param(float("inf"), 10.0, id="infinite-is-capped"),
        ],
    )
    def test_retry_after_replaces_backoff_up_to_max_interval(
        self, retry_after: float, expected: float
    ) -> None:
        delay = retry_delay(make_timer(retry_policy=BACKOFF), 3, retry_after)

        assert delay == expected


class TestNextState:
    def test_retry_past_the_last_representable_time_fails_the_timer(self) -> None:
        policy = RetryPolicy(max_attempts=0, max_interval_seconds=315_360_000_000.0)
        timer = attrs.evolve(make_timer(retry_policy=policy), attempts=5_000)

        changed, attempt = next_state(
            timer, SERVER_ERROR, started_at=at(0), finished_at=at(0)
        )

        assert changed.status is TimerStatus.failed
        assert changed.next_attempt_at is None
        assert changed.attempts == 5_001
        assert attempt.outcome is AttemptOutcome.failed

    def test_attempt_record_carries_the_attempt_number_and_duration(self) -> None:
        timer = attrs.evolve(make_timer(), attempts=2, attempt_seq=7)

        changed, attempt = next_state(
            timer, Delivered(), started_at=at(1), finished_at=at(1.25)
        )

        assert attempt.seq == 8
        assert attempt.attempt == 3
        assert attempt.started_at == at(1)
        assert attempt.duration_ms == 250
        assert changed.attempt_seq == 8

    @pytest.mark.parametrize(
        ("result", "changes"),
        [
            pytest.param(
                Delivered(200),
                {"status": TimerStatus.succeeded, "next_attempt_at": None},
                id="delivered",
            ),
            pytest.param(
                SERVER_ERROR,
                {"status": TimerStatus.scheduled, "next_attempt_at": at(14)},
                id="retried",
            ),
        ],
    )
    def test_an_attempt_changes_the_state_and_nothing_else(
        self, result: DeliveryResult, changes: dict[str, Any]
    ) -> None:
        # Every field set apart from its default, so that a field dropped or
        # swapped on the way shows.
        timer = attrs.evolve(
            make_timer(retry_policy=BACKOFF),
            callback=Callback("http://127.0.0.1:9/x", 3.0, {"X-A": "b"}),
            payload={"order": 7},
            attempts=2,
            attempt_seq=9,
            executed_at=at(-50),
            first_attempt_at=at(-5),
            definition_digest="digest",
            initial_fire_at=at(-60),
            version=4,
        )

        changed, _ = next_state(timer, result, started_at=at(10), finished_at=at(10))

        moved: dict[str, Any] = {
            "updated_at": at(10),
            "version": 5,
            "attempts": 3,
            "attempt_seq": 10,
        }
        if isinstance(result, Delivered):
            moved["executed_at"] = at(10)
        else:
            assert isinstance(result, DeliveryFailed)
            moved["last_error"] = changed.last_error
            assert changed.last_error is not None
            assert changed.last_error.message == result.message

        assert changed == attrs.evolve(timer, **moved, **changes)


@pytest.mark.anyio
class TestFiring:
    async def test_timer_does_not_fire_before_its_fire_at(self) -> None:
        h = await make_harness()
        async with running(h.runner):
            await h.create(spec(fire_at=at(2.5)))
            await h.step(2.499)
            early_calls = len(h.dispatcher.calls)
            await h.step(0.001)

        assert early_calls == 0
        assert h.dispatcher.times_of("t1") == [at(2.5)]

    async def test_poll_during_a_claim_does_not_load_the_timer_twice(self) -> None:
        h = await make_harness(
            runner_settings=RunnerSettings(poll_interval_seconds=0.1)
        )
        gate = anyio.Event()
        async with running(h.runner):
            await h.create(spec(fire_at=at(1)))
            h.store.claim_gate = gate
            await h.step(1)
            await h.step(0.5)
            loaded_during_claim = (NS, "t1") in h.runner._loaded
            h.store.claim_gate = None
            gate.set()
            await h.step(5)

        assert not loaded_during_claim
        assert len(h.dispatcher.calls_of("t1")) == 1

    async def test_delivered_timer_is_succeeded(self) -> None:
        h = await make_harness()
        async with running(h.runner):
            created = await h.create(spec(fire_at=at(2.5)))
            await h.step(5)

        timer = await h.get("t1")
        [call] = h.dispatcher.calls

        assert call.at >= created.fire_at
        assert call.attempt == 1
        assert timer.status is TimerStatus.succeeded
        assert timer.attempts == 1
        assert timer.executed_at == at(2.5)
        assert timer.next_attempt_at is None
        assert timer.last_error is None
        assert timer.version == created.version + 1

    async def test_timer_due_in_the_past_fires_at_once(self) -> None:
        h = await make_harness()
        async with running(h.runner):
            await h.step(10)
            await h.create(spec(fire_at=at(1)))
            await h.step(0)

        assert h.dispatcher.times_of("t1") == [at(10)]

    async def test_timer_created_before_the_runner_started_fires_on_time(
        self,
    ) -> None:
        h = await make_harness()
        await h.create(spec(fire_at=at(3.25)))
        async with running(h.runner):
            await h.step(5)

        assert h.dispatcher.times_of("t1") == [at(3.25)]

    async def test_timer_beyond_the_lookahead_fires_on_time(self) -> None:
        h = await make_harness()
        async with running(h.runner):
            await h.create(spec(fire_at=at(42.125)))
            await h.step(50)

        assert h.dispatcher.times_of("t1") == [at(42.125)]

    async def test_delivery_is_recorded_in_the_attempt_history(self) -> None:
        h = await make_harness()
        h.dispatcher.script("t1", SERVER_ERROR, Delivered())
        async with running(h.runner):
            await h.create(spec(fire_at=at(1)))
            await h.step(5)

        attempts = await h.kernel.list_attempts(NS, "t1")

        assert [(a.attempt, a.outcome) for a in attempts] == [
            (2, AttemptOutcome.succeeded),
            (1, AttemptOutcome.failed),
        ]
        assert [a.started_at for a in attempts] == [at(2), at(1)]
        assert attempts[1].status_code == 500
        assert attempts[1].error is not None

    async def test_dispatcher_that_raises_counts_as_a_failed_attempt(self) -> None:
        h = await make_harness()
        h.dispatcher.script("t1", RuntimeError("bug in the dispatcher"))
        async with running(h.runner):
            await h.create(
                spec(fire_at=at(1), retry_policy=RetryPolicy(max_attempts=1))
            )
            await h.step(2)

        timer = await h.get("t1")

        assert timer.status is TimerStatus.failed
        assert timer.last_error is not None
        assert timer.last_error.kind is ErrorKind.connection
        assert "bug in the dispatcher" in timer.last_error.message


@pytest.mark.anyio
class TestRetries:
    async def test_failed_attempts_back_off_exponentially_up_to_max_interval(
        self,
    ) -> None:
        h = await make_harness(default=SERVER_ERROR)
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), retry_policy=BACKOFF))
            await h.step(60)

        calls = h.dispatcher.calls_of("t1")

        # Delays 1, 2, 4, 8, then 16 capped at 10.
        assert [call.at for call in calls] == [
            at(1),
            at(2),
            at(4),
            at(8),
            at(16),
            at(26),
        ]
        assert [call.attempt for call in calls] == [1, 2, 3, 4, 5, 6]

    async def test_retry_is_due_after_the_end_of_a_slow_attempt(self) -> None:
        h = await make_harness()
        slow = Hold(SERVER_ERROR)
        h.dispatcher.script("t1", slow, Delivered())
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), retry_policy=BACKOFF))
            await h.step(1)
            await h.step(3)
            slow.release()
            await h.step(5)

        timer = await h.get("t1")

        assert h.dispatcher.times_of("t1") == [at(1), at(5)]
        assert timer.status is TimerStatus.succeeded

    async def test_retrying_timer_is_scheduled_with_last_error(self) -> None:
        h = await make_harness(default=SERVER_ERROR)
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), retry_policy=BACKOFF))
            await h.step(1)

        timer = await h.get("t1")

        assert timer.status is TimerStatus.scheduled
        assert timer.attempts == 1
        assert timer.next_attempt_at == at(2)
        assert timer.last_error is not None
        assert timer.last_error.kind is ErrorKind.http_status
        assert timer.last_error.status_code == 500
        assert timer.last_error.at == at(1)

    @pytest.mark.parametrize("max_attempts", [1, 3, 5])
    async def test_timer_fails_after_max_attempts(self, max_attempts: int) -> None:
        h = await make_harness(default=SERVER_ERROR)
        policy = RetryPolicy(
            max_attempts=max_attempts,
            initial_interval_seconds=1.0,
            backoff_coefficient=1.0,
        )
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), retry_policy=policy))
            await h.step(60)

        timer = await h.get("t1")
        calls = h.dispatcher.calls_of("t1")

        assert len(calls) == max_attempts
        assert [call.attempt for call in calls] == list(range(1, max_attempts + 1))
        assert timer.status is TimerStatus.failed
        assert timer.attempts == max_attempts
        assert timer.next_attempt_at is None
        assert timer.last_error is not None
        assert timer.last_error.message == "HTTP 500"
        assert timer.last_error.status_code == 500

    async def test_zero_max_attempts_retries_without_limit(self) -> None:
        h = await make_harness(default=SERVER_ERROR)
        policy = RetryPolicy(
            max_attempts=0, initial_interval_seconds=1.0, backoff_coefficient=1.0
        )
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), retry_policy=policy))
            await h.step(30)

        timer = await h.get("t1")
        calls = h.dispatcher.calls_of("t1")

        assert len(calls) == 30
        assert calls[-1].attempt == 30
        assert timer.status is TimerStatus.scheduled
        assert timer.attempts == 30
        assert timer.next_attempt_at == at(31)

    @pytest.mark.parametrize(
        ("max_duration", "expected"),
        [
            # Attempts at 1, 2 and 4 (delays 1 and 2); the next would be at 8.
            pytest.param(3.0, [1, 2, 4], id="attempt-exactly-at-the-deadline-is-made"),
            pytest.param(2.5, [1, 2], id="attempt-past-the-deadline-is-not-made"),
            pytest.param(6.999, [1, 2, 4], id="just-short-of-the-next-attempt"),
            pytest.param(7.0, [1, 2, 4, 8], id="just-enough-for-the-next-attempt"),
        ],
    )
    async def test_timer_fails_when_max_duration_is_used_up(
        self, max_duration: float, expected: list[float]
    ) -> None:
        h = await make_harness(default=SERVER_ERROR)
        policy = RetryPolicy(
            max_attempts=0,
            initial_interval_seconds=1.0,
            backoff_coefficient=2.0,
            max_interval_seconds=100.0,
            max_duration_seconds=max_duration,
        )
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), retry_policy=policy))
            await h.step(60)

        timer = await h.get("t1")

        assert h.dispatcher.times_of("t1") == [at(offset) for offset in expected]
        assert timer.status is TimerStatus.failed
        assert timer.next_attempt_at is None
        assert timer.last_error is not None

    @pytest.mark.parametrize("status_code", [429, 503])
    async def test_retry_after_of_overload_answers_is_honoured(
        self, status_code: int
    ) -> None:
        h = await make_harness()
        overloaded = DeliveryFailed(
            ErrorKind.http_status,
            f"HTTP {status_code}",
            status_code=status_code,
            retry_after_seconds=7.0,
        )
        h.dispatcher.script("t1", overloaded, Delivered())
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), retry_policy=BACKOFF))
            await h.step(20)

        assert h.dispatcher.times_of("t1") == [at(1), at(8)]

    async def test_retry_after_is_capped_at_max_interval(self) -> None:
        h = await make_harness()
        overloaded = DeliveryFailed(
            ErrorKind.http_status,
            "HTTP 503",
            status_code=503,
            retry_after_seconds=3600.0,
        )
        h.dispatcher.script("t1", overloaded, Delivered())
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), retry_policy=BACKOFF))
            await h.step(60)

        assert h.dispatcher.times_of("t1") == [at(1), at(11)]


@pytest.mark.anyio
class TestReschedule:
    async def test_reschedule_answer_rearms_timer_with_replaced_fields(self) -> None:
        h = await make_harness()
        new_callback = Callback("https://other.example/next", timeout_seconds=3.0)
        new_policy = RetryPolicy(max_attempts=2)
        h.dispatcher.script(
            "t1",
            Rescheduled(
                fire_at=at(10),
                payload={"round": 2},
                callback=new_callback,
                retry_policy=new_policy,
            ),
        )
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), payload={"round": 1}))
            await h.step(5)

        timer = await h.get("t1")

        assert timer.status is TimerStatus.scheduled
        assert timer.attempts == 0
        assert timer.fire_at == at(10)
        assert timer.next_attempt_at == at(10)
        assert timer.executed_at == at(1)
        assert timer.payload == {"round": 2}
        assert timer.callback == new_callback
        assert timer.retry_policy == new_policy
        assert timer.version == 2

    async def test_reschedule_answer_keeps_fields_it_leaves_unset(self) -> None:
        h = await make_harness()
        h.dispatcher.script("t1", Rescheduled(fire_at=at(10)))
        async with running(h.runner):
            created = await h.create(
                spec(fire_at=at(1), payload={"keep": True}, retry_policy=BACKOFF)
            )
            await h.step(5)

        timer = await h.get("t1")

        assert timer.payload == {"keep": True}
        assert timer.callback == created.callback
        assert timer.retry_policy == BACKOFF

    async def test_rescheduled_timer_fires_again_at_the_new_time(self) -> None:
        h = await make_harness()
        h.dispatcher.script(
            "t1", Rescheduled(fire_at=at(30.5), payload="second"), Delivered()
        )
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), payload="first"))
            await h.step(60)

        calls = h.dispatcher.calls_of("t1")
        timer = await h.get("t1")

        assert [call.at for call in calls] == [at(1), at(30.5)]
        assert [call.attempt for call in calls] == [1, 1]
        assert [call.timer.payload for call in calls] == ["first", "second"]
        assert timer.status is TimerStatus.succeeded
        assert timer.executed_at == at(30.5)

    async def test_reschedule_after_failures_restarts_the_attempt_count(self) -> None:
        h = await make_harness()
        h.dispatcher.script(
            "t1", SERVER_ERROR, Rescheduled(fire_at=at(20)), SERVER_ERROR, Delivered()
        )
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), retry_policy=BACKOFF))
            await h.step(60)

        calls = h.dispatcher.calls_of("t1")

        assert [call.at for call in calls] == [at(1), at(2), at(20), at(21)]
        assert [call.attempt for call in calls] == [1, 2, 1, 2]

    async def test_reschedule_time_is_stored_in_utc_milliseconds(self) -> None:
        h = await make_harness()
        plus_one = timezone(timedelta(hours=1))
        asked = (at(10) + timedelta(microseconds=1)).astimezone(plus_one)
        h.dispatcher.script("t1", Rescheduled(fire_at=asked), Delivered())
        async with running(h.runner):
            await h.create(spec(fire_at=at(1)))
            await h.step(2)
            rescheduled = await h.get("t1")
            await h.step(20)

        assert rescheduled.fire_at == rescheduled.next_attempt_at == at(10.001)
        assert rescheduled.fire_at.utcoffset() == timedelta(0)
        assert h.dispatcher.times_of("t1") == [at(1), at(10.001)]

    async def test_reschedule_into_the_past_fires_at_once(self) -> None:
        h = await make_harness()
        h.dispatcher.script("t1", Rescheduled(fire_at=at(0)), Delivered())
        async with running(h.runner):
            await h.create(spec(fire_at=at(1)))
            await h.step(5)

        assert h.dispatcher.times_of("t1") == [at(1), at(1)]


@pytest.mark.anyio
class TestChangesDuringDelivery:
    @pytest.mark.parametrize(
        "result",
        [
            pytest.param(Delivered(), id="delivered"),
            pytest.param(SERVER_ERROR, id="failed"),
            pytest.param(Rescheduled(fire_at=at(100)), id="rescheduled"),
        ],
    )
    async def test_update_of_fire_time_during_delivery_wins(
        self, result: DeliveryResult
    ) -> None:
        h = await make_harness()
        in_flight = Hold(result)
        h.dispatcher.script("t1", in_flight, Delivered())
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), retry_policy=BACKOFF))
            await h.step(1)
            updated = await h.kernel.update_timer(NS, "t1", TimerPatch(fire_at=at(1.5)))
            in_flight.release()
            await h.step(0.1)
            after_delivery = await h.get("t1")
            await h.step(5)

        assert in_flight.entered.is_set()
        assert after_delivery == updated
        assert after_delivery.status is TimerStatus.scheduled
        assert after_delivery.fire_at == at(1.5)
        assert after_delivery.next_attempt_at == at(1.5)
        assert after_delivery.attempts == 0
        assert after_delivery.version == 2
        assert h.dispatcher.times_of("t1") == [at(1), at(1.5)]

    async def test_update_of_payload_during_delivery_wins(self) -> None:
        h = await make_harness()
        in_flight = Hold(Delivered())
        redelivery = Hold(Delivered())
        h.dispatcher.script("t1", in_flight, redelivery)
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), payload="old"))
            await h.step(1)
            updated = await h.kernel.update_timer(NS, "t1", TimerPatch(payload="new"))
            await h.step(2)
            in_flight.release()
            await h.step(0)
            after_delivery = await h.get("t1")
            redelivery.release()
            await h.step(5)

        calls = h.dispatcher.calls_of("t1")
        timer = await h.get("t1")

        assert after_delivery == updated
        assert after_delivery.status is TimerStatus.scheduled
        assert after_delivery.payload == "new"
        assert after_delivery.version == 2
        # The timer is still due, so the new payload is delivered at once.
        assert [call.at for call in calls] == [at(1), at(3)]
        assert [call.timer.payload for call in calls] == ["old", "new"]
        assert timer.status is TimerStatus.succeeded
        assert timer.version == 3

    async def test_update_to_a_later_time_during_delivery_fires_then(self) -> None:
        h = await make_harness()
        in_flight = Hold(Delivered())
        h.dispatcher.script("t1", in_flight, Delivered())
        async with running(h.runner):
            await h.create(spec(fire_at=at(1)))
            await h.step(1)
            await h.kernel.update_timer(NS, "t1", TimerPatch(fire_at=at(30)))
            in_flight.release()
            await h.step(60)

        assert h.dispatcher.times_of("t1") == [at(1), at(30)]

    async def test_delete_during_delivery_drops_the_outcome(self) -> None:
        h = await make_harness()
        in_flight = Hold(SERVER_ERROR)
        h.dispatcher.script("t1", in_flight)
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), retry_policy=BACKOFF))
            await h.step(1)
            await h.kernel.delete_timer(NS, "t1")
            in_flight.release()
            await h.step(60)

        assert h.dispatcher.times_of("t1") == [at(1)]
        with pytest.raises(TimerNotFound):
            await h.get("t1")

        with pytest.raises(TimerNotFound):
            await h.kernel.list_attempts(NS, "t1")

    async def test_deleted_timer_never_fires(self) -> None:
        h = await make_harness()
        async with running(h.runner):
            await h.create(spec(fire_at=at(2)))
            await h.create(spec("t2", fire_at=at(30)))
            await h.step(1)
            await h.kernel.delete_timer(NS, "t1")
            await h.kernel.delete_timer(NS, "t2")
            await h.step(60)

        assert h.dispatcher.calls == []


@pytest.mark.anyio
class TestLifecycle:
    async def test_stop_lets_the_delivery_in_flight_finish_and_records_it(
        self,
    ) -> None:
        h = await make_harness()
        in_flight = Hold(Delivered())
        h.dispatcher.script("t1", in_flight)
        async with running(h.runner):
            await h.create(spec(fire_at=at(1)))
            await h.step(1)
            h.runner.stop()
            await h.step(3)
            during_stop = await h.get("t1")
            held_during_stop = dict(h.runner.leases)
            in_flight.release()
            await h.step(0)

        timer = await h.get("t1")

        assert during_stop.status is TimerStatus.scheduled
        assert len(held_during_stop) == 16
        assert timer.status is TimerStatus.succeeded
        assert timer.executed_at == at(4)
        assert h.runner.leases == {}
        assert (h.dispatcher.started, h.dispatcher.closed) == (1, 1)

    async def test_outcome_is_recorded_once_the_store_is_back(self) -> None:
        h = await make_harness()
        in_flight = Hold(Delivered())
        h.dispatcher.script("t1", in_flight)
        async with running(h.runner):
            await h.create(spec(fire_at=at(1)))
            await h.step(1)
            h.store.down = True
            in_flight.release()
            await h.step(2)
            h.store.down = False
            await h.step(10)

        timer = await h.get("t1")

        assert timer.status is TimerStatus.succeeded
        assert timer.executed_at == at(1)
        assert h.dispatcher.times_of("t1") == [at(1)]
        assert h.store.outcome_results == [[True]]

    async def test_timers_due_during_an_outage_fire_when_the_store_is_back(
        self,
    ) -> None:
        h = await make_harness()
        async with running(h.runner):
            await h.create(spec(fire_at=at(3)))
            await h.step(1)
            h.store.down = True
            await h.step(4)
            calls_during_outage = len(h.dispatcher.calls)
            h.store.down = False
            await h.step(10)

        timer = await h.get("t1")

        assert calls_during_outage == 0
        assert timer.status is TimerStatus.succeeded
        assert len(h.dispatcher.calls) == 1
        assert at(5) <= h.dispatcher.calls[0].at <= at(7)


@pytest.mark.anyio
class TestMemoryBound:
    async def test_only_timers_due_within_the_lookahead_are_loaded(self) -> None:
        h = await make_harness(runner_settings=RunnerSettings(lookahead_seconds=5.0))
        year = timedelta(days=365)
        far = [spec(f"far-{n}", fire_at=at(0) + year) for n in range(10_000)]
        near = [spec(f"near-{n}", fire_at=at(3)) for n in range(10)]
        async with running(h.runner):
            for start in range(0, len(far), 1000):
                await h.kernel.create_timers(NS, far[start : start + 1000])

            await h.kernel.create_timers(NS, near)
            await h.step(2)
            loaded_before = len(h.runner._loaded)
            queued_before = len(h.runner._heap)
            await h.step(10)
            loaded_after = len(h.runner._loaded)

        assert loaded_before == 10
        assert queued_before <= 10
        assert loaded_after == 0
        assert sorted(call.timer.id for call in h.dispatcher.calls) == sorted(
            item.id for item in near
        )

    async def test_timers_beyond_the_lookahead_are_loaded_as_they_come_due(
        self,
    ) -> None:
        h = await make_harness(runner_settings=RunnerSettings(lookahead_seconds=5.0))
        await h.kernel.create_timers(
            NS, [spec(f"t{n}", fire_at=at(10 * n)) for n in range(1, 6)]
        )
        loaded: list[int] = []
        async with running(h.runner):
            for _ in range(60):
                await h.step(1)
                loaded.append(len(h.runner._loaded))

        assert max(loaded) == 1
        assert [call.at for call in h.dispatcher.calls] == [
            at(10 * n) for n in range(1, 6)
        ]


@pytest.mark.anyio
class TestPollsSkipWhatIsHeld:
    """After a full read, a poll asks only for what entered the window or changed.

    Changes come from another kernel on the same store, as from another
    process: the runner hears of them only by polling.
    """

    async def test_a_held_backlog_is_not_read_again(self) -> None:
        settings = RunnerSettings(max_in_flight=1, change_margin_seconds=0.5)
        h = await make_harness(runner_settings=settings)
        elsewhere = Kernel(h.store.inner, clock=h.clock)
        first = Hold(Delivered())
        h.dispatcher.script("t0", first)
        await elsewhere.create_timers(
            NS, [spec(f"t{n}", fire_at=at(1)) for n in range(50)]
        )
        async with running(h.runner):
            await h.step(6)
            fetches = list(h.store.fetches)
            first.release()
            await h.step(2)

        assert fetches[0].known_through is None
        assert fetches[0].returned == 50
        assert all(fetch.known_through is not None for fetch in fetches[1:])
        # The poll at 1 s still sees the creates, within the margin.
        assert [fetch.returned for fetch in fetches[2:]] == [0] * (len(fetches) - 2)
        assert len(h.dispatcher.calls) == 50

    async def test_a_timer_created_elsewhere_within_the_known_window_fires_on_time(
        self,
    ) -> None:
        h = await make_harness()
        elsewhere = Kernel(h.store.inner, clock=h.clock)
        async with running(h.runner):
            await h.step(2)
            await elsewhere.create_timer(NS, spec("soon", fire_at=at(4)))
            await h.step(5)

        assert h.store.fetches[-1].known_through is not None
        assert h.dispatcher.times_of("soon") == [at(4)]

    async def test_a_change_elsewhere_during_delivery_fires_once_it_is_fenced(
        self,
    ) -> None:
        settings = RunnerSettings(change_margin_seconds=0.5)
        h = await make_harness(runner_settings=settings)
        elsewhere = Kernel(h.store.inner, clock=h.clock)
        in_flight = Hold(Delivered())
        h.dispatcher.script("t1", in_flight, Delivered())
        await elsewhere.create_timer(NS, spec(fire_at=at(1), payload="old"))
        async with running(h.runner):
            await h.step(1)
            await elsewhere.update_timer(NS, "t1", TimerPatch(payload="new"))
            # Later polls no longer see the change: only the one at 2 s did,
            # while the old version was in flight.
            await h.step(3)
            in_flight.release()
            await h.step(1)

        calls = h.dispatcher.calls_of("t1")

        assert [call.timer.payload for call in calls] == ["old", "new"]
        assert [call.at for call in calls] == [at(1), at(4)]

    async def test_a_change_stamped_before_the_margin_waits_for_the_full_poll(
        self,
    ) -> None:
        # A process whose clock is 20 s behind stamps its change too early
        # for the margin: the change is late by up to a full-poll interval,
        # and never lost.
        settings = RunnerSettings(full_poll_interval_seconds=10.0)
        h = await make_harness(runner_settings=settings)
        async with running(h.runner):
            await h.step(2)
            behind = ManualClock(h.clock.now() - timedelta(seconds=20))
            lagging = Kernel(h.store.inner, clock=behind)
            await lagging.create_timer(NS, spec("skewed", fire_at=at(4)))
            await h.step(15)

        full_reads = [fetch for fetch in h.store.fetches if fetch.known_through is None]

        assert len(full_reads) == 2
        assert h.dispatcher.times_of("skewed") == [at(10)]

    async def test_changed_shards_mean_a_full_read(self) -> None:
        h = await make_harness()
        async with running(h.runner):
            await h.step(3)
            h.runner.leases.pop(0)
            await h.step(1)

        kinds = [fetch.known_through is None for fetch in h.store.fetches]

        assert kinds[:5] == [True, False, False, False, True]

    async def test_timers_past_the_memory_bound_are_read_later(self) -> None:
        settings = RunnerSettings(max_loaded=10, change_margin_seconds=0.5)
        h = await make_harness(runner_settings=settings)
        elsewhere = Kernel(h.store.inner, clock=h.clock)
        await elsewhere.create_timers(
            NS, [spec(f"t{n:02}", fire_at=at(1 + n / 100)) for n in range(35)]
        )
        async with running(h.runner):
            await h.step(8)

        fired = sorted(call.timer.id for call in h.dispatcher.calls)

        assert fired == [f"t{n:02}" for n in range(35)]
        assert max(fetch.returned for fetch in h.store.fetches) <= 10


@pytest.mark.anyio
class TestHandOff:
    """The queue between the fire loop and the delivery workers."""

    @staticmethod
    def item(number: int) -> tuple[object, int]:
        return (f"timer-{number}", number)

    async def test_a_waiting_worker_takes_what_is_put_in_order(self) -> None:
        hand_off = _HandOff()
        taken: list[object] = []

        async def worker() -> None:
            for _ in range(3):
                taken.append(await hand_off.take())

        async with anyio.create_task_group() as group:
            group.start_soon(worker)
            await anyio.wait_all_tasks_blocked()
            assert hand_off.idle_workers == 1
            for number in range(3):
                hand_off.put(self.item(number))  # type: ignore[arg-type]

        assert taken == [self.item(0), self.item(1), self.item(2)]
        assert hand_off.idle_workers == 0

    async def test_nothing_is_lost_when_a_woken_worker_is_cancelled(self) -> None:
        hand_off = _HandOff()
        taken: list[object] = []
        scope = anyio.CancelScope()

        async def doomed() -> None:
            with scope:
                taken.append(await hand_off.take())

        async def worker() -> None:
            while len(taken) < 2:
                taken.append(await hand_off.take())

        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(doomed)
                await anyio.wait_all_tasks_blocked()
                group.start_soon(worker)
                await anyio.wait_all_tasks_blocked()
                # The first item wakes the first to wait, cancelled before
                # it runs: it takes the item, or hands its wake on.
                hand_off.put(self.item(1))  # type: ignore[arg-type]
                scope.cancel()
                hand_off.put(self.item(2))  # type: ignore[arg-type]

        assert sorted(taken) == [self.item(1), self.item(2)]  # type: ignore[type-var]

    async def test_a_worker_cancelled_before_the_put_is_passed_over(self) -> None:
        hand_off = _HandOff()
        taken: list[object] = []
        scope = anyio.CancelScope()

        async def doomed() -> None:
            with scope:
                taken.append(await hand_off.take())

        async def worker() -> None:
            taken.append(await hand_off.take())

        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(doomed)
                await anyio.wait_all_tasks_blocked()
                group.start_soon(worker)
                await anyio.wait_all_tasks_blocked()
                # Cancelled, but not yet run to leave the queue of sleepers:
                # the item must wake the other worker.
                scope.cancel()
                hand_off.put(self.item(1))  # type: ignore[arg-type]

        assert taken == [self.item(1)]
        assert hand_off.idle_workers == 0
