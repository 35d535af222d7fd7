"""An HTTP/1.1 transport for ``httpx.AsyncClient`` on asyncio protocols.

httpx's own async transport (httpcore on anyio) spends about a millisecond
of CPU per request on loopback and gets slower as more requests run at once
(``bench/sdk_py.py`` measures it). This one keeps what the API needs and no
more: keep-alive connections pooled per origin, one future and at most one
timer handle per request, answers parsed in the protocol's callbacks.

What it leaves out: HTTP/2, proxies (the client falls back to httpx's
transport where the environment names one), streaming (answers are read
whole, which the API's JSON answers are anyway), and request trailers.
"""

from __future__ import annotations

import asyncio
import ssl

import httpx

_MAX_HEAD_BYTES = 64 * 1024
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_NO_BODY_STATUSES = frozenset({204, 304})
_SKIPPED_REQUEST_HEADERS = frozenset({b"content-length", b"transfer-encoding"})

Origin = tuple[str, str, int]


class _ProtocolError(Exception):
    """The server's bytes are not an HTTP/1.1 answer."""


class _Disconnected(Exception):
    """The connection closed before the answer was complete."""

    def __init__(self, answered: bool, cause: BaseException | None) -> None:
        super().__init__("the server closed the connection before answering")
        self.answered = answered
        self.cause = cause


# Parser states.
_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_EOF, _DONE = (
    range(8)
)


