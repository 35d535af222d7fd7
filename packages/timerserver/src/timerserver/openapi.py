"""The OpenAPI 3.0 document of the REST API, and the reference page made from it.

The document is written out here rather than derived from the handlers: it
is the machine-readable form of the contract, and a test checks that it and
the served routes name the same operations.
"""

from __future__ import annotations

import functools
import html
import json
from typing import Any

from timerkernel import (
    NAMESPACE_PATTERN,
    TIMER_ID_PATTERN,
    TimerEventKind,
    __version__,
)
from timerkernel._parsing import (
    MAX_ATTEMPTS_LIMIT,
    MAX_HEADER_VALUE_LENGTH,
    MAX_HEADERS,
    MAX_SECONDS,
    MAX_URL_LENGTH,
)

from .auth import needs_key
from .export import CSV_COLUMNS
from .live import ACTIVITY_SECONDS, Activity
from .settings import LimitSettings

_TIME = {"type": "string", "format": "date-time", "example": "2026-12-03T08:00:00.000Z"}
_NULLABLE_TIME = {**_TIME, "nullable": True}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }


def _json_body(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


_CALLBACK = {
    "type": "object",
    "required": ["url"],
    "additionalProperties": False,
    "properties": {
        "url": {
            "type": "string",
            "format": "uri",
            "pattern": "^[hH][tT][tT][pP][sS]?://[^/?#]",
            "maxLength": MAX_URL_LENGTH,
            "description": (
                "Absolute http or https URL with a host and no user or password, "
                "POSTed at fire time."
            ),
        },
        "timeout_seconds": {
            "type": "number",
            "minimum": 0.1,
            "maximum": 300,
            "default": 10,
            "description": "Timeout of one attempt.",
        },
        "headers": {
            "type": "object",
            "maxProperties": MAX_HEADERS,
            "additionalProperties": {
                "type": "string",
                "maxLength": MAX_HEADER_VALUE_LENGTH,
                "pattern": "^[^\r\n\u0000]*$",
            },
            "default": {},
            "description": (
                "Extra request headers, by name: HTTP tokens of at most 256 "
                "characters. The service's own (Content-Type, User-Agent, "
                "Timer-*, hop-by-hop headers) cannot be set."
            ),
        },
    },
}

_RETRY_POLICY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "max_attempts": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_ATTEMPTS_LIMIT,
            "default": 10,
            "description": "Attempts in all, the first included; 0 means unlimited.",
        },
        "initial_interval_seconds": {
            "type": "number",
            "exclusiveMinimum": True,
            "minimum": 0,
            "maximum": MAX_SECONDS,
            "default": 1,
            "description": "Delay before the second attempt.",
        },
        "backoff_coefficient": {
            "type": "number",
            "minimum": 1,
            "maximum": 100,
            "default": 2.0,
            "description": "Growth of the delay from one attempt to the next.",
        },
        "max_interval_seconds": {
            "type": "number",
            "exclusiveMinimum": True,
            "minimum": 0,
            "maximum": MAX_SECONDS,
            "default": 600,
            "description": "Cap on one delay; also caps Retry-After.",
        },
        "max_duration_seconds": {
            "type": "number",
            "nullable": True,
            "exclusiveMinimum": True,
            "minimum": 0,
            "maximum": MAX_SECONDS,
            "default": None,
            "description": (
                "Give up once the next attempt would start this long after the first."
            ),
        },
    },
}

_LAST_ERROR = {
    "type": "object",
    "nullable": True,
    "required": ["at", "kind", "message", "status_code"],
    "properties": {
        "at": _TIME,
        "kind": {
            "type": "string",
            "enum": ["timeout", "connection", "http_status", "invalid_response"],
        },
        "message": {"type": "string"},
        "status_code": {"type": "integer", "nullable": True},
    },
}

_FIRE_TIME = {
    "fire_at": {**_TIME, "description": "When the callback is due; any offset."},
    "delay_seconds": {
        "type": "number",
        "minimum": 0,
        "maximum": MAX_SECONDS,
        "description": "Alternative to fire_at: due this many seconds from now.",
    },
}

