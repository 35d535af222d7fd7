"""GET .../timers/{id}/attempts and GET /api/v1/namespaces."""

from __future__ import annotations

from blackbox import (
    ATTEMPT_FIELDS,
    FAST_RETRY,
    LAST_ERROR_FIELDS,
    Api,
    Receiver,
    Reply,
    error_of,
    namespace_counts,
    parse_time,
    timer_body,
    timer_path,
    utc_now,
)


class TestAttempts:
    def test_attempts_after_retries_come_newest_first(
        self, api: Api, receiver: Receiver
    ) -> None:
        receiver.script(
            "/flaky", Reply(status=500), Reply(status=503), Reply(status=200)
        )
        created = api.created(
            timer_body(
                "flaky",
                receiver.url("/flaky"),
                fire_at=utc_now(),
                retry_policy=FAST_RETRY,
            )
        )
        api.wait_status("flaky", "succeeded")

        attempts = api.attempts("flaky")

        assert [a["attempt"] for a in attempts] == [3, 2, 1]
        assert [a["outcome"] for a in attempts] == ["succeeded", "failed", "failed"]
        assert all(set(a) == ATTEMPT_FIELDS for a in attempts)
        assert all(a["fire_at"] == created["fire_at"] for a in attempts)
        started = [parse_time(a["started_at"]) for a in attempts]
        assert started[0] > started[1] > started[2] >= parse_time(created["fire_at"])
        assert all(
            isinstance(a["duration_ms"], int) and a["duration_ms"] >= 0
            for a in attempts
        )
        newest, second, first = attempts
        assert newest["error"] is None
        assert newest["status_code"] in (None, 200)
        assert (second["status_code"], first["status_code"]) == (503, 500)
        for failed, code in ((second, 503), (first, 500)):
            assert set(failed["error"]) == LAST_ERROR_FIELDS
            assert failed["error"]["kind"] == "http_status"
            assert failed["error"]["status_code"] == code
            parse_time(failed["error"]["at"])

    def test_timer_that_never_fired_has_no_attempts(
        self, api: Api, receiver: Receiver
    ) -> None:
        api.created(timer_body("idle", receiver.url()))

        assert api.attempts("idle") == []

    def test_attempts_of_unknown_timer_answer_404(self, api: Api) -> None:
        response = api.client.get(timer_path(api.ns, "ghost") + "/attempts")

        error_of(response, 404, "not_found")

    def test_rescheduled_attempt_is_recorded(
        self, api: Api, receiver: Receiver
    ) -> None:
        receiver.script(
            "/again", Reply(json={"next_delay_seconds": 0.2}), Reply(status=204)
        )
        first = api.created(
            timer_body("again", receiver.url("/again"), fire_at=utc_now())
        )
        receiver.wait_for(2, "/again")
        second = api.wait_status("again", "succeeded")

        attempts = api.attempts("again")

        assert [(a["attempt"], a["outcome"]) for a in attempts] == [
            (1, "succeeded"),
            (1, "rescheduled"),
        ]
        assert attempts[0]["fire_at"] == second["fire_at"]
        assert attempts[1]["fire_at"] == first["fire_at"]
        assert attempts[1]["error"] is None

    def test_at_least_the_last_ten_attempts_are_kept(
        self, api: Api, receiver: Receiver
    ) -> None:
        receiver.script("/down", Reply(status=500))
        policy = {
            "max_attempts": 12,
            "initial_interval_seconds": 0.05,
            "backoff_coefficient": 1,
        }
        api.created(
            timer_body(
                "many", receiver.url("/down"), fire_at=utc_now(), retry_policy=policy
            )
        )
        api.wait_status("many", "failed", timeout=20)

        attempts = api.attempts("many")

        assert len(attempts) >= 10
        numbers = [a["attempt"] for a in attempts]
        assert numbers == list(range(12, 12 - len(numbers), -1))
        assert {a["outcome"] for a in attempts} == {"failed"}


class TestNamespaces:
    def test_namespace_appears_on_first_use_with_counts_by_status(
        self, api: Api, receiver: Receiver
    ) -> None:
        assert namespace_counts(api.client, api.ns) is None
        receiver.script("/no", Reply(status=500))
        now = utc_now()
        api.created(timer_body("s1", receiver.url()))
        api.created(timer_body("s2", receiver.url()))
        api.created(timer_body("ok", receiver.url("/ok"), fire_at=now))
        policy = dict(FAST_RETRY, max_attempts=1)
        api.created(
            timer_body("no", receiver.url("/no"), fire_at=now, retry_policy=policy)
        )
        api.wait_status("ok", "succeeded")
        api.wait_status("no", "failed")

        counts = namespace_counts(api.client, api.ns)

        assert counts == {"scheduled": 2, "succeeded": 1, "failed": 1}

    def test_counts_follow_deletes(self, api: Api, receiver: Receiver) -> None:
        api.created(timer_body("s1", receiver.url()))
        api.created(timer_body("s2", receiver.url()))

        api.delete("s1")

        assert namespace_counts(api.client, api.ns) == {
            "scheduled": 1,
            "succeeded": 0,
            "failed": 0,
        }

    def test_every_entry_has_a_name_and_three_counts(
        self, api: Api, receiver: Receiver
    ) -> None:
        api.created(timer_body("any", receiver.url()))

        response = api.client.get("/api/v1/namespaces")

        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"namespaces"}
        names = [entry["name"] for entry in body["namespaces"]]
        assert api.ns in names
        assert len(names) == len(set(names))
        for entry in body["namespaces"]:
            assert set(entry) == {"name", "counts"}
            assert set(entry["counts"]) == {"scheduled", "succeeded", "failed"}
            assert all(isinstance(n, int) and n >= 0 for n in entry["counts"].values())
