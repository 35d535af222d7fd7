"""The kernel facade: create and dedup, update, delete, retention, listing."""

from __future__ import annotations

import base64
import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from kernel_harness import (
    NS,
    SERVER_ERROR,
    URL,
    Harness,
    at,
    make_harness,
    running,
    spec,
)
from timerkernel import (
    Callback,
    CreateResult,
    Delivered,
    DeliveryResult,
    InvalidArgument,
    KernelSettings,
    Rescheduled,
    RetryPolicy,
    Timer,
    TimerAlreadyExists,
    TimerEventKind,
    TimerNotFound,
    TimerPatch,
    TimerQuery,
    TimerSpec,
    TimerStatus,
    VersionConflict,
)


async def _fired_and_finished(result: DeliveryResult) -> Harness:
    """A harness whose timer ``t1`` fired at 1 s and finished with *result*."""
    h = await make_harness()
    h.dispatcher.script("t1", result)
    async with running(h.runner):
        await h.create(spec(fire_at=at(1), retry_policy=RetryPolicy(max_attempts=1)))
        await h.step(2)

    return h


@pytest.mark.anyio
class TestCreate:
    async def test_new_timer_is_scheduled_at_version_one(self) -> None:
        h = await make_harness()
        h.clock.set(at(3))

        result = await h.kernel.create_timer(NS, spec(fire_at=at(10), payload=[1]))

        assert result.created is True
        assert result.timer.status is TimerStatus.scheduled
        assert result.timer.version == 1
        assert result.timer.attempts == 0
        assert result.timer.fire_at == at(10)
        assert result.timer.next_attempt_at == at(10)
        assert result.timer.created_at == result.timer.updated_at == at(3)
        assert result.timer.executed_at is None
        assert result.timer.last_error is None
        assert result.timer.payload == [1]
        assert await h.get("t1") == result.timer

    async def test_delay_is_counted_from_now_and_rounded_up(self) -> None:
        h = await make_harness()
        h.clock.set(at(3))

        timer = await h.create(spec(delay_seconds=2.0001))

        assert timer.fire_at == at(5.001)

    @pytest.mark.parametrize(
        ("fire_at", "expected"),
        [
            pytest.param(at(1) + timedelta(microseconds=1), at(1.001), id="rounded-up"),
            pytest.param(at(1.5), at(1.5), id="whole-milliseconds-kept"),
            pytest.param(
                at(3600).astimezone(timezone(timedelta(hours=2))),
                at(3600),
                id="converted-to-utc",
            ),
        ],
    )
    async def test_fire_time_is_stored_in_utc_milliseconds(
        self, fire_at: datetime, expected: datetime
    ) -> None:
        h = await make_harness()

        timer = await h.create(spec(fire_at=fire_at))

        assert timer.fire_at == timer.next_attempt_at == expected
        assert timer.fire_at.utcoffset() == timedelta(0)
        assert await h.get("t1") == timer

    async def test_creation_is_told_to_listeners(self) -> None:
        h = await make_harness()
        events: list[tuple[TimerEventKind, str]] = []
        h.kernel.add_listener(lambda event: events.append((event.kind, event.timer.id)))

        await h.create(spec())
        await h.create(spec())

        assert events == [(TimerEventKind.created, "t1")]

    @pytest.mark.parametrize(
        "namespace",
        [
            pytest.param("", id="empty"),
            pytest.param("Upper", id="upper-case"),
            pytest.param("-dash-first", id="dash-first"),
            pytest.param("_under-first", id="underscore-first"),
            pytest.param("a" * 65, id="too-long"),
            pytest.param("dot.ted", id="dot"),
            pytest.param("spa ce", id="space"),
            pytest.param("ns\n", id="trailing-newline"),
        ],
    )
    async def test_malformed_namespace_is_refused(self, namespace: str) -> None:
        h = await make_harness()

        with pytest.raises(InvalidArgument) as caught:
            await h.kernel.create_timer(namespace, spec())

        assert [error.field for error in caught.value.fields] == ["namespace"]

    @pytest.mark.parametrize(
        "namespace",
        [
            pytest.param("a", id="one-char"),
            pytest.param("0-team_b", id="digits-dash-underscore"),
            pytest.param("a" * 64, id="longest"),
        ],
    )
    async def test_well_formed_namespace_is_accepted(self, namespace: str) -> None:
        h = await make_harness()

        result = await h.kernel.create_timer(namespace, spec())

        assert result.timer.namespace == namespace

    async def test_malformed_id_in_a_batch_fails_only_that_item(self) -> None:
        h = await make_harness()

        results = await h.kernel.create_timers(
            NS, [spec("good-1"), spec("-bad"), spec("good-2")]
        )

        assert isinstance(results[0], CreateResult)
        assert isinstance(results[1], InvalidArgument)
        assert [error.field for error in results[1].fields] == ["id"]
        assert isinstance(results[2], CreateResult)
        assert results[2].created is True


