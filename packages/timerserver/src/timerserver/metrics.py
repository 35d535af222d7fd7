"""Prometheus metrics of the server, fed by the kernel's timer events."""

from __future__ import annotations

import logging
import time

import anyio
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from timerkernel import (
    Kernel,
    Runner,
    StorageError,
    TimerEvent,
    TimerEventKind,
    TimerStatus,
)
from timerkernel.abc import Store

from .storage_metrics import STORAGE_BUCKETS, InstrumentedStore

logger = logging.getLogger(__name__)
#: One line per request at DEBUG: the access log, off at the usual levels.
request_logger = logging.getLogger("timerserver.requests")

_DELIVERY_OUTCOMES = {
    TimerEventKind.delivered: "succeeded",
    TimerEventKind.retrying: "retried",
    TimerEventKind.failed: "failed",
    TimerEventKind.rescheduled: "rescheduled",
}

_LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

#: Counting the stored timers reads an index per namespace: a scrape reuses
#: a count this recent rather than read it again.
STORED_COUNT_MAX_AGE_SECONDS = 10.0
STORED_COUNT_TIMEOUT_SECONDS = 2.0


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
        self.storage_duration = Histogram(
            "timerserver_storage_operation_seconds",
            "Duration of each call to the storage, by operation.",
            ["operation"],
            registry=self.registry,
            buckets=STORAGE_BUCKETS,
        )
        self.storage_errors = Counter(
            "timerserver_storage_errors",
            "Storage calls that failed, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.timers_stored = Gauge(
            "timerserver_timers_stored",
            "Timers in storage by namespace and status, as of the last count.",
            ["namespace", "status"],
            registry=self.registry,
        )
        self.shards_owned = Gauge(
            "timerserver_runner_shards_owned",
            "Shards whose lease this process's runner holds.",
            registry=self.registry,
        )
        self.shards_total = Gauge(
            "timerserver_shards",
            "Shards of the storage, owned or not.",
            registry=self.registry,
        )
        self.lease_takeovers = Counter(
            "timerserver_runner_lease_takeovers",
            "Shards this process's runner took over from a runner whose lease expired.",
            registry=self.registry,
        )
        # Made at once, so that every outcome shows from the first scrape,
        # and kept: a lookup by labels on each delivery costs more than the
        # increment.
        self._deliveries_by_kind = {
            kind: self.deliveries.labels(outcome=outcome)
            for kind, outcome in _DELIVERY_OUTCOMES.items()
        }

        self._runner: Runner | None = None
        self._takeovers_seen = 0
        self._counted_at = -STORED_COUNT_MAX_AGE_SECONDS
        self._stored_labels: set[tuple[str, str]] = set()

        self._created_by_namespace: dict[str, Counter] = {}

    def instrument(self, store: Store) -> Store:
        """Return *store* wrapped so that its calls are timed here."""
        return InstrumentedStore(store, self.storage_duration, self.storage_errors)

    def watch(self, kernel: Kernel) -> None:
        """Count the events of *kernel* from now on."""
        kernel.add_listener(self.observe)

    def watch_runner(self, runner: Runner) -> None:
        """Report the shards *runner* holds, read at each scrape."""
        self._runner = runner
        self.shards_owned.set_function(lambda: len(runner.leases))

    async def refresh(self, kernel: Kernel) -> None:
        """Bring what is read rather than counted up to date, before a scrape.

        A storage that does not answer in time leaves the last counts in
        place; the storage error counters and readiness tell of it.
        """
        self.shards_total.set(kernel.shard_count)
        if self._runner is not None:
            takeovers = self._runner.lease_takeovers
            self.lease_takeovers.inc(takeovers - self._takeovers_seen)
            self._takeovers_seen = takeovers

        if time.monotonic() - self._counted_at < STORED_COUNT_MAX_AGE_SECONDS:
            return

        try:
            with anyio.fail_after(STORED_COUNT_TIMEOUT_SECONDS):
                namespaces = await kernel.count_timers()
        except (StorageError, TimeoutError) as exc:
            logger.warning("could not count the stored timers for metrics: %s", exc)
            return

        self._counted_at = time.monotonic()
        seen = set()
        for entry in namespaces:
            for status in TimerStatus:
                labels = (entry.name, status.value)
                self.timers_stored.labels(*labels).set(entry.counts.get(status, 0))
                seen.add(labels)

        # A namespace whose timers are all gone drops out of the counts.
        for labels in self._stored_labels - seen:
            self.timers_stored.remove(*labels)

        self._stored_labels = seen

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
            self._deliveries_by_kind[event.kind].inc()
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
    """Counts HTTP requests by route template, method and status.

    It also writes the request log at DEBUG (``timerserver.requests``), as
    the outermost layer that sees every answer.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._counters: dict[tuple[str, str, int], Counter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        status = 500
        started = time.perf_counter()

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
            if request_logger.isEnabledFor(logging.DEBUG):
                _log_request(scope, labels[0], status, time.perf_counter() - started)


def _log_request(scope: Scope, route: str, status: int, seconds: float) -> None:
    key = scope.get("state", {}).get("api_key")
    client = scope.get("client")
    # The path is the client's: quoted, it cannot fake a line of the log.
    request_logger.debug(
        "%s %r %d in %.1f ms",
        scope["method"],
        scope.get("path", ""),
        status,
        seconds * 1000,
        extra={
            "action": "request",
            "method": scope["method"],
            "path": scope.get("path", ""),
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "key": getattr(key, "name", None),
            "client": f"{client[0]}:{client[1]}" if client else None,
        },
    )


def _route_name(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
