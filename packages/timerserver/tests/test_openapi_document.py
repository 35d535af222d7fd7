"""GET /api/v1/openapi.json and /docs: the machine-readable contract."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator, validate

from blackbox import ATTEMPT_FIELDS, TIMER_FIELDS

# The contract's endpoint table, parameters written as {}.
CONTRACT_ROUTES = {
    ("post", "/api/v1/namespaces/{}/timers"),
    ("post", "/api/v1/namespaces/{}/timers:batchCreate"),
    ("get", "/api/v1/namespaces/{}/timers/{}"),
    ("patch", "/api/v1/namespaces/{}/timers/{}"),
    ("delete", "/api/v1/namespaces/{}/timers/{}"),
    ("get", "/api/v1/namespaces/{}/timers"),
    ("get", "/api/v1/namespaces/{}/timers/{}/attempts"),
    ("get", "/api/v1/namespaces"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
}
# Routes beyond the contract, for the web UI (docs/guide.md, "The web UI").
WEB_UI_ROUTES = {
    ("get", "/api/v1/namespaces/{}/timers:export"),
    ("get", "/api/v1/namespaces/{}/events"),
    ("get", "/api/v1/activity"),
}
# Endless answers, whose status the probe reads without the body.
STREAMED_ROUTES = {("get", "/api/v1/namespaces/{}/events")}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ERROR_CODES = {
    "invalid_argument",
    "unauthenticated",
    "permission_denied",
    "not_found",
    "already_exists",
    "precondition_failed",
    "payload_too_large",
    "unavailable",
    "internal",
}


@pytest.fixture(scope="module")
def document(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def documented_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(method, path) pairs of the document, with any server path prefix applied."""
    prefix = ""
    servers = document.get("servers") or []
    if servers:
        prefix = urlsplit(servers[0]["url"]).path.rstrip("/")

    routes = set()
    for path, item in document["paths"].items():
        full = (
            path
            if path.startswith("/api/") or path.startswith("/healthz")
            else prefix + path
        )
        normalised = re.sub(r"\{[^}]+\}", "{}", full)
        for method in item:
            if method in METHODS:
                routes.add((method, normalised))

    return routes


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (bounded)."""
    for _ in range(20):
        ref = schema.get("$ref")
        if ref is None:
            return schema

        assert ref.startswith("#/"), ref
        target: Any = document
        for part in ref[2:].split("/"):
            target = target[part]

        schema = target

    raise AssertionError("reference chain too long")


def schema_with(document: dict[str, Any], *properties: str) -> dict[str, Any]:
    """The component schema whose properties include all of *properties*."""
    schemas = document.get("components", {}).get("schemas", {})
    for schema in schemas.values():
        schema = resolve(document, schema)
        if set(properties) <= set(schema.get("properties", {})):
            return schema

    raise AssertionError(f"no component schema has the properties {properties}")


class TestOpenApiDocument:
    def test_document_is_valid_openapi_3_0(self, document: dict[str, Any]) -> None:
        assert re.fullmatch(r"3\.0\.\d+", document["openapi"]), document["openapi"]

        validate(document, cls=OpenAPIV30SpecValidator)

    def test_every_contract_route_is_documented(self, document: dict[str, Any]) -> None:
        missing = CONTRACT_ROUTES - documented_routes(document)

        assert missing == set()

    def test_every_documented_api_route_is_in_the_contract_or_the_web_ui(
        self, document: dict[str, Any]
    ) -> None:
        extra = {
            (method, path)
            for method, path in documented_routes(document)
            - CONTRACT_ROUTES
            - WEB_UI_ROUTES
            if path.startswith("/api/")
        }

        assert extra == set()

    def test_every_documented_route_is_served(
        self, document: dict[str, Any], client: httpx.Client
    ) -> None:
        probe = "/api/v1/namespaces/openapi-probe/timers"
        body = {
            "id": "probe",
            "delay_seconds": 3600,
            "callback": {"url": "http://127.0.0.1:9/"},
        }
        assert client.post(probe, json=body).status_code in (200, 201)
        routes = sorted(
            documented_routes(document), key=lambda r: (r[0] == "delete", r)
        )

        answers = {}
        for method, path in routes:
            concrete = path.replace("{}", "openapi-probe", 1).replace("{}", "probe")
            kwargs: dict[str, Any] = {"json": {}} if method in ("post", "patch") else {}
            if (method, path) in STREAMED_ROUTES:
                with client.stream(method.upper(), concrete) as streamed:
                    answers[(method, path)] = streamed.status_code
                continue

            answers[(method, path)] = client.request(
                method.upper(), concrete, **kwargs
            ).status_code

        assert {
            route: s for route, s in answers.items() if s in (404, 405) or s >= 500
        } == {}

    def test_timer_schema_has_the_resource_fields(
        self, document: dict[str, Any]
    ) -> None:
        schema = schema_with(document, "next_attempt_at", "executed_at", "version")

        assert set(schema["properties"]) == TIMER_FIELDS

    def test_attempt_schema_has_the_attempt_fields(
        self, document: dict[str, Any]
    ) -> None:
        schema = schema_with(document, "duration_ms", "started_at", "outcome")

        assert set(schema["properties"]) == ATTEMPT_FIELDS

    def test_list_operation_documents_its_query_parameters(
        self, document: dict[str, Any]
    ) -> None:
        (path,) = [p for p in document["paths"] if re.fullmatch(r".*/timers", p)]
        operation = document["paths"][path]["get"]
        parameters = [resolve(document, p) for p in operation.get("parameters", [])]
        parameters += [
            resolve(document, p) for p in document["paths"][path].get("parameters", [])
        ]

        query = {p["name"] for p in parameters if p["in"] == "query"}

        assert {
            "status",
            "fire_after",
            "fire_before",
            "id_prefix",
            "limit",
            "page_token",
        } <= query

    def test_error_codes_are_documented(self, document: dict[str, Any]) -> None:
        text = str(document)

        missing = {code for code in ERROR_CODES if code not in text}

        assert missing == set()

    def test_every_operation_documents_its_responses(
        self, document: dict[str, Any]
    ) -> None:
        without = [
            (method, path)
            for path, item in document["paths"].items()
            for method, operation in item.items()
            if method in METHODS and not operation.get("responses")
        ]

        assert without == []


class TestDocsPage:
    def test_docs_page_is_html(self, client: httpx.Client) -> None:
        response = client.get("/docs")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "<html" in response.text.lower()
        assert "openapi.json" in response.text