def _changed(definition: TimerSpec, **changes: Any) -> TimerSpec:
    return attrs.evolve(definition, **changes)


ORIGINAL = spec(fire_at=at(60), payload={"order": 42}, retry_policy=RetryPolicy())


@pytest.mark.anyio
class TestDedup:
    async def test_same_definition_returns_the_existing_timer_unchanged(self) -> None:
        h = await make_harness()
        first = await h.kernel.create_timer(NS, ORIGINAL)
        h.clock.set(at(5))

        again = await h.kernel.create_timer(NS, ORIGINAL)

        assert first.created is True
        assert again.created is False
        assert again.timer == first.timer
        assert await h.get("t1") == first.timer

    @pytest.mark.parametrize(
        "different",
        [
            pytest.param(_changed(ORIGINAL, payload={"order": 43}), id="payload"),
            pytest.param(_changed(ORIGINAL, payload=None), id="payload-removed"),
            pytest.param(
                _changed(ORIGINAL, callback=Callback(URL + "/other")), id="callback-url"
            ),
            pytest.param(
                _changed(ORIGINAL, callback=Callback(URL, timeout_seconds=5.0)),
                id="callback-timeout",
            ),
            pytest.param(
                _changed(ORIGINAL, callback=Callback(URL, headers={"X-Key": "1"})),
                id="callback-headers",
            ),
            pytest.param(
                _changed(ORIGINAL, retry_policy=RetryPolicy(max_attempts=3)),
                id="retry-policy",
            ),
            pytest.param(
                _changed(ORIGINAL, retry_policy=RetryPolicy(max_duration_seconds=60)),
                id="retry-policy-max-duration",
            ),
            pytest.param(_changed(ORIGINAL, fire_at=at(61)), id="fire-at"),
            pytest.param(
                _changed(ORIGINAL, fire_at=None, delay_seconds=60, payload=None),
                id="delay-form-with-other-payload",
            ),
        ],
    )
    async def test_different_definition_is_refused_with_the_existing_timer(
        self, different: TimerSpec
    ) -> None:
        h = await make_harness()
        first = await h.create(ORIGINAL)

        with pytest.raises(TimerAlreadyExists) as caught:
            await h.kernel.create_timer(NS, different)

        assert caught.value.existing == first
        assert await h.get("t1") == first

    async def test_delay_form_is_not_compared_on_fire_time(self) -> None:
        h = await make_harness()
        first = await h.kernel.create_timer(NS, spec(delay_seconds=10))
        h.clock.set(at(3))

        again = await h.kernel.create_timer(NS, spec(delay_seconds=10))

        assert again.created is False
        assert again.timer == first.timer
        assert again.timer.fire_at == at(10)

    async def test_delay_form_repeats_a_timer_created_with_fire_at(self) -> None:
        h = await make_harness()
        first = await h.create(spec(fire_at=at(10)))

        again = await h.kernel.create_timer(NS, spec(delay_seconds=999))

        assert again.created is False
        assert again.timer == first

    async def test_repeat_after_the_timer_fired_does_not_fire_it_again(self) -> None:
        h = await make_harness()
        definition = spec(fire_at=at(1))
        async with running(h.runner):
            await h.create(definition)
            await h.step(2)
            fired = await h.get("t1")
            again = await h.kernel.create_timer(NS, definition)
            await h.step(30)

        assert fired.status is TimerStatus.succeeded
        assert again.created is False
        assert again.timer == fired
        assert await h.get("t1") == fired
        assert h.dispatcher.times_of("t1") == [at(1)]

    async def test_repeat_after_a_reschedule_by_the_target_is_still_a_repeat(
        self,
    ) -> None:
        h = await make_harness()
        definition = spec(fire_at=at(1), payload="first")
        h.dispatcher.script("t1", Rescheduled(fire_at=at(40), payload="second"))
        async with running(h.runner):
            await h.create(definition)
            await h.step(2)
            rescheduled = await h.get("t1")
            again = await h.kernel.create_timer(NS, definition)
            await h.step(60)

        assert rescheduled.fire_at == at(40)
        assert again.created is False
        assert again.timer == rescheduled
        assert h.dispatcher.times_of("t1") == [at(1), at(40)]

    async def test_same_id_twice_in_a_batch_creates_it_once(self) -> None:
        h = await make_harness()

        first, second = await h.kernel.create_timers(NS, [ORIGINAL, ORIGINAL])

        assert isinstance(first, CreateResult)
        assert isinstance(second, CreateResult)
        assert (first.created, second.created) == (True, False)
        assert second.timer == first.timer

    async def test_same_id_with_another_definition_later_in_a_batch_conflicts(
        self,
    ) -> None:
        h = await make_harness()
        other = _changed(ORIGINAL, payload="other")

        first, second = await h.kernel.create_timers(NS, [ORIGINAL, other])

        assert isinstance(first, CreateResult)
        assert isinstance(second, TimerAlreadyExists)
        assert second.existing == first.timer

    async def test_batch_repeat_after_a_conflict_is_judged_against_the_stored_timer(
        self,
    ) -> None:
        h = await make_harness()
        stored = await h.create(ORIGINAL)
        other = _changed(ORIGINAL, payload="other")

        first, second = await h.kernel.create_timers(NS, [other, ORIGINAL])

        assert isinstance(first, TimerAlreadyExists)
        assert first.existing == stored
        assert isinstance(second, CreateResult)
        assert second.created is False
        assert second.timer == stored


