"""Bad input: its documented 4xx with the error body, never a 500, nothing created."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from blackbox import Api, bad_fields, error_of, timer_path, timers_path

URL = "http://127.0.0.1:9/hook"
JSON = {"Content-Type": "application/json"}


def valid_body() -> dict[str, Any]:
    """A create body with every field set to a valid value."""
    return {
        "id": "t1",
        "fire_at": "2031-01-01T00:00:00Z",
        "callback": {"url": URL, "timeout_seconds": 5, "headers": {"X-A": "1"}},
        "payload": {"k": [1, 2]},
        "retry_policy": {
            "max_attempts": 3,
            "initial_interval_seconds": 1,
            "backoff_coefficient": 2,
            "max_interval_seconds": 60,
            "max_duration_seconds": 100,
        },
    }


def changed(path: str, value: Any) -> dict[str, Any]:
    """The valid body with the field at dotted *path* set to *value*."""
    body = valid_body()
    *parents, leaf = path.split(".")
    target = body
    for name in parents:
        target = target[name]

    target[leaf] = value
    return body


def dropped(path: str) -> dict[str, Any]:
    """The valid body without the field at dotted *path*."""
    body = valid_body()
    *parents, leaf = path.split(".")
    target = body
    for name in parents:
        target = target[name]

    del target[leaf]
    return body


def names_field(fields: dict[str, str], path: str) -> bool:
    return any(name == path or name.startswith(path + ".") for name in fields)


def raw(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


VALID_RAW = raw(valid_body())
DEEP = 20_000

# Request bodies that are not a JSON object at all, or not JSON.
UNREADABLE_BODIES = [
    pytest.param(b'{"id": "t1",', JSON, id="truncated-json"),
    pytest.param(VALID_RAW + b" {}", JSON, id="trailing-data"),
    pytest.param(b"{'id': 't1'}", JSON, id="single-quotes"),
    pytest.param(b'{"id": "t1" "fire_at": 1}', JSON, id="missing-comma"),
    pytest.param(b"", JSON, id="empty-body"),
    pytest.param(b"   \n", JSON, id="whitespace-body"),
    pytest.param(b"[]", JSON, id="array"),
    pytest.param(b'"timer"', JSON, id="string"),
    pytest.param(b"42", JSON, id="number"),
    pytest.param(b"null", JSON, id="null"),
    pytest.param(b"true", JSON, id="boolean"),
    pytest.param(VALID_RAW.replace(b'"t1"', b'"t\xff1"'), JSON, id="invalid-utf8"),
    pytest.param(
        VALID_RAW.replace(b'"k"', b'"\xed\xa0\x80"'), JSON, id="utf8-surrogate"
    ),
    pytest.param(VALID_RAW.decode().encode("utf-16"), JSON, id="utf16"),
    pytest.param(VALID_RAW.replace(b"5,", b"NaN,"), JSON, id="nan-literal"),
    pytest.param(VALID_RAW.replace(b"5,", b"Infinity,"), JSON, id="infinity-literal"),
    pytest.param(VALID_RAW.replace(b"5,", b"-Infinity,"), JSON, id="minus-infinity"),
    pytest.param(VALID_RAW.replace(b'{"k": [1, 2]}', b"NaN"), JSON, id="nan-payload"),
    pytest.param(
        VALID_RAW.replace(b'{"k": [1, 2]}', b"[" * DEEP + b"]" * DEEP),
        JSON,
        id="deeply-nested-array",
    ),
    pytest.param(
        VALID_RAW.replace(b'{"k": [1, 2]}', b'{"a":' * DEEP + b"1" + b"}" * DEEP),
        JSON,
        id="deeply-nested-object",
    ),
    pytest.param(
        b'{"id": "t1", "id": "t2", "fire_at": "2031-01-01T00:00:00Z"}',
        JSON,
        id="no-callback",
    ),
]

# One bad field each; the 400 must name it.
BAD_FIELDS = [
    # wrong JSON types
    *[
        pytest.param(changed("id", value), "id", id=f"id-{name}")
        for name, value in [
            ("number", 1),
            ("null", None),
            ("true", True),
            ("list", ["t1"]),
        ]
    ],
    *[
        pytest.param(changed("fire_at", value), "fire_at", id=f"fire_at-{name}")
        for name, value in [
            ("number", 1893456000),
            ("true", True),
            ("list", []),
            ("object", {}),
        ]
    ],
    *[
        pytest.param(
            dropped("fire_at") | {"delay_seconds": value},
            "delay_seconds",
            id=f"delay-{name}",
        )
        for name, value in [
            ("string", "5"),
            ("true", True),
            ("list", [5]),
            ("object", {}),
        ]
    ],
    *[
        pytest.param(changed("callback", value), "callback", id=f"callback-{name}")
        for name, value in [
            ("string", URL),
            ("number", 1),
            ("list", [URL]),
            ("null", None),
        ]
    ],
    *[
        pytest.param(changed("callback.url", value), "callback.url", id=f"url-{name}")
        for name, value in [
            ("number", 1),
            ("null", None),
            ("true", True),
            ("object", {"href": URL}),
        ]
    ],
    *[
        pytest.param(
            changed("callback.timeout_seconds", value),
            "callback.timeout_seconds",
            id=f"timeout-{name}",
        )
        for name, value in [
            ("string", "10"),
            ("true", True),
            ("list", [1]),
            ("object", {}),
        ]
    ],
    *[
        pytest.param(
            changed("callback.headers", value), "callback.headers", id=f"headers-{name}"
        )
        for name, value in [
            ("string", "X-A: 1"),
            ("list", [["X-A", "1"]]),
            ("number", 1),
            ("number-value", {"X-A": 1}),
            ("null-value", {"X-A": None}),
            ("list-value", {"X-A": ["1"]}),
        ]
    ],
    *[
        pytest.param(changed("retry_policy", value), "retry_policy", id=f"retry-{name}")
        for name, value in [
            ("string", "fast"),
            ("number", 3),
            ("list", []),
            ("true", True),
        ]
    ],
    *[
        pytest.param(
            changed(f"retry_policy.{field}", value), f"retry_policy.{field}", id=ident
        )
        for field, cases in {
            "max_attempts": [
                ("string", "3"),
                ("fraction", 1.5),
                ("true", True),
                ("list", []),
            ],
            "initial_interval_seconds": [
                ("string", "1"),
                ("true", True),
                ("object", {}),
            ],
            "backoff_coefficient": [("string", "2"), ("false", False), ("list", [2])],
            "max_interval_seconds": [("string", "60"), ("true", True), ("object", {})],
            "max_duration_seconds": [("string", "100"), ("true", True), ("list", [])],
        }.items()
        for name, value in cases
        for ident in [f"{field}-{name}"]
    ],
    # out of range
    *[
        pytest.param(
            dropped("fire_at") | {"delay_seconds": value},
            "delay_seconds",
            id=f"delay-{name}",
        )
        for name, value in [
            ("negative", -1),
            ("tiny-negative", -0.001),
            ("huge", 1e300),
            ("huge-int", 10**30),
        ]
    ],
    *[
        pytest.param(changed("fire_at", value), "fire_at", id=f"fire_at-{name}")
        for name, value in [
            ("date-only", "2031-01-01"),
            ("no-offset", "2031-01-01T00:00:00"),
            ("month-13", "2031-13-01T00:00:00Z"),
            ("february-30", "2031-02-30T00:00:00Z"),
            ("hour-25", "2031-01-01T25:00:00Z"),
            ("offset-25h", "2031-01-01T00:00:00+25:00"),
            ("year-10000", "10000-01-01T00:00:00Z"),
            ("word", "tomorrow"),
            ("empty", ""),
            ("unix-string", "1893456000"),
        ]
    ],
    *[
        pytest.param(
            changed("callback.timeout_seconds", value),
            "callback.timeout_seconds",
            id=f"timeout-{name}",
        )
        for name, value in [
            ("zero", 0),
            ("under-min", 0.05),
            ("over-max", 300.5),
            ("negative", -1),
            ("huge", 1e308),
        ]
    ],
    pytest.param(
        changed("callback.headers", {f"X-H{i}": "v" for i in range(21)}),
        "callback.headers",
        id="headers-21",
    ),
    pytest.param(
        changed("callback.headers", {"Bad Header": "v"}),
        "callback.headers",
        id="header-space",
    ),
    pytest.param(
        changed("callback.headers", {"": "v"}), "callback.headers", id="header-empty"
    ),
    pytest.param(
        changed("callback.headers", {"X-A": "1\r\nX-Injected: yes"}),
        "callback.headers",
        id="header-crlf-injection",
    ),
    pytest.param(
        changed("callback.headers", {"X-A": "1\nX-B: 2"}),
        "callback.headers",
        id="header-newline",
    ),
    pytest.param(
        changed("retry_policy.max_attempts", -1),
        "retry_policy.max_attempts",
        id="ma-neg",
    ),
    pytest.param(
        changed("retry_policy.max_attempts", 10**40),
        "retry_policy.max_attempts",
        id="ma-huge",
    ),
    *[
        pytest.param(
            changed("retry_policy.backoff_coefficient", value),
            "retry_policy.backoff_coefficient",
            id=f"coefficient-{name}",
        )
        for name, value in [("half", 0.5), ("just-under-one", 0.99), ("negative", -2)]
    ],
    *[
        pytest.param(
            changed(f"retry_policy.{field}", -1),
            f"retry_policy.{field}",
            id=f"{field}-neg",
        )
        for field in [
            "initial_interval_seconds",
            "max_interval_seconds",
            "max_duration_seconds",
        ]
    ],
    # missing or conflicting fields
    pytest.param(dropped("id"), "id", id="missing-id"),
    pytest.param(dropped("callback"), "callback", id="missing-callback"),
    pytest.param(dropped("callback.url"), "callback.url", id="missing-url"),
    pytest.param(dropped("fire_at"), "fire_at", id="missing-fire-time"),
    # unknown fields, at the top and nested
    pytest.param(changed("colour", "blue"), "colour", id="unknown-top-level"),
    pytest.param(
        changed("callback.method", "PUT"), "callback.method", id="unknown-in-callback"
    ),
    pytest.param(
        changed("retry_policy.jitter", True),
        "retry_policy.jitter",
        id="unknown-in-retry-policy",
    ),
    pytest.param(changed("status", "succeeded"), "status", id="server-field-status"),
    pytest.param(changed("version", 5), "version", id="server-field-version"),
    # invalid ids
    *[
        pytest.param(changed("id", value), "id", id=f"id-{name}")
        for name, value in [
            ("empty", ""),
            ("leading-dash", "-abc"),
            ("leading-dot", ".abc"),
            ("space", "a b"),
            ("slash", "a/b"),
            ("hash", "a#b"),
            ("question-mark", "a?b"),
            ("percent", "a%20b"),
            ("non-ascii", "tïmer"),
            ("too-long", "x" * 256),
            ("nul", "a\u0000b"),
        ]
    ],
    # invalid callback URLs
    *[
        pytest.param(changed("callback.url", value), "callback.url", id=f"url-{name}")
        for name, value in [
            ("relative", "/hook"),
            ("no-scheme", "127.0.0.1:9/hook"),
            ("ftp", "ftp://127.0.0.1/hook"),
            ("file", "file:///etc/passwd"),
            ("javascript", "javascript:alert(1)"),
            ("mailto", "mailto:ops@example.com"),
            ("no-host", "http://"),
            ("empty-host", "http:///hook"),
            ("space-in-host", "http://exa mple.com/"),
            ("space-in-path", "http://127.0.0.1:9/a b"),
            ("newline", "http://127.0.0.1:9/a\nb"),
            ("bad-port", "http://127.0.0.1:99999/"),
            ("word", "not a url"),
            ("empty", ""),
            ("too-long", "http://127.0.0.1:9/" + "a" * 10_000),
        ]
    ],
]


class TestUnreadableBodies:
    @pytest.mark.parametrize(("body", "headers"), UNREADABLE_BODIES)
    def test_unreadable_create_body_answers_400(
        self, api: Api, body: bytes, headers: dict[str, str]
    ) -> None:
        response = api.client.post(timers_path(api.ns), content=body, headers=headers)

        error_of(response, 400, "invalid_argument")
        assert api.all_timers() == []

    @pytest.mark.parametrize(
        "content_type",
        [
            pytest.param("text/plain", id="text"),
            pytest.param("application/x-www-form-urlencoded", id="form"),
            pytest.param("application/xml", id="xml"),
        ],
    )
    def test_wrong_content_type_is_refused(self, api: Api, content_type: str) -> None:
        response = api.client.post(
            timers_path(api.ns),
            content=VALID_RAW,
            headers={"Content-Type": content_type},
        )

        assert response.status_code in (400, 415), response.text
        error_of(response, response.status_code, response.json()["error"]["code"])
        assert api.all_timers() == []

    @pytest.mark.parametrize(("body", "headers"), UNREADABLE_BODIES[:14])
    def test_unreadable_update_body_answers_400(
        self, api: Api, body: bytes, headers: dict[str, str]
    ) -> None:
        created = api.created(valid_body())

        response = api.client.patch(
            timer_path(api.ns, "t1"), content=body, headers=headers
        )

        error_of(response, 400, "invalid_argument")
        assert api.timer("t1") == created

    @pytest.mark.parametrize(("body", "headers"), UNREADABLE_BODIES[:14])
    def test_unreadable_batch_body_answers_400(
        self, api: Api, body: bytes, headers: dict[str, str]
    ) -> None:
        response = api.client.post(
            timers_path(api.ns) + ":batchCreate", content=body, headers=headers
        )

        error_of(response, 400, "invalid_argument")
        assert api.all_timers() == []


class TestBadFields:
    @pytest.mark.parametrize(("body", "field"), BAD_FIELDS)
    def test_bad_field_in_create_is_named(
        self, api: Api, body: dict[str, Any], field: str
    ) -> None:
        response = api.create(body)

        fields = bad_fields(response)
        assert names_field(fields, field), fields
        assert api.all_timers() == []

    def test_fire_at_and_delay_seconds_together_are_refused(self, api: Api) -> None:
        body = changed("delay_seconds", 5)

        fields = bad_fields(api.create(body))

        assert names_field(fields, "fire_at") or names_field(fields, "delay_seconds")
        assert api.all_timers() == []

    @pytest.mark.parametrize(
        ("patch", "field"),
        [
            pytest.param({"colour": "blue"}, "colour", id="unknown-field"),
            pytest.param({"fire_at": 12}, "fire_at", id="fire-at-number"),
            pytest.param({"delay_seconds": -3}, "delay_seconds", id="delay-negative"),
            pytest.param(
                {"callback": {"timeout_seconds": 5}},
                "callback.url",
                id="callback-no-url",
            ),
            pytest.param(
                {"callback": {"url": "ftp://x/"}}, "callback.url", id="callback-ftp"
            ),
            pytest.param(
                {"retry_policy": {"max_attempts": "3"}},
                "retry_policy.max_attempts",
                id="retry-wrong-type",
            ),
            pytest.param({"retry_policy": []}, "retry_policy", id="retry-list"),
            pytest.param(
                {"callback": {"url": URL, "x": 1}}, "callback.x", id="nested-unknown"
            ),
            pytest.param({"status": "failed"}, "status", id="server-field"),
            pytest.param(
                {"fire_at": "2031-01-01T00:00:00Z", "delay_seconds": 1}, "", id="both"
            ),
        ],
    )
    def test_bad_field_in_update_is_named_and_changes_nothing(
        self, api: Api, patch: dict[str, Any], field: str
    ) -> None:
        created = api.created(valid_body())

        fields = bad_fields(api.patch("t1", patch))

        assert not field or names_field(fields, field), fields
        assert api.timer("t1") == created

    def test_if_match_that_is_not_a_version_is_refused(self, api: Api) -> None:
        created = api.created(valid_body())

        response = api.patch(
            "t1", {"payload": 2}, headers={"If-Match": "not-a-version"}
        )

        assert response.status_code in (400, 412), response.text
        error_of(response, response.status_code, response.json()["error"]["code"])
        assert api.timer("t1") == created


BAD_NAMESPACES = [
    pytest.param("UPPER", id="upper-case"),
    pytest.param("-lead", id="leading-dash"),
    pytest.param("_lead", id="leading-underscore"),
    pytest.param("a.b", id="dot"),
    pytest.param("a b", id="space"),
    pytest.param("n" * 65, id="too-long"),
    pytest.param("nä", id="non-ascii"),
    pytest.param("a:b", id="colon"),
]
BAD_IDS = [
    pytest.param("-x", id="leading-dash"),
    pytest.param("a b", id="space"),
    pytest.param("x" * 256, id="too-long"),
    pytest.param("tïmer", id="non-ascii"),
    pytest.param("a#b", id="hash"),
]


class TestBadPaths:
    @pytest.mark.parametrize("namespace", BAD_NAMESPACES)
    def test_create_in_an_invalid_namespace_is_refused(
        self, client: httpx.Client, namespace: str
    ) -> None:
        response = client.post(
            timers_path(quote(namespace, safe="")), json=valid_body()
        )

        assert names_field(bad_fields(response), "namespace")

    @pytest.mark.parametrize("namespace", BAD_NAMESPACES)
    def test_list_in_an_invalid_namespace_is_refused(
        self, client: httpx.Client, namespace: str
    ) -> None:
        response = client.get(timers_path(quote(namespace, safe="")))

        assert names_field(bad_fields(response), "namespace")

    @pytest.mark.parametrize("namespace", BAD_NAMESPACES)
    def test_batch_in_an_invalid_namespace_is_refused(
        self, client: httpx.Client, namespace: str
    ) -> None:
        response = client.post(
            timers_path(quote(namespace, safe="")) + ":batchCreate",
            json={"timers": [valid_body()]},
        )

        assert names_field(bad_fields(response), "namespace")

    @pytest.mark.parametrize("timer_id", BAD_IDS)
    @pytest.mark.parametrize(
        "method",
        [
            pytest.param("GET", id="get"),
            pytest.param("PATCH", id="patch"),
            pytest.param("DELETE", id="delete"),
        ],
    )
    def test_invalid_id_in_the_path_is_a_client_error(
        self, api: Api, method: str, timer_id: str
    ) -> None:
        body: Any = {"payload": 1} if method == "PATCH" else None

        response = api.client.request(
            method, timer_path(api.ns, quote(timer_id, safe="")), json=body
        )

        assert response.status_code in (400, 404), response.text
        if response.status_code == 400:
            assert names_field(bad_fields(response), "id")
        else:
            error_of(response, 404, "not_found")


ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    -(2**63) - 1,
    1e308,
    -1e308,
    0.1,
    "",
    " ",
    "\u0000",
    "🙂",
    "x" * 3000,
    [],
    [None],
    {},
    {"": None},
]
FIELD_PATHS = [
    "id",
    "fire_at",
    "delay_seconds",
    "callback",
    "callback.url",
    "callback.timeout_seconds",
    "callback.headers",
    "payload",
    "retry_policy",
    "retry_policy.max_attempts",
    "retry_policy.initial_interval_seconds",
    "retry_policy.backoff_coefficient",
    "retry_policy.max_interval_seconds",
    "retry_policy.max_duration_seconds",
]


class TestNeverInternalError:
    @pytest.mark.parametrize("path", [pytest.param(p, id=p) for p in FIELD_PATHS])
    def test_odd_values_in_any_field_never_give_500(self, api: Api, path: str) -> None:
        outcomes: list[tuple[str, int]] = []
        for value in ODD_VALUES:
            body = changed(path, value)
            if path == "delay_seconds":
                del body["fire_at"]

            for method in ("create", "patch"):
                if method == "create":
                    response = api.create(body)
                else:
                    api.create(valid_body() | {"id": "base"})
                    top = path.split(".")[0]
                    response = api.patch("base", {top: body[top]})

                outcomes.append((f"{method} {value!r:.40}", response.status_code))
                assert response.status_code < 500, (method, value, response.text[:300])
                if response.status_code >= 400:
                    error_of(
                        response, response.status_code, response.json()["error"]["code"]
                    )

            api.delete("t1")

        assert outcomes

    @pytest.mark.parametrize(
        ("method", "path", "params"),
        [
            pytest.param("GET", "", {"limit": "1e999"}, id="list-limit-float"),
            pytest.param(
                "GET", "", {"fire_after": "9" * 100}, id="list-fire-after-digits"
            ),
            pytest.param("GET", "", {"status": ""}, id="list-status-empty"),
            pytest.param("GET", "", {"id_prefix": "\u0000"}, id="list-prefix-nul"),
            pytest.param("GET", "", {"id_prefix": "x" * 5000}, id="list-prefix-long"),
            pytest.param("GET", "", {"page_token": "\u0000\u0001"}, id="token-control"),
            pytest.param("GET", "/t1/attempts", {"limit": "x"}, id="attempts-query"),
        ],
    )
    def test_odd_queries_never_give_500(
        self, api: Api, method: str, path: str, params: dict[str, str]
    ) -> None:
        response = api.client.request(method, timers_path(api.ns) + path, params=params)

        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            error_of(response, response.status_code, response.json()["error"]["code"])