_TIMER = {
    "type": "object",
    "required": [
        "namespace",
        "id",
        "fire_at",
        "callback",
        "payload",
        "retry_policy",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "updated_at",
        "executed_at",
        "version",
    ],
    "properties": {
        "namespace": {"type": "string"},
        "id": {"type": "string"},
        "fire_at": _TIME,
        "callback": _ref("Callback"),
        "payload": {
            "nullable": True,
            "description": "Opaque JSON handed back in the callback.",
        },
        "retry_policy": _ref("RetryPolicy"),
        "status": {"type": "string", "enum": ["scheduled", "succeeded", "failed"]},
        "attempts": {
            "type": "integer",
            "description": "Attempts since the timer was last (re)scheduled.",
        },
        "next_attempt_at": _NULLABLE_TIME,
        "last_error": _ref("LastError"),
        "created_at": _TIME,
        "updated_at": _TIME,
        "executed_at": _NULLABLE_TIME,
        "version": {"type": "integer", "minimum": 1, "description": "Also the ETag."},
    },
}


def _timer_create(max_payload_bytes: int) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "callback"],
        "additionalProperties": False,
        "description": "Exactly one of fire_at and delay_seconds is required.",
        "oneOf": [{"required": ["fire_at"]}, {"required": ["delay_seconds"]}],
        "properties": {
            "id": {"type": "string", "pattern": f"^{TIMER_ID_PATTERN.pattern}$"},
            **_FIRE_TIME,
            "callback": _ref("Callback"),
            "payload": {
                "nullable": True,
                "description": (
                    f"Any JSON, at most {max_payload_bytes} bytes serialized."
                ),
            },
            "retry_policy": _ref("RetryPolicy"),
        },
    }


_TIMER_UPDATE = {
    "type": "object",
    "additionalProperties": False,
    "description": (
        "Fields left out stay as they are; a new fire time re-arms the timer. "
        "At most one of fire_at and delay_seconds."
    ),
    "not": {"required": ["fire_at", "delay_seconds"]},
    "properties": {
        **_FIRE_TIME,
        "callback": _ref("Callback"),
        "payload": {"nullable": True},
        "retry_policy": _ref("RetryPolicy"),
    },
}

_ATTEMPT = {
    "type": "object",
    "required": [
        "attempt",
        "fire_at",
        "started_at",
        "duration_ms",
        "outcome",
        "status_code",
        "error",
    ],
    "properties": {
        "attempt": {"type": "integer", "minimum": 1},
        "fire_at": _TIME,
        "started_at": _TIME,
        "duration_ms": {"type": "integer", "minimum": 0},
        "outcome": {"type": "string", "enum": ["succeeded", "rescheduled", "failed"]},
        "status_code": {"type": "integer", "nullable": True},
        "error": _ref("LastError"),
    },
}

# One server-sent event, as the fields of its lines; keep-alive comments are
# not events.
_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {
            "type": "string",
            "enum": ["ready", *(kind.value for kind in TimerEventKind)],
        },
        "data": {
            "type": "string",
            "description": '{} for ready, else JSON: {"kind": ..., "timer": {...}}.',
        },
        "retry": {
            "type": "integer",
            "minimum": 0,
            "description": "Milliseconds a client waits before it reconnects.",
        },
    },
}

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {
                    "type": "string",
                    "enum": [
                        "invalid_argument",
                        "unauthenticated",
                        "permission_denied",
                        "not_found",
                        "method_not_allowed",
                        "already_exists",
                        "precondition_failed",
                        "payload_too_large",
                        "unavailable",
                        "internal",
                    ],
                },
                "message": {"type": "string"},
                "details": {
                    "type": "object",
                    "description": (
                        "For invalid_argument, fields: [{field, reason}]; "
                        "for already_exists, existing: the stored timer."
                    ),
                },
            },
        }
    },
}

_BATCH_RESULT = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "integer", "enum": [200, 201, 400, 409, 413]},
        "timer": _ref("Timer"),
        "error": _ERROR["properties"]["error"],  # type: ignore[index]
    },
}

