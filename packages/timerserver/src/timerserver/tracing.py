"""A span per API request, through the OpenTelemetry API.

The server sets up no SDK of its own: run it under ``opentelemetry-instrument``
(from ``opentelemetry-distro``, with an exporter installed) and the global
provider it sets receives the spans of requests and deliveries. Without one
the middleware is not installed at all, so untraced requests cost nothing.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, TracerProvider
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from timerkernel.http import recording_tracer

from . import __version__


def request_tracer(provider: TracerProvider | None = None) -> Tracer | None:
    """The tracer of *provider* (or the global one); ``None`` if it records nothing."""
    return recording_tracer(provider, "timerserver", __version__)


class TracingMiddleware:
    """Opens a server span around each HTTP request, continuing its caller's trace.

    The span is named by the route template once routing has chosen one
    (``POST /api/v1/namespaces/{namespace}/timers``), so ids do not make a
    name each.
    """

    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        carrier = {
            name.decode(): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in (b"traceparent", b"tracestate")
        }
        context = propagate.extract(carrier)
        method = scope["method"]
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope["path"],
        }
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

            await send(message)

        with self.tracer.start_as_current_span(
            method, context=context, kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            try:
                await self.app(scope, receive, send_and_note)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)

                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