@pytest.mark.anyio
class TestUpdate:
    @pytest.mark.parametrize(
        ("result", "finished"),
        [
            pytest.param(Delivered(), TimerStatus.succeeded, id="succeeded"),
            pytest.param(SERVER_ERROR, TimerStatus.failed, id="failed"),
        ],
    )
    async def test_new_fire_time_rearms_a_finished_timer(
        self, result: DeliveryResult, finished: TimerStatus
    ) -> None:
        h = await _fired_and_finished(result)
        before = await h.get("t1")
        h.dispatcher.script("t1", Delivered())
        async with running(h.restart_runner()):
            updated = await h.kernel.update_timer(NS, "t1", TimerPatch(fire_at=at(20)))
            await h.step(30)

        assert before.status is finished
        assert updated.status is TimerStatus.scheduled
        assert updated.attempts == 0
        assert updated.fire_at == updated.next_attempt_at == at(20)
        assert updated.version == before.version + 1
        assert updated.updated_at == at(2)
        assert h.dispatcher.times_of("t1") == [at(1), at(20)]
        assert [call.attempt for call in h.dispatcher.calls] == [1, 1]

    async def test_new_delay_is_counted_from_now(self) -> None:
        h = await make_harness()
        await h.create(spec(fire_at=at(100)))
        h.clock.set(at(7))

        updated = await h.kernel.update_timer(NS, "t1", TimerPatch(delay_seconds=3))

        assert updated.fire_at == updated.next_attempt_at == at(10)

    async def test_new_fire_time_is_stored_in_utc_milliseconds(self) -> None:
        h = await make_harness()
        await h.create(spec(fire_at=at(100)))
        plus_two = timezone(timedelta(hours=2))
        fire_at = (at(20) + timedelta(microseconds=10)).astimezone(plus_two)

        updated = await h.kernel.update_timer(NS, "t1", TimerPatch(fire_at=fire_at))

        assert updated.fire_at == updated.next_attempt_at == at(20.001)
        assert updated.fire_at.utcoffset() == timedelta(0)

    async def test_patch_without_fire_time_keeps_the_schedule(self) -> None:
        h = await make_harness()
        created = await h.create(spec(fire_at=at(100), payload="old"))
        new_policy = RetryPolicy(max_attempts=2)
        new_callback = Callback(URL + "/v2", headers={"X-Trace": "on"})

        updated = await h.kernel.update_timer(
            NS,
            "t1",
            TimerPatch(payload="new", callback=new_callback, retry_policy=new_policy),
        )

        assert updated.payload == "new"
        assert updated.callback == new_callback
        assert updated.retry_policy == new_policy
        assert updated.fire_at == created.fire_at
        assert updated.next_attempt_at == created.next_attempt_at
        assert updated.version == 2
        assert await h.get("t1") == updated

    async def test_payload_can_be_set_to_null(self) -> None:
        h = await make_harness()
        await h.create(spec(payload={"a": 1}))

        updated = await h.kernel.update_timer(NS, "t1", TimerPatch(payload=None))

        assert updated.payload is None
        assert updated.version == 2

    async def test_empty_patch_changes_nothing(self) -> None:
        h = await make_harness()
        created = await h.create(spec(fire_at=at(100)))
        h.clock.set(at(5))

        updated = await h.kernel.update_timer(NS, "t1", TimerPatch())

        assert updated == created
        assert await h.get("t1") == created

    async def test_matching_expected_version_applies_the_patch(self) -> None:
        h = await make_harness()
        await h.create(spec())

        updated = await h.kernel.update_timer(
            NS, "t1", TimerPatch(payload=1), expected_version=1
        )

        assert updated.version == 2

    async def test_stale_expected_version_is_a_conflict(self) -> None:
        h = await make_harness()
        await h.create(spec())
        current = await h.kernel.update_timer(NS, "t1", TimerPatch(payload=1))

        with pytest.raises(VersionConflict) as caught:
            await h.kernel.update_timer(
                NS, "t1", TimerPatch(payload=2), expected_version=1
            )

        assert (caught.value.expected, caught.value.actual) == (1, 2)
        assert await h.get("t1") == current

    async def test_update_of_a_missing_timer_is_not_found(self) -> None:
        h = await make_harness()

        with pytest.raises(TimerNotFound):
            await h.kernel.update_timer(NS, "nope", TimerPatch(payload=1))

    async def test_update_is_told_to_listeners(self) -> None:
        h = await make_harness()
        await h.create(spec())
        events: list[TimerEventKind] = []
        h.kernel.add_listener(lambda event: events.append(event.kind))

        await h.kernel.update_timer(NS, "t1", TimerPatch())
        await h.kernel.update_timer(NS, "t1", TimerPatch(payload=1))

        assert events == [TimerEventKind.updated]


