"""API keys: bearer tokens scoped to namespaces, on a real server configured with them.

The server has three keys: ``billing`` (its token's SHA-256 in the config
file) and ``billing_next`` (a plain token from the environment) for the
namespaces ``billing`` and ``invoices``, the second standing in for a key
under rotation; and ``ops`` for every namespace.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from blackbox import (
    ServerProcess,
    error_of,
    timer_body,
    timer_path,
    timers_path,
)
from timerkernel import Kernel, MemoryStore
from timerserver.app import ServerState, create_app
from timerserver.metrics import Metrics
from timerserver.settings import ApiKey, AuthSettings, Settings

BILLING_TOKEN = "billing-token-4f1b9c2e7d"
BILLING_NEXT_TOKEN = "billing-next-token-8a3e5d0c"
OPS_TOKEN = "ops-token-b7e2c94f10"
TOKENS = (BILLING_TOKEN, BILLING_NEXT_TOKEN, OPS_TOKEN)
WRONG_TOKEN = "not-a-configured-token-000"
CALLBACK = "http://127.0.0.1:9/hook"
METHODS = ("get", "post", "patch", "delete")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("keyed-server")
    digest = hashlib.sha256(BILLING_TOKEN.encode()).hexdigest()
    config = workdir / "keys.toml"
    config.write_text(
        "[auth.keys.billing]\n"
        f'token_sha256 = "{digest.upper()}"\n'
        'namespaces = ["billing", "invoices"]\n'
    )
    process = ServerProcess(
        workdir,
        args=["--no-runner", "--config", str(config), "--log-level", "debug"],
        env={
            "TIMERSERVER_AUTH__KEYS__BILLING_NEXT__TOKEN": BILLING_NEXT_TOKEN,
            "TIMERSERVER_AUTH__KEYS__BILLING_NEXT__NAMESPACES": "billing,invoices",
            "TIMERSERVER_AUTH__KEYS__OPS__TOKEN": OPS_TOKEN,
            "TIMERSERVER_AUTH__KEYS__OPS__NAMESPACES": "*",
        },
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def anonymous(keyed_server: ServerProcess) -> Iterator[httpx.Client]:
    with keyed_server.client() as client:
        yield client


@pytest.fixture(scope="module")
def billing(keyed_server: ServerProcess) -> Iterator[httpx.Client]:
    with keyed_server.client(headers=bearer(BILLING_TOKEN)) as client:
        yield client


@pytest.fixture(scope="module")
def ops(keyed_server: ServerProcess) -> Iterator[httpx.Client]:
    with keyed_server.client(headers=bearer(OPS_TOKEN)) as client:
        yield client


@pytest.fixture(scope="module")
def api_routes(anonymous: httpx.Client) -> list[tuple[str, str]]:
    """(method, path) of each operation the served document puts under /api/v1."""
    document = anonymous.get("/api/v1/openapi.json").json()
    routes = [
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS and path.startswith("/api/v1/")
    ]
    assert len(routes) > 10, routes
    return routes


def concrete(path: str, namespace: str) -> str:
    return path.replace("{namespace}", namespace).replace("{timer_id}", "t1")


def call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request; an event stream is closed as soon as its head is read."""
    if path.endswith("/events"):
        with client.stream(method.upper(), path, **kwargs) as streamed:
            if streamed.status_code >= 400:
                streamed.read()

            return streamed

    if method in ("post", "patch"):
        return client.request(method.upper(), path, json={}, **kwargs)

    return client.request(method.upper(), path, **kwargs)


def assert_unauthenticated(response: httpx.Response, *, invalid: bool) -> None:
    error_of(response, 401, "unauthenticated")
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.startswith("Bearer "), challenge
    assert ('error="invalid_token"' in challenge) == invalid, challenge


