"""A server span per API request, continuing the caller's trace."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import NoOpTracerProvider, SpanKind, StatusCode

from timerkernel import Kernel, MemoryStore
from timerserver.app import ServerState, create_app
from timerserver.metrics import Metrics
from timerserver.settings import Settings
from timerserver.tracing import request_tracer

pytestmark = pytest.mark.anyio

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def client(exporter: InMemorySpanExporter) -> AsyncIterator[httpx.AsyncClient]:
    # A provider of the test's own: the global one stays unset for the others.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    kernel = Kernel(MemoryStore())
    await kernel.initialize()
    state = ServerState(
        kernel=kernel, settings=Settings(), metrics=Metrics(), tracer_provider=provider
    )
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http

    await kernel.close()


async def test_a_request_is_a_server_span_in_its_callers_trace(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    body = {"id": "t", "delay_seconds": 60, "callback": {"url": "http://127.0.0.1:9/"}}
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"

    response = await client.post(
        "/api/v1/namespaces/shop/timers",
        json=body,
        headers={"traceparent": traceparent},
    )

    [span] = exporter.get_finished_spans()
    assert response.status_code == 201
    assert span.name == "POST /api/v1/namespaces/{namespace}/timers"
    assert span.kind is SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/api/v1/namespaces/{namespace}/timers"
    assert span.attributes["http.response.status_code"] == 201
    assert span.status.status_code is StatusCode.UNSET


async def test_a_request_without_a_route_is_named_by_its_method(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    response = await client.get("/no/such/route")

    [span] = exporter.get_finished_spans()
    assert response.status_code == 404
    assert span.name == "GET"
    assert span.parent is None
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 404


@pytest.mark.parametrize(
    "provider",
    [pytest.param(None, id="no-sdk"), pytest.param(NoOpTracerProvider(), id="off")],
)
def test_without_a_recording_provider_requests_are_not_traced(
    provider: NoOpTracerProvider | None,
) -> None:
    assert request_tracer(provider) is None