_NAMESPACE_PARAM = {
    "name": "namespace",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": f"^{NAMESPACE_PATTERN.pattern}$"},
}
_ID_PARAM = {
    "name": "timer_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": f"^{TIMER_ID_PATTERN.pattern}$"},
}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The version the timer must be at, as in its ETag; * for any.",
    "schema": {
        "type": "string",
        "pattern": '^[ \\t]*(\\*|(W/)?"?[0-9]{1,18}"?)[ \\t]*$',
    },
}
_ETAG = {"ETag": {"description": "The timer's version.", "schema": {"type": "string"}}}

_COMMON_ERRORS = {
    "400": _error("A field is malformed, of the wrong type or out of range."),
    "503": _error("The storage is unavailable; retry later."),
}
_UNAUTHENTICATED = {
    **_error("API keys are configured and the bearer token is missing or wrong."),
    "headers": {
        "WWW-Authenticate": {
            "description": 'The challenge: Bearer realm="timerserver".',
            "schema": {"type": "string"},
        }
    },
}
_PERMISSION_DENIED = _error("The API key does not cover this namespace.")
_BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": (
        "An API key of the server's configuration, sent as Authorization: "
        "Bearer <token>. The key must cover the namespace of the request."
    ),
}


_STATUS_PARAM = {
    "name": "status",
    "in": "query",
    "style": "form",
    "explode": True,
    "schema": {
        "type": "array",
        "items": {"type": "string", "enum": ["scheduled", "succeeded", "failed"]},
    },
}


def _timer_answer(description: str) -> dict[str, Any]:
    return {**_json_body(_ref("Timer"), description), "headers": _ETAG}


