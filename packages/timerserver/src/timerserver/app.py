"""The REST API of the contract as a Starlette application."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import attrs
import orjson
from opentelemetry.trace import TracerProvider
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from timerkernel import (
    FieldError,
    Kernel,
    NamespaceCounts,
    PayloadTooLarge,
    StorageError,
    Timer,
    TimerKernelError,
    TimerQuery,
    TimerStatus,
    attempt_to_dict,
    parse_time,
    parse_timer_patch,
    parse_timer_spec,
    timer_to_dict,
)
from timerkernel._parsing import check_namespace

from ._errors import ApiError, from_kernel_error, invalid, invalid_field
from .auth import ApiKeyMiddleware, api_key_of, needs_key
from .export import MEDIA_TYPES, export_csv, export_json
from .guard import make_url_guard
from .live import ACTIVITY_SECONDS, Activity, EventHub
from .metrics import Metrics, RequestMetricsMiddleware
from .openapi import build_openapi, render_docs_page
from .settings import Settings
from .tracing import TracingMiddleware, request_tracer

logger = logging.getLogger(__name__)

API = "/api/v1"
DEFAULT_PAGE_SIZE = 50
READY_TIMEOUT_SECONDS = 2.0
_LIST_PARAMETERS = frozenset(
    {"status", "fire_after", "fire_before", "id_prefix", "limit", "page_token"}
)
_EXPORT_PARAMETERS = frozenset(
    {"status", "fire_after", "fire_before", "id_prefix", "format"}
)
_ACTIVITY_PARAMETERS = frozenset({"namespace", "seconds"})
_BATCH_FIELDS = frozenset({"timers"})

#: The web UI's build output (webui/ in the repository): index.html is the
#: home page, and its assets are served under /ui.
WEBUI_DIRECTORY = Path(__file__).parent / "webui"

# Served at / when the package was installed without the web UI built.
_HOME_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Timer service</title>
<style>body { font: 16px/1.5 system-ui, sans-serif; margin: 2rem auto;
max-width: 40rem; padding: 0 1rem; }</style></head><body>
<h1>Timer service</h1>
<p>This server runs the timer API at <code>/api/v1</code>. Its web UI is not
built into this installation (<code>npm ci &amp;&amp; npm run build</code> in
<code>webui/</code> of the repository builds it).</p>
<ul>
<li><a href="/docs">API reference</a></li>
<li><a href="/api/v1/openapi.json">OpenAPI document</a></li>
<li><a href="/api/v1/namespaces">Namespaces and their timers</a></li>
<li><a href="/metrics">Metrics</a></li>
<li><a href="/readyz">Readiness</a></li>
</ul>
</body></html>
"""


class _WebUIFiles(StaticFiles):
    """The web UI's assets; a 404 rather than a 500 where it is not built."""

    async def check_config(self) -> None:
        if not WEBUI_DIRECTORY.is_dir():
            raise HTTPException(404)

        await super().check_config()


@attrs.define
class ServerState:
    """What the request handlers share.

    ``starting`` holds every route but ``/healthz`` and ``/readyz`` at 503
    until the storage is open; ``draining`` turns readiness red while the
    process shuts down.
    """

    kernel: Kernel
    settings: Settings
    metrics: Metrics
    starting: bool = False
    draining: bool = False
    url_guard: Callable[[str], str | None] | None = None
    events: EventHub = attrs.field(factory=EventHub)
    activity: Activity = attrs.field(factory=Activity)
    #: Where request spans go; the OpenTelemetry API's global one by default.
    tracer_provider: TracerProvider | None = None


