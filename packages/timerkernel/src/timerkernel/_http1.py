"""A lean HTTP/1.1 client on asyncio protocols, for the callback POSTs.

:class:`Http1Client` keeps connections alive in a pool per origin (scheme,
host, port) and carries one request at a time on each. Answers are parsed
in the protocol's callbacks as the bytes arrive: no streams and no task per
connection, one future and one timer handle per request. It runs on the
standard event loop and on uvloop, and needs nothing outside the standard
library.

It does what a callback needs and no more: a POST of a body held in memory;
answers framed by Content-Length, by the chunked transfer coding or by the
end of the connection; interim 1xx answers skipped. It follows no
redirects, uses no proxy, asks for no compression, does not pipeline and
speaks no HTTP/2.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import re
import socket
import ssl
from collections.abc import Callable, Sequence
from typing import cast
from urllib.parse import quote, urlsplit

import attrs

__all__ = [
    "ConnectFailed",
    "Endpoint",
    "ExchangeFailed",
    "Http1Client",
    "HttpClientError",
    "InvalidRequest",
    "Origin",
    "RequestTimeout",
    "Response",
    "endpoint_of",
]

Origin = tuple[str, str, int]
"""Scheme, host (lower-case ASCII, IPv6 without brackets) and port."""

DEFAULT_IDLE_SECONDS = 30.0
MAX_HEAD_BYTES = 64 * 1024
_MAX_CHUNK_LINE_BYTES = 4096
_MAX_TRAILER_BYTES = 64 * 1024

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Control characters other than horizontal tab end or corrupt a header line.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Header names seen valid, so that each is checked once; bounded, as names
# come from timers.
_sendable_names: set[str] = set()
_MAX_SENDABLE_NAMES = 4096
_HOST_NAME = re.compile(r"[a-z0-9_.-]+")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")
_STATUS_LINE = re.compile(r"HTTP/1\.([0-9]) ([0-9]{3})(?: |\Z)")
# The end of an answer head; bare LF line ends are accepted (RFC 9112, 2.2).
_HEAD_END = re.compile(rb"\r?\n\r?\n")
# Printable ASCII stays as it is in a request target, escapes included.
_TARGET_SAFE = "".join(chr(code) for code in range(0x21, 0x7F))

# Parser states of a connection.
_HEAD = 0
_LENGTH = 1
_CHUNK_LINE = 2
_CHUNK_DATA = 3
_CHUNK_END = 4
_TRAILER = 5
_UNTIL_CLOSE = 6
_DONE = 7
_IDLE = 8


class HttpClientError(Exception):
    """A request failed; the message says why, in words for a person."""


class InvalidRequest(HttpClientError):
    """The request cannot be written (a bad header); nothing was sent."""


class ConnectFailed(HttpClientError):
    """No connection: the name did not resolve, or TCP or TLS failed."""


class ExchangeFailed(HttpClientError):
    """The connection broke before the whole answer came, or it is malformed."""


class RequestTimeout(HttpClientError):
    """The deadline passed before the answer was complete."""


class _StaleConnection(ExchangeFailed):
    """A reused connection closed before a byte of the answer came."""


class _Malformed(Exception):
    """The answer breaks HTTP/1.1 framing; the message says where."""


@attrs.frozen
class Endpoint:
    """Where a URL sends a request: its origin, request target and Host."""

    origin: Origin
    target: str
    host_header: str


@attrs.frozen
class Response:
    """A final answer, its body read to the end or not at all.

    :ivar headers: by lower-case name; repeated fields joined with ``", "``.
    :ivar body: ``None`` when it was over the limit or not wanted.
    """

    status: int
    headers: dict[str, str]
    body: bytes | None

    def header(self, name: str) -> str | None:
        """Return the value of header *name* (any case), or ``None``."""
        return self.headers.get(name.lower())


@functools.lru_cache(maxsize=4096)
def endpoint_of(url: str) -> Endpoint | None:
    """Return the endpoint of an absolute http(s) *url*, or ``None`` if it has none.

    The host is lower-cased and IDNA-encoded; the path and query are sent
    with every character outside printable ASCII percent-encoded; the
    fragment is not sent.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None

    scheme = parts.scheme
    if scheme not in ("http", "https") or not parts.hostname:
        return None

    host = _ascii_host(parts.hostname)
    if host is None:
        return None

    default_port = 443 if scheme == "https" else 80
    port = default_port if port is None else port
    authority = f"[{host}]" if ":" in host else host
    if port != default_port:
        authority = f"{authority}:{port}"

    target = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_TARGET_SAFE)

    return Endpoint((scheme, host, port), target, authority)


