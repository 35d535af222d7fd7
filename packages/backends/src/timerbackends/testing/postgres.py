"""A throwaway PostgreSQL server on the loopback address, for tests and benchmarks.

:class:`PostgresServer` makes a cluster in a directory of its own with
``initdb``, runs ``postgres`` on ``127.0.0.1`` at a free port and removes it
all again. It is tuned for speed, not safety (no fsync), and so is only for
data that may be lost. It needs the PostgreSQL server binaries:
:func:`ensure_postgres_bin` finds them, or installs Debian's ``postgresql``
package when running as root.

``initdb`` and ``postgres`` refuse to run as root. Run as root, the server
runs as the ``postgres`` system user (which Debian's package creates), and
its files belong to that user.

From a shell, ``python -m timerbackends.testing.postgres DIRECTORY`` starts
one, prints its URL and runs until interrupted (Ctrl-C).

Every wait here has a deadline, and only the loopback address is used.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from ._process import stop_on_signals

__all__ = [
    "PostgresError",
    "PostgresNotFound",
    "PostgresServer",
    "ensure_postgres_bin",
    "find_postgres_bin",
    "simple_query",
]

LOOPBACK = "127.0.0.1"

#: The superuser role that ``initdb`` creates, and the system user that runs
#: the server when this process is root.
SUPERUSER = "postgres"

#: The database that :meth:`PostgresServer.start` creates.
DATABASE = "timers"

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
INSTALL_TIMEOUT = 900.0

# A Unix socket path longer than this does not fit in sockaddr_un (108 bytes
# with its terminating NUL), and the server appends ".s.PGSQL.<port>".
_MAX_SOCKET_DIR = 80

_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresNotFound(RuntimeError):
    """The PostgreSQL server binaries are not installed and cannot be."""


class PostgresError(RuntimeError):
    """The server answered a query with an error.

    :param code: the SQLSTATE of the error.
    :param message: the server's message.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} (SQLSTATE {code})")
        self.code = code
        self.message = message


# -- finding and installing the binaries --------------------------------------


def _is_bin_dir(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in ("postgres", "initdb"))


def _version_key(path: Path) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", path.parent.name)
    return tuple(int(number) for number in numbers)


