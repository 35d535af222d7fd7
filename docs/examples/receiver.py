"""A callback receiver to try the service with: it prints what it gets.

Each callback is printed (its ``Timer-*`` headers and body) and answered
``204 No Content``, which tells the service the timer is delivered. Run it
with ``python3 docs/examples/receiver.py [PORT]``: it listens on
127.0.0.1, port 9000 unless told otherwise. Standard library only; it
verifies no signature (``docs/examples.md`` shows receivers that do).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OnCallback = Callable[[dict[str, str], Any], None]


def print_callback(headers: dict[str, str], body: Any) -> None:
    """Print one callback on a line: its timer headers, then its body."""
    print(" ".join(f"{name}={value}" for name, value in headers.items()), body)
    sys.stdout.flush()


def make_server(
    port: int = 9000, on_callback: OnCallback = print_callback
) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:*port* that hands each POST to *on_callback*."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            timer_headers = {
                name: value
                for name, value in self.headers.items()
                if name.lower().startswith("timer-")
            }
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")

            on_callback(timer_headers, body)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    server = make_server(port)
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
