"""The contract's error table: each status, its code, and the shared error body."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from blackbox import (
    SMALL_BODY_LIMIT,
    SMALL_PAYLOAD_LIMIT,
    Api,
    Receiver,
    ServerProcess,
    bad_fields,
    error_of,
    timer_body,
    timer_path,
    timers_path,
)

DEFAULT_PAYLOAD_LIMIT = 65536
DEFAULT_BODY_LIMIT = 8 * 1024 * 1024


def string_payload_of(size: int) -> str:
    """A string payload whose compact JSON form is *size* bytes."""
    return "x" * (size - 2)


class TestInvalidArgument:
    def test_every_bad_field_is_named_with_a_reason(self, api: Api) -> None:
        body = {
            "id": "no spaces allowed",
            "delay_seconds": -1,
            "callback": {"url": "/relative", "timeout_seconds": 0},
            "retry_policy": {"max_attempts": -1, "backoff_coefficient": 0.5},
            "colour": "blue",
        }

        fields = bad_fields(api.create(body))

        assert set(fields) == {
            "id",
            "delay_seconds",
            "callback.url",
            "callback.timeout_seconds",
            "retry_policy.max_attempts",
            "retry_policy.backoff_coefficient",
            "colour",
        }
        assert api.all_timers() == []


class TestNotFound:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            pytest.param("GET", "/nope", id="top-level"),
            pytest.param("GET", "/api/v1/nope", id="under-v1"),
            pytest.param("GET", "/api/v2/namespaces", id="other-major-version"),
            pytest.param(
                "GET", "/api/v1/namespaces/ns/widgets", id="unknown-collection"
            ),
            pytest.param(
                "POST", "/api/v1/namespaces/ns/timers:batchDelete", id="unknown-verb"
            ),
            pytest.param("GET", "/api/v1/namespaces/ns/timers/t/extra", id="too-deep"),
            pytest.param("DELETE", "/api/v1/namespaces", id="no-such-delete"),
        ],
    )
    def test_unknown_route_answers_404_not_found(
        self, client: httpx.Client, method: str, path: str
    ) -> None:
        response = client.request(method, path)

        assert response.status_code in (404, 405), response.text
        if response.status_code == 404:
            error_of(response, 404, "not_found")
        else:
            error_of(response, 405, response.json()["error"]["code"])

    @pytest.mark.parametrize(
        ("method", "suffix"),
        [
            pytest.param("GET", "", id="get"),
            pytest.param("PATCH", "", id="patch"),
            pytest.param("DELETE", "", id="delete"),
            pytest.param("GET", "/attempts", id="attempts"),
        ],
    )
    def test_unknown_timer_answers_404_not_found(
        self, api: Api, method: str, suffix: str
    ) -> None:
        body: Any = {"payload": 1} if method == "PATCH" else None

        response = api.client.request(
            method, timer_path(api.ns, "ghost") + suffix, json=body
        )

        error_of(response, 404, "not_found")

    def test_wrong_method_on_a_known_route_is_a_client_error(self, api: Api) -> None:
        response = api.client.put(timer_path(api.ns, "x"), json={})

        assert response.status_code in (404, 405), response.text
        error_of(response, response.status_code, response.json()["error"]["code"])


class TestConflictAndPrecondition:
    def test_create_over_a_different_timer_answers_409(
        self, api: Api, receiver: Receiver
    ) -> None:
        existing = api.created(timer_body("dup", receiver.url(), payload=1))

        response = api.create(timer_body("dup", receiver.url(), payload=2))

        error = error_of(response, 409, "already_exists")
        assert error["details"]["existing"] == existing

    def test_stale_if_match_answers_412(self, api: Api, receiver: Receiver) -> None:
        api.created(timer_body("cas", receiver.url()))

        response = api.patch("cas", {"payload": 1}, headers={"If-Match": "7"})

        error_of(response, 412, "precondition_failed")
        assert api.timer("cas")["version"] == 1


class TestPayloadTooLarge:
    def test_payload_at_the_default_limit_is_accepted(
        self, api: Api, receiver: Receiver
    ) -> None:
        body = timer_body(
            "edge", receiver.url(), payload=string_payload_of(DEFAULT_PAYLOAD_LIMIT)
        )

        assert api.create(body).status_code == 201

    def test_payload_over_the_default_limit_answers_413(
        self, api: Api, receiver: Receiver
    ) -> None:
        payload = string_payload_of(DEFAULT_PAYLOAD_LIMIT + 1)

        response = api.create(timer_body("big", receiver.url(), payload=payload))

        error_of(response, 413, "payload_too_large")
        assert api.get("big").status_code == 404

    def test_payload_over_the_limit_in_an_update_answers_413(
        self, api: Api, receiver: Receiver
    ) -> None:
        created = api.created(timer_body("grow", receiver.url(), payload="small"))

        response = api.patch(
            "grow", {"payload": string_payload_of(DEFAULT_PAYLOAD_LIMIT + 1)}
        )

        error_of(response, 413, "payload_too_large")
        assert api.timer("grow") == created

    def test_payload_over_the_limit_in_a_batch_is_refused_for_that_item(
        self, api: Api, receiver: Receiver
    ) -> None:
        items = [
            timer_body("fine", receiver.url()),
            timer_body(
                "big",
                receiver.url(),
                payload=string_payload_of(DEFAULT_PAYLOAD_LIMIT + 1),
            ),
        ]

        results = api.batch(items).json()["results"]

        assert results[0]["status"] == 201
        assert results[1]["status"] in (400, 413)
        assert results[1]["error"]["code"] in ("invalid_argument", "payload_too_large")
        assert api.get("big").status_code == 404

    def test_configured_payload_limit_is_enforced(
        self, limited_server: ServerProcess, receiver: Receiver, ns: str
    ) -> None:
        with limited_server.client() as client:
            api = Api(client, ns)
            at_limit = timer_body(
                "edge", receiver.url(), payload=string_payload_of(SMALL_PAYLOAD_LIMIT)
            )
            over = timer_body(
                "over",
                receiver.url(),
                payload=string_payload_of(SMALL_PAYLOAD_LIMIT + 1),
            )

            accepted = api.create(at_limit)
            refused = api.create(over)

            assert accepted.status_code == 201
            error_of(refused, 413, "payload_too_large")
            assert api.get("over").status_code == 404

    def test_body_over_a_configured_limit_answers_413(
        self, limited_server: ServerProcess, receiver: Receiver, ns: str
    ) -> None:
        # Whitespace pads the body past its limit while the payload stays empty.
        raw = json.dumps(timer_body("huge", receiver.url())).encode()
        padded = raw[:-1] + b" " * (SMALL_BODY_LIMIT + 1024 - len(raw)) + b"}"

        with limited_server.client() as client:
            response = client.post(
                timers_path(ns),
                content=padded,
                headers={"Content-Type": "application/json"},
            )

            error_of(response, 413, "payload_too_large")
            assert Api(client, ns).get("huge").status_code == 404

    def test_body_over_the_default_limit_answers_413(
        self, api: Api, receiver: Receiver
    ) -> None:
        raw = json.dumps(timer_body("huge", receiver.url())).encode()
        padded = raw[:-1] + b" " * (DEFAULT_BODY_LIMIT + 1 - len(raw)) + b"}"

        response = api.client.post(
            timers_path(api.ns),
            content=padded,
            headers={"Content-Type": "application/json"},
        )

        error_of(response, 413, "payload_too_large")
        assert api.get("huge").status_code == 404


class TestAuthentication:
    def test_requests_without_a_token_are_served_when_no_keys_are_set(
        self, client: httpx.Client
    ) -> None:
        # No API keys are configured on the shared server: authentication
        # is off, so neither 401 nor 403 can occur, and the document says so.
        document = client.get("/api/v1/openapi.json").json()

        response = client.get("/api/v1/namespaces")

        assert "securitySchemes" not in document.get("components", {})
        assert response.status_code == 200


class TestMethodNotAllowed:
    @pytest.mark.parametrize(
        ("path", "allowed"),
        [
            pytest.param(
                "/api/v1/namespaces/ns/timers/t",
                {"DELETE", "GET", "HEAD", "PATCH"},
                id="timer",
            ),
            pytest.param(
                "/api/v1/namespaces/ns/timers", {"GET", "HEAD", "POST"}, id="timers"
            ),
        ],
    )
    def test_allow_names_every_method_of_the_path(
        self, client: httpx.Client, path: str, allowed: set[str]
    ) -> None:
        response = client.put(path, json={})

        error_of(response, 405, "method_not_allowed")
        assert set(response.headers["allow"].split(", ")) == allowed
