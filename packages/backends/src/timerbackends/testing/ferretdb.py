"""A throwaway MongoDB-protocol server on the loopback address: FerretDB.

For tests and benchmarks. No MongoDB server can be installed from the
registries this project uses, so :class:`FerretDBServer` runs FerretDB
:data:`FERRETDB_VERSION` (the Go module ``github.com/FerretDB/FerretDB``),
which speaks MongoDB's wire protocol and keeps the data in a PostgreSQL
server of its own (:class:`~timerbackends.testing.postgres.PostgresServer`),
or in SQLite files.
:func:`ensure_ferretdb` builds it once with the machine's Go, from the Go
module proxy, into a cache folder
(``~/.cache/timerbackends`` unless ``TIMERBACKENDS_CACHE`` says otherwise).

From a shell, ``python -m timerbackends.testing.ferretdb DIRECTORY`` starts
one, prints its storage URL and runs until interrupted (Ctrl-C).

Every wait here has a deadline, and only the loopback address is used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from ._process import LOOPBACK, LocalServer, free_port, run_in_foreground
from .postgres import PostgresServer

__all__ = [
    "FERRETDB_VERSION",
    "FerretDBNotFound",
    "FerretDBServer",
    "ensure_ferretdb",
    "mongo_ready",
]

#: The release built: the last of 1.x, whose SQLite backend needs nothing
#: else running.
FERRETDB_VERSION = "v1.24.2"
MODULE = "github.com/FerretDB/FerretDB"

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
BUILD_TIMEOUT = 1800.0


class FerretDBNotFound(RuntimeError):
    """Go or the FerretDB binary is missing and cannot be had."""


def _cache_root() -> Path:
    configured = os.environ.get("TIMERBACKENDS_CACHE")
    if configured:
        return Path(configured)

    return Path.home() / ".cache" / "timerbackends"


def _find_go() -> str | None:
    found = shutil.which("go")
    if found is not None:
        return found

    for candidate in (Path("/usr/local/go/bin/go"), Path("/usr/lib/go/bin/go")):
        if os.access(candidate, os.X_OK):
            return str(candidate)

    return None


def _go(
    go: str, arguments: list[str], env: dict[str, str], *, cwd: Path | None = None
) -> str:
    try:
        answer = subprocess.run(
            [go, *arguments],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=True,
            cwd=cwd,
        )
    except subprocess.CalledProcessError as exc:
        raise FerretDBNotFound(
            f"go {' '.join(arguments)} failed with exit code {exc.returncode}:\n"
            f"{exc.stdout[-2000:]}{exc.stderr[-3000:]}"
        ) from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FerretDBNotFound(f"go {' '.join(arguments)} failed: {exc}") from None

    return answer.stdout


def ensure_ferretdb(
    version: str = FERRETDB_VERSION, *, cache: Path | None = None
) -> Path:
    """Return the path of a built ``ferretdb`` binary of *version*.

    The first call downloads the module from the Go module proxy (``go mod
    download``) and builds it into ``<cache>/ferretdb-<version>/bin``, which
    takes minutes; later calls find it there.

    :raises FerretDBNotFound: if Go is missing or the build fails.
    """
    folder = (cache or _cache_root()) / f"ferretdb-{version}"
    binary = folder / "bin" / "ferretdb"
    if os.access(binary, os.X_OK):
        return binary

    go = _find_go()
    if go is None:
        raise FerretDBNotFound(
            "Go is needed to build FerretDB from the Go module proxy; install it "
            "(Debian: apt-get install golang)"
        )

    folder.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        # A static binary: nothing of the machine's C libraries is needed.
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=mod",
    }
    source = folder / "src"
    try:
        downloaded = _go(go, ["mod", "download", "-json", f"{MODULE}@{version}"], env)
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(json.loads(downloaded)["Dir"], source)
        for path in source.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)

        # FerretDB's own build writes its version into this file (from git),
        # and the binary refuses to start without it.
        (source / "build" / "version" / "version.txt").write_text(f"{version}\n")
        _go(go, ["build", "-o", str(binary), "./cmd/ferretdb"], env, cwd=source)
    finally:
        shutil.rmtree(source, ignore_errors=True)

    if not os.access(binary, os.X_OK):
        raise FerretDBNotFound(f"go build did not make {binary}")

    return binary


# -- readiness ----------------------------------------------------------------


def _hello_message() -> bytes:
    # OP_MSG with one section: {"hello": 1, "$db": "admin"}.
    def element(name: str, kind: int, value: bytes) -> bytes:
        return bytes([kind]) + name.encode() + b"\0" + value

    admin = b"admin\0"
    body = element("hello", 0x10, struct.pack("<i", 1)) + element(
        "$db", 0x02, struct.pack("<i", len(admin)) + admin
    )
    document = struct.pack("<i", len(body) + 5) + body + b"\0"
    payload = struct.pack("<I", 0) + b"\0" + document
    header = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013)
    return header + payload


def mongo_ready(port: int, *, timeout: float = 2.0) -> bool:
    """Say whether a server answers MongoDB's ``hello`` on ``127.0.0.1:port``."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.sendall(_hello_message())
            header = b""
            while len(header) < 16:
                chunk = sock.recv(16 - len(header))
                if not chunk:
                    return False

                header += chunk
    except OSError:
        return False

    _length, _request, response_to, opcode = struct.unpack("<iiii", header)
    return bool(response_to == 1 and opcode == 2013)


