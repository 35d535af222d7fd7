"""Deliveries as OpenTelemetry spans, and the traceparent header they send."""

from __future__ import annotations

import re

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import NoOpTracerProvider, SpanKind, StatusCode

from test_http import Reply, answer_with, make_timer, serving, started
from timerkernel import Delivered, DeliveryFailed
from timerkernel.http import HttpDispatcher

pytestmark = pytest.mark.anyio

TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
# A traceparent of the caller's, which a timer built in code may carry:
# validation refuses it in callback headers, as the service sets its own.
FOREIGN = {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    # A provider of the test's own: the global one stays unset for the others.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


async def test_a_delivery_is_a_client_span_named_by_its_traceparent(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    dispatcher = HttpDispatcher(tracer_provider=provider)
    async with serving() as server, started(dispatcher):
        result = await dispatcher.deliver(make_timer(server.url, headers=FOREIGN), 2)

    [request] = server.requests
    [span] = exporter.get_finished_spans()
    sent = TRACEPARENT.fullmatch(request.header_all("traceparent")[0])

    assert result == Delivered(status_code=200)
    assert len(request.header_all("traceparent")) == 1
    assert sent is not None
    assert sent.group(1) == format(span.context.trace_id, "032x")
    assert sent.group(2) == format(span.context.span_id, "016x")
    assert span.name == "timer delivery"
    assert span.kind is SpanKind.CLIENT
    assert span.attributes is not None
    assert dict(span.attributes) == {
        "timer.namespace": "billing",
        "timer.id": "invoice-42",
        "timer.attempt": 2,
        "http.request.method": "POST",
        "url.full": server.url,
        "http.response.status_code": 200,
    }
    assert span.status.status_code is StatusCode.UNSET


async def test_a_failed_delivery_is_a_span_with_an_error(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    dispatcher = HttpDispatcher(tracer_provider=provider)
    async with serving(answer_with(Reply(status=503))) as server, started(dispatcher):
        result = await dispatcher.deliver(make_timer(server.url), 1)

    [span] = exporter.get_finished_spans()

    assert isinstance(result, DeliveryFailed)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 503
    assert span.attributes["error.type"] == result.kind.value


@pytest.mark.parametrize(
    "configured",
    [
        pytest.param(None, id="no-sdk"),
        pytest.param(NoOpTracerProvider(), id="sdk-disabled"),
    ],
)
async def test_without_a_recording_provider_nothing_is_traced(
    configured: NoOpTracerProvider | None,
) -> None:
    dispatcher = HttpDispatcher(tracer_provider=configured)
    async with serving() as server, started(dispatcher):
        await dispatcher.deliver(make_timer(server.url, headers=FOREIGN), 1)

    [request] = server.requests

    assert request.header_all("traceparent") == []
