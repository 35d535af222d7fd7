"""Traces over OTLP, the way docs/operations/metrics.md says to run them.

The server runs under ``opentelemetry-instrument`` with the OTLP/HTTP
exporter, as an operator would start it, and sends its spans to a small
OTLP collector on loopback that decodes what arrives. This is also the
route into the Datadog Agent, whose OTLP receiver takes the same requests.
"""

from __future__ import annotations

import gzip
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from blackbox import (
    LOOPBACK,
    Api,
    Receiver,
    ServerProcess,
    namespace_for,
    timer_body,
    utc_now,
)

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
# Bounded: the exporter sends a batch every 100 ms here.
SPANS_TIMEOUT = 15.0


class Collector:
    """An OTLP/HTTP trace receiver on loopback that keeps what it decodes."""

    def __init__(self) -> None:
        self.spans: list[tuple[dict[str, Any], Span]] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)

                if self.path != "/v1/traces":
                    self.send_error(404)
                    return

                collector.add(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.server.server_address[1]}/v1/traces"

    def add(self, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            for resource_spans in request.resource_spans:
                resource = {
                    item.key: item.value.string_value
                    for item in resource_spans.resource.attributes
                }
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend((resource, span) for span in scope_spans.spans)

    def wait_for(self, name: str) -> tuple[dict[str, Any], Span]:
        deadline = time.monotonic() + SPANS_TIMEOUT
        while time.monotonic() < deadline:
            with self._lock:
                for resource, span in self.spans:
                    if span.name == name:
                        return resource, span

            time.sleep(0.05)

        with self._lock:
            names = [span.name for _, span in self.spans]
        raise AssertionError(f"no span {name!r} arrived; got {names}")


class InstrumentedServer(ServerProcess):
    """``timerserver serve`` started by ``opentelemetry-instrument``."""

    @property
    def command(self) -> list[str]:
        instrument = Path(sys.executable).with_name("opentelemetry-instrument")
        return [str(instrument), *super().command]


@pytest.fixture
def collector() -> Iterator[Collector]:
    made = Collector()
    made.thread.start()
    yield made
    made.server.shutdown()
    made.server.server_close()


@pytest.fixture
def traced_server(collector: Collector, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {
        "OTEL_SERVICE_NAME": "timerserver",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.endpoint,
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    process = InstrumentedServer(tmp_path / "traced", env=env)
    process.start()
    yield process
    process.stop()


def attributes(span: Span) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in span.attributes:
        value = item.value
        values[item.key] = getattr(value, value.WhichOneof("value") or "string_value")

    return values


def test_requests_and_deliveries_reach_an_otlp_collector(
    traced_server: ServerProcess,
    collector: Collector,
    receiver: Receiver,
    request: pytest.FixtureRequest,
) -> None:
    with traced_server.client() as client:
        api = Api(client, namespace_for(request.node.nodeid))
        created = api.create(
            timer_body("traced", receiver.url("/traced"), fire_at=utc_now()),
            headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        )
        (delivery,) = receiver.wait_for(1, "/traced")

    assert created.status_code == 201, created.text
    resource, server_span = collector.wait_for(
        "POST /api/v1/namespaces/{namespace}/timers"
    )
    assert resource["service.name"] == "timerserver"
    assert server_span.kind == Span.SPAN_KIND_SERVER
    assert server_span.trace_id.hex() == TRACE_ID
    assert server_span.parent_span_id.hex() == PARENT_ID
    assert attributes(server_span)["http.response.status_code"] == 201

    # The callback names the delivery's span, so a receiver that traces
    # joins the trace the collector holds.
    version, trace_id, span_id, _ = delivery.headers["traceparent"].split("-")
    _, delivery_span = collector.wait_for("timer delivery")
    assert version == "00"
    assert delivery_span.kind == Span.SPAN_KIND_CLIENT
    assert (delivery_span.trace_id.hex(), delivery_span.span_id.hex()) == (
        trace_id,
        span_id,
    )
    assert attributes(delivery_span)["timer.id"] == "traced"
