"""Delivery over HTTP: :class:`HttpDispatcher` POSTs each due timer to its callback.

The request, its signature and the meaning of each answer follow the
"Callback delivery" section of the API contract. The HTTP/1.1 client
underneath is the package's own (``timerkernel._http1``), built on asyncio
protocols with the standard library only: the dispatcher needs no extra
dependency, and runs on asyncio, its standard event loop or uvloop, also
under anyio, but not on trio.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import attrs

from . import __version__
from ._clocks import SystemClock
from ._http1 import (
    AddressGuard,
    ConnectFailed,
    Endpoint,
    ExchangeFailed,
    Http1Client,
    InvalidRequest,
    Origin,
    RequestTimeout,
    Response,
    endpoint_of,
)
from ._model import (
    UTC,
    Delivered,
    DeliveryFailed,
    DeliveryResult,
    ErrorKind,
    Timer,
)
from ._parsing import RESERVED_HEADERS, UrlGuard, encode_json, parse_callback_answer
from ._times import format_time
from ._waiters import wake_oldest
from .abc import Clock, Dispatcher

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

__all__ = [
    "AddressGuard",
    "HttpDispatcher",
    "Secrets",
    "SigningSecret",
    "recording_tracer",
    "sign",
]

logger = logging.getLogger(__name__)

Secrets = str | bytes | Sequence[str | bytes]
"""One signing secret, or several while one replaces another."""

SigningSecret = Secrets | Callable[[str], Secrets | None]
"""Secrets for every namespace, or a function of the namespace giving them."""

DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024
# An answer may carry a payload and a whole callback with 20 headers of up to
# 4 KiB each; this much room above the payload limit holds the largest valid
# answer (in ASCII) with space to spare.
_ANSWER_MARGIN_BYTES = 128 * 1024
# Retry-After values past this many seconds (about 30 years) mean "never";
# the retry policy's max_interval caps them far lower anyway.
_MAX_RETRY_AFTER_SECONDS = 1_000_000_000
_MAX_LOCATION_IN_MESSAGE = 200


def sign(secret: Secrets, timestamp: int, body: bytes) -> str:
    """Return the ``Timer-Signature`` header value that signs *body*.

    The value is ``t=<timestamp>,v1=<hex>`` where ``<hex>`` is the HMAC-SHA256
    of ``b"<timestamp>." + body`` under the secret. With several secrets (while
    one replaces another) it holds one ``v1=`` per secret, in the order given;
    a receiver accepts the request if any of them matches.

    :param secret: the secret, text (taken as UTF-8) or bytes, or several.
    :param timestamp: Unix time in whole seconds at which the request is sent.
    :param body: the exact bytes of the request body.
    :return: the header value.
    """
    secrets = [secret] if isinstance(secret, str | bytes) else list(secret)
    signed = f"{timestamp}.".encode() + body
    parts = [f"t={timestamp}"]
    for one in secrets:
        key = one.encode() if isinstance(one, str) else one
        parts.append(f"v1={hmac.digest(key, signed, 'sha256').hex()}")

    return ",".join(parts)


class HttpDispatcher(Dispatcher):
    """Delivers timers by POSTing them to their callback URL.

    Connections are pooled and kept alive per target, and closed after 30 s
    unused. Deliveries in flight are bounded in all and per target (scheme,
    host and port): a delivery waits for a slot of its own target before it
    takes one of the shared slots, so a slow target holds at most
    *max_per_host* of them and the others go on. Each attempt, the wait for a
    slot included, ends within the timer's ``callback.timeout_seconds``.
    Redirects are not followed: a 3xx answer is a failed attempt. Proxies
    named in the environment (``HTTP_PROXY`` and the like) are not used.
    Answers are not compressed: no ``Accept-Encoding`` goes out.

    :param max_connections: deliveries in flight at once, over all targets.
    :param max_per_host: deliveries in flight at once to one target.
    :param signing_secret: the secret to sign requests with (``str`` as
        UTF-8, or ``bytes``), several secrets while one replaces another, or
        a function of the namespace returning those or ``None``; ``None``
        sends no ``Timer-Signature``.
    :param max_payload_bytes: limit on the payload that an answer may set.
    :param max_answer_bytes: how much of an answer body is read; a longer
        body is taken as not JSON, a plain delivery. By default, room for the
        largest valid answer under *max_payload_bytes*.
    :param url_guard: checks the callback URL that an answer may set.
    :param address_guard: checks every IP address a callback is about to
        connect to, after its name is resolved, and returns why it is
        refused or ``None``; a callback whose addresses are all refused is a
        failed attempt (``connection``). By default every address is allowed.
    :param user_agent: the ``User-Agent`` header; ``timerkernel/<version>``
        by default.
    :param clock: the time that ``next_delay_seconds`` and a ``Retry-After``
        date count from; the system clock by default.
    :param ssl_context: the TLS settings of https callbacks, for a private
        certificate authority say; by default those of
        :func:`ssl.create_default_context`, which verifies certificates and
        host names against the system's authorities.
    :param tracer_provider: where each delivery's span goes, and whose trace
        the ``traceparent`` header sent with it names; by default the global
        one of the OpenTelemetry API, where that is installed. Without an
        OpenTelemetry SDK behind it (no provider set) deliveries are not
        traced and carry no ``traceparent``.
    :raises ValueError: if a limit is not positive or a secret is empty.
    """

    def __init__(
        self,
        *,
        max_connections: int = 512,
        max_per_host: int = 64,
        signing_secret: SigningSecret | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        max_answer_bytes: int | None = None,
        url_guard: UrlGuard | None = None,
        address_guard: AddressGuard | None = None,
        user_agent: str | None = None,
        clock: Clock | None = None,
        ssl_context: ssl.SSLContext | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        if max_connections < 1 or max_per_host < 1:
            raise ValueError("max_connections and max_per_host must be at least 1")

        if max_payload_bytes < 0 or (
            max_answer_bytes is not None and max_answer_bytes < 0
        ):
            raise ValueError("max_payload_bytes and max_answer_bytes must be >= 0")

        if signing_secret is not None and not callable(signing_secret):
            _check_secrets(signing_secret)

        self.max_connections = max_connections
        self.max_per_host = max_per_host
        self.max_payload_bytes = max_payload_bytes
        self.max_answer_bytes = (
            max_payload_bytes + _ANSWER_MARGIN_BYTES
            if max_answer_bytes is None
            else max_answer_bytes
        )
        self.url_guard = url_guard
        self.address_guard = address_guard
        self.user_agent = user_agent or f"timerkernel/{__version__}"
        self.clock = clock or SystemClock()
        self.ssl_context = ssl_context
        self._signing_secret = signing_secret
        self._client: Http1Client | None = None
        self._all_slots = _Slots(max_connections)
        # The slots of each target with deliveries in flight; they go when
        # the last delivery leaves, so that the map does not grow with every
        # target ever called.
        self._host_slots: dict[Origin, _Slots] = {}
        self._tracer_provider = tracer_provider
        self._tracer: Tracer | None = None

    async def start(self) -> None:
        """Open the connection pool.

        :raises RuntimeError: if the dispatcher is started already.
        """
        if self._client is not None:
            raise RuntimeError("the HttpDispatcher is started already")

        # The semaphores bound the connections in use; as many idle ones as
        # could be in use are kept. The client asks for no compression, so
        # the answer limit holds for what is received, and takes no proxy
        # from the environment: callbacks go where their URL says, as the
        # URL guard that approved them assumed.
        self._client = Http1Client(
            ssl_context=self.ssl_context,
            max_idle=self.max_connections,
            max_idle_per_origin=self.max_per_host,
            address_guard=self.address_guard,
        )
        self._tracer = recording_tracer(self._tracer_provider, "timerkernel.http")

    async def close(self) -> None:
        """Close the connection pool; deliveries still in flight fail."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def deliver(self, timer: Timer, attempt: int) -> DeliveryResult:
        """POST *timer* to its callback as its 1-based *attempt*.

        :raises RuntimeError: if :meth:`start` was not called.
        :raises ValueError: if the *signing_secret* function gave an empty
            secret.
        """
        client = self._client
        if client is None:
            raise RuntimeError("HttpDispatcher.start() must be called before deliver()")

        tracer = self._tracer
        if tracer is None:
            return await self._deliver(client, timer, attempt, ())

        return await self._deliver_traced(tracer, client, timer, attempt)

    async def _deliver_traced(
        self, tracer: Tracer, client: Http1Client, timer: Timer, attempt: int
    ) -> DeliveryResult:
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind, Status, StatusCode

        attributes: dict[str, str | int] = {
            "timer.namespace": timer.namespace,
            "timer.id": timer.id,
            "timer.attempt": attempt,
            "http.request.method": "POST",
            "url.full": timer.callback.url,
        }
        with tracer.start_as_current_span(
            "timer delivery", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            result = await self._deliver(client, timer, attempt, tuple(carrier.items()))
            status_code = getattr(result, "status_code", None)
            if status_code is not None:
                span.set_attribute("http.response.status_code", status_code)

            if isinstance(result, DeliveryFailed):
                span.set_status(Status(StatusCode.ERROR, result.message))
                span.set_attribute("error.type", result.kind.value)

            return result

    async def _deliver(
        self,
        client: Http1Client,
        timer: Timer,
        attempt: int,
        trace_headers: tuple[tuple[str, str], ...],
    ) -> DeliveryResult:
        callback = timer.callback
        endpoint = endpoint_of(callback.url)
        if endpoint is None:
            return DeliveryFailed(
                ErrorKind.connection, f"the callback URL {callback.url!r} is not valid"
            )

        origin = endpoint.origin
        body = self._encode_body(timer, attempt)
        headers = self._headers_for(timer, attempt, body, trace_headers)

        # One deadline, in the loop's time, for the wait for slots and the
        # exchange alike: the client and the slots take it themselves, so no
        # cancel scope is needed.
        deadline = asyncio.get_running_loop().time() + callback.timeout_seconds
        host_slots = self._enter_host(origin)
        try:
            if not await host_slots.take_by(deadline):
                return self._no_slot(timer, origin, shared=False)

            try:
                if not await self._all_slots.take_by(deadline):
                    return self._no_slot(timer, origin, shared=True)

                try:
                    return await self._post(
                        client, timer, endpoint, headers, body, deadline
                    )
                finally:
                    self._all_slots.release()
            finally:
                host_slots.release()
        finally:
            self._leave_host(origin)

    # -- the request -------------------------------------------------------

    def _encode_body(self, timer: Timer, attempt: int) -> bytes:
        document = {
            "namespace": timer.namespace,
            "id": timer.id,
            "fire_at": format_time(timer.fire_at),
            "attempt": attempt,
            "payload": timer.payload,
        }
        return encode_json(document).encode()

    def _headers_for(
        self,
        timer: Timer,
        attempt: int,
        body: bytes,
        trace_headers: tuple[tuple[str, str], ...] = (),
    ) -> list[tuple[str, str]]:
        # Validation keeps reserved names out of callback.headers; a timer
        # built in code skips it, and the service's own headers must win.
        reserved = RESERVED_HEADERS
        if trace_headers:
            reserved = reserved | {name.lower() for name, _ in trace_headers}

        headers = [
            (name, value)
            for name, value in timer.callback.headers.items()
            if name.lower() not in reserved
        ]
        headers += trace_headers
        headers += [
            ("Content-Type", "application/json"),
            ("User-Agent", self.user_agent),
            ("Timer-Namespace", timer.namespace),
            ("Timer-Id", timer.id),
            ("Timer-Attempt", str(attempt)),
        ]

        secrets = self._secrets_for(timer.namespace)
        if secrets is not None:
            # Wall time, whatever the clock: receivers compare it with theirs.
            headers.append(("Timer-Signature", sign(secrets, int(time.time()), body)))

        return headers

    def _secrets_for(self, namespace: str) -> Secrets | None:
        source = self._signing_secret
        if source is None or not callable(source):
            return source

        secrets = source(namespace)
        if secrets is not None:
            _check_secrets(secrets)

        return secrets

    async def _post(
        self,
        client: Http1Client,
        timer: Timer,
        endpoint: Endpoint,
        headers: list[tuple[str, str]],
        body: bytes,
        deadline: float,
    ) -> DeliveryResult:
        url = timer.callback.url
        try:
            response = await client.post(
                endpoint,
                headers,
                body,
                deadline=deadline,
                max_body=self.max_answer_bytes,
                read_body=_is_success,
            )
        except InvalidRequest as exc:
            return DeliveryFailed(
                ErrorKind.connection, f"no request can be made to {url}: {exc}"
            )
        except RequestTimeout:
            return DeliveryFailed(
                ErrorKind.timeout,
                f"no complete answer from {url} within "
                f"{timer.callback.timeout_seconds:g} s",
            )
        except ConnectFailed as exc:
            return DeliveryFailed(
                ErrorKind.connection, f"cannot connect to {url}: {exc}"
            )
        except ExchangeFailed as exc:
            return DeliveryFailed(
                ErrorKind.connection, f"the exchange with {url} failed: {exc}"
            )

        status = response.status
        if not 200 <= status < 300:
            return self._status_failure(response)

        answer = response.body
        if answer is None:
            logger.info(
                "answer of timer %s is over %d bytes; taken as a plain delivery",
                timer.id,
                self.max_answer_bytes,
                extra={"timer_id": timer.id, "action": "deliver"},
            )
            return Delivered(status_code=status)

        if not answer:
            # Most targets answer with nothing, which needs no parsing.
            return Delivered(status_code=status)

        result = parse_callback_answer(
            answer,
            now=self.clock.now(),
            max_payload_bytes=self.max_payload_bytes,
            url_guard=self.url_guard,
        )
        return attrs.evolve(result, status_code=status)

    def _status_failure(self, response: Response) -> DeliveryFailed:
        status = response.status
        message = f"HTTP {status} {_reason_phrase(status)}".rstrip()
        if 300 <= status < 400:
            message += "; redirects are not followed"
            location = response.header("location")
            if location:
                message += f" (Location: {location[:_MAX_LOCATION_IN_MESSAGE]})"

        retry_after = None
        if status in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE):
            retry_after = _retry_after_seconds(
                response.header("retry-after"), self.clock.now()
            )

        return DeliveryFailed(
            ErrorKind.http_status,
            message,
            status_code=status,
            retry_after_seconds=retry_after,
        )

    def _no_slot(self, timer: Timer, origin: Origin, *, shared: bool) -> DeliveryFailed:
        timeout = timer.callback.timeout_seconds
        if shared:
            message = (
                f"no delivery slot within {timeout:g} s: "
                f"{self.max_connections} deliveries were in flight"
            )
        else:
            message = (
                f"no delivery slot for {_origin_text(origin)} within {timeout:g} s: "
                f"{self.max_per_host} deliveries to it were in flight"
            )

        return DeliveryFailed(ErrorKind.timeout, message)

    # -- per-target slots --------------------------------------------------

    def _enter_host(self, origin: Origin) -> _Slots:
        slots = self._host_slots.get(origin)
        if slots is None:
            slots = self._host_slots[origin] = _Slots(self.max_per_host)

        slots.users += 1
        return slots

    def _leave_host(self, origin: Origin) -> None:
        slots = self._host_slots[origin]
        slots.users -= 1
        if not slots.users:
            del self._host_slots[origin]


