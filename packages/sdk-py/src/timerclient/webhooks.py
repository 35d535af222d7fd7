"""Receiving callbacks: check their signature, read them, answer them.

The service POSTs each due timer to its callback URL with a
``Timer-Signature: t=<unix seconds>,v1=<hex>`` header, where ``<hex>`` is
HMAC-SHA256 over ``"<t>." + raw body`` with the signing secret (one ``v1``
per secret while a secret is being replaced). The answer decides what
happens next: a 2xx without a reschedule finishes the timer, a 2xx with
:func:`reschedule`'s object fires it again later, anything else is a failed
attempt that the service retries.

Nothing here depends on a web framework: :class:`WebhookReceiver` takes the
request's headers and raw body and returns a :class:`WebhookResponse` to
send back. Verify the raw bytes as received, before any JSON parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from ._codec import (
    callback_to_dict,
    format_time,
    parse_time,
    retry_policy_to_dict,
)
from ._exceptions import TimerClientError
from ._models import UNSET, Callback, RetryPolicy, aware

SIGNATURE_HEADER = "Timer-Signature"
DEFAULT_TOLERANCE_SECONDS = 300.0

Secrets = str | bytes | Sequence[str | bytes]
Headers = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]


class WebhookError(TimerClientError):
    """A callback request that is not to be trusted or read."""


class InvalidSignature(WebhookError):
    """The ``Timer-Signature`` header is missing, stale or does not match."""


class InvalidDelivery(WebhookError, ValueError):
    """The body is not a callback of the service."""


# -- signatures ----------------------------------------------------------------


def _secret_list(secrets: Secrets) -> list[bytes]:
    items = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
    keys = [item.encode() if isinstance(item, str) else bytes(item) for item in items]
    if not keys or not all(keys):
        raise ValueError("give at least one signing secret, none of them empty")

    return keys


def _digest(key: bytes, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(body: bytes, secrets: Secrets, timestamp: int) -> str:
    """Return the ``Timer-Signature`` header the service sends for *body*.

    Useful to test a receiver. With several secrets the header has one
    ``v1`` per secret, in order.
    """
    signatures = [
        f"v1={_digest(key, timestamp, body)}" for key in _secret_list(secrets)
    ]
    return ",".join([f"t={timestamp}", *signatures])


def verify_signature(
    header: str | None,
    body: bytes,
    secrets: Secrets,
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | datetime | None = None,
) -> None:
    """Check the ``Timer-Signature`` *header* of a callback over its raw *body*.

    The request is genuine if any ``v1`` of the header matches any of
    *secrets* (compared in constant time), and the header's time is within
    *tolerance_seconds* of *now*, either way, which refuses replays.

    :param secrets: the signing secret, or several while one replaces another
    :param now: the receiver's time, Unix seconds or an aware datetime; the
        system clock when ``None``
    :raises InvalidSignature: the request is not to be trusted
    """
    keys = _secret_list(secrets)
    if not header:
        raise InvalidSignature(f"the {SIGNATURE_HEADER} header is missing")

    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        name, equals, value = part.strip().partition("=")
        if not equals:
            continue

        if name == "t":
            timestamps.append(value.strip())
        elif name == "v1":
            signatures.append(value.strip().lower())

    if len(timestamps) != 1 or not (
        timestamps[0].isascii() and timestamps[0].isdigit()
    ):
        raise InvalidSignature(f"the {SIGNATURE_HEADER} header has no valid time")

    if not signatures:
        raise InvalidSignature(f"the {SIGNATURE_HEADER} header has no v1 signature")

    timestamp = int(timestamps[0])
    if now is None:
        current = time.time()
    elif isinstance(now, datetime):
        current = now.timestamp()
    else:
        current = float(now)

    if abs(current - timestamp) > tolerance_seconds:
        raise InvalidSignature(
            f"the signature's time is {current - timestamp:+.0f} s from now, "
            f"outside the tolerance of {tolerance_seconds:g} s"
        )

    provided = [signature.encode() for signature in signatures]
    matched = False
    for key in keys:
        expected = _digest(key, timestamp, body).encode()
        for signature in provided:
            # Every pair is compared, so the time taken does not tell which
            # secret or signature came close.
            matched |= hmac.compare_digest(expected, signature)

    if not matched:
        raise InvalidSignature("no signature matches the body and the secrets")


# -- the callback and the answer --------------------------------------------------


@attrs.frozen
class Delivery:
    """One callback of a timer, as its body tells.

    Deliveries are at least once: deduplicate on (``namespace``, ``id``,
    ``fire_at``).
    """

    namespace: str
    id: str
    fire_at: datetime
    attempt: int
    payload: Any


def parse_callback(body: bytes | str) -> Delivery:
    """Read a callback body ``{namespace, id, fire_at, attempt, payload}``.

    :raises InvalidDelivery: the body is not such an object
    """
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InvalidDelivery(f"the callback body is not JSON: {exc}") from None

    if not isinstance(data, dict):
        raise InvalidDelivery("the callback body is not a JSON object")

    try:
        namespace = data["namespace"]
        timer_id = data["id"]
        attempt = data["attempt"]
        fire_at = parse_time(data["fire_at"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidDelivery(f"the callback body lacks a valid {exc}") from None

    if not (
        isinstance(namespace, str)
        and isinstance(timer_id, str)
        and isinstance(attempt, int)
        and not isinstance(attempt, bool)
    ):
        raise InvalidDelivery(
            "the callback's namespace, id or attempt is of a bad type"
        )

    return Delivery(
        namespace=namespace,
        id=timer_id,
        fire_at=fire_at,
        attempt=attempt,
        payload=data.get("payload"),
    )


@attrs.frozen
class Reschedule:
    """The answer that fires the timer again; build it with :func:`reschedule`."""

    next_fire_at: datetime | None = attrs.field(default=None, validator=aware)
    next_delay_seconds: float | None = None
    payload: Any = UNSET
    callback: Callback | None = None
    retry_policy: RetryPolicy | None = None

    def __attrs_post_init__(self) -> None:
        if (self.next_fire_at is None) == (self.next_delay_seconds is None):
            raise ValueError("give exactly one of next_fire_at and next_delay_seconds")

    def to_dict(self) -> dict[str, Any]:
        """The answer as a JSON object."""
        data: dict[str, Any] = {}
        if self.next_fire_at is not None:
            data["next_fire_at"] = format_time(self.next_fire_at)
        else:
            data["next_delay_seconds"] = self.next_delay_seconds

        if self.payload is not UNSET:
            data["payload"] = self.payload

        if self.callback is not None:
            data["callback"] = callback_to_dict(self.callback)

        if self.retry_policy is not None:
            data["retry_policy"] = retry_policy_to_dict(self.retry_policy)

        return data

    def to_json(self) -> bytes:
        """The answer as the bytes of a JSON body."""
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


def reschedule(
    *,
    next_fire_at: datetime | None = None,
    next_delay_seconds: float | None = None,
    payload: Any = UNSET,
    callback: Callback | str | None = None,
    retry_policy: RetryPolicy | None = None,
) -> Reschedule:
    """Build the answer that fires the timer again.

    Give exactly one of *next_fire_at* and *next_delay_seconds*. *payload*,
    *callback* and *retry_policy*, when given, replace the timer's own for
    the next firing.
    """
    return Reschedule(
        next_fire_at=next_fire_at,
        next_delay_seconds=next_delay_seconds,
        payload=payload,
        callback=Callback(callback) if isinstance(callback, str) else callback,
        retry_policy=retry_policy,
    )


@attrs.frozen
class WebhookResponse:
    """What to send back: the status, the headers and the body."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""