@pytest.mark.anyio
class TestDelete:
    async def test_deleted_timer_is_gone(self) -> None:
        h = await make_harness()
        await h.create(spec())

        await h.kernel.delete_timer(NS, "t1")

        with pytest.raises(TimerNotFound):
            await h.get("t1")

        with pytest.raises(TimerNotFound):
            await h.kernel.delete_timer(NS, "t1")

    async def test_stale_expected_version_keeps_the_timer(self) -> None:
        h = await make_harness()
        await h.create(spec())
        await h.kernel.update_timer(NS, "t1", TimerPatch(payload=1))

        with pytest.raises(VersionConflict):
            await h.kernel.delete_timer(NS, "t1", expected_version=1)

        assert (await h.get("t1")).version == 2

    async def test_deleted_id_can_be_created_again(self) -> None:
        h = await make_harness()
        await h.create(spec(payload="first"))
        await h.kernel.delete_timer(NS, "t1")

        result = await h.kernel.create_timer(NS, spec(payload="second"))

        assert result.created is True
        assert result.timer.payload == "second"


@pytest.mark.anyio
class TestRetention:
    async def test_finished_timers_past_retention_are_purged(self) -> None:
        h = await make_harness(kernel_settings=KernelSettings(retention_seconds=60.0))
        h.dispatcher.script("failed-old", SERVER_ERROR)
        once = RetryPolicy(max_attempts=1)
        async with running(h.runner):
            await h.create(spec("done-old", fire_at=at(1)))
            await h.create(spec("failed-old", fire_at=at(1), retry_policy=once))
            await h.create(spec("done-recent", fire_at=at(50)))
            await h.create(spec("pending", fire_at=at(10_000)))
            await h.step(55)

        h.clock.set(at(62))
        purged = await h.kernel.purge_finished()

        assert purged == 2
        for gone in ("done-old", "failed-old"):
            with pytest.raises(TimerNotFound):
                await h.get(gone)

        assert (await h.get("done-recent")).status is TimerStatus.succeeded
        assert (await h.get("pending")).status is TimerStatus.scheduled

    async def test_purged_id_is_free_for_a_new_timer(self) -> None:
        h = await make_harness(kernel_settings=KernelSettings(retention_seconds=60.0))
        async with running(h.runner):
            await h.create(spec(fire_at=at(1), payload="first"))
            await h.step(2)

        h.clock.set(at(100))
        await h.kernel.purge_finished()
        result = await h.kernel.create_timer(NS, spec(fire_at=at(200), payload="new"))

        assert result.created is True
        assert result.timer.payload == "new"
        assert result.timer.status is TimerStatus.scheduled

    async def test_timer_within_retention_is_kept(self) -> None:
        h = await make_harness(kernel_settings=KernelSettings(retention_seconds=60.0))
        async with running(h.runner):
            await h.create(spec(fire_at=at(1)))
            await h.step(2)

        h.clock.set(at(61))
        purged = await h.kernel.purge_finished()

        assert purged == 0
        assert (await h.get("t1")).status is TimerStatus.succeeded

    async def test_purge_goes_on_past_one_batch(self) -> None:
        h = await make_harness(kernel_settings=KernelSettings(retention_seconds=1.0))
        async with running(h.runner):
            await h.kernel.create_timers(
                NS, [spec(f"t{n}", fire_at=at(1)) for n in range(25)]
            )
            await h.step(2)

        h.clock.set(at(10))
        purged = await h.kernel.purge_finished(batch=10)

        assert purged == 25
        assert (await h.kernel.list_timers(NS, TimerQuery())).timers == []

    async def test_runner_purges_finished_timers_on_its_own(self) -> None:
        h = await make_harness(kernel_settings=KernelSettings(retention_seconds=30.0))
        async with running(h.runner):
            await h.create(spec(fire_at=at(1)))
            await h.step(59)
            kept = await h.get("t1")
            await h.step(2)
            with pytest.raises(TimerNotFound):
                await h.get("t1")

        assert kept.status is TimerStatus.succeeded


