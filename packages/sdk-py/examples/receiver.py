"""A webhook receiver on the standard library's HTTP server.

It checks each callback's signature with the service's signing secret,
reads it, and answers: done, or a reschedule. Run it with the secret in
TIMER_SIGNING_SECRET; it listens on 127.0.0.1:8000.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from timerclient import Delivery, Reschedule, WebhookReceiver

OnDelivery = Callable[[Delivery], Reschedule | None]


def make_server(
    receiver: WebhookReceiver,
    on_delivery: OnDelivery,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> ThreadingHTTPServer:
    """An HTTP server that passes every verified callback to *on_delivery*."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            # The signature covers the raw bytes: verify before parsing.
            answer = receiver.answer(dict(self.headers.items()), body, on_delivery)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)

            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)


def print_delivery(delivery: Delivery) -> None:
    # Deliveries are at least once: a real receiver skips the ones it has
    # seen, by (namespace, id, fire_at).
    where = f"{delivery.namespace}/{delivery.id}"
    print(f"{where} attempt {delivery.attempt}: {delivery.payload}")


if __name__ == "__main__":
    secret = os.environ["TIMER_SIGNING_SECRET"]
    server = make_server(WebhookReceiver(secret), print_delivery)
    print("listening on http://127.0.0.1:8000")
    server.serve_forever()