# -- the server -------------------------------------------------------------------


class FerretDBServer(LocalServer):
    """A FerretDB server of its own, for tests and benchmarks.

    Its data is in ``directory/postgres`` (a PostgreSQL server that this
    one starts and stops) or ``directory/data`` (SQLite files), its log
    ``directory/ferretdb.log``; later starts reuse both and the port. Use
    it as a context manager, or call :meth:`destroy`.

    FerretDB 1.x answers a query from its backend's indexes only where it
    can push the filter down: on PostgreSQL, equality on top-level fields
    (so a version-checked update by ``_id`` is an index lookup); on SQLite,
    only a lone ``_id``, and a version-checked update scans the whole
    collection. PostgreSQL is therefore the default.

    :param directory: where the data and the log are kept.
    :param port: the TCP port; a free one by default.
    :param handler: ``postgresql`` or ``sqlite``, FerretDB's backend.
    """

    def __init__(
        self, directory: Path, *, port: int | None = None, handler: str = "postgresql"
    ) -> None:
        if handler not in ("postgresql", "sqlite"):
            raise ValueError(f"FerretDB has no {handler!r} backend")

        super().__init__(directory, "FerretDB")
        self.port = port
        self.handler = handler
        self._postgres: PostgresServer | None = None

    def url_for(self, database: str) -> str:
        """Return the storage URL of *database* on this server."""
        if self.port is None:
            raise RuntimeError("the server has not been started yet")

        return f"mongodb://{LOOPBACK}:{self.port}/{database}"

    def start(self, *, timeout: float = START_TIMEOUT) -> Self:
        """Start the server (building it the first time) and wait for it.

        :raises FerretDBNotFound: if the binary cannot be had.
        :raises RuntimeError: if it exits or is not ready in time.
        """
        if self.running:
            return self

        binary = ensure_ferretdb()
        self.port = self.port or free_port()

        state = self.directory / "state"
        state.mkdir(parents=True, exist_ok=True)
        if self.handler == "postgresql":
            if self._postgres is None:
                self._postgres = PostgresServer(self.directory / "postgres")

            self._postgres.start()
            # FerretDB takes the postgres:// spelling of the URL.
            url = self._postgres.url.replace("postgresql://", "postgres://", 1)
            # A request can hold one pooled connection while it waits for
            # another; a pool as large as the server allows keeps many
            # concurrent requests from waiting on each other for good.
            url += "?pool_max_conns=150"
            backend = ["--handler=postgresql", f"--postgresql-url={url}"]
        else:
            data = self.directory / "data"
            data.mkdir(parents=True, exist_ok=True)
            backend = ["--handler=sqlite", f"--sqlite-url=file:{data}/"]

        command = [
            str(binary),
            *backend,
            f"--listen-addr={LOOPBACK}:{self.port}",
            f"--state-dir={state}",
            "--telemetry=disable",
            "--log-level=warn",
            f"--debug-addr={LOOPBACK}:{free_port()}",
        ]
        self._spawn(command)
        port = self.port
        self._wait_until(lambda: mongo_ready(port), timeout)
        return self

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the server (SIGTERM, then SIGKILL); keep its data."""
        super().stop(timeout=timeout)
        if self._postgres is not None:
            self._postgres.stop()

    def restart(self, *, timeout: float = START_TIMEOUT) -> Self:
        self.stop()
        return self.start(timeout=timeout)

    def destroy(self) -> None:
        self.stop()
        if self._postgres is not None:
            self._postgres.destroy()

        shutil.rmtree(self.directory, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Start a throwaway server, print its URL and run until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m timerbackends.testing.ferretdb",
        description="Start a throwaway FerretDB (MongoDB protocol) on 127.0.0.1 "
        "for development; its data is kept in DIRECTORY for the next start.",
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--database", default="timers")
    parser.add_argument(
        "--handler", choices=("postgresql", "sqlite"), default="postgresql"
    )
    arguments = parser.parse_args(argv)

    server = FerretDBServer(
        arguments.directory, port=arguments.port, handler=arguments.handler
    )
    return run_in_foreground(server, lambda: server.url_for(arguments.database))


if __name__ == "__main__":
    sys.exit(main())