class _Slots:
    """A count of free delivery slots, waited for in order until a deadline.

    anyio's semaphore bounds a wait with a cancel scope, which costs a
    callback on the event loop, a scope on the task and a check of both on
    every step: about a third of a delivery's CPU when most deliveries
    queue for one target, the usual case when every timer calls the same
    service. A waiter here is one future and one loop callback for its
    deadline, and a released slot goes to the oldest waiter directly.
    Asyncio only, as the client is.
    """

    __slots__ = ("_waiters", "free", "users")

    def __init__(self, size: int) -> None:
        self.free = size
        #: Deliveries using or waiting for these slots; see _enter_host.
        self.users = 0
        self._waiters: deque[asyncio.Future[bool]] = deque()

    async def take_by(self, deadline: float) -> bool:
        """Take a slot unless *deadline* (loop time) passes first."""
        # Free slots mean nobody is waiting: a release hands its slot to a
        # waiter before it counts one free. (Waiters that gave up may still
        # be queued; the next release passes over them.)
        if self.free:
            self.free -= 1
            return True

        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        expiry = loop.call_at(deadline, _expire, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            # Handed a slot just as the task was cancelled: pass it on.
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.release()

            raise
        finally:
            expiry.cancel()

    def release(self) -> None:
        """Give a slot back, to the oldest waiter still waiting if any."""
        if not wake_oldest(self._waiters, True):
            self.free += 1


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


def _is_success(status: int) -> bool:
    # Only a 2xx answer's body means anything; other answers are judged by
    # their status and headers.
    return 200 <= status < 300


def _retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Read a ``Retry-After`` value, delta-seconds or HTTP-date, as seconds."""
    if value is None:
        return None

    value = value.strip()
    if value.isascii() and value.isdigit():
        try:
            return float(min(int(value), _MAX_RETRY_AFTER_SECONDS))
        except ValueError:  # more digits than int() takes from text
            return None

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None

    if moment.tzinfo is None:
        # RFC 9110 dates are in GMT; "-0000" leaves the offset unstated.
        moment = moment.replace(tzinfo=UTC)

    return max((moment - now).total_seconds(), 0.0)


def _check_secrets(secrets: Secrets) -> None:
    items = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
    if not items or not all(isinstance(item, str | bytes) and item for item in items):
        raise ValueError("a signing secret must be a non-empty str or bytes")


def _origin_text(origin: Origin) -> str:
    scheme, host, port = origin
    if ":" in host:
        host = f"[{host}]"

    return f"{scheme}://{host}:{port}"


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def recording_tracer(
    provider: Any, name: str, version: str = __version__
) -> Tracer | None:
    """The tracer *name* of *provider* (or the global one); ``None`` to trace nothing.

    The API's own providers (before an SDK is set, or with the SDK
    disabled) record nothing; skipping their spans keeps a traced path at
    its untraced cost.
    """
    try:
        from opentelemetry import trace
    except ImportError:
        return None

    if provider is None:
        provider = trace.get_tracer_provider()

    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None

    tracer: Tracer = provider.get_tracer(name, version)
    return tracer
