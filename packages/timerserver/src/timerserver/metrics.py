"""Prometheus metrics of the server, fed by the kernel's timer events."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from timerkernel import Kernel, TimerEvent, TimerEventKind

_DELIVERY_OUTCOMES = {
    TimerEventKind.delivered: "succeeded",
    TimerEventKind.retrying: "retried",
    TimerEventKind.failed: "failed",
    TimerEventKind.rescheduled: "rescheduled",
}

_LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The server's metrics in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.timers_created = Counter(
            "timerserver_timers_created",
            "Timers created.",
            ["namespace"],
            registry=self.registry,
        )
        self.timers_updated = Counter(
            "timerserver_timers_updated",
            "Timers changed through the API.",
            ["namespace"],
            registry=self.registry,
        )
        self.timers_deleted = Counter(
            "timerserver_timers_deleted",
            "Timers deleted.",
            ["namespace"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "timerserver_deliveries",
            "Delivery attempts by what they led to.",
            ["outcome"],
            registry=self.registry,
        )
        self.delivery_duration = Histogram(
            "timerserver_delivery_duration_seconds",
            "Time from the start of a delivery attempt to its answer.",
            registry=self.registry,
            buckets=_LATENESS_BUCKETS,
        )
        self.delivery_lateness = Histogram(
            "timerserver_delivery_lateness_seconds",
            "Time from when an attempt was due to when it started.",
            registry=self.registry,
            buckets=_LATENESS_BUCKETS,
        )
        self.http_requests = Counter(
            "timerserver_http_requests",
            "HTTP requests by route and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        for outcome in _DELIVERY_OUTCOMES.values():
            self.deliveries.labels(outcome=outcome)

        self._created_by_namespace: dict[str, Counter] = {}

    def watch(self, kernel: Kernel) -> None:
        """Count the events of *kernel* from now on."""
        kernel.add_listener(self.observe)

    def observe(self, event: TimerEvent) -> None:
        namespace = event.timer.namespace
        if event.kind is TimerEventKind.created:
            # Once per timer created: the labelled child is looked up once.
            created = self._created_by_namespace.get(namespace)
            if created is None:
                created = self.timers_created.labels(namespace=namespace)
                self._created_by_namespace[namespace] = created

            created.inc()
        elif event.kind is TimerEventKind.updated:
            self.timers_updated.labels(namespace=namespace).inc()
        elif event.kind is TimerEventKind.deleted:
            self.timers_deleted.labels(namespace=namespace).inc()
        elif event.attempt is not None:
            self.deliveries.labels(outcome=_DELIVERY_OUTCOMES[event.kind]).inc()
            attempt = event.attempt
            self.delivery_duration.observe(attempt.duration_ms / 1000)
            if event.due_at is not None:
                lateness = (attempt.started_at - event.due_at).total_seconds()
                self.delivery_lateness.observe(max(lateness, 0.0))

    def render(self) -> tuple[bytes, str]:
        """The metrics in the Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


# Routes, methods and statuses are few; the bound only guards the cache.
_MAX_CACHED_COUNTERS = 1024


class RequestMetricsMiddleware:
    """Counts HTTP requests by route template, method and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._counters: dict[tuple[str, str, int], Counter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            labels = (_route_name(scope), scope["method"], status)
            counter = self._counters.get(labels)
            if counter is None:
                # Looking the child up by labels costs more than the
                # request's own work on the fastest routes; keep each.
                counter = self.metrics.http_requests.labels(
                    route=labels[0], method=labels[1], status=str(status)
                )
                if len(self._counters) < _MAX_CACHED_COUNTERS:
                    self._counters[labels] = counter

            counter.inc()


def _route_name(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