class _Answer:
    """Parses one answer from the bytes of a connection, as they arrive."""

    __slots__ = (
        "body",
        "buffer",
        "head_only",
        "headers",
        "keep_alive",
        "reason",
        "received",
        "remaining",
        "state",
        "status",
        "version",
    )

    def __init__(self, head_only: bool) -> None:
        self.head_only = head_only
        self.buffer = bytearray()
        self.body = bytearray()
        self.state = _HEAD
        self.status = 0
        self.reason = b""
        self.version = b"HTTP/1.1"
        self.headers: list[tuple[bytes, bytes]] = []
        self.keep_alive = True
        self.remaining = 0
        self.received = False

    def feed(self, data: bytes) -> bool:
        """Take *data*; return whether the answer is complete."""
        self.received = True
        buffer = self.buffer
        buffer += data
        while True:
            state = self.state
            if state == _BODY:
                taken = min(len(buffer), self.remaining)
                self.body += buffer[:taken]
                del buffer[:taken]
                self.remaining -= taken
                if self.remaining:
                    return False

                self.state = _DONE
            elif state == _HEAD:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > _MAX_HEAD_BYTES:
                        raise _ProtocolError("the answer's head is too large")

                    return False

                head = bytes(buffer[:end])
                del buffer[: end + 4]
                self._read_head(head)
            elif state == _DONE:
                if buffer:
                    # Bytes past the answer: the connection is out of step.
                    self.keep_alive = False

                return True
            elif state == _UNTIL_EOF:
                self.body += buffer
                buffer.clear()
                return False
            elif not self._read_chunked(buffer):
                return False

    def _read_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise _ProtocolError(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")

        try:
            status = int(parts[1])
        except ValueError:
            raise _ProtocolError(f"bad status {parts[1][:10]!r}") from None

        headers = []
        length: int | None = None
        chunked = False
        connection = b""
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise _ProtocolError(f"bad header line {line[:80]!r}")

            value = value.strip()
            headers.append((name, value))
            lower = name.lower()
            if lower == b"content-length":
                if not value.isdigit() or (length is not None and length != int(value)):
                    raise _ProtocolError(f"bad Content-Length {value[:20]!r}")

                length = int(value)
            elif lower == b"transfer-encoding":
                chunked = value.lower().endswith(b"chunked")
            elif lower == b"connection":
                connection = value.lower()

        if 100 <= status < 200:
            # An interim answer (100 Continue): the real one follows.
            return

        self.status = status
        self.reason = parts[2] if len(parts) > 2 else b""
        self.version = parts[0]
        self.headers = headers
        if b"close" in connection or (
            parts[0] == b"HTTP/1.0" and b"keep-alive" not in connection
        ):
            self.keep_alive = False

        if self.head_only or status in _NO_BODY_STATUSES:
            self.state = _DONE
        elif chunked:
            self.state = _CHUNK_SIZE
        elif length is not None:
            self.remaining = length
            self.state = _BODY if length else _DONE
        else:
            self.keep_alive = False
            self.state = _UNTIL_EOF

    def _read_chunked(self, buffer: bytearray) -> bool:
        """Advance through chunked framing; return whether it progressed."""
        state = self.state
        if state == _CHUNK_DATA:
            taken = min(len(buffer), self.remaining)
            self.body += buffer[:taken]
            del buffer[:taken]
            self.remaining -= taken
            if self.remaining:
                return False

            self.state = _CHUNK_END
            return True

        end = buffer.find(b"\r\n")
        if end < 0:
            if len(buffer) > _MAX_HEAD_BYTES:
                raise _ProtocolError("a chunk line is too long")

            return False

        line = bytes(buffer[:end])
        del buffer[: end + 2]
        if state == _CHUNK_END:
            if line:
                raise _ProtocolError("a chunk does not end with CRLF")

            self.state = _CHUNK_SIZE
        elif state == _CHUNK_SIZE:
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _ProtocolError(f"bad chunk size {size_text[:20]!r}") from None

            if size:
                self.remaining = size
                self.state = _CHUNK_DATA
            else:
                self.state = _TRAILERS
        elif not line:
            # The empty line after the trailers (if any) ends the answer.
            self.state = _DONE

        return True

    def finish_at_eof(self) -> bool:
        """Whether the answer is complete now that the connection closed."""
        if self.state == _UNTIL_EOF:
            self.state = _DONE
            return True

        return self.state == _DONE


class _Connection(asyncio.Protocol):
    """One keep-alive connection, carrying one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> None:
        self.loop = loop
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._answer: _Answer | None = None
        self._waiter: asyncio.Future[_Answer] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._read_timeout = 0.0
        self._last_progress = 0.0

    # -- asyncio.Protocol -----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        answer = self._answer
        if answer is None:
            # Nothing was asked: an idle connection that talks is broken.
            self.close()
            return

        self._last_progress = self.loop.time()
        try:
            complete = answer.feed(data)
        except _ProtocolError as exc:
            self._fail(httpx.RemoteProtocolError(str(exc)))
            self.close()
            return

        if complete:
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(answer)

    def eof_received(self) -> bool | None:
        # Let the transport close: the connection cannot carry another
        # request, and a pending answer is decided in connection_lost.
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self._answer
        waiter = self._waiter
        if answer is None or waiter is None or waiter.done():
            return

        if answer.finish_at_eof():
            answer.keep_alive = False
            waiter.set_result(answer)
        else:
            waiter.set_exception(_Disconnected(answer.received, exc))

    # -- exchanges --------------------------------------------------------

    async def exchange(
        self, data: bytes, head_only: bool, read_timeout: float | None
    ) -> _Answer:
        """Send a whole request and return its whole answer.

        *read_timeout* bounds each wait for progress, the sending included:
        the request is handed to the transport's buffer at once, so a server
        that reads nothing also sends nothing.
        """
        if self.closed or self.transport is None:
            raise _Disconnected(False, None)

        answer = _Answer(head_only)
        waiter: asyncio.Future[_Answer] = self.loop.create_future()
        self._answer = answer
        self._waiter = waiter
        self.transport.write(data)
        if read_timeout is not None:
            self._read_timeout = read_timeout
            self._last_progress = self.loop.time()
            self._timer = self.loop.call_later(read_timeout, self._check_progress)

        try:
            return await waiter
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

            self._answer = None
            self._waiter = None

    def _check_progress(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return

        quiet = self.loop.time() - self._last_progress
        if quiet >= self._read_timeout * 0.999:
            waiter.set_exception(
                httpx.ReadTimeout(f"no answer for {self._read_timeout:g} s")
            )
            self.close()
        else:
            self._timer = self.loop.call_later(
                self._read_timeout - quiet, self._check_progress
            )

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _request_head(request: httpx.Request, body: bytes) -> bytes:
    target = request.url.raw_path
    lines = [request.method.encode("ascii") + b" " + target + b" HTTP/1.1"]
    for name, value in request.headers.raw:
        if name.lower() in _SKIPPED_REQUEST_HEADERS:
            continue

        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name:
            raise httpx.LocalProtocolError(f"header {name!r} holds a line break")

        lines.append(name + b": " + value)

    if body or request.method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: " + str(len(body)).encode("ascii"))

    lines.append(b"\r\n")
    return b"\r\n".join(lines)


class KeepAliveTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests over pooled HTTP/1.1 keep-alive connections.

    :param max_connections: requests in flight at once; more wait for a
        free slot, for at most the ``pool`` timeout
    :param keepalive_expiry: seconds an idle connection is kept for reuse
    :param ssl_context: the TLS settings of ``https`` origins; httpx's
        defaults (certifi, ``SSL_CERT_FILE``) when ``None``
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")

        self._max_idle = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._ssl_context = ssl_context
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[Origin, list[_Connection]] = {}
        self._idle_count = 0
        self._open: set[_Connection] = set()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport is closed")

        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"{scheme!r} is not http or https")

        origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        body = await request.aread()
        data = _request_head(request, body) + body
        method = request.method
        head_only = method == "HEAD"

        await self._acquire(timeouts.get("pool"))
        try:
            connection = self._take_idle(origin)
            reused = connection is not None
            if connection is None:
                connection = await self._connect(origin, timeouts.get("connect"))

            try:
                answer = await self._exchange(
                    connection, data, head_only, timeouts.get("read")
                )
            except _Disconnected as exc:
                # A reused connection the server closed just before it got
                # the request: only a request safe to repeat goes again.
                if not reused or exc.answered or method not in _IDEMPOTENT:
                    raise httpx.RemoteProtocolError(str(exc)) from exc.cause

                connection = await self._connect(origin, timeouts.get("connect"))
                try:
                    answer = await self._exchange(
                        connection, data, head_only, timeouts.get("read")
                    )
                except _Disconnected as again:
                    raise httpx.RemoteProtocolError(str(again)) from again.cause

            if answer.keep_alive and not connection.closed:
                self._put_idle(connection)
            else:
                self._discard(connection)
        finally:
            self._slots.release()

        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=httpx.ByteStream(bytes(answer.body)),
            extensions={"http_version": answer.version, "reason_phrase": answer.reason},
        )

    async def _exchange(
        self,
        connection: _Connection,
        data: bytes,
        head_only: bool,
        read_timeout: float | None,
    ) -> _Answer:
        try:
            return await connection.exchange(data, head_only, read_timeout)
        except BaseException:
            # Closed, cancelled or failed mid-exchange: the connection's
            # state is unknown, so it is not reused.
            self._discard(connection)
            raise

    async def _acquire(self, limit_seconds: float | None) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return

        try:
            async with asyncio.timeout(limit_seconds):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout(
                f"no free connection within {limit_seconds:g} s"
            ) from None

    async def _connect(
        self, origin: Origin, limit_seconds: float | None
    ) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        context = None
        if scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context()

            context = self._ssl_context

        def factory() -> _Connection:
            return _Connection(loop, origin)

        try:
            async with asyncio.timeout(limit_seconds):
                _, connection = await loop.create_connection(
                    factory,
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"could not connect to {host}:{port} within {limit_seconds:g} s"
            ) from None
        except OSError as exc:
            raise httpx.ConnectError(
                f"could not connect to {host}:{port}: {exc}"
            ) from exc

        self._open.add(connection)
        return connection

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None

        now = asyncio.get_running_loop().time()
        while idle:
            # The most recently used comes first: it is the least likely to
            # have been closed by the other side.
            connection = idle.pop()
            self._idle_count -= 1
            if (
                not connection.closed
                and now - connection.idle_since < self._keepalive_expiry
            ):
                return connection

            self._discard(connection)

        return None

    def _put_idle(self, connection: _Connection) -> None:
        if self._closed:
            self._discard(connection)
            return

        if self._idle_count >= self._max_idle:
            self._close_oldest_idle()

        connection.idle_since = connection.loop.time()
        self._idle.setdefault(connection.origin, []).append(connection)
        self._idle_count += 1

    def _close_oldest_idle(self) -> None:
        oldest: list[_Connection] | None = None
        for idle in self._idle.values():
            if idle and (oldest is None or idle[0].idle_since < oldest[0].idle_since):
                oldest = idle

        if oldest:
            self._idle_count -= 1
            self._discard(oldest.pop(0))

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    async def aclose(self) -> None:
        """Close every connection; requests in flight fail."""
        self._closed = True
        for connection in list(self._open):
            connection.close()

        self._open.clear()
        self._idle.clear()
        self._idle_count = 0
        # Let the transports run their close callbacks before the loop ends.
        await asyncio.sleep(0)
