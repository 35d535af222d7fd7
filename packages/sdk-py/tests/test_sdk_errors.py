"""Every error answer becomes its error type, with all it said (both clients)."""

from __future__ import annotations

from typing import Any

import pytest

from sdk_api import Api
from sdk_stub import Reply, StubServer, error_reply, json_reply, timer_json
from timerclient import (
    AlreadyExists,
    ApiError,
    FieldViolation,
    Internal,
    InvalidArgument,
    InvalidResponse,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    PreconditionFailed,
    RetrySettings,
    TimerClientError,
    Unauthenticated,
    Unavailable,
)

pytestmark = pytest.mark.anyio

CONTRACT_ERRORS = [
    pytest.param(400, "invalid_argument", InvalidArgument, id="invalid_argument"),
    pytest.param(401, "unauthenticated", Unauthenticated, id="unauthenticated"),
    pytest.param(403, "permission_denied", PermissionDenied, id="permission_denied"),
    pytest.param(404, "not_found", NotFound, id="not_found"),
    pytest.param(409, "already_exists", AlreadyExists, id="already_exists"),
    pytest.param(
        412, "precondition_failed", PreconditionFailed, id="precondition_failed"
    ),
    pytest.param(413, "payload_too_large", PayloadTooLarge, id="payload_too_large"),
    pytest.param(500, "internal", Internal, id="internal"),
    pytest.param(503, "unavailable", Unavailable, id="unavailable"),
]


@pytest.mark.parametrize(("status", "code", "error_type"), CONTRACT_ERRORS)
async def test_each_contract_code_raises_its_type(
    api: Api,
    stub: StubServer,
    status: int,
    code: str,
    error_type: type[ApiError],
) -> None:
    details = {"namespace": "shop", "id": "cart-7", "extra": [1, 2]}
    stub.add(
        *[error_reply(status, code, f"the {code} message", details)]
        * (1 + RetrySettings().max_retries)
    )

    with pytest.raises(error_type) as caught:
        await api.get_timer("shop", "cart-7")

    error = caught.value
    assert type(error) is error_type
    assert isinstance(error, ApiError)
    assert isinstance(error, TimerClientError)
    assert error.status == status
    assert error.code == code
    assert error.message == f"the {code} message"
    assert error.details == details
    assert f"{status} {code}" in str(error)


def test_built_in_families_fit() -> None:
    assert issubclass(NotFound, LookupError)
    assert issubclass(InvalidArgument, ValueError)


async def test_invalid_argument_lists_the_fields(api: Api, stub: StubServer) -> None:
    fields = [
        {"field": "callback.timeout_seconds", "reason": "must be 0.1 to 300"},
        {"field": "fire_at", "reason": "is required"},
    ]
    stub.add(
        error_reply(400, "invalid_argument", "invalid request", {"fields": fields})
    )

    with pytest.raises(InvalidArgument) as caught:
        await api.create_timer(
            "shop", "x", callback="https://a.example", delay_seconds=1
        )

    assert caught.value.fields == [
        FieldViolation("callback.timeout_seconds", "must be 0.1 to 300"),
        FieldViolation("fire_at", "is required"),
    ]


def test_other_errors_have_no_fields() -> None:
    error = ApiError(404, "not_found", "no", {"fields": "not a list"})

    assert error.fields == []


async def test_already_exists_carries_the_existing_timer(
    api: Api, stub: StubServer
) -> None:
    existing = timer_json(id="cart-7", payload={"cart": 8}, version=5)
    stub.add(error_reply(409, "already_exists", "exists", {"existing": existing}))

    with pytest.raises(AlreadyExists) as caught:
        await api.create_timer(
            "shop", "cart-7", callback="https://a.example", delay_seconds=1
        )

    timer = caught.value.existing
    assert timer is not None
    assert (timer.id, timer.payload, timer.version) == ("cart-7", {"cart": 8}, 5)


async def test_already_exists_without_details_has_no_timer(
    api: Api, stub: StubServer
) -> None:
    stub.add(error_reply(409, "already_exists", "exists"))

    with pytest.raises(AlreadyExists) as caught:
        await api.create_timer(
            "shop", "c", callback="https://a.example", delay_seconds=1
        )

    assert caught.value.existing is None


@pytest.mark.parametrize(
    ("reply", "error_type", "code"),
    [
        pytest.param(
            error_reply(405, "method_not_allowed", "no"),
            ApiError,
            "method_not_allowed",
            id="code-unknown-to-the-client",
        ),
        pytest.param(
            Reply(502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"}),
            ApiError,
            "unknown",
            id="proxy-page",
        ),
        pytest.param(
            Reply(404, b"not here", {"Content-Type": "text/plain"}),
            NotFound,
            "not_found",
            id="plain-text-404",
        ),
        pytest.param(
            json_reply(400, ["not", "an", "error"]),
            InvalidArgument,
            "invalid_argument",
            id="other-json",
        ),
    ],
)
async def test_answers_outside_the_contract_still_give_an_api_error(
    api: Api, stub: StubServer, reply: Reply, error_type: type[ApiError], code: str
) -> None:
    stub.add(reply)

    with pytest.raises(ApiError) as caught:
        await api.get_timer("shop", "x")

    assert type(caught.value) is error_type
    assert caught.value.status == reply.status
    assert caught.value.code == code


async def test_a_proxy_page_keeps_its_text_as_message(
    api: Api, stub: StubServer
) -> None:
    stub.add(Reply(502, b"Bad Gateway from the proxy", {"Content-Type": "text/plain"}))

    with pytest.raises(ApiError) as caught:
        await api.get_timer("shop", "x")

    assert caught.value.message == "Bad Gateway from the proxy"


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(200, b"<html>hello</html>"), id="not-json"),
        pytest.param(json_reply(200, {"id": "half a timer"}), id="not-a-timer"),
        pytest.param(json_reply(200, timer_json(fire_at="tomorrow")), id="bad-time"),
    ],
)
async def test_a_success_that_is_not_a_timer_raises_invalid_response(
    api: Api, stub: StubServer, reply: Reply
) -> None:
    stub.add(reply)

    with pytest.raises(InvalidResponse, match="GET /api/v1/namespaces/shop/timers/x"):
        await api.get_timer("shop", "x")


async def test_unknown_states_stay_readable(api: Api, stub: StubServer) -> None:
    data: dict[str, Any] = timer_json(status="paused")
    stub.add(json_reply(200, data))

    timer = await api.get_timer("shop", "cart-7")

    assert timer.status == "paused"