def _ascii_host(hostname: str) -> str | None:
    if ":" in hostname:
        try:
            return str(ipaddress.IPv6Address(hostname))
        except ValueError:
            return None

    if not hostname.isascii():
        # TODO: the codec is IDNA 2003, which maps a few names (with "ß", say)
        # unlike the UTS 46 rules of browsers; the idna package would fix it.
        try:
            hostname = hostname.encode("idna").decode("ascii")
        except UnicodeError:
            return None

    return hostname if _HOST_NAME.fullmatch(hostname) else None


AddressGuard = Callable[[str], "str | None"]
"""Why a connection to an IP address (as text) is refused; ``None`` allows it."""


class Http1Client:
    """An HTTP/1.1 client with a keep-alive pool per origin.

    The pool does not bound the connections in use: the caller does, by
    bounding its requests in flight. Connections are opened when no idle one
    is at hand, so an origin never has more of them than it had requests in
    flight at once.

    :param ssl_context: the TLS settings for https; by default those of
        :func:`ssl.create_default_context` (certificates and host names
        verified), made at the first https connection.
    :param idle_seconds: how long an unused connection stays open.
    :param max_idle: unused connections kept open over all origins.
    :param max_idle_per_origin: unused connections kept open for one origin.
    :param address_guard: checks each IP address before a connection to it
        is made, whether literal or resolved from a name: it returns why the
        address is refused, or ``None`` to allow it.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        max_idle: int = 512,
        max_idle_per_origin: int = 64,
        address_guard: AddressGuard | None = None,
    ) -> None:
        self.idle_seconds = idle_seconds
        self.address_guard = address_guard
        self.max_idle = max_idle
        self.max_idle_per_origin = max_idle_per_origin
        self._ssl_context = ssl_context
        self._closed = False
        # Idle connections per origin, the last used on top; and all of them
        # in the order they went idle, the oldest first.
        self._idle: dict[Origin, list[_Connection]] = {}
        self._idle_order: dict[_Connection, None] = {}
        self._connections: set[_Connection] = set()
        self._sweep: asyncio.TimerHandle | None = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def post(
        self,
        endpoint: Endpoint,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        *,
        deadline: float,
        max_body: int,
        read_body: Callable[[int], bool],
    ) -> Response:
        """POST *body* to *endpoint* and return the final answer.

        A cancelled or failed request closes its connection: only a
        connection whose answer was read to the end goes back to the pool.

        :param headers: sent in this order, then ``Host`` and
            ``Content-Length``.
        :param deadline: when the whole exchange, connecting included, must
            be over, on the event loop's clock (``loop.time()``).
        :param max_body: bytes of an answer body to read at most; a longer
            body is not read (``body`` is ``None``) and the connection closes.
        :param read_body: whether the body of an answer with this status is
            wanted; one that is not is skipped, and the connection closes
            unless all of it had arrived with the head.
        :raises InvalidRequest: if a header name or value cannot be sent.
        :raises ConnectFailed: if no connection could be made.
        :raises ExchangeFailed: if the connection broke or the answer is
            malformed.
        :raises RequestTimeout: if the deadline passed first.
        """
        request = _encode_request(endpoint, headers, body)
        connection = self._take_idle(endpoint.origin)
        if connection is not None:
            try:
                return await self._exchange(
                    connection, request, deadline, max_body, read_body
                )
            except _StaleConnection:
                # The one case where a request is sent again, POST as it is:
                # the connection had served before and closed before a byte
                # of this answer came, which is how a peer that closed it
                # while idle shows. A peer that took the request and then
                # dropped the connection without a word would see it twice;
                # delivery is at-least-once and receivers deduplicate.
                pass

        connection = await self._connect(endpoint.origin, deadline)
        return await self._exchange(connection, request, deadline, max_body, read_body)

    async def close(self) -> None:
        """Close every connection; requests in flight fail.

        They raise :class:`ExchangeFailed`.
        """
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None

        lost = [connection.shut() for connection in list(self._connections)]
        self._idle.clear()
        self._idle_order.clear()
        if lost:
            # Aborted transports report their end on the next turns of the
            # loop; waiting for it leaves no socket open behind.
            await asyncio.wait(lost, timeout=1.0)

    async def resolve(self, host: str, port: int) -> list[tuple[int, str]]:
        """Return the addresses of *host* to connect to, in the order to try.

        An IP address stands for itself; a name is resolved by the event
        loop (``getaddrinfo``).

        :return: pairs of address family and IP address text.
        :raises ConnectFailed: if the name does not resolve.
        """
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            return [(family, host)]

        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ConnectFailed(f"cannot resolve {host}: {_os_reason(exc)}") from exc

        addresses: list[tuple[int, str]] = []
        for family, _, _, _, sockaddr in infos:
            entry = (int(family), str(sockaddr[0]))
            if entry not in addresses:
                addresses.append(entry)

        return addresses

    # -- the exchange ------------------------------------------------------

    async def _exchange(
        self,
        connection: _Connection,
        request: bytes,
        deadline: float,
        max_body: int,
        read_body: Callable[[int], bool],
    ) -> Response:
        try:
            response = await connection.exchange(request, deadline, max_body, read_body)
        except BaseException:
            # Cancelled, timed out or broken: whatever is left unread goes
            # with the connection, which nobody uses again.
            connection.abort()
            raise

        if connection.reusable:
            self._put_idle(connection)
        else:
            connection.close()

        return response

    async def _connect(self, origin: Origin, deadline: float) -> _Connection:
        scheme, host, port = origin
        context = self._tls_context() if scheme == "https" else None
        timeout = asyncio.timeout_at(deadline)
        try:
            async with timeout:
                addresses = await self.resolve(host, port)
                if self.address_guard is not None:
                    addresses = self._allowed(host, addresses, self.address_guard)

                connection = await self._open(origin, addresses, context)
        except TimeoutError:
            if timeout.expired():
                raise RequestTimeout("no connection before the deadline") from None

            raise

        if self.closed:
            # close() came while this connection was being made.
            connection.abort()
            raise ConnectFailed("the client is closed")

        return connection

    @staticmethod
    def _allowed(
        host: str, addresses: list[tuple[int, str]], guard: AddressGuard
    ) -> list[tuple[int, str]]:
        # Checked on what was resolved just now, right before connecting: a
        # name that resolved to a public address when the timer was made
        # and to a private one today (DNS rebinding) is refused here.
        allowed: list[tuple[int, str]] = []
        refused: list[str] = []
        reason = ""
        for family, address in addresses:
            why = guard(address)
            if why is None:
                allowed.append((family, address))
            else:
                refused.append(address)
                reason = reason or why

        if not allowed:
            where = host if refused == [host] else f"{host} ({', '.join(refused)})"
            raise ConnectFailed(f"refused to connect to {where}: {reason}")

        return allowed

    async def _open(
        self,
        origin: Origin,
        addresses: list[tuple[int, str]],
        context: ssl.SSLContext | None,
    ) -> _Connection:
        _, host, port = origin
        loop = asyncio.get_running_loop()
        failures: list[str] = []
        # TODO: addresses are tried one after the other, so one that drops
        # packets uses up the deadline; staggered attempts (RFC 8305) would fix it.
        for family, address in addresses:
            connection = _Connection(self, origin, loop)
            try:
                await loop.create_connection(
                    lambda made=connection: made,
                    address,
                    port,
                    family=family,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
                return connection
            except OSError as exc:
                where = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
                failures.append(_connect_reason(exc, where, tls=context is not None))
            except BaseException:
                # Cancelled, perhaps just as the connection was made: nobody
                # will use it. uvloop may then already have closed it without
                # a word (no connection_lost), so it is forgotten here.
                connection.abort()
                self._forget(connection)
                raise

        raise ConnectFailed("; ".join(failures) or f"{host} has no address")

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            self._ssl_context = context

        return self._ssl_context

    # -- the pool ----------------------------------------------------------

    def _take_idle(self, origin: Origin) -> _Connection | None:
        stack = self._idle.get(origin)
        while stack:
            # The most recently used one: the least likely to have been
            # closed by the peer's own idle timeout.
            connection = stack.pop()
            del self._idle_order[connection]
            if not stack:
                del self._idle[origin]

            if not connection.closed:
                return connection

        return None

    def _put_idle(self, connection: _Connection) -> None:
        if self._closed or connection.closed:
            connection.abort()
            return

        stack = self._idle.setdefault(connection.origin, [])
        if len(stack) >= self.max_idle_per_origin:
            connection.close()
            return

        loop = connection.loop
        connection.idle_since = loop.time()
        stack.append(connection)
        self._idle_order[connection] = None
        if len(self._idle_order) > self.max_idle:
            oldest = next(iter(self._idle_order))
            self._drop_idle(oldest)
            oldest.close()

        if self._sweep is None:
            when = connection.idle_since + self.idle_seconds
            self._sweep = loop.call_at(when, self._close_expired, loop)

    def _drop_idle(self, connection: _Connection) -> None:
        if connection not in self._idle_order:
            return

        del self._idle_order[connection]
        stack = self._idle[connection.origin]
        stack.remove(connection)
        if not stack:
            del self._idle[connection.origin]

    def _close_expired(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweep = None
        cutoff = loop.time() - self.idle_seconds
        while self._idle_order:
            oldest = next(iter(self._idle_order))
            if oldest.idle_since > cutoff:
                when = oldest.idle_since + self.idle_seconds
                self._sweep = loop.call_at(when, self._close_expired, loop)
                return

            self._drop_idle(oldest)
            oldest.close()

    def _forget(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        self._drop_idle(connection)


class _Connection(asyncio.Protocol):
    """One connection of the pool, and the parser of the answers on it."""

    def __init__(
        self, client: Http1Client, origin: Origin, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.client = client
        self.origin = origin
        self.loop = loop
        self.closed = False
        self.reusable = False
        self.exchanges = 0
        self.idle_since = 0.0
        self._transport: asyncio.Transport | None = None
        self._lost: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[Response] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._buffer = bytearray()
        self._state = _IDLE
        self._received = False
        self._max_body = 0
        self._read_body: Callable[[int], bool] = _always
        self._status = 0
        self._headers: dict[str, str] = {}
        self._keep_alive = False
        self._wanted = True
        self._remaining = 0
        self._body = bytearray()
        self._trailer_bytes = 0

    # -- what the pool calls -----------------------------------------------

    def exchange(
        self,
        request: bytes,
        deadline: float,
        max_body: int,
        read_body: Callable[[int], bool],
    ) -> asyncio.Future[Response]:
        """Send *request*; the future gives the answer or raises."""
        transport = self._transport
        self._received = False
        if self.closed or transport is None or transport.is_closing():
            raise self._lost_error(None)

        self._state = _HEAD
        self._max_body = max_body
        self._read_body = read_body
        self._wanted = True
        self._body = bytearray()
        self._trailer_bytes = 0
        self.reusable = False
        self._waiter = waiter = self.loop.create_future()
        # TODO: a timer handle per request costs about 2 µs on the standard
        # loop; deadlines rounded up to a tick shared by many would save most.
        self._timer = self.loop.call_at(deadline, self._time_out)
        try:
            transport.write(request)
        except (OSError, RuntimeError) as exc:
            self._fail(self._lost_error(exc))

        return waiter

    def close(self) -> None:
        """Close after what was written has gone out."""
        self.closed = True
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Close at once, dropping whatever is buffered either way."""
        self.closed = True
        self.reusable = False
        if self._transport is not None:
            self._transport.abort()

    def shut(self) -> asyncio.Future[None]:
        """Fail the request in flight, abort, and return a future of the end."""
        if self._lost is None:
            self._lost = self.loop.create_future()

        self._fail(ExchangeFailed("the client was closed"))
        return self._lost

    # -- asyncio.Protocol --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they
        # have the same methods.
        self._transport = cast(asyncio.Transport, transport)
        if self.closed:
            # Given up while it was being made.
            self._transport.abort()
            return

        self.client._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        self.client._forget(self)
        if self._waiter is not None:
            if self._state == _UNTIL_CLOSE:
                self._state = _DONE
                self._finish(bytes(self._body) if self._wanted else None)
            else:
                self._fail(self._lost_error(exc))

        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            # Bytes no request asked for (a 408 before an idle close, say):
            # the peer is out of step, and the connection goes.
            self.abort()
            return

        self._received = True
        try:
            if self._state == _HEAD and not self._buffer:
                rest = self._take_whole_answer(data)
                if rest is None:
                    return

                data = rest

            self._buffer += data
            self._parse()
        except _Malformed as exc:
            self._fail(ExchangeFailed(f"the answer is malformed: {exc}"))
            return

        if self._waiter is not None and self._state != _HEAD and not self._wanted:
            # A body nobody reads is not waited for; unless it had all come,
            # the connection goes with it.
            self._keep_alive = False
            self._finish(None)

    # -- the answer --------------------------------------------------------

    def _parse(self) -> None:
        buffer = self._buffer
        while True:
            state = self._state
            if state == _HEAD:
                end = buffer.find(b"\r\n\r\n")
                if end >= 0:
                    head_end, body_start = end, end + 4
                else:
                    match = _HEAD_END.search(buffer)
                    if match is None:
                        if len(buffer) > MAX_HEAD_BYTES:
                            raise _Malformed(f"its head is over {MAX_HEAD_BYTES} bytes")

                        return

                    head_end, body_start = match.start(), match.end()

                if head_end > MAX_HEAD_BYTES:
                    raise _Malformed(f"its head is over {MAX_HEAD_BYTES} bytes")

                head = buffer[:head_end].decode("latin-1")
                del buffer[:body_start]
                self._read_head(head)
            elif state == _LENGTH:
                if not buffer:
                    return

                if self._take_body(buffer):
                    self._state = _DONE
            elif state == _CHUNK_LINE:
                end = buffer.find(b"\n")
                if end < 0:
                    if len(buffer) > _MAX_CHUNK_LINE_BYTES:
                        raise _Malformed("a chunk size line is too long")

                    return

                line = bytes(buffer[:end])
                del buffer[: end + 1]
                self._read_chunk_size(line)
            elif state == _CHUNK_DATA:
                if not buffer:
                    return

                if self._take_body(buffer):
                    self._state = _CHUNK_END
            elif state == _CHUNK_END:
                if buffer.startswith(b"\r\n"):
                    del buffer[:2]
                elif buffer.startswith(b"\n"):
                    del buffer[:1]
                elif not buffer or (len(buffer) == 1 and buffer[0] == 0x0D):
                    return
                else:
                    raise _Malformed("a chunk is longer than its size")

                self._state = _CHUNK_LINE
            elif state == _TRAILER:
                end = buffer.find(b"\n")
                self._trailer_bytes += len(buffer) if end < 0 else end + 1
                if self._trailer_bytes > _MAX_TRAILER_BYTES:
                    raise _Malformed(f"its trailer is over {_MAX_TRAILER_BYTES} bytes")

                if end < 0:
                    return

                blank = end == 0 or (end == 1 and buffer[0] == 0x0D)
                del buffer[: end + 1]
                if blank:
                    self._state = _DONE
            elif state == _UNTIL_CLOSE:
                if not buffer:
                    return

                if self._wanted:
                    if len(self._body) + len(buffer) > self._max_body:
                        self._over_limit()
                        continue

                    self._body += buffer

                buffer.clear()
                return
            else:  # _DONE
                self._finish(bytes(self._body) if self._wanted else None)
                return

    def _take_whole_answer(self, data: bytes) -> bytes | None:
        """Finish if *data* is a whole answer, or return what is left to parse.

        Most answers come in one piece, with their head and body together;
        reading them straight from *data* saves the buffer's copies.
        """
        end = data.find(b"\r\n\r\n")
        if end < 0 or end > MAX_HEAD_BYTES:
            return data

        self._read_head(data[:end].decode("latin-1"))
        rest = data[end + 4 :]
        state = self._state
        if state == _DONE and not rest:
            self._finish(b"" if self._wanted else None)
            return None

        if state == _LENGTH and len(rest) == self._remaining:
            self._state = _DONE
            self._finish(rest if self._wanted else None)
            return None

        return rest

    def _read_head(self, head: str) -> None:
        status_line, *lines = head.split("\n")
        status_line = status_line.rstrip("\r")
        match = _STATUS_LINE.match(status_line)
        if match is None:
            raise _Malformed(f"not an HTTP/1.x status line: {status_line[:60]!r}")

        minor, code = match.groups()
        status = int(code)
        headers: dict[str, str] = {}
        last: str | None = None
        for raw_line in lines:
            line = raw_line.rstrip("\r")
            if line[:1] in (" ", "\t"):
                # A folded line continues the field before it (RFC 9112, 5.2).
                if last is None:
                    raise _Malformed("its first header line starts with white space")

                headers[last] += " " + line.strip(" \t")
                continue

            name, colon, value = line.partition(":")
            if not colon or not name or name[-1] in " \t":
                raise _Malformed(f"not a header line: {line[:60]!r}")

            last = name.lower()
            value = value.strip(" \t")
            before = headers.get(last)
            headers[last] = value if before is None else f"{before}, {value}"

        if status < 200:
            if status == 101:
                raise _Malformed("101 Switching Protocols, which nothing asked for")

            # An interim answer (100 Continue, 103 Early Hints): the final
            # one follows on the same connection.
            return

        options = headers.get("connection")
        tokens = (
            {token.strip() for token in options.lower().split(",")} if options else ()
        )
        if minor == "0":
            self._keep_alive = "keep-alive" in tokens
        else:
            self._keep_alive = "close" not in tokens

        self._status = status
        self._headers = headers
        self._wanted = self._read_body(status)
        coding = headers.get("transfer-encoding")
        if status in (204, 304):
            self._state = _DONE
        elif coding is not None:
            if "content-length" in headers:
                # Both framings in one answer: chunked wins, and the
                # connection is not to be trusted after it (RFC 9112, 6.3).
                self._keep_alive = False

            if coding.rpartition(",")[2].strip(" \t").lower() == "chunked":
                self._state = _CHUNK_LINE
            else:
                self._keep_alive = False
                self._state = _UNTIL_CLOSE
        elif (declared := headers.get("content-length")) is not None:
            length = _content_length(declared)
            if not length:
                self._state = _DONE
            elif self._wanted and length > self._max_body:
                self._over_limit()
            else:
                self._remaining = length
                self._state = _LENGTH
        else:
            self._keep_alive = False
            self._state = _UNTIL_CLOSE

    def _take_body(self, buffer: bytearray) -> bool:
        """Move what *buffer* holds of the part being read into the body.

        Return whether that part (the Content-Length body, or one chunk) is
        now read whole.
        """
        taken = min(len(buffer), self._remaining)
        if self._wanted:
            self._body += buffer[:taken]

        del buffer[:taken]
        self._remaining -= taken
        return not self._remaining

    def _read_chunk_size(self, line: bytes) -> None:
        size_text = line.partition(b";")[0].strip(b" \t\r")
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise _Malformed(f"invalid chunk size {size_text[:20]!r}")

        size = int(size_text, 16)
        if not size:
            self._state = _TRAILER
        elif self._wanted and len(self._body) + size > self._max_body:
            self._over_limit()
        else:
            self._remaining = size
            self._state = _CHUNK_DATA

    def _over_limit(self) -> None:
        # The body is not read, and the unread rest makes the connection
        # unusable.
        self._wanted = False
        self._keep_alive = False
        self._state = _DONE

    def _finish(self, body: bytes | None) -> None:
        waiter = self._waiter
        if waiter is None:
            return

        self._waiter = None
        self._cancel_timer()
        self.reusable = (
            self._state == _DONE
            and self._keep_alive
            and not self._buffer
            and not self.closed
        )
        self._state = _IDLE
        self.exchanges += 1
        if not waiter.done():
            waiter.set_result(Response(self._status, self._headers, body))

    def _fail(self, error: HttpClientError) -> None:
        waiter = self._waiter
        self._waiter = None
        self._state = _IDLE
        self._cancel_timer()
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _time_out(self) -> None:
        self._timer = None
        self._fail(RequestTimeout("no complete answer before the deadline"))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _lost_error(self, exc: BaseException | None) -> ExchangeFailed:
        detail = f" ({_os_reason(exc)})" if exc is not None else ""
        if not self._received and self.exchanges:
            return _StaleConnection(f"the pooled connection was closed{detail}")

        if not self._received:
            return ExchangeFailed(f"the connection closed before an answer{detail}")

        return ExchangeFailed(
            f"the connection closed in the middle of the answer{detail}"
        )