class TestAuthentication:
    def test_every_api_route_needs_a_key(
        self, anonymous: httpx.Client, api_routes: list[tuple[str, str]]
    ) -> None:
        answers = {
            (method, path): call(anonymous, method, concrete(path, "billing"))
            for method, path in api_routes
            if path != "/api/v1/openapi.json"
        }

        for response in answers.values():
            assert_unauthenticated(response, invalid=False)

    @pytest.mark.parametrize(
        "authorization",
        [
            pytest.param(f"Bearer {WRONG_TOKEN}", id="unknown-token"),
            pytest.param(f"Bearer {BILLING_TOKEN}x", id="token-with-more"),
            pytest.param(f"Bearer {BILLING_TOKEN[:-1]}", id="token-with-less"),
            pytest.param(
                f"Bearer {hashlib.sha256(BILLING_TOKEN.encode()).hexdigest()}",
                id="the-hash-itself",
            ),
            pytest.param(f"Basic {BILLING_TOKEN}", id="other-scheme"),
            pytest.param("Bearer", id="no-token"),
            pytest.param(BILLING_TOKEN, id="no-scheme"),
        ],
    )
    def test_wrong_token_answers_401(
        self, anonymous: httpx.Client, authorization: str
    ) -> None:
        response = anonymous.get(
            timers_path("billing"), headers={"Authorization": authorization}
        )

        assert_unauthenticated(response, invalid=True)

    def test_two_authorization_headers_answer_401(
        self, keyed_server: ServerProcess
    ) -> None:
        headers = [
            ("Authorization", f"Bearer {WRONG_TOKEN}"),
            ("Authorization", f"Bearer {BILLING_TOKEN}"),
        ]

        response = httpx.get(
            keyed_server.base_url + timers_path("billing"), headers=headers
        )

        assert_unauthenticated(response, invalid=True)

    @pytest.mark.parametrize(
        "token",
        [
            pytest.param(BILLING_TOKEN, id="hashed-in-the-file"),
            pytest.param(BILLING_NEXT_TOKEN, id="plain-from-the-environment"),
            pytest.param(OPS_TOKEN, id="every-namespace"),
        ],
    )
    def test_each_configured_key_is_accepted(
        self, anonymous: httpx.Client, token: str
    ) -> None:
        response = anonymous.get(timers_path("billing"), headers=bearer(token))

        assert response.status_code == 200, response.text

    def test_scheme_is_case_insensitive(self, anonymous: httpx.Client) -> None:
        response = anonymous.get(
            timers_path("billing"), headers={"Authorization": f"bearer {OPS_TOKEN}"}
        )

        assert response.status_code == 200, response.text

    @pytest.mark.parametrize(
        "path",
        [
            pytest.param("/healthz", id="healthz"),
            pytest.param("/readyz", id="readyz"),
            pytest.param("/metrics", id="metrics"),
            pytest.param("/", id="home"),
            pytest.param("/docs", id="docs"),
            pytest.param("/api/v1/openapi.json", id="openapi"),
        ],
    )
    def test_operations_and_documentation_stay_open(
        self, anonymous: httpx.Client, path: str
    ) -> None:
        response = anonymous.get(path)

        assert response.status_code == 200, response.text[:300]

    def test_web_ui_files_stay_open(self, anonymous: httpx.Client) -> None:
        # Built or not, the files answer for themselves: 200 or 404, never 401.
        response = anonymous.get("/ui/no-such-asset.js")

        assert response.status_code == 404

    def test_document_declares_the_key_where_it_is_needed(
        self, anonymous: httpx.Client
    ) -> None:
        document = anonymous.get("/api/v1/openapi.json").json()

        scheme = document["components"]["securitySchemes"]["bearerAuth"]
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
        assert document["security"] == [{"bearerAuth": []}]
        for path, item in document["paths"].items():
            for operation in item.values():
                if path.startswith("/api/v1/") and path != "/api/v1/openapi.json":
                    assert "security" not in operation, path
                    assert "401" in operation["responses"], path
                else:
                    assert operation["security"] == [], path

    def test_unknown_api_route_needs_a_key_before_it_is_not_found(
        self, anonymous: httpx.Client, ops: httpx.Client
    ) -> None:
        assert_unauthenticated(anonymous.get("/api/v1/nothing-here"), invalid=False)

        error_of(ops.get("/api/v1/nothing-here"), 404, "not_found")