@functools.cache
def _document(
    max_page_size: int, max_batch: int, max_payload_bytes: int, authenticated: bool
) -> str:
    timers = "/api/v1/namespaces/{namespace}/timers"
    paths: dict[str, Any] = {
        timers: {
            "post": {
                "operationId": "createTimer",
                "summary": "Create a timer",
                "description": (
                    "A repeated create with the same definition answers 200 with the "
                    "stored timer and never fires it again; a different one, 409."
                ),
                "tags": ["timers"],
                "parameters": [_NAMESPACE_PARAM],
                "requestBody": {"required": True, **_json_body(_ref("TimerCreate"))},
                "responses": {
                    "201": {
                        **_timer_answer("Created."),
                        "headers": {
                            **_ETAG,
                            "Location": {"schema": {"type": "string"}},
                        },
                    },
                    "200": _timer_answer("The same timer existed already."),
                    "409": _error("The id holds a different timer."),
                    "413": _error("The body or the payload is too large."),
                    **_COMMON_ERRORS,
                },
            },
            "get": {
                "operationId": "listTimers",
                "summary": "List timers",
                "description": "Ordered by fire_at, then id; keyset pagination.",
                "tags": ["timers"],
                "parameters": [
                    _NAMESPACE_PARAM,
                    _STATUS_PARAM,
                    {"name": "fire_after", "in": "query", "schema": _TIME},
                    {"name": "fire_before", "in": "query", "schema": _TIME},
                    {"name": "id_prefix", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": max_page_size,
                            "default": min(50, max_page_size),
                        },
                    },
                    {"name": "page_token", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": _json_body(_ref("TimerList"), "A page of timers."),
                    **_COMMON_ERRORS,
                },
            },
        },
        f"{timers}:batchCreate": {
            "post": {
                "operationId": "batchCreateTimers",
                "summary": f"Create up to {max_batch} timers",
                "description": "Each item is judged as a single create; not atomic.",
                "tags": ["timers"],
                "parameters": [_NAMESPACE_PARAM],
                "requestBody": {
                    "required": True,
                    **_json_body(_ref("BatchCreateRequest")),
                },
                "responses": {
                    "200": _json_body(
                        _ref("BatchCreateResponse"), "One result per item."
                    ),
                    "413": _error("The body is too large."),
                    **_COMMON_ERRORS,
                },
            }
        },
        f"{timers}/{{timer_id}}": {
            "get": {
                "operationId": "getTimer",
                "summary": "Get a timer",
                "tags": ["timers"],
                "parameters": [_NAMESPACE_PARAM, _ID_PARAM],
                "responses": {
                    "200": _timer_answer("The timer."),
                    "404": _error("No such timer."),
                    **_COMMON_ERRORS,
                },
            },
            "patch": {
                "operationId": "updateTimer",
                "summary": "Change a timer",
                "tags": ["timers"],
                "parameters": [_NAMESPACE_PARAM, _ID_PARAM, _IF_MATCH],
                "requestBody": {"required": True, **_json_body(_ref("TimerUpdate"))},
                "responses": {
                    "200": _timer_answer("The changed timer."),
                    "404": _error("No such timer."),
                    "412": _error("If-Match does not match the version."),
                    "413": _error("The body or the payload is too large."),
                    **_COMMON_ERRORS,
                },
            },
            "delete": {
                "operationId": "deleteTimer",
                "summary": "Delete a timer",
                "tags": ["timers"],
                "parameters": [_NAMESPACE_PARAM, _ID_PARAM, _IF_MATCH],
                "responses": {
                    "204": {"description": "Deleted: it will not fire."},
                    "404": _error("No such timer."),
                    "412": _error("If-Match does not match the version."),
                    **_COMMON_ERRORS,
                },
            },
        },
        f"{timers}/{{timer_id}}/attempts": {
            "get": {
                "operationId": "listAttempts",
                "summary": "The timer's recent delivery attempts",
                "tags": ["timers"],
                "parameters": [_NAMESPACE_PARAM, _ID_PARAM],
                "responses": {
                    "200": _json_body(_ref("AttemptList"), "Newest first."),
                    "404": _error("No such timer."),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/v1/namespaces": {
            "get": {
                "operationId": "listNamespaces",
                "summary": "Namespaces with their timer counts",
                "description": (
                    "The namespaces that hold timers. With an API key for "
                    "some namespaces only, exactly those, empty ones included."
                ),
                "tags": ["namespaces"],
                "responses": {
                    "200": _json_body(_ref("NamespaceList"), "The namespaces."),
                    "503": _COMMON_ERRORS["503"],
                },
            }
        },
        f"{timers}:export": {
            "get": {
                "operationId": "exportTimers",
                "summary": "Every timer of a filter, streamed as CSV or JSON",
                "description": (
                    "Beyond the contract, for the web UI and for backups of a "
                    "namespace. Read a page at a time, so not a snapshot: a timer "
                    "changed during the export may be in it or not. CSV columns: "
                    + ", ".join(CSV_COLUMNS)
                    + " (payload as compact JSON)."
                ),
                "tags": ["web UI"],
                "parameters": [
                    _NAMESPACE_PARAM,
                    _STATUS_PARAM,
                    {"name": "fire_after", "in": "query", "schema": _TIME},
                    {"name": "fire_before", "in": "query", "schema": _TIME},
                    {"name": "id_prefix", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "format",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": ["csv", "json"],
                            "default": "json",
                        },
                    },
                ],
                "responses": {
                    "200": {
                        "description": "Every matching timer, in fire_at order.",
                        "headers": {
                            "Content-Disposition": {"schema": {"type": "string"}}
                        },
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": _ref("Timer")}
                            },
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/v1/namespaces/{namespace}/events": {
            "get": {
                "operationId": "watchEvents",
                "summary": "The namespace's timer events, as server-sent events",
                "description": (
                    "Beyond the contract, for the web UI. First an event `ready` "
                    "once the subscription is live, then one event per change "
                    "made by this process, named by its kind: "
                    + ", ".join(kind.value for kind in TimerEventKind)
                    + '. Each data line is `{"kind": ..., "timer": {...}}`. A '
                    "comment every 15 s keeps the connection; a stream that falls "
                    "1,000 events behind is closed, and the client reconnects. An "
                    "API process without a runner sees no deliveries."
                ),
                "tags": ["web UI"],
                "parameters": [_NAMESPACE_PARAM],
                "responses": {
                    "200": {
                        "description": (
                            "An endless text/event-stream; the schema is that of "
                            "one event."
                        ),
                        "content": {"text/event-stream": {"schema": _EVENT}},
                    },
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/v1/activity": {
            "get": {
                "operationId": "getActivity",
                "summary": "Creations, deliveries and failures per second, recently",
                "description": (
                    "Beyond the contract, for the web UI's dashboard: the counts "
                    "of this process, one per whole second, oldest first. "
                    "Deliveries count succeeded and rescheduled attempts; failures, "
                    "timers that finally failed."
                ),
                "tags": ["web UI"],
                "parameters": [
                    {
                        "name": "namespace",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "One namespace; all of them without it.",
                    },
                    {
                        "name": "seconds",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": ACTIVITY_SECONDS,
                            "default": 300,
                        },
                    },
                ],
                "responses": {
                    "200": _json_body(_ref("Activity"), "The recent counts."),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "tags": ["operations"],
                "responses": {"200": _json_body({"type": "object"}, "OpenAPI 3.0.")},
            }
        },
        "/": {
            "get": {
                "operationId": "getHome",
                "summary": "The server's home page",
                "tags": ["operations"],
                "responses": {
                    "200": {
                        "description": "HTML.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/docs": {
            "get": {
                "operationId": "getDocs",
                "summary": "The API reference as a page",
                "tags": ["operations"],
                "responses": {
                    "200": {
                        "description": "HTML.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "getHealth",
                "summary": "Liveness",
                "tags": ["operations"],
                "responses": {
                    "200": _json_body({"type": "object"}, "The process runs.")
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "getReadiness",
                "summary": "Readiness: storage answers, the process is not draining",
                "tags": ["operations"],
                "responses": {
                    "200": _json_body({"type": "object"}, "Ready."),
                    "503": _error("Not ready."),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "getMetrics",
                "summary": "Prometheus metrics",
                "tags": ["operations"],
                "responses": {
                    "200": {
                        "description": "Prometheus text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    document = {
        "openapi": "3.0.3",
        "info": {
            "title": "Timer service",
            "version": __version__,
            "description": (
                "Durable one-shot timers: at fire_at the service POSTs the callback, "
                "retries it by policy and lets the answer reschedule the timer."
            ),
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "timers"},
            {"name": "namespaces"},
            {"name": "operations"},
        ],
        "paths": paths,
        "components": {
            "schemas": {
                "Timer": _TIMER,
                "TimerCreate": _timer_create(max_payload_bytes),
                "TimerUpdate": _TIMER_UPDATE,
                "Callback": _CALLBACK,
                "RetryPolicy": _RETRY_POLICY,
                "LastError": _LAST_ERROR,
                "Attempt": _ATTEMPT,
                "Error": _ERROR,
                "TimerList": {
                    "type": "object",
                    "required": ["timers", "next_page_token"],
                    "properties": {
                        "timers": {"type": "array", "items": _ref("Timer")},
                        "next_page_token": {"type": "string", "nullable": True},
                    },
                },
                "AttemptList": {
                    "type": "object",
                    "required": ["attempts"],
                    "properties": {
                        "attempts": {"type": "array", "items": _ref("Attempt")}
                    },
                },
                "BatchCreateRequest": {
                    "type": "object",
                    "required": ["timers"],
                    "additionalProperties": False,
                    "properties": {
                        "timers": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": max_batch,
                            "items": _ref("TimerCreate"),
                        }
                    },
                },
                "BatchCreateResponse": {
                    "type": "object",
                    "required": ["results"],
                    "properties": {
                        "results": {"type": "array", "items": _BATCH_RESULT}
                    },
                },
                "Activity": {
                    "type": "object",
                    "required": ["step_seconds", "end", *Activity.KINDS],
                    "properties": {
                        "step_seconds": {"type": "integer"},
                        "end": {**_TIME, "description": "The end of the last step."},
                        **{
                            kind: {"type": "array", "items": {"type": "integer"}}
                            for kind in Activity.KINDS
                        },
                    },
                },
                "NamespaceList": {
                    "type": "object",
                    "required": ["namespaces"],
                    "properties": {
                        "namespaces": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "counts"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "counts": {
                                        "type": "object",
                                        "properties": {
                                            "scheduled": {"type": "integer"},
                                            "succeeded": {"type": "integer"},
                                            "failed": {"type": "integer"},
                                        },
                                    },
                                },
                            },
                        }
                    },
                },
            },
        },
    }
    if authenticated:
        _add_authentication(document)

    return json.dumps(document)


def _add_authentication(document: dict[str, Any]) -> None:
    """Name the key and its answers on the routes that need one; open the rest."""
    document["security"] = [{"bearerAuth": []}]
    document["components"]["securitySchemes"] = {"bearerAuth": _BEARER}
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if not needs_key(path):
                operation["security"] = []
                continue

            responses = operation["responses"]
            responses["401"] = _UNAUTHENTICATED
            # The list of namespaces shows what the key covers, never refuses.
            if "{namespace}" in path or "namespace" in _query_names(operation):
                responses["403"] = _PERMISSION_DENIED


def _query_names(operation: dict[str, Any]) -> set[str]:
    return {
        parameter["name"]
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    }


def build_openapi(
    limits: LimitSettings | None = None, *, authenticated: bool = False
) -> dict[str, Any]:
    """Return a fresh copy of the OpenAPI document of a server.

    :param limits: the limits it states; the defaults if None.
    :param authenticated: whether the server has API keys: then the document
        declares the bearer scheme and the ``401`` and ``403`` answers.
    """
    limits = limits or LimitSettings()
    document: dict[str, Any] = json.loads(
        _document(
            limits.max_page_size,
            limits.max_batch,
            limits.max_payload_bytes,
            authenticated,
        )
    )
    return document


_STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 960px;
  padding: 1rem; }
h2 { margin-top: 2rem; }
code, pre { font: 13px ui-monospace, monospace; }
pre { background: #f4f4f6; padding: .75rem; overflow-x: auto; }
.op { border: 1px solid #ddd; border-radius: 6px; margin: 1rem 0;
  padding: .5rem 1rem; }
.method { font-weight: bold; text-transform: uppercase; margin-right: .5rem; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ddd; padding: .25rem .5rem; }
"""


def render_docs_page(document: dict[str, Any]) -> str:
    """Render *document* as one self-contained HTML page (no scripts, no CDN)."""
    sections = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            sections.append(_render_operation(path, method, operation))

    schemas = "".join(
        f'<section id="schema-{html.escape(name)}"><h3>{html.escape(name)}</h3>'
        f"<pre>{html.escape(json.dumps(schema, indent=2))}</pre></section>"
        for name, schema in document["components"]["schemas"].items()
    )
    info = document["info"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(info["title"])} API reference</title>
<style>{_STYLE}</style></head><body>
<h1>{html.escape(info["title"])} API v{html.escape(info["version"])}</h1>
<p>{html.escape(info["description"])}</p>
<p>The machine-readable document is at
<a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>
<h2>Operations</h2>
{"".join(sections)}
<h2>Schemas</h2>
{schemas}
</body></html>
"""


def _render_operation(path: str, method: str, operation: dict[str, Any]) -> str:
    parameters = "".join(
        f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{html.escape(p['in'])}</td>"
        f"<td>{'yes' if p.get('required') else 'no'}</td>"
        f"<td>{html.escape(p.get('description', ''))}</td></tr>"
        for p in operation.get("parameters", [])
    )
    table = (
        f"<table><tr><th>parameter</th><th>in</th><th>required</th><th></th></tr>{parameters}</table>"
        if parameters
        else ""
    )
    body = (
        operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    )
    body_ref = body.get("schema", {}).get("$ref", "")
    body_line = (
        f'<p>Body: <a href="#schema-{body_ref.rsplit("/", 1)[-1]}">'
        f"{html.escape(body_ref.rsplit('/', 1)[-1])}</a></p>"
        if body_ref
        else ""
    )
    responses = ", ".join(
        f"<code>{html.escape(code)}</code> {html.escape(answer.get('description', ''))}"
        for code, answer in operation["responses"].items()
    )
    return (
        f'<div class="op"><p><span class="method">{html.escape(method)}</span>'
        f"<code>{html.escape(path)}</code></p>"
        f"<p><strong>{html.escape(operation.get('summary', ''))}</strong> "
        f"{html.escape(operation.get('description', ''))}</p>"
        f"{table}{body_line}<p>Responses: {responses}</p></div>"
    )