def _header(headers: Headers, name: str) -> str | None:
    wanted = name.lower()
    items: Iterable[tuple[str | bytes, str | bytes]]
    if isinstance(headers, Mapping):
        value = headers.get(name)
        if value is not None:
            return str(value)

        items = headers.items()
    else:
        items = headers

    for key, value in items:
        text = key.decode("latin-1") if isinstance(key, bytes) else key
        if text.lower() == wanted:
            return value.decode("latin-1") if isinstance(value, bytes) else value

    return None


def _text(status: int, message: str) -> WebhookResponse:
    return WebhookResponse(
        status, {"Content-Type": "text/plain; charset=utf-8"}, message.encode()
    )


class WebhookReceiver:
    """Verifies, reads and answers callbacks, in any web framework.

    Give it the request's headers (a mapping, or ``(name, value)`` pairs of
    str or bytes, as ASGI has them) and raw body::

        receiver = WebhookReceiver(secret)
        answer = receiver.answer(headers, body, on_delivery)
        # send answer.status, answer.headers, answer.body

    :param secrets: the signing secret, or several while one replaces another
    :param tolerance_seconds: how far the signature's time may be from now
    :param clock: the receiver's time in Unix seconds; ``time.time`` by
        default
    """

    def __init__(
        self,
        secrets: Secrets,
        *,
        tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _secret_list(secrets)
        self._secrets = secrets
        self._tolerance = tolerance_seconds
        self._clock = clock

    def parse(self, headers: Headers, body: bytes) -> Delivery:
        """Verify the signature, then read the body.

        :raises InvalidSignature: the request is not to be trusted
        :raises InvalidDelivery: the body is not a callback
        """
        verify_signature(
            _header(headers, SIGNATURE_HEADER),
            body,
            self._secrets,
            tolerance_seconds=self._tolerance,
            now=self._clock(),
        )
        return parse_callback(body)

    def answer(
        self,
        headers: Headers,
        body: bytes,
        on_delivery: Callable[[Delivery], Reschedule | None],
    ) -> WebhookResponse:
        """Verify and read the callback, pass it to *on_delivery*, and answer.

        The answer is ``204`` when *on_delivery* returns ``None`` (the timer
        is done), ``200`` with the reschedule object when it returns a
        :class:`Reschedule`, ``401`` for a bad signature and ``400`` for a
        bad body (both failed attempts that the service retries). An
        exception of *on_delivery* propagates: the framework's error answer
        makes the service retry too.
        """
        try:
            delivery = self.parse(headers, body)
        except InvalidSignature as exc:
            return _text(401, str(exc))
        except InvalidDelivery as exc:
            return _text(400, str(exc))

        return _outcome(on_delivery(delivery))

    async def answer_async(
        self,
        headers: Headers,
        body: bytes,
        on_delivery: Callable[[Delivery], Awaitable[Reschedule | None]],
    ) -> WebhookResponse:
        """:meth:`answer` for an async *on_delivery*."""
        try:
            delivery = self.parse(headers, body)
        except InvalidSignature as exc:
            return _text(401, str(exc))
        except InvalidDelivery as exc:
            return _text(400, str(exc))

        return _outcome(await on_delivery(delivery))


def _outcome(result: Reschedule | None) -> WebhookResponse:
    if result is None:
        return WebhookResponse(204)

    return WebhookResponse(200, {"Content-Type": "application/json"}, result.to_json())
