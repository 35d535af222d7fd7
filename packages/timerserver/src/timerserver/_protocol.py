"""uvicorn's httptools protocol with a limit on the size of a request's head.

uvicorn bounds the request line and headers only with its pure-Python h11
protocol (``h11_max_incomplete_event_size``); with httptools, the faster
parser that ``uvicorn[standard]`` brings, a client may send headers of any
size and the parser buffers them all. This protocol counts what arrives
before the headers are complete, and answers ``431`` once it is over
``limits.max_header_bytes``, without reading the rest.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState


def head_too_large_response(limit: int) -> bytes:
    """The whole ``431`` answer, in the error model of the API."""
    body = orjson.dumps(
        {
            "error": {
                "code": "payload_too_large",
                "message": (
                    f"the request line and headers are over the limit of {limit} bytes"
                ),
                "details": {"field": "headers", "limit": limit},
            }
        }
    )
    head = (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n"
    )
    return head + body


class HeadLimitedHttpToolsProtocol(HttpToolsProtocol):
    """Refuses a request whose line and headers exceed a limit.

    The limit is the config's ``h11_max_incomplete_event_size``, the setting
    uvicorn has for the same bound under h11. The bytes of each chunk that
    arrives while a head is incomplete are counted, so a head that never
    ends is cut off after at most one chunk more than the limit; a head that
    ends within a chunk is measured exactly once it is parsed. What arrives
    after a refused head is not read; the requests before it on the same
    connection are still answered, then the ``431``, then it closes.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limit = config.h11_max_incomplete_event_size
        if limit is None:
            raise ValueError("the head limit (h11_max_incomplete_event_size) is unset")

        self.head_limit = limit
        self._head_bytes = 0
        self._in_head = True
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return

        if self._in_head:
            self._head_bytes += len(data)

        super().data_received(data)
        if self._in_head and self._head_bytes > self.head_limit:
            self._refuse()

    def on_message_begin(self) -> None:
        if not self._refused:
            super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if not self._refused:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._refused:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return

        self._in_head = False
        # Four bytes a header for ": " and the line end.
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self.head_limit:
            self._refuse()
            return

        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return

        super().on_message_complete()
        # What follows on the connection is the head of the next request.
        self._in_head = True
        self._head_bytes = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._refused and not self._responses_pending():
            self._answer_refusal()

    def send_400_response(self, msg: str) -> None:
        # The parser may still stumble over the rest of a refused request.
        if not self._refused:
            super().send_400_response(msg)

    def _refuse(self) -> None:
        self._refused = True
        # Requests pipelined before this one are answered first, in order.
        if not self._responses_pending():
            self._answer_refusal()

    def _responses_pending(self) -> bool:
        in_flight = self.cycle is not None and not self.cycle.response_complete
        return in_flight or bool(self.pipeline)

    def _answer_refusal(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(head_too_large_response(self.head_limit))
            self.transport.close()
