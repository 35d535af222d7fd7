"""GET, PATCH and DELETE /api/v1/namespaces/{ns}/timers/{id}."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from blackbox import (
    DEFAULT_RETRY_POLICY,
    FAST_RETRY,
    Api,
    Receiver,
    Reply,
    bad_fields,
    error_of,
    etag_version,
    in_seconds,
    iso,
    parse_time,
    timer_body,
    utc_now,
)


class TestGet:
    def test_existing_timer_answers_200_with_etag(
        self, api: Api, receiver: Receiver
    ) -> None:
        created = api.created(timer_body("read-me", receiver.url(), payload=[1, 2]))

        response = api.get("read-me")

        assert response.status_code == 200
        assert response.json() == created
        assert etag_version(response) == created["version"]

    def test_unknown_timer_answers_404_not_found(self, api: Api) -> None:
        response = api.get("never-created")

        error_of(response, 404, "not_found")

    def test_timer_of_another_namespace_is_not_found(
        self, api: Api, receiver: Receiver
    ) -> None:
        api.created(timer_body("mine", receiver.url()))

        response = Api(api.client, api.ns + "-elsewhere").get("mine")

        error_of(response, 404, "not_found")


class TestUpdate:
    def test_payload_change_keeps_the_rest_and_bumps_the_version(
        self, api: Api, receiver: Receiver
    ) -> None:
        created = api.created(timer_body("upd", receiver.url(), payload={"v": 1}))
        time.sleep(0.01)

        response = api.patch("upd", {"payload": {"v": 2}})

        assert response.status_code == 200
        assert etag_version(response) == 2
        updated = response.json()
        assert updated["payload"] == {"v": 2}
        assert updated["version"] == 2
        assert parse_time(updated["updated_at"]) > parse_time(created["updated_at"])
        unchanged = {"payload", "version", "updated_at"}
        assert {k: v for k, v in updated.items() if k not in unchanged} == {
            k: v for k, v in created.items() if k not in unchanged
        }
        assert api.timer("upd") == updated

    def test_payload_can_be_set_to_null(self, api: Api, receiver: Receiver) -> None:
        api.created(timer_body("upd", receiver.url(), payload={"v": 1}))

        updated = api.patch("upd", {"payload": None}).json()

        assert updated["payload"] is None

    def test_new_fire_at_moves_the_next_attempt(
        self, api: Api, receiver: Receiver
    ) -> None:
        api.created(timer_body("move", receiver.url()))

        updated = api.patch("move", {"fire_at": "2033-03-03T05:00:00+05:00"}).json()

        assert updated["fire_at"] == "2033-03-03T00:00:00.000Z"
        assert updated["next_attempt_at"] == "2033-03-03T00:00:00.000Z"
        assert updated["status"] == "scheduled"

    def test_delay_seconds_sets_fire_at_from_now(
        self, api: Api, receiver: Receiver
    ) -> None:
        api.created(timer_body("move", receiver.url()))
        before = utc_now()

        updated = api.patch("move", {"delay_seconds": 42}).json()

        fire_at = parse_time(updated["fire_at"])
        assert before + timedelta(seconds=42) - timedelta(milliseconds=1) <= fire_at
        assert fire_at <= utc_now() + timedelta(seconds=42, milliseconds=1)

    def test_callback_is_replaced_whole(self, api: Api, receiver: Receiver) -> None:
        callback = {
            "url": receiver.url("/a"),
            "timeout_seconds": 3,
            "headers": {"X-A": "1"},
        }
        api.created(timer_body("cb", "", callback=callback))

        updated = api.patch("cb", {"callback": {"url": receiver.url("/b")}}).json()

        assert updated["callback"] == {
            "url": receiver.url("/b"),
            "timeout_seconds": 10,
            "headers": {},
        }

    def test_retry_policy_is_replaced_whole(self, api: Api, receiver: Receiver) -> None:
        policy = {"max_attempts": 3, "initial_interval_seconds": 0.5}
        api.created(timer_body("rp", receiver.url(), retry_policy=policy))

        updated = api.patch("rp", {"retry_policy": {"backoff_coefficient": 3}}).json()

        assert updated["retry_policy"] == dict(
            DEFAULT_RETRY_POLICY, backoff_coefficient=3
        )

    def test_every_change_bumps_the_version_by_one(
        self, api: Api, receiver: Receiver
    ) -> None:
        api.created(timer_body("count", receiver.url()))

        versions = [
            api.patch("count", {"payload": n}).json()["version"] for n in range(3)
        ]

        assert versions == [2, 3, 4]
        assert etag_version(api.get("count")) == 4

    @pytest.mark.parametrize(
        "form",
        [
            pytest.param("plain", id="plain-version"),
            pytest.param("etag", id="etag-echoed"),
        ],
    )
    def test_if_match_with_the_current_version_applies(
        self, api: Api, receiver: Receiver, form: str
    ) -> None:
        created = api.create(timer_body("cas", receiver.url()))
        tag = (
            created.headers["etag"]
            if form == "etag"
            else str(created.json()["version"])
        )

        response = api.patch("cas", {"payload": "won"}, headers={"If-Match": tag})

        assert response.status_code == 200
        assert response.json()["payload"] == "won"

    def test_if_match_with_another_version_answers_412(
        self, api: Api, receiver: Receiver
    ) -> None:
        api.created(timer_body("cas", receiver.url(), payload="first"))
        second = api.patch("cas", {"payload": "second"}).json()

        response = api.patch("cas", {"payload": "stale"}, headers={"If-Match": "1"})

        error_of(response, 412, "precondition_failed")
        assert api.timer("cas") == second

    def test_new_fire_at_rearms_a_succeeded_timer(
        self, api: Api, receiver: Receiver
    ) -> None:
        api.created(timer_body("again", receiver.url("/again"), fire_at=utc_now()))
        receiver.wait_for(1, "/again")
        done = api.wait_status("again", "succeeded")
        fire_at = iso(in_seconds(0.5))

        updated = api.patch("again", {"fire_at": fire_at}).json()

        assert updated["status"] == "scheduled"
        assert updated["attempts"] == 0
        assert updated["next_attempt_at"] == fire_at
        assert updated["version"] == done["version"] + 1
        second = receiver.wait_for(2, "/again")[1]
        assert second.json()["fire_at"] == fire_at
        assert second.headers["timer-attempt"] == "1"
        assert api.wait_status("again", "succeeded")["attempts"] == 1

    def test_new_fire_at_rearms_a_failed_timer(
        self, api: Api, receiver: Receiver
    ) -> None:
        receiver.script("/fails", Reply(status=500), then=Reply(status=200))
        policy = dict(FAST_RETRY, max_attempts=1)
        body = timer_body(
            "retry", receiver.url("/fails"), fire_at=utc_now(), retry_policy=policy
        )
        api.created(body)
        api.wait_status("retry", "failed")

        updated = api.patch("retry", {"delay_seconds": 0.2}).json()

        assert updated["status"] == "scheduled"
        assert updated["attempts"] == 0
        receiver.wait_for(2, "/fails")
        assert api.wait_status("retry", "succeeded")["attempts"] == 1

    def test_update_of_unknown_timer_answers_404(self, api: Api) -> None:
        response = api.patch("ghost", {"payload": 1})

        error_of(response, 404, "not_found")

    def test_id_cannot_be_changed(self, api: Api, receiver: Receiver) -> None:
        created = api.created(timer_body("fixed", receiver.url()))

        response = api.patch("fixed", {"id": "other"})

        assert "id" in bad_fields(response)
        assert api.timer("fixed") == created
        assert api.get("other").status_code == 404

    def test_update_that_lands_during_delivery_wins(
        self, api: Api, receiver: Receiver
    ) -> None:
        receiver.script("/slow", Reply(delay=1.0))
        api.created(timer_body("race", receiver.url("/slow"), fire_at=utc_now()))
        receiver.wait_for(1, "/slow")
        later = iso(in_seconds(3600))

        patched = api.patch("race", {"fire_at": later, "payload": "patched"})
        receiver.wait_answered(1, "/slow", timeout=5)
        time.sleep(0.5)

        assert patched.status_code == 200
        timer = api.timer("race")
        assert timer["status"] == "scheduled"
        assert timer["fire_at"] == later
        assert timer["next_attempt_at"] == later
        assert timer["payload"] == "patched"
        assert timer["attempts"] == 0


class TestDelete:
    def test_delete_answers_204_then_the_timer_is_gone(
        self, api: Api, receiver: Receiver
    ) -> None:
        api.created(timer_body("doomed", receiver.url()))

        response = api.delete("doomed")

        assert response.status_code == 204
        assert response.content == b""
        error_of(api.get("doomed"), 404, "not_found")
        error_of(api.delete("doomed"), 404, "not_found")

    def test_deleted_timer_never_fires(self, api: Api, receiver: Receiver) -> None:
        api.created(timer_body("doomed", receiver.url("/doomed"), delay_seconds=0.7))

        assert api.delete("doomed").status_code == 204
        time.sleep(1.7)

        assert receiver.requests("/doomed") == []

    def test_delete_of_unknown_timer_answers_404(self, api: Api) -> None:
        error_of(api.delete("ghost"), 404, "not_found")

    def test_finished_timer_can_be_deleted(self, api: Api, receiver: Receiver) -> None:
        api.created(timer_body("done", receiver.url(), fire_at=utc_now()))
        api.wait_status("done", "succeeded")

        response = api.delete("done")

        assert response.status_code == 204
        assert api.get("done").status_code == 404

    def test_id_of_deleted_timer_is_free_again(
        self, api: Api, receiver: Receiver
    ) -> None:
        api.created(timer_body("reuse", receiver.url(), payload=1))
        api.delete("reuse")

        response = api.create(timer_body("reuse", receiver.url(), payload=2))

        assert response.status_code == 201
        timer: dict[str, Any] = response.json()
        assert timer["payload"] == 2
        assert timer["version"] == 1
