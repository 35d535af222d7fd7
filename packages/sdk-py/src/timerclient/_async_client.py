"""The client for asyncio code."""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from . import _requests as calls
from ._client import DEFAULT_MAX_CONNECTIONS, KEEPALIVE_EXPIRY_SECONDS, Statuses
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
)
from ._requests import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT_SECONDS,
    RETRIED_ERRORS,
    Call,
    RequestCodec,
)
from ._retry import RetrySettings
from ._transport import KeepAliveTransport

T = TypeVar("T")


class AsyncTimerClient:
    """A client of the timer service's REST API, for asyncio code.

    Use it as an async context manager, or await :meth:`aclose`, to release
    its connections. Many tasks may share it; it belongs to the event loop
    it is first used in. It runs on asyncio only (not trio).

    Unless *http_client* is given, it sends through an HTTP/1.1 keep-alive
    transport of its own, several times cheaper per request than httpx's
    default one; where the environment names a proxy for *base_url*
    (``HTTP_PROXY`` and the like), httpx's default transport is used so that
    the proxy is honoured.

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
    :param http_client: an ``httpx.AsyncClient`` to send with (for proxies,
        HTTP/2, event hooks); the caller closes it. Its own ``base_url`` is
        not used. *timeout* overrides its timeout only when given.
    :param sleep: waits between retries; ``asyncio.sleep`` by default
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
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._codec = RequestCodec(
            base_url=base_url,
            token=token,
            user_agent=user_agent,
            retry=retry or RetrySettings(),
        )
        self._sleep = sleep
        self._timeout: float | None = None
        self._http: httpx.AsyncClient | None = None
        self._direct: KeepAliveTransport | None = None
        self._owns_http = http_client is None
        if http_client is not None:
            self._http = http_client
            self._timeout = timeout
            return

        seconds = DEFAULT_TIMEOUT_SECONDS if timeout is None else timeout
        if _proxied(self._codec.base_url):
            self._http = httpx.AsyncClient(
                timeout=seconds,
                limits=httpx.Limits(
                    max_connections=max_connections,
                    max_keepalive_connections=max_connections,
                    keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
                ),
                verify=verify,
            )
            return

        # Requests go to the transport as httpx.Request objects, without
        # httpx.AsyncClient around it: its redirects, cookies, auth and
        # hooks, unused here, cost more CPU than the transport itself.
        self._direct = KeepAliveTransport(
            max_connections=max_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
            # None: httpx's defaults, made when first needed.
            ssl_context=(
                None if verify is True else httpx.create_ssl_context(verify=verify)
            ),
        )
        self._extensions = {
            "timeout": {
                "connect": seconds,
                "read": seconds,
                "write": seconds,
                "pool": seconds,
            }
        }

    @property
    def base_url(self) -> str:
        """The service's address, as requests use it."""
        return self._codec.base_url

    @property
    def timeout(self) -> float | None:
        """The timeout of each step of a request, ``None`` if the given
        ``httpx.AsyncClient`` decides."""
        if self._direct is not None:
            return float(self._extensions["timeout"]["read"])

        if self._owns_http:
            assert self._http is not None
            return self._http.timeout.read

        return self._timeout

    async def aclose(self) -> None:
        """Close the connections, unless the ``httpx.AsyncClient`` was given."""
        if self._direct is not None:
            await self._direct.aclose()
        elif self._owns_http:
            assert self._http is not None
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- timers -------------------------------------------------------------

    async def create_timer(
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
        return await self._send(calls.create_timer(namespace, spec))

    async def batch_create_timers(
        self, namespace: str, timers: Iterable[TimerSpec]
    ) -> list[BatchResult]:
        """Create many timers; each is judged as a single create would be.

        One request of at most 1,000 timers; the server answers a larger or
        empty batch with :class:`InvalidArgument`. The batch is not atomic:
        check each result. Sending it again is safe, since creates are
        deduplicated by id.

        :return: one result per timer, in the order given
        """
        return await self._send(calls.batch_create_timers(namespace, list(timers)))

    async def get_timer(self, namespace: str, id: str) -> Timer:
        """Return the timer.

        :raises NotFound: there is no such timer
        """
        return await self._send(calls.get_timer(namespace, id))

    async def update_timer(
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
        return await self._send(call)

    async def delete_timer(
        self, namespace: str, id: str, *, expected_version: int | None = None
    ) -> None:
        """Delete a timer: it will not fire (one delivery in flight still may).

        A delete retried after a lost answer may raise :class:`NotFound`
        when the first attempt did delete the timer.

        :param expected_version: delete only if the timer is at this version
        :raises NotFound: there is no such timer
        """
        await self._send(
            calls.delete_timer(namespace, id, expected_version=expected_version)
        )

    async def list_timers(
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
        return await self._send(calls.list_timers(namespace, params))

    async def iter_timers(
        self,
        namespace: str,
        *,
        status: Statuses | None = None,
        fire_after: datetime | None = None,
        fire_before: datetime | None = None,
        id_prefix: str | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[Timer]:
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
            page = await self._send(calls.list_timers(namespace, params))
            for timer in page.timers:
                yield timer

            params = calls.next_page(params, page)

    async def list_attempts(self, namespace: str, id: str) -> list[Attempt]:
        """Return the timer's latest delivery attempts, newest first.

        :raises NotFound: there is no such timer
        """
        return await self._send(calls.list_attempts(namespace, id))

    async def list_namespaces(self) -> list[Namespace]:
        """Return the namespaces, with the counts of their timers by status."""
        return await self._send(calls.list_namespaces())

    # -- sending -------------------------------------------------------------

    async def _request(self, arguments: dict[str, Any]) -> httpx.Response:
        if self._direct is None:
            assert self._http is not None
            return await self._http.request(**arguments)

        request = httpx.Request(
            arguments["method"],
            arguments["url"],
            params=arguments.get("params"),
            headers=arguments["headers"],
            content=arguments.get("content"),
            extensions=self._extensions,
        )
        response = await self._direct.handle_async_request(request)
        response.request = request
        await response.aread()
        return response

    async def _send(self, call: Call[T]) -> T:
        codec = self._codec
        arguments = codec.request_arguments(call)
        if self._timeout is not None:
            arguments["timeout"] = self._timeout

        retry = 0
        while True:
            retry += 1
            try:
                response = await self._request(arguments)
            except RETRIED_ERRORS as exc:
                delay = codec.retry_delay(call, retry, None)
                if delay is None:
                    raise codec.failure(call, exc) from exc

                codec.log_retry(call, retry, delay, f"failed ({exc})")
                await self._sleep(delay)
                continue
            except httpx.TransportError as exc:
                raise codec.failure(call, exc) from exc

            delay = codec.retry_delay(call, retry, response)
            if delay is None:
                return codec.finish(call, response)

            codec.log_retry(call, retry, delay, f"-> {response.status_code}")
            await self._sleep(delay)


def _proxied(base_url: str) -> bool:
    """Whether the environment names a proxy for *base_url*."""
    url = httpx.URL(base_url)
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return False

    return not urllib.request.proxy_bypass(url.host)