class TestNamespaceScope:
    def test_key_works_on_each_of_its_namespaces(self, billing: httpx.Client) -> None:
        for namespace in ("billing", "invoices"):
            response = billing.post(
                timers_path(namespace), json=timer_body("scoped", CALLBACK)
            )

            assert response.status_code in (200, 201), response.text

    def test_every_namespaced_route_refuses_another_namespace(
        self, billing: httpx.Client, api_routes: list[tuple[str, str]]
    ) -> None:
        answers = [
            call(billing, method, concrete(path, "payroll"))
            for method, path in api_routes
            if "{namespace}" in path
        ]

        assert len(answers) >= 8
        for response in answers:
            error = error_of(response, 403, "permission_denied")
            assert error["details"] == {"namespace": "payroll"}
            assert "billing" in error["message"]

    def test_nothing_is_changed_by_a_refused_request(
        self, billing: httpx.Client, ops: httpx.Client
    ) -> None:
        created = ops.post(timers_path("payroll"), json=timer_body("kept", CALLBACK))
        assert created.status_code in (200, 201), created.text

        deleted = billing.delete(timer_path("payroll", "kept"))

        error_of(deleted, 403, "permission_denied")
        assert ops.get(timer_path("payroll", "kept")).status_code == 200

    def test_invalid_namespace_outside_the_scope_is_refused_not_explained(
        self, billing: httpx.Client
    ) -> None:
        response = billing.get(timers_path("NOT-VALID"))

        error_of(response, 403, "permission_denied")

    def test_namespace_list_shows_only_what_the_key_covers(
        self, billing: httpx.Client, ops: httpx.Client
    ) -> None:
        for namespace in ("billing", "payroll"):
            ops.post(timers_path(namespace), json=timer_body("listed", CALLBACK))

        def names(client: httpx.Client) -> set[str]:
            response = client.get("/api/v1/namespaces")
            assert response.status_code == 200, response.text
            return {entry["name"] for entry in response.json()["namespaces"]}

        assert names(billing) == {"billing", "invoices"}
        assert {"billing", "payroll"} <= names(ops)


class TestActivityScope:
    def test_all_namespaces_need_a_key_for_every_namespace(
        self, billing: httpx.Client, ops: httpx.Client
    ) -> None:
        refused = billing.get("/api/v1/activity")

        error = error_of(refused, 403, "permission_denied")
        assert error["details"] == {"namespace": None}
        assert ops.get("/api/v1/activity").status_code == 200

    def test_one_namespace_needs_a_key_for_it(self, billing: httpx.Client) -> None:
        assert billing.get("/api/v1/activity?namespace=invoices").status_code == 200

        error_of(
            billing.get("/api/v1/activity?namespace=payroll"), 403, "permission_denied"
        )

    def test_a_repeated_namespace_parameter_is_checked_in_every_value(
        self, billing: httpx.Client
    ) -> None:
        for query in (
            "namespace=billing&namespace=payroll",
            "namespace=payroll&namespace=billing",
        ):
            response = billing.get(f"/api/v1/activity?{query}")

            error_of(response, 403, "permission_denied")


class TestSecretsStayOutOfTheLogs:
    def test_no_token_or_hash_is_logged(
        self,
        keyed_server: ServerProcess,
        anonymous: httpx.Client,
        billing: httpx.Client,
    ) -> None:
        # Each way a token can reach the server: right, wrong, in the wrong place.
        billing.get(timers_path("payroll"))
        for token in (*TOKENS, WRONG_TOKEN):
            anonymous.get(timers_path("billing"), headers=bearer(token))

        log = keyed_server.log()

        assert "API keys required on /api/v1: billing, billing_next, ops" in log
        assert "refused GET" in log
        secrets = [
            *TOKENS,
            WRONG_TOKEN,
            *(hashlib.sha256(token.encode()).hexdigest() for token in TOKENS),
        ]
        for secret in secrets:
            assert secret.lower() not in log.lower(), secret

    def test_settings_line_names_the_keys_and_their_scope(
        self, keyed_server: ServerProcess
    ) -> None:
        (line,) = [
            line for line in keyed_server.log().splitlines() if "with settings" in line
        ]

        assert "'name': 'billing'" in line
        assert "'namespaces': ['billing', 'invoices']" in line
        assert "'namespaces': '*'" in line
        assert re.search(r"'token_sha256': '\*\*\*'", line)


@pytest.mark.anyio
async def test_namespace_list_shows_a_scoped_keys_empty_namespaces() -> None:
    # In this process: the suite's server is shared, and its namespaces fill.
    token = "a-token-for-empty-namespaces"
    key = ApiKey(
        name="fresh",
        token_sha256=hashlib.sha256(token.encode()).hexdigest(),
        namespaces=frozenset({"fresh-a", "fresh-b"}),
    )
    kernel = Kernel(MemoryStore())
    await kernel.initialize()
    settings = Settings(auth=AuthSettings(keys=(key,)))
    state = ServerState(kernel=kernel, settings=settings, metrics=Metrics())
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://api",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        await client.post(timers_path("fresh-b"), json=timer_body("t", CALLBACK))
        await client.post(timers_path("elsewhere"), json=timer_body("t", CALLBACK))
        response = await client.get("/api/v1/namespaces")

    await kernel.close()
    assert response.status_code == 200, response.text
    assert response.json()["namespaces"] == [
        {"name": "fresh-a", "counts": {"scheduled": 0, "succeeded": 0, "failed": 0}},
        {"name": "fresh-b", "counts": {"scheduled": 1, "succeeded": 0, "failed": 0}},
    ]