def find_postgres_bin() -> Path | None:
    """Return the directory of the ``postgres`` and ``initdb`` binaries.

    Looks in ``pg_config --bindir``, then in ``/usr/lib/postgresql/*/bin``
    (Debian's layout, newest version first), then on ``PATH``. Return
    ``None`` if none of them has both.
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            answer = subprocess.run(
                [pg_config, "--bindir"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
            candidates.append(Path(answer.stdout.strip()))

    candidates.extend(
        sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key)[::-1]
    )
    on_path = shutil.which("postgres")
    if on_path is not None:
        # Resolved, since the other binaries may sit only beside the real one.
        candidates.append(Path(on_path).resolve().parent)

    for candidate in candidates:
        if _is_bin_dir(candidate):
            return candidate

    return None


def ensure_postgres_bin() -> Path:
    """Return the binaries' directory, installing PostgreSQL if it must.

    When the binaries are missing and this process is root on a machine
    with ``apt-get``, install Debian's ``postgresql`` package (``apt-get
    update``, then ``apt-get install -y postgresql``, without questions),
    and stop the cluster that the package may have started, so that
    nothing is left running.

    :raises PostgresNotFound: if the binaries are missing and cannot be
        installed, or the installation failed.
    """
    found = find_postgres_bin()
    if found is not None:
        return found

    apt_get = shutil.which("apt-get")
    if os.geteuid() != 0 or apt_get is None:
        raise PostgresNotFound(
            "the PostgreSQL server binaries (postgres, initdb) were not found in "
            "pg_config --bindir, /usr/lib/postgresql/*/bin or PATH; install "
            "PostgreSQL (Debian: apt-get install postgresql) or put its bin "
            "directory on PATH"
        )

    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        [apt_get, "update"],
        [apt_get, "install", "-y", "--no-install-recommends", "postgresql"],
    ):
        try:
            subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=True,
            )
        except subprocess.CalledProcessError as exc:
            raise PostgresNotFound(
                f"{' '.join(command)} failed with exit code {exc.returncode}:\n"
                f"{exc.stdout[-2000:]}{exc.stderr[-2000:]}"
            ) from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresNotFound(f"{' '.join(command)} failed: {exc}") from None

    _stop_packaged_clusters()
    found = find_postgres_bin()
    if found is None:
        raise PostgresNotFound(
            "the postgresql package was installed but its binaries were not found"
        )

    return found


def _stop_packaged_clusters() -> None:
    # Debian's package makes a "main" cluster and may start it on port 5432;
    # the tests want only their own servers running.
    lister, controller = shutil.which("pg_lsclusters"), shutil.which("pg_ctlcluster")
    if lister is None or controller is None:
        return

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        listing = subprocess.run(
            [lister, "--no-header"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        for line in listing.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[3] == "online":
                subprocess.run(
                    [controller, fields[0], fields[1], "stop"],
                    capture_output=True,
                    timeout=STOP_TIMEOUT,
                    check=False,
                )


# -- a minimal client of the wire protocol ------------------------------------


def _message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!I", len(payload) + 4) + payload


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise ConnectionError("the server closed the connection")

        chunks.append(chunk)
        size -= len(chunk)

    return b"".join(chunks)


def _read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    header = _read_exact(sock, 5)
    (length,) = struct.unpack("!I", header[1:])
    return header[:1], _read_exact(sock, length - 4)


def _error_of(payload: bytes) -> PostgresError:
    fields = {
        part[:1]: part[1:].decode("utf-8", "replace")
        for part in payload.split(b"\0")
        if part
    }
    return PostgresError(fields.get(b"C", "?????"), fields.get(b"M", "unknown error"))


def _data_row(payload: bytes) -> tuple[str | None, ...]:
    (count,) = struct.unpack_from("!H", payload)
    offset = 2
    values: list[str | None] = []
    for _ in range(count):
        (length,) = struct.unpack_from("!i", payload, offset)
        offset += 4
        if length < 0:
            values.append(None)
        else:
            values.append(payload[offset : offset + length].decode())
            offset += length

    return tuple(values)


def simple_query(
    port: int, sql: str, *, database: str = DATABASE, timeout: float = 10.0
) -> list[tuple[str | None, ...]]:
    """Run *sql* on the server at ``127.0.0.1:port`` and return its rows as text.

    Speaks just enough of the wire protocol for a trusted superuser login
    and a simple query, so that the harness needs no database driver.
    Statements that cannot run in a transaction (``CREATE DATABASE``) are
    fine; several statements in *sql* run as one implicit transaction.

    :raises PostgresError: if the server refuses the login or the query.
    :raises OSError: if it cannot be reached.
    """
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        parameters = (
            b"user\0" + SUPERUSER.encode() + b"\0database\0" + database.encode() + b"\0"
        )
        startup = struct.pack("!I", 196608) + parameters + b"\0"
        sock.sendall(struct.pack("!I", len(startup) + 4) + startup)
        while True:
            kind, payload = _read_message(sock)
            if kind == b"E":
                raise _error_of(payload)

            if kind == b"R" and struct.unpack("!I", payload[:4])[0] != 0:
                raise PostgresError("28000", "the server asks for a password")

            if kind == b"Z":
                break

        sock.sendall(_message(b"Q", sql.encode() + b"\0"))
        rows: list[tuple[str | None, ...]] = []
        error: PostgresError | None = None
        while True:
            kind, payload = _read_message(sock)
            if kind == b"D":
                rows.append(_data_row(payload))
            elif kind == b"E":
                error = _error_of(payload)
            elif kind == b"Z":
                break

        with contextlib.suppress(OSError):
            sock.sendall(_message(b"X", b""))

    if error is not None:
        raise error

    return rows


# -- the server -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _reachable_by(path: Path, account: pwd.struct_passwd) -> bool:
    """Say whether *account* may enter every directory above *path*."""
    groups = set(os.getgrouplist(account.pw_name, account.pw_gid))
    for parent in path.resolve().parents:
        info = parent.stat()
        if info.st_uid == account.pw_uid:
            allowed = info.st_mode & 0o100
        elif info.st_gid in groups:
            allowed = info.st_mode & 0o010
        else:
            allowed = info.st_mode & 0o001

        if not allowed:
            return False

    return True


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """Stop a server that was left running (at exit, or when garbage collected)."""
    if process.poll() is None:
        # SIGQUIT: immediate shutdown, which needs no clean state on disk.
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class PostgresServer:
    """A PostgreSQL server of its own, for tests and benchmarks.

    The first :meth:`start` makes a cluster in ``directory/data`` (UTF-8,
    the C locale, logins trusted on the loopback address and the Unix
    socket), starts it on ``127.0.0.1`` and creates the database
    ``timers``. Later starts reuse the data and the port, so a test can
    stop the server and start it again to simulate an outage. The server's
    log is ``directory/postgres.log``. Use it as a context manager, or call
    :meth:`destroy`: a server still running when the interpreter exits is
    stopped then.

    :param directory: where the cluster and its log are kept; made if
        missing. Run as root, when the ``postgres`` user cannot enter it
        (pytest's temporary directories are private to their owner), the
        cluster goes to a private temporary directory instead, removed by
        :meth:`destroy` too.
    :param port: the TCP port; a free one is chosen at the first start if
        not given.
    :param bin_dir: the directory of the server binaries; by default
        :func:`ensure_postgres_bin` finds (or installs) them at the first
        start.
    """

    def __init__(
        self, directory: Path, *, port: int | None = None, bin_dir: Path | None = None
    ) -> None:
        self.directory = Path(directory).absolute()
        self.port = port
        self._bin_dir = bin_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: (
            weakref.finalize[[subprocess.Popen[bytes]], PostgresServer] | None
        ) = None
        self._runtime: Path | None = None
        self._account = pwd.getpwnam(SUPERUSER) if os.geteuid() == 0 else None

    # -- where things are ---------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self._base / "data"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.directory / "postgres.log"

    @property
    def _base(self) -> Path:
        return self._runtime or self.directory

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def url(self) -> str:
        """The URL of the database ``timers``, as the stores take it."""
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        """Return the URL of *database* on this server."""
        if self.port is None:
            raise RuntimeError("the server has not been started yet")

        return f"postgresql://{SUPERUSER}@{LOOPBACK}:{self.port}/{database}"

    # -- lifecycle ------------------------------------------------------------

    def start(self, *, timeout: float = START_TIMEOUT) -> PostgresServer:
        """Start the server (making the cluster the first time) and wait for it.

        Return once it accepts connections and the database ``timers``
        exists. Does nothing if it is running already.

        :raises PostgresNotFound: if the binaries cannot be had.
        :raises RuntimeError: if the server exits or is not ready in time;
            the message ends with the server's log.
        """
        if self.running:
            return self

        bin_dir = self._bin_dir = self._bin_dir or ensure_postgres_bin()
        if self.port is None:
            self.port = _free_port()

        self._prepare_directories()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir)

        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(self.data_dir), *self._options()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C meant for the caller must not
                # reach the server before the caller has stopped it.
                start_new_session=True,
                user=self._uid,
                group=self._gid,
                extra_groups=self._extra_groups,
            )

        self._finalizer = weakref.finalize(self, _terminate, self._process)
        try:
            self._wait_ready(time.monotonic() + timeout)
            if not simple_query(
                self.port,
                f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",
                database="postgres",
            ):
                simple_query(
                    self.port, f"CREATE DATABASE {DATABASE}", database="postgres"
                )
        except BaseException:
            self.stop()
            raise

        return self

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the server with a fast shutdown; keep its data.

        Sessions are disconnected and open transactions rolled back. If the
        server has not exited within *timeout* seconds it is shut down
        immediately, and killed as a last resort.
        """
        process = self._process
        if process is None:
            return

        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _terminate(process)

        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

        self._process = None

    def restart(self, *, timeout: float = START_TIMEOUT) -> PostgresServer:
        """Stop the server and start it again on the same data and port."""
        self.stop()
        return self.start(timeout=timeout)

    def destroy(self) -> None:
        """Stop the server and remove its directory, data and log included."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
        if self._runtime is not None:
            shutil.rmtree(self._runtime, ignore_errors=True)
            self._runtime = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.destroy()

    # -- databases --------------------------------------------------------------

    def execute(
        self, sql: str, *, database: str = DATABASE
    ) -> list[tuple[str | None, ...]]:
        """Run *sql* as the superuser in *database*; return the rows as text.

        :raises PostgresError: if the server refuses it.
        """
        if not self.running or self.port is None:
            raise RuntimeError("the server is not running")

        return simple_query(self.port, sql, database=database)

    def create_database(self, name: str) -> str:
        """Create the empty database *name* and return its URL.

        :raises ValueError: if *name* is not a plain lower-case identifier.
        :raises PostgresError: if it exists already.
        """
        self._check_name(name)
        self.execute(f"CREATE DATABASE {name}", database="postgres")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop the database *name* if it exists, disconnecting its sessions."""
        self._check_name(name)
        self.execute(
            f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", database="postgres"
        )

    @staticmethod
    def _check_name(name: str) -> None:
        if not _DATABASE_NAME.fullmatch(name):
            raise ValueError(
                f"database name {name!r} is not a lower-case identifier of up to "
                "63 characters"
            )

    # -- the steps ----------------------------------------------------------------

    def _prepare_directories(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        account = self._account
        if account is None:
            return

        if self._runtime is None and not _reachable_by(self.directory, account):
            self._runtime = Path(tempfile.mkdtemp(prefix="timerbackends-pg-"))

        # The server writes its Unix socket and lock files here.
        os.chown(self._base, account.pw_uid, account.pw_gid)

    def _socket_dir(self) -> Path:
        if len(str(self._base)) <= _MAX_SOCKET_DIR:
            return self._base

        if self._runtime is None:
            self._runtime = Path(tempfile.mkdtemp(prefix="timerbackends-pg-"))
            if self._account is not None:
                os.chown(self._runtime, self._account.pw_uid, self._account.pw_gid)

        return self._runtime

    def _options(self) -> list[str]:
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": str(self._socket_dir()),
            "max_connections": "200",
            "shared_buffers": "32MB",
            # For speed, and for this throwaway test cluster only: a crash
            # of the machine may corrupt it, which nobody minds here. Never
            # set these on a server that keeps data.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "log_min_messages": "warning",
            "log_line_prefix": "%m [%p] ",
        }
        return [
            arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")
        ]

    # Run as root, the binaries run as the server user, without root's
    # supplementary groups; otherwise as this process.
    @property
    def _uid(self) -> int | None:
        return None if self._account is None else self._account.pw_uid

    @property
    def _gid(self) -> int | None:
        return None if self._account is None else self._account.pw_gid

    @property
    def _extra_groups(self) -> list[int] | None:
        return None if self._account is None else []

    def _initdb(self, bin_dir: Path) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(mode=0o700)
        if self._account is not None:
            os.chown(self.data_dir, self._account.pw_uid, self._account.pw_gid)

        command = [
            str(bin_dir / "initdb"),
            "--pgdata",
            str(self.data_dir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            # Nothing here has to survive a crash of the machine.
            "--no-sync",
            "--no-instructions",
        ]
        try:
            subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT,
                check=True,
                cwd=self._base,
                user=self._uid,
                group=self._gid,
                extra_groups=self._extra_groups,
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"initdb failed with exit code {exc.returncode}:\n"
                f"{exc.stdout}{exc.stderr}"
            ) from None

    def _wait_ready(self, deadline: float) -> None:
        assert self._process is not None
        assert self.port is not None
        last = "no answer yet"
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"postgres exited with code {self._process.returncode} before "
                    f"it was ready\n--- {self.log_path} ---\n{self._log_tail()}"
                )

            try:
                simple_query(self.port, "SELECT 1", database="postgres", timeout=2)
                return
            except (OSError, PostgresError) as exc:
                # Refused until it listens, then "starting up" (57P03).
                last = str(exc)

            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"postgres on port {self.port} was not ready in time: {last}\n"
                    f"--- {self.log_path} ---\n{self._log_tail()}"
                )

            time.sleep(0.05)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Start a throwaway server, print its URL and run until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m timerbackends.testing.postgres",
        description="Start a throwaway PostgreSQL server on 127.0.0.1 for "
        "development; its data is kept in DIRECTORY for the next start.",
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument("--port", type=int, default=None)
    arguments = parser.parse_args(argv)

    server = PostgresServer(arguments.directory, port=arguments.port)
    stop_on_signals()
    try:
        server.start()
    except (PostgresNotFound, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    # Inside the try: a Ctrl-C that comes as soon as the URL is out (a
    # script that only wanted the URL) must still stop the server.
    try:
        print(server.url, flush=True)
        print("running; press Ctrl-C to stop", file=sys.stderr, flush=True)
        while server.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()

    print(f"stopped; the data is kept in {server.data_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