def _always(status: int) -> bool:
    return True


def _encode_request(
    endpoint: Endpoint, headers: Sequence[tuple[str, str]], body: bytes
) -> bytes:
    for name, _ in headers:
        if name not in _sendable_names:
            _check_name(name)

    text = "".join(
        [
            f"POST {endpoint.target} HTTP/1.1\r\n",
            *[f"{name}: {value}\r\n" for name, value in headers],
            f"Host: {endpoint.host_header}\r\nContent-Length: {len(body)}\r\n\r\n",
        ]
    )
    # One look over the whole head instead of one per value: the target and
    # Host are clean, so any line break beyond the head's own lines, or any
    # other control character, came with a value.
    lines = len(headers) + 4
    if (
        text.count("\n") != lines
        or text.count("\r") != lines
        or _CONTROL_BUT_LINE_BREAKS.search(text)
    ):
        for name, value in headers:
            if _CONTROL.search(value):
                raise InvalidRequest(
                    f"the value of header {name} has a control character"
                )

    try:
        head = text.encode()
    except UnicodeEncodeError:
        raise InvalidRequest("a header value is not valid Unicode text") from None

    return head + body


def _check_name(name: str) -> None:
    if not _TOKEN.fullmatch(name):
        raise InvalidRequest(f"{name!r} is not a valid header name")

    if len(_sendable_names) < _MAX_SENDABLE_NAMES:
        _sendable_names.add(name)