def _json(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(data),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _timer_response(
    timer: Timer, status: int = 200, *, location: bool = False
) -> Response:
    headers = {"ETag": f'"{timer.version}"'}
    if location:
        headers["Location"] = (
            f"{API}/namespaces/{timer.namespace}/timers/{quote(timer.id, safe=':@.-_')}"
        )

    return _json(timer_to_dict(timer), status, headers)


class Api:
    """The request handlers, bound to one :class:`ServerState`."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.kernel = state.kernel
        self.limits = state.settings.limits

    # -- request reading ----------------------------------------------------

    async def _read_json(self, request: Request) -> Any:
        content_type = request.headers.get("content-type")
        if content_type is not None:
            media_type = content_type.split(";", 1)[0].strip().lower()
            if media_type != "application/json" and not media_type.endswith("+json"):
                raise invalid_field("Content-Type", "must be application/json")

        limit = self.limits.max_body_bytes
        declared = _whole_number(request.headers.get("content-length", ""))
        if declared is not None and declared > limit:
            raise _body_too_large(declared, limit)

        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _body_too_large(size, limit)

            chunks.append(chunk)

        body = b"".join(chunks)
        if not body.strip():
            raise invalid_field("body", "must be a JSON object; the body is empty")

        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise invalid_field("body", f"is not valid JSON: {exc}") from None

    def _namespace(self, request: Request) -> str:
        namespace: str = request.path_params["namespace"]
        check_namespace(namespace)
        return namespace

    # -- timers -------------------------------------------------------------

    async def create_timer(self, request: Request) -> Response:
        namespace = self._namespace(request)
        data = await self._read_json(request)
        spec = parse_timer_spec(
            data,
            max_payload_bytes=self.limits.max_payload_bytes,
            url_guard=self.state.url_guard,
        )
        result = await self.kernel.create_timer(namespace, spec)
        return _timer_response(
            result.timer, 201 if result.created else 200, location=True
        )

    async def batch_create(self, request: Request) -> Response:
        namespace = self._namespace(request)
        data = await self._read_json(request)
        items = self._batch_items(data)

        results: list[dict[str, Any] | None] = [None] * len(items)
        specs = []
        positions = []
        for position, item in enumerate(items):
            try:
                spec = parse_timer_spec(
                    item,
                    max_payload_bytes=self.limits.max_payload_bytes,
                    url_guard=self.state.url_guard,
                )
            except TimerKernelError as exc:
                results[position] = _item_error(exc)
                continue

            specs.append(spec)
            positions.append(position)

        outcomes = await self.kernel.create_timers(namespace, specs)
        for position, outcome in zip(positions, outcomes, strict=True):
            if isinstance(outcome, TimerKernelError):
                if isinstance(outcome, StorageError):
                    raise outcome

                results[position] = _item_error(outcome)
            else:
                results[position] = {
                    "status": 201 if outcome.created else 200,
                    "timer": timer_to_dict(outcome.timer),
                }

        return _json({"results": results})

    def _batch_items(self, data: Any) -> list[Any]:
        if not isinstance(data, dict):
            raise invalid_field("body", "must be a JSON object with a timers array")

        unknown = [
            FieldError(name, "is not a known field")
            for name in data
            if name not in _BATCH_FIELDS
        ]
        items = data.get("timers")
        if not isinstance(items, list):
            raise invalid(
                [*unknown, FieldError("timers", "is required and must be an array")]
            )

        limit = self.limits.max_batch
        if not 1 <= len(items) <= limit:
            unknown.append(
                FieldError("timers", f"must hold 1 to {limit} timers, not {len(items)}")
            )

        if unknown:
            raise invalid(unknown)

        return items

    async def get_timer(self, request: Request) -> Response:
        namespace = self._namespace(request)
        timer = await self.kernel.get_timer(namespace, request.path_params["timer_id"])
        return _timer_response(timer)

    async def update_timer(self, request: Request) -> Response:
        namespace = self._namespace(request)
        timer_id = request.path_params["timer_id"]
        expected = await self._expected_version(request, namespace, timer_id)
        data = await self._read_json(request)
        patch = parse_timer_patch(
            data,
            max_payload_bytes=self.limits.max_payload_bytes,
            url_guard=self.state.url_guard,
        )
        timer = await self.kernel.update_timer(
            namespace, timer_id, patch, expected_version=expected
        )
        return _timer_response(timer)

    async def delete_timer(self, request: Request) -> Response:
        namespace = self._namespace(request)
        timer_id = request.path_params["timer_id"]
        expected = await self._expected_version(request, namespace, timer_id)
        await self.kernel.delete_timer(namespace, timer_id, expected_version=expected)
        return Response(status_code=204)

    async def _expected_version(
        self, request: Request, namespace: str, timer_id: str
    ) -> int | None:
        """The version ``If-Match`` names; ``*`` only needs the timer to exist."""
        header = request.headers.get("if-match")
        if header is None:
            return None

        value = header.strip()
        if value == "*":
            await self.kernel.get_timer(namespace, timer_id)
            return None

        if value.startswith("W/"):
            value = value[2:]

        version = _whole_number(value.strip('"'))
        if version is None:
            raise invalid_field("If-Match", 'must be a timer version, such as "3"')

        return version

    async def list_timers(self, request: Request) -> Response:
        namespace = self._namespace(request)
        query, page_token = _read_list_query(
            request, max_page_size=self.limits.max_page_size
        )
        page = await self.kernel.list_timers(namespace, query, page_token)
        return _json(
            {
                "timers": [timer_to_dict(timer) for timer in page.timers],
                "next_page_token": page.next_page_token,
            }
        )

    async def list_attempts(self, request: Request) -> Response:
        namespace = self._namespace(request)
        attempts = await self.kernel.list_attempts(
            namespace, request.path_params["timer_id"]
        )
        return _json({"attempts": [attempt_to_dict(attempt) for attempt in attempts]})

    async def list_namespaces(self, request: Request) -> Response:
        namespaces = await self.kernel.count_timers()
        key = api_key_of(request)
        if key is not None and key.namespaces is not None:
            # A scoped key sees its own namespaces, those without timers yet
            # included: a client shows them as what it may use.
            counted = {entry.name: entry for entry in namespaces}
            namespaces = [
                counted.get(name) or NamespaceCounts(name=name, counts={})
                for name in sorted(key.namespaces)
            ]

        return _json(
            {
                "namespaces": [
                    {
                        "name": entry.name,
                        "counts": {
                            status.value: entry.counts.get(status, 0)
                            for status in TimerStatus
                        },
                    }
                    for entry in namespaces
                ]
            }
        )

    # -- what the web UI watches -------------------------------------------

    async def watch_events(self, request: Request) -> Response:
        namespace = self._namespace(request)
        _refuse_unknown_parameters(request, frozenset())
        return StreamingResponse(
            self.state.events.stream(namespace),
            media_type="text/event-stream",
            # Proxies must pass each event on as it comes.
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def export_timers(self, request: Request) -> Response:
        namespace = self._namespace(request)
        query, _ = _read_list_query(request, known=_EXPORT_PARAMETERS)
        export_format = request.query_params.get("format", "json")
        if export_format not in MEDIA_TYPES:
            raise invalid_field("format", "must be csv or json")

        export = export_csv if export_format == "csv" else export_json
        filename = f"{namespace}-timers.{export_format}"
        return StreamingResponse(
            export(self.kernel, namespace, query),
            media_type=MEDIA_TYPES[export_format],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    async def activity(self, request: Request) -> Response:
        params = request.query_params
        _refuse_unknown_parameters(request, _ACTIVITY_PARAMETERS)
        namespace = params.get("namespace")
        if namespace is not None:
            check_namespace(namespace)

        seconds = _whole_number(params.get("seconds", "300"))
        if seconds is None or not 1 <= seconds <= ACTIVITY_SECONDS:
            raise invalid_field(
                "seconds", f"must be a whole number from 1 to {ACTIVITY_SECONDS}"
            )

        return _json(self.state.activity.report(seconds, namespace))

    # -- operations -------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if self.state.starting:
            raise ApiError(503, "unavailable", "the server is starting")

        if self.state.draining:
            raise ApiError(503, "unavailable", "the server is shutting down")

        try:
            with anyio.fail_after(READY_TIMEOUT_SECONDS):
                await self.kernel.store.ping()
        except (StorageError, TimeoutError) as exc:
            raise ApiError(
                503, "unavailable", f"the storage is not reachable: {exc}"
            ) from None

        return _json({"status": "ready"})

    async def metrics(self, request: Request) -> Response:
        if not self.state.starting:
            await self.state.metrics.refresh(self.kernel)

        body, content_type = self.state.metrics.render()
        return Response(body, media_type=content_type)

    async def openapi(self, request: Request) -> Response:
        return _json(self._document())

    async def docs(self, request: Request) -> Response:
        return HTMLResponse(render_docs_page(self._document()))

    def _document(self) -> dict[str, Any]:
        return build_openapi(
            self.limits, authenticated=self.state.settings.auth.enabled
        )

    async def home(self, request: Request) -> Response:
        index = WEBUI_DIRECTORY / "index.html"
        if index.is_file():
            # The page names its hashed assets, so it must not be cached.
            return FileResponse(index, headers={"Cache-Control": "no-cache"})

        return HTMLResponse(_HOME_PAGE)


def _whole_number(text: str) -> int | None:
    """*text* as a whole number, if it is one to 18 ASCII digits.

    ``str.isdigit`` alone would pass superscripts and other digits that
    ``int`` refuses, and ``int`` refuses very long numbers too.
    """
    if not 1 <= len(text) <= 18 or not text.isascii() or not text.isdigit():
        return None

    return int(text)


def _body_too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"the request body is {size} bytes, over the limit of {limit}",
        {"field": "body", "size": size, "limit": limit},
    )


def _item_error(error: TimerKernelError) -> dict[str, Any]:
    api_error = from_kernel_error(error)
    return {"status": api_error.status, "error": api_error.body()["error"]}


def _unknown_parameters(request: Request, known: frozenset[str]) -> list[FieldError]:
    return [
        FieldError(name, "is not a known query parameter")
        for name in request.query_params
        if name not in known
    ]


def _refuse_unknown_parameters(request: Request, known: frozenset[str]) -> None:
    errors = _unknown_parameters(request, known)
    if errors:
        raise invalid(errors)


def _read_list_query(
    request: Request,
    *,
    known: frozenset[str] = _LIST_PARAMETERS,
    max_page_size: int = DEFAULT_PAGE_SIZE,
) -> tuple[TimerQuery, str | None]:
    params = request.query_params
    errors = _unknown_parameters(request, known)

    statuses: set[TimerStatus] = set()
    for value in params.getlist("status"):
        for part in value.split(","):
            try:
                statuses.add(TimerStatus(part))
            except ValueError:
                errors.append(
                    FieldError("status", "must be scheduled, succeeded or failed")
                )

    times: dict[str, Any] = {}
    for name in ("fire_after", "fire_before"):
        text = params.get(name)
        if text is not None:
            try:
                times[name] = parse_time(text)
            except ValueError as exc:
                errors.append(FieldError(name, str(exc)))

    limit = min(DEFAULT_PAGE_SIZE, max_page_size)
    raw_limit = params.get("limit")
    if raw_limit is not None:
        asked = _whole_number(raw_limit)
        if asked is not None and 1 <= asked <= max_page_size:
            limit = asked
        else:
            errors.append(
                FieldError("limit", f"must be a whole number from 1 to {max_page_size}")
            )

    id_prefix = params.get("id_prefix")
    if id_prefix is not None and len(id_prefix) > 255:
        errors.append(FieldError("id_prefix", "must be at most 255 characters"))

    page_token = params.get("page_token")
    if page_token is not None and len(page_token) > 2048:
        errors.append(FieldError("page_token", "is not a page token of this query"))

    if errors:
        raise invalid(errors)

    query = TimerQuery(
        statuses=frozenset(statuses),
        fire_after=times.get("fire_after"),
        fire_before=times.get("fire_before"),
        id_prefix=id_prefix or None,
        limit=limit,
    )
    return query, page_token or None


# -- error handlers ---------------------------------------------------------


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _on_kernel_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TimerKernelError)
    error = from_kernel_error(exc)
    if isinstance(exc, StorageError):
        logger.warning(
            "storage failed during %s %s: %s", request.method, request.url.path, exc
        )
    elif error.status >= 500:
        logger.error("unexpected kernel error", exc_info=exc)

    return error.response()


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on this path.

    Starlette names only those of the first route that matched the path,
    and a timer's path has one route per method.
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        if not isinstance(route, Route) or route.methods is None:
            continue

        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= route.methods

    return ", ".join(sorted(methods))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allow = _allowed_methods(request)
        return ApiError(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed here; allowed: {allow}",
            headers={"Allow": allow},
        ).response()

    if exc.status_code == 404:
        return ApiError(404, "not_found", f"no route {request.url.path}").response()

    return ApiError(exc.status_code, "invalid_argument", str(exc.detail)).response()


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    logger.error(
        "internal error on %s %s", request.method, request.url.path, exc_info=exc
    )
    return ApiError(500, "internal", "internal error").response()


class StartupGate:
    """Answers the API's routes with 503 until the storage is open.

    The probes, the metrics and the pages that need no storage answer all
    along, so that an orchestrator sees a live process that is not ready.
    """

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.state.starting
            and scope["type"] == "http"
            and needs_key(scope.get("path", ""))
        ):
            error = ApiError(
                503,
                "unavailable",
                "the server is starting: its storage is not open yet",
                headers={"Retry-After": "1"},
            )
            await error.response()(scope, receive, send)
            return

        await self.app(scope, receive, send)


def create_ops_app(state: ServerState) -> Starlette:
    """The health, readiness and metrics routes alone, for a runner process."""
    api = Api(state)
    routes = [
        Route("/healthz", api.healthz, methods=["GET"], name="healthz"),
        Route("/readyz", api.readyz, methods=["GET"], name="readyz"),
        Route("/metrics", api.metrics, methods=["GET"], name="metrics"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            ApiError: _on_api_error,
            HTTPException: _on_http_error,
            Exception: _on_unexpected,
        },
    )
    app.state.server = state
    return app


def create_app(
    state: ServerState, *, extra_routes: list[Route] | None = None
) -> Starlette:
    """Build the application over *state*."""
    if state.url_guard is None:
        state.url_guard = make_url_guard(
            allow_private=state.settings.private_networks_allowed
        )

    api = Api(state)
    timers = f"{API}/namespaces/{{namespace}}/timers"
    routes = [
        Route(timers, api.create_timer, methods=["POST"], name="create_timer"),
        Route(timers, api.list_timers, methods=["GET"], name="list_timers"),
        Route(
            f"{timers}:batchCreate",
            api.batch_create,
            methods=["POST"],
            name="batch_create",
        ),
        Route(
            f"{timers}:export",
            api.export_timers,
            methods=["GET"],
            name="export_timers",
        ),
        Route(
            f"{timers}/{{timer_id}}", api.get_timer, methods=["GET"], name="get_timer"
        ),
        Route(
            f"{timers}/{{timer_id}}",
            api.update_timer,
            methods=["PATCH"],
            name="update_timer",
        ),
        Route(
            f"{timers}/{{timer_id}}",
            api.delete_timer,
            methods=["DELETE"],
            name="delete_timer",
        ),
        Route(
            f"{timers}/{{timer_id}}/attempts",
            api.list_attempts,
            methods=["GET"],
            name="list_attempts",
        ),
        Route(
            f"{API}/namespaces",
            api.list_namespaces,
            methods=["GET"],
            name="list_namespaces",
        ),
        Route(
            f"{API}/namespaces/{{namespace}}/events",
            api.watch_events,
            methods=["GET"],
            name="watch_events",
        ),
        Route(f"{API}/activity", api.activity, methods=["GET"], name="activity"),
        Route(f"{API}/openapi.json", api.openapi, methods=["GET"], name="openapi"),
        Route("/", api.home, methods=["GET"], name="home"),
        Route("/docs", api.docs, methods=["GET"], name="docs"),
        Route("/healthz", api.healthz, methods=["GET"], name="healthz"),
        Route("/readyz", api.readyz, methods=["GET"], name="readyz"),
        Route("/metrics", api.metrics, methods=["GET"], name="metrics"),
        Mount(
            "/ui",
            _WebUIFiles(directory=WEBUI_DIRECTORY, check_dir=False),
            name="webui",
        ),
        *(extra_routes or []),
    ]
    middleware = [
        Middleware(RequestMetricsMiddleware, metrics=state.metrics),
        Middleware(StartupGate, state=state),
    ]
    tracer = request_tracer(state.tracer_provider)
    if tracer is not None:
        # Outermost but for the metrics: a refused key is a traced request too.
        middleware.append(Middleware(TracingMiddleware, tracer=tracer))

    if state.settings.auth.enabled:
        middleware.append(Middleware(ApiKeyMiddleware, keys=state.settings.auth.keys))

    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            ApiError: _on_api_error,
            TimerKernelError: _on_kernel_error,
            PayloadTooLarge: _on_kernel_error,
            HTTPException: _on_http_error,
            Exception: _on_unexpected,
        },
    )
    app.state.server = state
    state.metrics.watch(state.kernel)
    state.events.watch(state.kernel)
    state.activity.watch(state.kernel)
    return app
