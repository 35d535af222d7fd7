"""The real timer server for the integration tests, and a webhook receiver.

The server is the ``timerserver`` executable: ``TIMERSDK_SERVER`` (an
absolute path) or ``timerserver`` on ``PATH``. Without either the tests are
skipped, except where ``CI=true``, where they fail. A ``TIMERSDK_SERVER``
that is set but names no file is a mistake, which fails the tests too.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
import pytest

from receiver import make_server
from timerclient import Delivery, Reschedule, WebhookReceiver

SIGNING_SECRET = "sdk-py-tests-secret"
# The server is ready in about a second; the rest is room for a busy machine.
READY_WITHIN_SECONDS = 10.0
STOP_WITHIN_SECONDS = 10.0


def server_command() -> str:
    """The server's executable, or skip (fail under CI) when there is none."""
    configured = os.environ.get("TIMERSDK_SERVER")
    if configured:
        path = Path(configured)
        if not path.is_absolute() or not path.is_file():
            pytest.fail(
                f"TIMERSDK_SERVER must be the absolute path of the timerserver "
                f"executable, not {configured!r}",
                pytrace=False,
            )

        return configured

    found = shutil.which("timerserver")
    if found:
        return found

    message = (
        "the timer server is needed: set TIMERSDK_SERVER to the absolute path "
        "of the timerserver executable, or put timerserver on PATH"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)

    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TimerServer:
    """``timerserver serve`` on 127.0.0.1 with a fresh SQLite file."""

    def __init__(self, command: str, directory: Path) -> None:
        self.command = command
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        # The server takes every TIMERSERVER_* variable as a setting: the
        # caller's own settings would change the server the tests expect.
        environment = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("TIMERSERVER_")
        }
        environment["TIMERSERVER_CALLBACKS__SIGNING_SECRET"] = SIGNING_SECRET
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    self.command,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--storage",
                    f"sqlite:///{self.directory / 'timers.db'}",
                ],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + READY_WITHIN_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {self._process.returncode}:\n{self.log()}"
                )

            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass

            time.sleep(0.1)

        raise RuntimeError(
            f"the server was not ready within {READY_WITHIN_SECONDS:g} s:\n{self.log()}"
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return

        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_WITHIN_SECONDS)


class Receiver:
    """The example receiver in a thread, noting each verified delivery.

    *decide* picks the answer of each delivery; by default, done.
    """

    def __init__(
        self,
        secret: str = SIGNING_SECRET,
        decide: Callable[[Delivery], Reschedule | None] | None = None,
    ) -> None:
        self.deliveries: queue.Queue[Delivery] = queue.Queue()
        self._decide = decide or (lambda delivery: None)
        self._server: ThreadingHTTPServer = make_server(
            WebhookReceiver(secret), self._on_delivery, port=0
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/timer"

    def _on_delivery(self, delivery: Delivery) -> Reschedule | None:
        self.deliveries.put(delivery)
        return self._decide(delivery)

    def next(self, within: float = 20.0) -> Delivery:
        """The next delivery, waiting for at most *within* seconds."""
        try:
            return self.deliveries.get(timeout=within)
        except queue.Empty:
            raise AssertionError(f"no delivery within {within:g} s") from None

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
