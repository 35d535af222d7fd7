"""What the sync and async clients share: each API call as data, and its answer.

A :class:`Call` says what to send and how to read the answer; the clients
only differ in how they send it and wait between retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import attrs
import httpx

from ._codec import (
    DecodeError,
    attempts_from_dict,
    batch_from_dict,
    callback_to_dict,
    error_from_body,
    format_time,
    namespaces_from_dict,
    page_from_dict,
    retry_policy_to_dict,
    spec_to_dict,
    timer_from_dict,
)
from ._exceptions import (
    ConnectionFailed,
    InvalidResponse,
    RequestTimedOut,
    TimerClientError,
)
from ._models import (
    UNSET,
    Attempt,
    BatchResult,
    Callback,
    Namespace,
    RetryPolicy,
    Timer,
    TimerPage,
    TimerSpec,
    TimerStatus,
)
from ._retry import RetrySettings, parse_retry_after
from ._version import __version__

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT_SECONDS = 30.0
USER_AGENT = f"timerkernel-python/{__version__}"
API = "/api/v1"

_JSON_HEADERS = {"Content-Type": "application/json"}
_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


@attrs.frozen
class Call(Generic[T]):
    """One API call: the request, whether it may be repeated, its decoder."""

    method: str
    path: str
    decode: Callable[[Any], T]
    params: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    if_match: int | None = None
    #: Whether a repeat cannot change the outcome, so that a request whose
    #: answer was lost may be sent again.
    retry_safe: bool = True


def segment(value: str, what: str) -> str:
    """Quote *value* as one path segment.

    The server decodes ``%2F`` before routing, so a slash or a dot segment
    would reach another resource: such values are refused here.
    """
    if not value or "/" in value or value in (".", ".."):
        raise ValueError(f"{what} {value!r} cannot be a path segment")

    return quote(value, safe=":@._-~")


def _encode(body: Any) -> bytes:
    return _encoder.encode(body).encode()


def _timers_path(namespace: str) -> str:
    return f"{API}/namespaces/{segment(namespace, 'namespace')}/timers"


def _timer_path(namespace: str, timer_id: str) -> str:
    return f"{_timers_path(namespace)}/{segment(timer_id, 'timer id')}"


def _none(data: Any) -> None:
    return None


# -- the calls ----------------------------------------------------------------


def create_timer(namespace: str, spec: TimerSpec) -> Call[Timer]:
    return Call(
        "POST",
        _timers_path(namespace),
        timer_from_dict,
        body=_encode(spec_to_dict(spec)),
    )


def batch_create_timers(
    namespace: str, specs: list[TimerSpec]
) -> Call[list[BatchResult]]:
    body = {"timers": [spec_to_dict(spec) for spec in specs]}
    return Call(
        "POST",
        f"{_timers_path(namespace)}:batchCreate",
        batch_from_dict,
        body=_encode(body),
    )


def get_timer(namespace: str, timer_id: str) -> Call[Timer]:
    return Call("GET", _timer_path(namespace, timer_id), timer_from_dict)


def update_timer(
    namespace: str,
    timer_id: str,
    *,
    fire_at: datetime | None,
    delay_seconds: float | None,
    callback: Callback | str | None,
    payload: Any,
    retry_policy: RetryPolicy | None,
    expected_version: int | None,
) -> Call[Timer]:
    if fire_at is not None and delay_seconds is not None:
        raise ValueError("give at most one of fire_at and delay_seconds")

    body: dict[str, Any] = {}
    if fire_at is not None:
        body["fire_at"] = format_time(fire_at)

    if delay_seconds is not None:
        body["delay_seconds"] = delay_seconds

    if callback is not None:
        if isinstance(callback, str):
            callback = Callback(callback)

        body["callback"] = callback_to_dict(callback)

    if payload is not UNSET:
        body["payload"] = payload

    if retry_policy is not None:
        body["retry_policy"] = retry_policy_to_dict(retry_policy)

    return Call(
        "PATCH",
        _timer_path(namespace, timer_id),
        timer_from_dict,
        body=_encode(body),
        if_match=expected_version,
        # Without a version a repeat could undo a change made meanwhile;
        # with one, a repeat after success fails with 412 instead.
        retry_safe=expected_version is not None,
    )


def delete_timer(
    namespace: str, timer_id: str, *, expected_version: int | None
) -> Call[None]:
    return Call(
        "DELETE", _timer_path(namespace, timer_id), _none, if_match=expected_version
    )


def list_query(
    *,
    status: TimerStatus | str | Iterable[TimerStatus | str] | None,
    fire_after: datetime | None,
    fire_before: datetime | None,
    id_prefix: str | None,
    limit: int | None,
    page_token: str | None,
) -> tuple[tuple[str, str], ...]:
    """The query of a listing, in a stable order."""
    params: list[tuple[str, str]] = []
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        params.extend(("status", str(item)) for item in statuses)

    if fire_after is not None:
        params.append(("fire_after", format_time(fire_after)))

    if fire_before is not None:
        params.append(("fire_before", format_time(fire_before)))

    if id_prefix is not None:
        params.append(("id_prefix", id_prefix))

    if limit is not None:
        params.append(("limit", str(limit)))

    if page_token is not None:
        params.append(("page_token", page_token))

    return tuple(params)


def list_timers(namespace: str, params: tuple[tuple[str, str], ...]) -> Call[TimerPage]:
    return Call("GET", _timers_path(namespace), page_from_dict, params=params)


def next_page(
    params: tuple[tuple[str, str], ...], page: TimerPage
) -> tuple[tuple[str, str], ...] | None:
    """The query of the page after *page*, or ``None`` after the last one.

    :raises InvalidResponse: the server handed back the token it was given,
        which would fetch the same page forever
    """
    token = page.next_page_token
    if token is None:
        return None

    if ("page_token", token) in params:
        raise InvalidResponse(f"the listing repeated its page token {token!r}")

    kept = tuple(item for item in params if item[0] != "page_token")
    return (*kept, ("page_token", token))


def list_namespaces() -> Call[list[Namespace]]:
    return Call("GET", f"{API}/namespaces", namespaces_from_dict)


def list_attempts(namespace: str, timer_id: str) -> Call[list[Attempt]]:
    return Call(
        "GET", f"{_timer_path(namespace, timer_id)}/attempts", attempts_from_dict
    )


# -- sending, shared by both clients -----------------------------------------


class RequestCodec:
    """Turns calls into httpx requests and answers into values or errors.

    It holds what every request carries (base URL, headers) and decides
    which failures are retried; both clients send through it.
    """

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None,
        user_agent: str | None,
        retry: RetrySettings,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        # The application is the more significant product, so it goes first.
        agent = USER_AGENT if not user_agent else f"{user_agent} {USER_AGENT}"
        self.headers = {"User-Agent": agent, "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def request_arguments(self, call: Call[Any]) -> dict[str, Any]:
        headers = self.headers
        if call.body is not None or call.if_match is not None:
            headers = dict(headers)
            if call.body is not None:
                headers.update(_JSON_HEADERS)

            if call.if_match is not None:
                headers["If-Match"] = f'"{call.if_match}"'

        arguments: dict[str, Any] = {
            "method": call.method,
            "url": self.base_url + call.path,
            "headers": headers,
        }
        if call.params:
            arguments["params"] = call.params

        if call.body is not None:
            arguments["content"] = call.body

        return arguments

    def retry_delay(
        self, call: Call[Any], retry: int, response: httpx.Response | None
    ) -> float | None:
        """The wait before retry number *retry*, or ``None`` to give up.

        *response* is the answer of the failed attempt, ``None`` when there
        was none (a connection error).
        """
        if not call.retry_safe or retry > self.retry.max_retries:
            return None

        if response is None:
            return self.retry.backoff(retry)

        if response.status_code != 503:
            return None

        return self.retry.backoff(
            retry, parse_retry_after(response.headers.get("Retry-After"))
        )

    def log_retry(self, call: Call[Any], retry: int, delay: float, cause: str) -> None:
        """Note at DEBUG that *call* goes again after *delay* seconds, and why."""
        logger.debug(
            "%s %s %s; retry %d in %.2f s",
            call.method,
            call.path,
            cause,
            retry,
            delay,
            extra={"method": call.method, "path": call.path, "retry": retry},
        )

    def failure(self, call: Call[Any], exc: httpx.TransportError) -> TimerClientError:
        """The client's error for an httpx error of *call*."""
        where = f"{call.method} {self.base_url}{call.path}"
        if isinstance(exc, httpx.TimeoutException):
            return RequestTimedOut(f"{where} timed out: {type(exc).__name__}: {exc}")

        return ConnectionFailed(f"{where} failed: {type(exc).__name__}: {exc}")

    def finish(self, call: Call[T], response: httpx.Response) -> T:
        """Read the answer of *call*: its value, or raise its error."""
        status = response.status_code
        logger.debug(
            "%s %s -> %d",
            call.method,
            call.path,
            status,
            extra={"method": call.method, "path": call.path, "status": status},
        )
        content = response.content
        if status >= 300:
            try:
                body = json.loads(content) if content else None
            except ValueError:
                body = None

            raise error_from_body(status, body, response.text if body is None else "")

        try:
            data = json.loads(content) if content else None
            return call.decode(data)
        except (ValueError, KeyError, TypeError, DecodeError) as exc:
            raise InvalidResponse(
                f"{call.method} {call.path} answered {status} with a body the "
                f"client cannot read: {exc}"
            ) from exc


#: httpx errors after which the request may not have reached the server, or
#: its answer was lost: worth a retry when the call is safe to repeat.
RETRIED_ERRORS = (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)