async def _page_through(
    h: Harness, query: TimerQuery, *, limit: int
) -> tuple[list[Timer], int]:
    query = attrs.evolve(query, limit=limit)
    timers: list[Timer] = []
    pages = 0
    token: str | None = None
    while True:
        page = await h.kernel.list_timers(NS, query, token)
        pages += 1
        timers.extend(page.timers)
        token = page.next_page_token
        if token is None:
            return timers, pages


def _token(raw: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


@pytest.mark.anyio
class TestList:
    async def test_pages_over_one_fire_time_return_each_timer_once_by_id(
        self,
    ) -> None:
        h = await make_harness()
        ids = [f"t{n:03d}" for n in range(95)]
        shuffled = random.Random(7).sample(ids, len(ids))
        await h.kernel.create_timers(NS, [spec(i, fire_at=at(50)) for i in shuffled])

        timers, pages = await _page_through(h, TimerQuery(), limit=10)

        assert [timer.id for timer in timers] == ids
        assert pages == 10

    async def test_pages_are_ordered_by_fire_time_then_id(self) -> None:
        h = await make_harness()
        definitions = [
            spec(f"{name}-{n}", fire_at=at(offset))
            for n, (name, offset) in enumerate(
                [("b", 5), ("a", 5), ("c", 1), ("a", 9), ("z", 1), ("m", 5)] * 4
            )
        ]
        await h.kernel.create_timers(NS, definitions)

        timers, _ = await _page_through(h, TimerQuery(), limit=4)

        assert [(t.fire_at, t.id) for t in timers] == sorted(
            (t.fire_at, t.id) for t in timers
        )
        assert len({t.id for t in timers}) == len(definitions)

    async def test_last_full_page_has_no_next_token(self) -> None:
        h = await make_harness()
        await h.kernel.create_timers(NS, [spec(f"t{n}") for n in range(10)])

        page = await h.kernel.list_timers(NS, TimerQuery(limit=10))

        assert len(page.timers) == 10
        assert page.next_page_token is None

    async def test_page_token_is_stable_under_concurrent_inserts(self) -> None:
        h = await make_harness()
        await h.kernel.create_timers(
            NS, [spec(f"t{n}", fire_at=at(10)) for n in range(4, 10)]
        )
        first = await h.kernel.list_timers(NS, TimerQuery(limit=3))
        await h.kernel.create_timers(
            NS, [spec("t0", fire_at=at(10)), spec("t99", fire_at=at(10))]
        )

        second = await h.kernel.list_timers(
            NS, TimerQuery(limit=10), first.next_page_token
        )

        assert [t.id for t in first.timers] == ["t4", "t5", "t6"]
        assert [t.id for t in second.timers] == ["t7", "t8", "t9", "t99"]

    async def test_filters_select_timers(self) -> None:
        h = await make_harness()
        async with running(h.runner):
            await h.kernel.create_timers(
                NS,
                [
                    spec("job-1", fire_at=at(1)),
                    spec("job-2", fire_at=at(100)),
                    spec("other", fire_at=at(200)),
                ],
            )
            await h.step(2)

        scheduled = await h.kernel.list_timers(
            NS, TimerQuery(statuses=frozenset({TimerStatus.scheduled}))
        )
        window = await h.kernel.list_timers(
            NS, TimerQuery(fire_after=at(1), fire_before=at(200))
        )
        prefixed = await h.kernel.list_timers(NS, TimerQuery(id_prefix="job-"))

        assert [t.id for t in scheduled.timers] == ["job-2", "other"]
        assert [t.id for t in window.timers] == ["job-1", "job-2"]
        assert [t.id for t in prefixed.timers] == ["job-1", "job-2"]

    @pytest.mark.parametrize(
        "other_query",
        [
            pytest.param(
                TimerQuery(statuses=frozenset({TimerStatus.failed})), id="status"
            ),
            pytest.param(TimerQuery(id_prefix="t1"), id="id-prefix"),
            pytest.param(TimerQuery(fire_after=at(0)), id="fire-after"),
            pytest.param(TimerQuery(fire_before=at(1000)), id="fire-before"),
        ],
    )
    async def test_page_token_of_another_filter_is_refused(
        self, other_query: TimerQuery
    ) -> None:
        h = await make_harness()
        await h.kernel.create_timers(NS, [spec(f"t{n}") for n in range(5)])
        page = await h.kernel.list_timers(NS, TimerQuery(limit=2))
        assert page.next_page_token is not None

        with pytest.raises(InvalidArgument) as caught:
            await h.kernel.list_timers(NS, other_query, page.next_page_token)

        assert [error.field for error in caught.value.fields] == ["page_token"]

    async def test_page_token_survives_a_change_of_limit(self) -> None:
        h = await make_harness()
        await h.kernel.create_timers(NS, [spec(f"t{n}") for n in range(5)])
        page = await h.kernel.list_timers(NS, TimerQuery(limit=2))

        rest = await h.kernel.list_timers(
            NS, TimerQuery(limit=50), page.next_page_token
        )

        assert [t.id for t in rest.timers] == ["t2", "t3", "t4"]

    @pytest.mark.parametrize(
        "token",
        [
            pytest.param("", id="empty"),
            pytest.param("garbage", id="garbage"),
            pytest.param("!!!***", id="not-base64"),
            pytest.param("é", id="not-ascii"),
            pytest.param(base64.urlsafe_b64encode(b"\xff\xfe").decode(), id="not-utf8"),
            pytest.param(_token("not a list"), id="json-string"),
            pytest.param(_token(5), id="json-number"),
            pytest.param(_token({"a": 1, "b": 2, "c": 3}), id="json-object"),
            pytest.param(_token([1, "t1"]), id="too-short"),
            pytest.param(_token(["1", "t1", "x"]), id="wrong-types"),
            pytest.param(_token([10**20, "t1", "x"]), id="time-out-of-range"),
        ],
    )
    async def test_malformed_page_token_is_refused(self, token: str) -> None:
        h = await make_harness()

        with pytest.raises(InvalidArgument) as caught:
            await h.kernel.list_timers(NS, TimerQuery(), token)

        assert [error.field for error in caught.value.fields] == ["page_token"]

    async def test_forged_token_with_the_right_fingerprint_but_huge_time_is_refused(
        self,
    ) -> None:
        h = await make_harness()
        await h.kernel.create_timers(NS, [spec(f"t{n}") for n in range(3)])
        page = await h.kernel.list_timers(NS, TimerQuery(limit=1))
        assert page.next_page_token is not None
        padded = page.next_page_token + "=" * (-len(page.next_page_token) % 4)
        _, _, fingerprint = json.loads(base64.urlsafe_b64decode(padded))

        with pytest.raises(InvalidArgument):
            await h.kernel.list_timers(
                NS, TimerQuery(limit=1), _token([10**20, "t1", fingerprint])
            )

    @pytest.mark.parametrize("limit", [0, -1])
    async def test_limit_below_one_is_refused(self, limit: int) -> None:
        h = await make_harness()
        await h.create(spec())

        with pytest.raises(InvalidArgument) as caught:
            await h.kernel.list_timers(NS, TimerQuery(limit=limit))

        assert [error.field for error in caught.value.fields] == ["limit"]
