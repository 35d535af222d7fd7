"""GET /api/v1/namespaces/{ns}/timers: order, filters, limits and page tokens."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from blackbox import (
    FAST_RETRY,
    TIMER_FIELDS,
    Api,
    Receiver,
    Reply,
    bad_fields,
    iso,
    timer_body,
    utc_now,
)

BASE = datetime.fromisoformat("2031-06-01T00:00:00+00:00")


def at_minute(minute: int) -> str:
    return iso(BASE + timedelta(minutes=minute))


def ids(timers: list[dict[str, Any]]) -> list[str]:
    return [timer["id"] for timer in timers]


def create_at_minutes(api: Api, url: str, minutes: dict[str, int]) -> None:
    items = [timer_body(name, url, fire_at=at_minute(m)) for name, m in minutes.items()]
    results = api.batch(items).json()["results"]
    assert [r["status"] for r in results] == [201] * len(items), results


class TestListOrder:
    def test_timers_come_ordered_by_fire_at_then_id(
        self, api: Api, receiver: Receiver
    ) -> None:
        create_at_minutes(
            api,
            receiver.url(),
            {"e": 3, "c": 1, "d": 2, "a": 1, "b": 1, "f": 0, "g": 2},
        )

        response = api.list_timers()

        assert response.status_code == 200
        page = response.json()
        assert set(page) == {"timers", "next_page_token"}
        assert ids(page["timers"]) == ["f", "a", "b", "c", "d", "g", "e"]
        assert page["next_page_token"] is None
        assert all(set(timer) == TIMER_FIELDS for timer in page["timers"])

    def test_empty_namespace_lists_nothing(self, api: Api) -> None:
        response = api.list_timers()

        assert response.status_code == 200
        assert response.json() == {"timers": [], "next_page_token": None}


class TestListFilters:
    @pytest.fixture
    def mixed(self, api: Api, receiver: Receiver) -> None:
        """Two scheduled timers, one succeeded, one failed."""
        receiver.script("/fail", Reply(status=500))
        now = utc_now()
        api.created(timer_body("ok", receiver.url("/ok"), fire_at=now))
        api.created(
            timer_body(
                "bad",
                receiver.url("/fail"),
                fire_at=now,
                retry_policy=dict(FAST_RETRY, max_attempts=1),
            )
        )
        api.created(timer_body("later-1", receiver.url()))
        api.created(timer_body("later-2", receiver.url()))
        api.wait_status("ok", "succeeded")
        api.wait_status("bad", "failed")

    @pytest.mark.usefixtures("mixed")
    @pytest.mark.parametrize(
        ("statuses", "expected"),
        [
            pytest.param(["scheduled"], {"later-1", "later-2"}, id="scheduled"),
            pytest.param(["succeeded"], {"ok"}, id="succeeded"),
            pytest.param(["failed"], {"bad"}, id="failed"),
            pytest.param(["succeeded", "failed"], {"ok", "bad"}, id="repeated"),
            pytest.param(
                ["scheduled", "succeeded", "failed"],
                {"ok", "bad", "later-1", "later-2"},
                id="all-three",
            ),
        ],
    )
    def test_status_filter_is_repeatable(
        self, api: Api, statuses: list[str], expected: set[str]
    ) -> None:
        response = api.list_timers(status=statuses)

        assert response.status_code == 200
        timers = response.json()["timers"]
        assert set(ids(timers)) == expected
        assert {t["status"] for t in timers} <= set(statuses)

    def test_unknown_query_parameter_is_refused(self, api: Api) -> None:
        response = api.list_timers(colour="blue")

        assert "colour" in bad_fields(response)

    def test_unknown_status_is_refused(self, api: Api) -> None:
        response = api.list_timers(status=["scheduled", "sleeping"])

        assert "status" in bad_fields(response)

    def test_fire_after_and_fire_before_bound_the_fire_time(
        self, api: Api, receiver: Receiver
    ) -> None:
        create_at_minutes(
            api, receiver.url(), {"m0": 0, "m10": 10, "m20": 20, "m30": 30}
        )

        between = api.list_timers(fire_after=at_minute(5), fire_before=at_minute(25))
        after = api.list_timers(fire_after=at_minute(15))
        before = api.list_timers(fire_before=iso(BASE + timedelta(minutes=15)))

        assert ids(between.json()["timers"]) == ["m10", "m20"]
        assert ids(after.json()["timers"]) == ["m20", "m30"]
        assert ids(before.json()["timers"]) == ["m0", "m10"]

    def test_time_filters_take_any_offset(self, api: Api, receiver: Receiver) -> None:
        create_at_minutes(api, receiver.url(), {"m0": 0, "m10": 10, "m20": 20})

        response = api.list_timers(fire_after="2031-06-01T02:05:00+02:00")

        assert ids(response.json()["timers"]) == ["m10", "m20"]

    @pytest.mark.parametrize(
        "name",
        [
            pytest.param("fire_after", id="after"),
            pytest.param("fire_before", id="before"),
        ],
    )
    @pytest.mark.parametrize(
        "value",
        [
            pytest.param("yesterday", id="word"),
            pytest.param("2031-06-01T00:00:00", id="no-offset"),
            pytest.param("2031-02-30T00:00:00Z", id="no-such-day"),
        ],
    )
    def test_bad_time_filter_is_refused(self, api: Api, name: str, value: str) -> None:
        response = api.list_timers(**{name: value})

        assert name in bad_fields(response)

    def test_id_prefix_matches_the_start_of_the_id(
        self, api: Api, receiver: Receiver
    ) -> None:
        create_at_minutes(
            api,
            receiver.url(),
            {"alpha-1": 1, "alpha-2": 2, "alphabet": 3, "beta": 4, "a.b": 5, "axb": 6},
        )

        def listed(prefix: str) -> list[str]:
            response = api.list_timers(id_prefix=prefix)
            assert response.status_code == 200, response.text
            return ids(response.json()["timers"])

        assert listed("alpha-") == ["alpha-1", "alpha-2"]
        assert listed("alpha") == ["alpha-1", "alpha-2", "alphabet"]
        assert listed("a.") == ["a.b"]
        assert listed("gamma") == []

    @pytest.mark.parametrize(
        "prefix",
        [pytest.param("%", id="percent"), pytest.param("a_", id="underscore")],
    )
    def test_id_prefix_is_literal_not_a_pattern(
        self, api: Api, receiver: Receiver, prefix: str
    ) -> None:
        create_at_minutes(api, receiver.url(), {"ab": 1, "abc": 2})

        response = api.list_timers(id_prefix=prefix)

        assert response.status_code in (200, 400), response.text
        if response.status_code == 200:
            assert response.json()["timers"] == []

    def test_filters_combine(self, api: Api, receiver: Receiver) -> None:
        create_at_minutes(
            api, receiver.url(), {"x-1": 1, "x-2": 20, "y-1": 2, "x-3": 3}
        )

        response = api.list_timers(
            id_prefix="x-", fire_before=at_minute(10), status="scheduled"
        )

        assert ids(response.json()["timers"]) == ["x-1", "x-3"]


class TestListPages:
    def test_default_limit_is_fifty(self, api: Api, receiver: Receiver) -> None:
        create_at_minutes(api, receiver.url(), {f"t{i:02d}": i for i in range(55)})

        page = api.list_timers().json()

        assert len(page["timers"]) == 50
        assert isinstance(page["next_page_token"], str)
        assert page["next_page_token"]

    @pytest.mark.parametrize(
        "limit", [pytest.param(1, id="one"), pytest.param(1000, id="max")]
    )
    def test_limit_bounds_are_accepted(
        self, api: Api, receiver: Receiver, limit: int
    ) -> None:
        create_at_minutes(api, receiver.url(), {"a": 1, "b": 2})

        response = api.list_timers(limit=limit)

        assert response.status_code == 200
        assert len(response.json()["timers"]) == min(limit, 2)

    @pytest.mark.parametrize(
        "limit",
        [
            pytest.param("0", id="zero"),
            pytest.param("1001", id="over-max"),
            pytest.param("-1", id="negative"),
            pytest.param("ten", id="word"),
            pytest.param("2.5", id="fraction"),
            pytest.param("99999999999999999999999", id="huge"),
        ],
    )
    def test_limit_out_of_range_is_refused(self, api: Api, limit: str) -> None:
        response = api.list_timers(limit=limit)

        assert "limit" in bad_fields(response)

    def test_pages_visit_each_timer_exactly_once(
        self, api: Api, receiver: Receiver
    ) -> None:
        minutes = {f"p{i:02d}": i // 3 for i in range(23)}
        create_at_minutes(api, receiver.url(), minutes)
        expected = sorted(minutes, key=lambda name: (minutes[name], name))

        seen: list[str] = []
        sizes: list[int] = []
        token: str | None = None
        for _ in range(10):
            params: dict[str, Any] = {"limit": 5}
            if token is not None:
                params["page_token"] = token

            page = api.list_timers(**params).json()
            seen.extend(ids(page["timers"]))
            sizes.append(len(page["timers"]))
            token = page["next_page_token"]
            if token is None:
                break

        assert seen == expected
        assert sizes == [5, 5, 5, 5, 3]
        assert token is None

    def test_page_tokens_are_stable_under_concurrent_inserts(
        self, api: Api, receiver: Receiver
    ) -> None:
        originals = {f"o{i:02d}": 10 + i for i in range(20)}
        create_at_minutes(api, receiver.url(), originals)

        seen: list[str] = []
        inserted_after: list[str] = []
        token: str | None = None
        for page_number in range(20):
            params: dict[str, Any] = {"limit": 4}
            if token is not None:
                params["page_token"] = token

            page = api.list_timers(**params).json()
            seen.extend(ids(page["timers"]))
            token = page["next_page_token"]
            if token is None:
                break

            # One insert sorts before every page already read, one after them all.
            create_at_minutes(
                api,
                receiver.url(),
                {
                    f"before-{page_number:02d}": -page_number,
                    f"after-{page_number:02d}": 100,
                },
            )
            inserted_after.append(f"after-{page_number:02d}")

        counts = Counter(seen)
        assert token is None
        assert [name for name, n in counts.items() if n > 1] == []
        assert all(counts[name] == 1 for name in originals)
        assert all(counts[name] == 1 for name in inserted_after)
        assert not any(name.startswith("before-") for name in seen)

    def test_filters_hold_across_pages(self, api: Api, receiver: Receiver) -> None:
        create_at_minutes(
            api, receiver.url(), {f"k-{i}": i for i in range(7)} | {"z": 3}
        )

        collected = api.all_timers(id_prefix="k-", limit=2)

        assert ids(collected) == [f"k-{i}" for i in range(7)]

    @pytest.mark.parametrize(
        "token",
        [
            pytest.param("garbage", id="word"),
            pytest.param("%%%", id="symbols"),
            pytest.param("eyJ4IjoxfQ", id="base64-json"),
            pytest.param("AAAA", id="base64-zeros"),
            pytest.param("x" * 5000, id="long"),
        ],
    )
    def test_bad_page_token_is_refused(
        self, api: Api, receiver: Receiver, token: str
    ) -> None:
        create_at_minutes(api, receiver.url(), {"a": 1})

        response = api.list_timers(page_token=token)

        assert "page_token" in bad_fields(response)
