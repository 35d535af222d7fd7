"""POST /api/v1/namespaces/{ns}/timers:batchCreate."""

from __future__ import annotations

from typing import Any

import pytest

from blackbox import (
    TIMER_FIELDS,
    Api,
    Receiver,
    bad_fields,
    error_of,
    namespace_counts,
    timer_body,
    timers_path,
)


def item_error(result: dict[str, Any], status: int, code: str) -> dict[str, Any]:
    assert result["status"] == status, result
    assert "timer" not in result, result
    error: dict[str, Any] = result["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], dict)
    return error


class TestBatchCreate:
    def test_results_come_in_request_order_with_a_status_each(
        self, api: Api, receiver: Receiver
    ) -> None:
        fire_at = "2031-01-01T00:00:00.000Z"
        same = timer_body("existing", receiver.url(), fire_at=fire_at, payload="same")
        existing = api.created(same)
        items = [
            timer_body("new-1", receiver.url(), payload=1),
            same,
            dict(same, payload="different"),
            timer_body("bad id!", receiver.url()),
            timer_body("new-2", receiver.url(), payload=2),
        ]

        response = api.batch(items)

        assert response.status_code == 200
        results = response.json()["results"]
        assert [r["status"] for r in results] == [201, 200, 409, 400, 201]
        assert results[0]["timer"]["id"] == "new-1"
        assert set(results[0]["timer"]) == TIMER_FIELDS
        assert results[1]["timer"] == existing
        conflict = item_error(results[2], 409, "already_exists")
        assert conflict["details"]["existing"] == existing
        invalid = item_error(results[3], 400, "invalid_argument")
        assert [f["field"] for f in invalid["details"]["fields"]] == ["id"]
        assert results[4]["timer"]["payload"] == 2

    def test_repeated_id_within_one_batch_is_judged_in_order(
        self, api: Api, receiver: Receiver
    ) -> None:
        same = timer_body("twice", receiver.url(), fire_at="2031-01-01T00:00:00.000Z")
        items = [same, same, dict(same, payload="other")]

        results = api.batch(items).json()["results"]

        assert [r["status"] for r in results] == [201, 200, 409]
        assert results[1]["timer"] == results[0]["timer"]
        assert results[2]["error"]["details"]["existing"] == results[0]["timer"]

    def test_batch_is_not_atomic(self, api: Api, receiver: Receiver) -> None:
        items = [
            timer_body("kept-1", receiver.url()),
            {"id": "broken", "callback": {"url": receiver.url()}},
            timer_body("kept-2", receiver.url()),
        ]

        response = api.batch(items)

        assert [r["status"] for r in response.json()["results"]] == [201, 400, 201]
        assert api.get("kept-1").status_code == 200
        assert api.get("kept-2").status_code == 200
        assert api.get("broken").status_code == 404

    def test_each_item_is_judged_like_a_single_create(
        self, api: Api, receiver: Receiver
    ) -> None:
        items: list[Any] = [
            "not an object",
            {"id": "x", "delay_seconds": -1, "callback": {"url": "ftp://host/"}},
            timer_body("y", receiver.url(), unknown=1),
        ]

        results = api.batch(items).json()["results"]

        assert [r["status"] for r in results] == [400, 400, 400]
        second = {f["field"] for f in results[1]["error"]["details"]["fields"]}
        assert {"delay_seconds", "callback.url"} <= second
        third = {f["field"] for f in results[2]["error"]["details"]["fields"]}
        assert third == {"unknown"}
        assert api.all_timers() == []

    def test_a_thousand_items_are_accepted(self, api: Api, receiver: Receiver) -> None:
        items = [timer_body(f"bulk-{i:04d}", receiver.url()) for i in range(1000)]

        response = api.batch(items)

        assert response.status_code == 200
        results = response.json()["results"]
        assert len(results) == 1000
        assert all(r["status"] == 201 for r in results)
        assert [r["timer"]["id"] for r in results] == [item["id"] for item in items]
        assert namespace_counts(api.client, api.ns) == {
            "scheduled": 1000,
            "succeeded": 0,
            "failed": 0,
        }

    def test_a_thousand_and_one_items_are_refused_whole(
        self, api: Api, receiver: Receiver
    ) -> None:
        items = [timer_body(f"over-{i:04d}", receiver.url()) for i in range(1001)]

        response = api.batch(items)

        assert "timers" in bad_fields(response)
        assert api.get("over-0000").status_code == 404

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param({"timers": []}, id="empty-list"),
            pytest.param({}, id="no-timers"),
            pytest.param({"timers": None}, id="null"),
            pytest.param({"timers": {"id": "a"}}, id="object"),
            pytest.param({"timers": "abc"}, id="string"),
            pytest.param([], id="bare-list"),
        ],
    )
    def test_a_batch_without_a_list_of_timers_is_refused(
        self, api: Api, body: Any
    ) -> None:
        response = api.client.post(timers_path(api.ns) + ":batchCreate", json=body)

        error_of(response, 400, "invalid_argument")
        assert api.all_timers() == []

    def test_unknown_top_level_field_is_refused(
        self, api: Api, receiver: Receiver
    ) -> None:
        body = {"timers": [timer_body("a", receiver.url())], "atomic": True}

        response = api.client.post(timers_path(api.ns) + ":batchCreate", json=body)

        assert "atomic" in bad_fields(response)
        assert api.get("a").status_code == 404

    def test_repeated_batch_answers_200_for_every_item(
        self, api: Api, receiver: Receiver
    ) -> None:
        items = [
            timer_body(f"r-{i}", receiver.url(), delay_seconds=600) for i in range(5)
        ]
        first = api.batch(items).json()["results"]

        second = api.batch(items).json()["results"]

        assert [r["status"] for r in first] == [201] * 5
        assert [r["status"] for r in second] == [200] * 5
        assert [r["timer"] for r in second] == [r["timer"] for r in first]
