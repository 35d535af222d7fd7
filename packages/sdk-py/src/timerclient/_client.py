"""The client for synchronous code."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from . import _requests as calls
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
from ._requests import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT_SECONDS,
    RETRIED_ERRORS,
    Call,
    RequestCodec,
)
from ._retry import RetrySettings

T = TypeVar("T")

#: Idle connections are closed after this long: well before the server's
#: own limit (75 s) and common load balancers' (60 s), so that the client is
#: the side that closes and never reuses a connection the other side dropped.
KEEPALIVE_EXPIRY_SECONDS = 15.0
DEFAULT_MAX_CONNECTIONS = 100

Statuses = TimerStatus | str | Iterable[TimerStatus | str]


class TimerClient:
    """A client of the timer service's REST API, for synchronous code.

    Use it as a context manager, or call :meth:`close`, to release its
    connections. It may be shared by threads.

    :param base_url: where the service is, such as ``https://timers.example``
    :param token: a bearer token, sent as ``Authorization: Bearer <token>``
    :param timeout: seconds that connecting, sending and each wait for the
        answer may take; 30 by default
    :param retry: how requests that got no answer or a 503 are retried
    :param user_agent: product tokens of the application, put before the
        client's own in the ``User-Agent``
    :param max_connections: connections open at once, all kept alive
        between requests; unused when *http_client* is given
    :param verify: the TLS settings of an ``https`` base URL: an
        ``ssl.SSLContext``, or ``True`` for httpx's defaults; unused when
        *http_client* is given
    :param http_client: an ``httpx.Client`` to send with (for proxies,
        certificates, event hooks); the caller closes it. Its own
        ``base_url`` is not used. *timeout* overrides its timeout only when
        given.
    :param sleep: waits between retries; ``time.sleep`` by default
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        token: str | None = None,
        timeout: float | None = None,
        retry: RetrySettings | None = None,
        user_agent: str | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        verify: ssl.SSLContext | bool = True,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._codec = RequestCodec(
            base_url=base_url,
            token=token,
            user_agent=user_agent,
            retry=retry or RetrySettings(),
        )
        self._sleep = sleep
        self._timeout: float | None = None
        if http_client is None:
            self._owns_http = True
            self._http = httpx.Client(
                timeout=DEFAULT_TIMEOUT_SECONDS if timeout is None else timeout,
                limits=httpx.Limits(
                    max_connections=max_connections,
                    max_keepalive_connections=max_connections,
                    keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
                ),
                verify=verify,
            )
        else:
            self._owns_http = False
            self._http = http_client
            self._timeout = timeout

    @property
    def base_url(self) -> str:
        """The service's address, as requests use it."""
        return self._codec.base_url

    @property
    def timeout(self) -> float | None:
        """The timeout of each step of a request, ``None`` if the given
        ``httpx.Client`` decides."""
        if self._owns_http:
            return self._http.timeout.read

        return self._timeout

    def close(self) -> None:
        """Close the connections, unless the ``httpx.Client`` was given."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- timers -------------------------------------------------------------

    def create_timer(
        self,
        namespace: str,
        id: str,
        *,
        callback: Callback | str,
        fire_at: datetime | None = None,
        delay_seconds: float | None = None,
        payload: Any = None,
        retry_policy: RetryPolicy | None = None,
    ) -> Timer:
        """Create a timer, or return the same one if it exists already.

        Give exactly one of *fire_at* and *delay_seconds*. Creating again an
        id that holds the same definition returns the stored timer
        unchanged (and does not fire it again), so a create is retried
        safely.

        :param namespace: the namespace, created on first use
        :param id: the timer's id, unique in the namespace
        :param callback: the URL the service POSTs at the fire time, or a
            :class:`Callback` with timeout and headers
        :param fire_at: when the timer is due, a timezone-aware datetime
        :param delay_seconds: due this long after the server takes the
            request
        :param payload: any JSON value, handed back in the callback
        :param retry_policy: how failed deliveries are retried
        :raises AlreadyExists: the id holds a different timer, which the
            error carries as ``existing``
        :raises InvalidArgument: a field is wrong; see the error's ``fields``
        :return: the stored timer
        """
        spec = TimerSpec(
            id=id,
            callback=callback,
            fire_at=fire_at,
            delay_seconds=delay_seconds,
            payload=payload,
            retry_policy=retry_policy,
        )
        return self._send(calls.create_timer(namespace, spec))

    def batch_create_timers(
        self, namespace: str, timers: Iterable[TimerSpec]
    ) -> list[BatchResult]:
        """Create many timers; each is judged as a single create would be.

        One request of at most 1,000 timers; the server answers a larger or
        empty batch with :class:`InvalidArgument`. The batch is not atomic:
        check each result. Sending it again is safe, since creates are
        deduplicated by id.

        :return: one result per timer, in the order given
        """
        return self._send(calls.batch_create_timers(namespace, list(timers)))

    def get_timer(self, namespace: str, id: str) -> Timer:
        """Return the timer.

        :raises NotFound: there is no such timer
        """
        return self._send(calls.get_timer(namespace, id))

    def update_timer(
        self,
        namespace: str,
        id: str,
        *,
        fire_at: datetime | None = None,
        delay_seconds: float | None = None,
        callback: Callback | str | None = None,
        payload: Any = UNSET,
        retry_policy: RetryPolicy | None = None,
        expected_version: int | None = None,
    ) -> Timer:
        """Change a timer; what is not given stays as it is.

        A new fire time re-arms the timer, also one that finished.

        :param payload: the new payload; ``None`` sets JSON ``null``
        :param expected_version: apply only if the timer is at this version
            (sent as ``If-Match``); only then is the update retried after a
            lost answer, where a repeat that finds the version moved on
            raises :class:`PreconditionFailed`
        :raises PreconditionFailed: the timer is not at *expected_version*
        :raises NotFound: there is no such timer
        :return: the timer as changed
        """
        call = calls.update_timer(
            namespace,
            id,
            fire_at=fire_at,
            delay_seconds=delay_seconds,
            callback=callback,
            payload=payload,
            retry_policy=retry_policy,
            expected_version=expected_version,
        )
        return self._send(call)

    def delete_timer(
        self, namespace: str, id: str, *, expected_version: int | None = None
    ) -> None:
        """Delete a timer: it will not fire (one delivery in flight still may).

        A delete retried after a lost answer may raise :class:`NotFound`
        when the first attempt did delete the timer.

        :param expected_version: delete only if the timer is at this version
        :raises NotFound: there is no such timer
        """
        self._send(calls.delete_timer(namespace, id, expected_version=expected_version))

    def list_timers(
        self,
        namespace: str,
        *,
        status: Statuses | None = None,
        fire_after: datetime | None = None,
        fire_before: datetime | None = None,
        id_prefix: str | None = None,
        limit: int | None = None,
        page_token: str | None = None,
    ) -> TimerPage:
        """Return one page of the namespace's timers, by fire time, then id.

        :param status: one status or several
        :param fire_after: timers due at or after this time
        :param fire_before: timers due before this time
        :param id_prefix: timers whose id starts with this
        :param limit: timers per page, 1 to 1,000 (50 by default)
        :param page_token: the previous page's ``next_page_token``, with the
            same filters
        """
        params = calls.list_query(
            status=status,
            fire_after=fire_after,
            fire_before=fire_before,
            id_prefix=id_prefix,
            limit=limit,
            page_token=page_token,
        )
        return self._send(calls.list_timers(namespace, params))

    def iter_timers(
        self,
        namespace: str,
        *,
        status: Statuses | None = None,
        fire_after: datetime | None = None,
        fire_before: datetime | None = None,
        id_prefix: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[Timer]:
        """Yield every timer that matches, following the pages.

        Pages are fetched as the iteration reaches them. Timers created
        meanwhile neither repeat nor shift a page. The filters are those of
        :meth:`list_timers`.

        :param page_size: timers per request, 1 to 1,000 (50 by default)
        :raises InvalidResponse: the server repeated a page token
        """
        params: tuple[tuple[str, str], ...] | None = calls.list_query(
            status=status,
            fire_after=fire_after,
            fire_before=fire_before,
            id_prefix=id_prefix,
            limit=page_size,
            page_token=None,
        )
        while params is not None:
            page = self._send(calls.list_timers(namespace, params))
            yield from page.timers
            params = calls.next_page(params, page)

    def list_attempts(self, namespace: str, id: str) -> list[Attempt]:
        """Return the timer's latest delivery attempts, newest first.

        :raises NotFound: there is no such timer
        """
        return self._send(calls.list_attempts(namespace, id))

    def list_namespaces(self) -> list[Namespace]:
        """Return the namespaces, with the counts of their timers by status."""
        return self._send(calls.list_namespaces())

    # -- sending -------------------------------------------------------------

    def _send(self, call: Call[T]) -> T:
        codec = self._codec
        arguments = codec.request_arguments(call)
        if self._timeout is not None:
            arguments["timeout"] = self._timeout

        retry = 0
        while True:
            retry += 1
            try:
                response = self._http.request(**arguments)
            except RETRIED_ERRORS as exc:
                delay = codec.retry_delay(call, retry, None)
                if delay is None:
                    raise codec.failure(call, exc) from exc

                codec.log_retry(call, retry, delay, f"failed ({exc})")
                self._sleep(delay)
                continue
            except httpx.TransportError as exc:
                raise codec.failure(call, exc) from exc

            delay = codec.retry_delay(call, retry, response)
            if delay is None:
                return codec.finish(call, response)

            codec.log_retry(call, retry, delay, f"-> {response.status_code}")
            self._sleep(delay)
