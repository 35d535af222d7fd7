"""What the throwaway database servers of this package have in common.

A server is one child process on the loopback address, writing to a log
file, started and waited for with a deadline, stopped with a signal and
killed if it does not stop, and killed too if it is still running when
the interpreter exits.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


class LocalServer:
    """One server process of a harness; subclasses say how to start it.

    :param directory: where the server keeps its files and its log.
    :param name: the server's name in messages.
    """

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = Path(directory).absolute()
        self.name = name
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: (
            weakref.finalize[[subprocess.Popen[bytes]], LocalServer] | None
        ) = None

    @property
    def log_path(self) -> Path:
        """The server's log file: its standard output and error."""
        return self.directory / f"{self.name.lower()}.log"

    @property
    def running(self) -> bool:
        """Whether the server's process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        raise NotImplementedError

    def _spawn(self, command: Sequence[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                # Its own session: a Ctrl-C meant for the caller must not
                # reach the server before the caller has stopped it.
                start_new_session=True,
            )

        self._finalizer = weakref.finalize(self, _kill, self._process)

    def _wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Wait until *ready()*; stop the server and raise if it dies or is late."""
        deadline = time.monotonic() + timeout
        try:
            while not ready():
                assert self._process is not None
                if self._process.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited with code {self._process.returncode} "
                        f"before it was ready\n--- {self.log_path} ---\n"
                        f"{self.log_tail()}"
                    )

                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"{self.name} was not ready in {timeout:.0f} s\n"
                        f"--- {self.log_path} ---\n{self.log_tail()}"
                    )

                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    def stop(self, *, timeout: float = 60.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after *timeout*); keep its data."""
        process = self._process
        if process is None:
            return

        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill(process)

        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

        self._process = None

    def log_tail(self, size: int = 6000) -> str:
        """The end of the server's log, for error messages."""
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def destroy(self) -> None:
        """Stop the server and remove its directory, data and log included."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.destroy()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """Make SIGINT and SIGTERM raise KeyboardInterrupt in this process.

    A shell starts a background command (``command &``) with SIGINT
    ignored, and Python then leaves it ignored; a server started so must
    still stop on ``kill -INT``, as on Ctrl-C.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def run_in_foreground(server: LocalServer, url: Callable[[], str]) -> int:
    """Start *server*, print its storage URL, and run until Ctrl-C or SIGTERM."""
    stop_on_signals()
    try:
        server.start()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    # Inside the try: a Ctrl-C that comes as soon as the URL is out (a
    # script that only wanted the URL) must still stop the server.
    try:
        print(url(), flush=True)
        print("running; press Ctrl-C to stop", file=sys.stderr, flush=True)
        while server.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()

    print(f"stopped; the data is kept in {server.directory}", file=sys.stderr)
    return 0