def _content_length(declared: str) -> int:
    if declared.isdigit() and declared.isascii() and len(declared) <= 18:
        return int(declared)

    # A repeated field arrives joined with commas; copies that agree are
    # allowed (RFC 9110, 8.6).
    values = {value.strip(" \t") for value in declared.split(",")}
    if len(values) != 1:
        raise _Malformed(f"conflicting Content-Length values {declared[:60]!r}")

    [value] = values
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise _Malformed(f"invalid Content-Length {value[:60]!r}")

    return int(value)


def _connect_reason(exc: OSError, where: str, *, tls: bool) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = exc.verify_message or _ssl_reason(exc)
        return f"the TLS certificate of {where} is not accepted: {message}"

    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake with {where} failed: {_ssl_reason(exc)}"

    if (
        tls
        and isinstance(exc, ConnectionError | EOFError)
        and not isinstance(exc, ConnectionRefusedError)
    ):
        return f"the TLS handshake with {where} failed: {_os_reason(exc)}"

    return f"{_os_reason(exc)} ({where})"


def _ssl_reason(exc: ssl.SSLError) -> str:
    reason = exc.reason
    if isinstance(reason, str) and reason:
        return reason.replace("_", " ").lower()

    return str(exc)


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        # asyncio puts the address in strerror ("Connect call failed (...)");
        # the system's own text for the errno says what happened.
        if exc.errno and exc.errno > 0 and not isinstance(exc, socket.gaierror):
            return os.strerror(exc.errno)

        if exc.strerror:
            return exc.strerror

    return str(exc) or type(exc).__name__
