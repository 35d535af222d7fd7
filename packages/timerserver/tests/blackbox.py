"""Black-box test harness: a real ``timerserver serve`` process and a webhook receiver.

Everything here talks over real sockets on 127.0.0.1 only, and every wait
has a deadline.

Each server stores its timers in SQLite, in a file of its own, unless the
environment variable ``TIMERSERVER_TEST_STORAGE`` names another backend:
``postgres``, ``cassandra`` or ``mongodb``. Then each server gets a
database (a keyspace, on Cassandra) of its own on a server that the test
session starts (see :class:`PostgresStorage`, :class:`CassandraStorage`,
:class:`MongoStorage`), and the whole suite runs again on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from timerbackends.testing.cassandra import (
    CassandraNode,
    CassandraNotFound,
    ensure_cassandra_jars,
    find_java,
)
from timerbackends.testing.ferretdb import (
    FerretDBNotFound,
    FerretDBServer,
    ensure_ferretdb,
)
from timerbackends.testing.postgres import (
    PostgresNotFound,
    PostgresServer,
    ensure_postgres_bin,
)

LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
SIGNING_SECRET = "test-signing-secret"
SMALL_PAYLOAD_LIMIT = 1024
SMALL_BODY_LIMIT = 64 * 1024

UTC_MILLIS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")

#: What the suite's servers store their timers in: one of STORAGE_KINDS.
STORAGE_KIND = os.environ.get("TIMERSERVER_TEST_STORAGE", "sqlite")
STORAGE_KINDS = ("sqlite", "postgres", "cassandra", "mongodb")

T = TypeVar("T")


# -- small helpers ------------------------------------------------------------


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Format *moment* the way the contract's output looks: UTC, ms, ``Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    """Parse a time the server sent, insisting on the contract's output form."""
    assert isinstance(text, str), f"expected a time string, got {text!r}"
    assert UTC_MILLIS.fullmatch(text), f"{text!r} is not UTC with milliseconds and Z"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def in_seconds(seconds: float) -> datetime:
    return utc_now() + timedelta(seconds=seconds)


def wait_until(
    predicate: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition not met",
) -> T:
    """Call *predicate* until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value

        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:.1f}s: {text}")

        time.sleep(interval)


def namespace_for(name: str) -> str:
    """A valid, unique namespace derived from a test's node id."""
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    slug = re.sub(r"[^a-z0-9]+", "-", name.split("::", 1)[-1].lower()).strip("-")
    return f"t-{slug[:40]}-{digest}".replace("--", "-")


def timers_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/timers"


def timer_path(namespace: str, timer_id: str) -> str:
    return f"/api/v1/namespaces/{namespace}/timers/{timer_id}"


def timer_body(
    timer_id: str,
    url: str,
    *,
    fire_at: datetime | str | None = None,
    delay_seconds: float | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A create body; by default the timer is due an hour from now."""
    body: dict[str, Any] = {"id": timer_id}
    if delay_seconds is not None:
        body["delay_seconds"] = delay_seconds
    elif fire_at is None:
        body["fire_at"] = iso(in_seconds(3600))
    else:
        body["fire_at"] = fire_at if isinstance(fire_at, str) else iso(fire_at)

    body["callback"] = fields.pop("callback", {"url": url})
    body.update(fields)
    return body


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check the contract's error body and return its ``error`` object."""
    assert response.status_code == status, (
        f"expected {status} {code}, got {response.status_code}: {response.text[:500]}"
    )
    assert response.headers.get("content-type", "").startswith("application/json")
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert isinstance(error, dict), error
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    assert isinstance(error["details"], dict), error
    return error


def bad_fields(response: httpx.Response) -> dict[str, str]:
    """The fields a 400 names, each with its reason."""
    error = error_of(response, 400, "invalid_argument")
    fields = error["details"].get("fields")
    assert isinstance(fields, list), f"details.fields missing: {error}"
    assert fields, f"details.fields is empty: {error}"
    named: dict[str, str] = {}
    for entry in fields:
        assert isinstance(entry, dict), entry
        assert isinstance(entry.get("field"), str), entry
        assert isinstance(entry.get("reason"), str), entry
        assert entry["field"], entry
        assert entry["reason"], entry
        named[entry["field"]] = entry["reason"]

    return named


def etag_version(response: httpx.Response) -> int:
    """The version an ``ETag`` header carries (quoted or not)."""
    value = response.headers.get("etag")
    assert value is not None, "no ETag header"
    value = value.removeprefix("W/").strip('"')
    assert value.isdigit(), f"ETag {value!r} is not a version number"
    return int(value)


# -- storage ------------------------------------------------------------------


def _unavailable(what: str, exc: Exception) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is needed on CI: {exc}")

    pytest.skip(f"{what} is not available: {exc}")


def require_postgres() -> None:
    """Skip the test if PostgreSQL cannot be had; on CI, fail it instead."""
    try:
        ensure_postgres_bin()
    except PostgresNotFound as exc:
        _unavailable("PostgreSQL", exc)


def require_cassandra() -> None:
    """Skip the test if Cassandra cannot be had; on CI, fail it instead."""
    try:
        if find_java() is None:
            raise CassandraNotFound("no Java 11 or 17 was found")

        ensure_cassandra_jars()
    except CassandraNotFound as exc:
        _unavailable("Cassandra", exc)


def require_ferretdb() -> None:
    """Skip the test if FerretDB cannot be had; on CI, fail it instead."""
    try:
        ensure_ferretdb()
    except FerretDBNotFound as exc:
        _unavailable("FerretDB", exc)


class PostgresStorage:
    """The session's PostgreSQL server, with a database for each directory."""

    def __init__(self) -> None:
        self.server: PostgresServer | None = None
        self._databases: dict[Path, str] = {}

    def url_for(self, directory: Path) -> str:
        """The URL of *directory*'s database, made at the first call."""
        if self.server is None:
            raise RuntimeError("PostgreSQL storage is used outside its session")

        name = self._databases.get(directory)
        if name is None:
            name = f"server_{len(self._databases) + 1}"
            self.server.create_database(name)
            self._databases[directory] = name

        return self.server.url_for(name)

    def drop(self, directory: Path) -> None:
        """Drop *directory*'s database, if it has one."""
        name = self._databases.pop(directory, None)
        if name is not None and self.server is not None:
            self.server.drop_database(name)

    def tables(self, url: str) -> set[str]:
        assert self.server is not None
        rows = self.server.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
            database=url.rsplit("/", 1)[1],
        )
        return {str(name) for (name,) in rows}


class CassandraStorage:
    """The session's Cassandra node, with a keyspace for each directory.

    Making a keyspace's tables takes seconds, so a dropped keyspace is
    truncated instead, the record of its migrations included, and handed to
    a later directory: to a server it is an empty, unmigrated keyspace.
    """

    def __init__(self) -> None:
        self.node: CassandraNode | None = None
        self._keyspaces: dict[Path, str] = {}
        self._free: list[str] = []
        self._made = 0
        self._session: Any = None

    def url_for(self, directory: Path) -> str:
        if self.node is None:
            raise RuntimeError("Cassandra storage is used outside its session")

        name = self._keyspaces.get(directory)
        if name is None:
            if self._free:
                name = self._free.pop()
            else:
                self._made += 1
                name = f"server_{self._made}"

            self._keyspaces[directory] = name

        return self.node.url_for(name)

    def _execute(self, statement: str, *values: Any) -> list[Any]:
        if self._session is None:
            from cassandra.cluster import Cluster

            assert self.node is not None
            cluster = Cluster([LOOPBACK], port=self.node.port, protocol_version=4)
            self._session = cluster.connect()

        return list(self._session.execute(statement, values or None))

    def _table_names(self, keyspace: str) -> set[str]:
        rows = self._execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
            keyspace,
        )
        return {row.table_name for row in rows}

    def drop(self, directory: Path) -> None:
        name = self._keyspaces.pop(directory, None)
        if name is None or self.node is None:
            return

        for table in self._table_names(name):
            self._execute(f"TRUNCATE {name}.{table}")

        self._free.append(name)

    def tables(self, url: str) -> set[str]:
        keyspace = url.rsplit("/", 1)[1]
        names = self._table_names(keyspace)
        if "schema_version" not in names or not self._execute(
            f"SELECT version FROM {keyspace}.schema_version WHERE scope = 'applied'"
        ):
            # Truncated for reuse: as good as never made.
            return set()

        return names

    def close(self) -> None:
        if self._session is not None:
            self._session.cluster.shutdown()
            self._session = None


class MongoStorage:
    """The session's FerretDB server, with a database for each directory."""

    def __init__(self) -> None:
        self.server: FerretDBServer | None = None
        self._databases: dict[Path, str] = {}
        self._made = 0
        self._client: Any = None

    def url_for(self, directory: Path) -> str:
        if self.server is None:
            raise RuntimeError("MongoDB storage is used outside its session")

        name = self._databases.get(directory)
        if name is None:
            self._made += 1
            name = self._databases[directory] = f"server_{self._made}"

        return self.server.url_for(name)

    def _connected(self) -> Any:
        if self._client is None:
            from pymongo import MongoClient

            assert self.server is not None
            self._client = MongoClient(self.server.url_for("admin"))

        return self._client

    def drop(self, directory: Path) -> None:
        name = self._databases.pop(directory, None)
        if name is not None and self.server is not None:
            self._connected().drop_database(name)

    def tables(self, url: str) -> set[str]:
        name = url.rsplit("/", 1)[1]
        return set(self._connected()[name].list_collection_names())

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


POSTGRES_STORAGE = PostgresStorage()
CASSANDRA_STORAGE = CassandraStorage()
MONGO_STORAGE = MongoStorage()


def drop_storage(directory: Path) -> None:
    """Give up *directory*'s database, if the suite's backend made one."""
    POSTGRES_STORAGE.drop(directory)
    CASSANDRA_STORAGE.drop(directory)
    MONGO_STORAGE.drop(directory)


def storage_for(directory: Path) -> str:
    """A storage URL of *directory*'s own, of the kind the suite runs on."""
    if STORAGE_KIND == "postgres":
        return POSTGRES_STORAGE.url_for(directory)

    if STORAGE_KIND == "cassandra":
        return CASSANDRA_STORAGE.url_for(directory)

    if STORAGE_KIND == "mongodb":
        return MONGO_STORAGE.url_for(directory)

    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'timers.db'}"


def tables_in(storage: str) -> set[str]:
    """The tables the storage at *storage* holds (none if it does not exist)."""
    if storage.startswith("sqlite:///"):
        path = Path(storage.removeprefix("sqlite:///"))
        if not path.exists():
            return set()

        with sqlite3.connect(path) as connection:
            rows = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
            return {name for (name,) in rows}

    if storage.startswith("cassandra://"):
        return CASSANDRA_STORAGE.tables(storage)

    if storage.startswith("mongodb://"):
        return MONGO_STORAGE.tables(storage)

    return POSTGRES_STORAGE.tables(storage)


# -- the server process -------------------------------------------------------


def server_command() -> list[str]:
    """How to start ``timerserver``: the console script beside this Python."""
    script = Path(sys.executable).with_name("timerserver")
    if script.exists():
        return [str(script)]

    found = shutil.which("timerserver")
    if found:
        return [found]

    return [sys.executable, "-m", "timerserver"]


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without inherited ``TIMERSERVER_`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMERSERVER_")}
    env.update(extra or {})
    return env


def run_cli(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run a ``timerserver`` command to completion."""
    return subprocess.run(
        [*server_command(), *args],
        cwd=cwd,
        env=clean_environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_ready(
    port: int,
    *,
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = READY_TIMEOUT,
) -> None:
    """Poll ``GET /readyz`` on *port* until it answers 200."""
    deadline = time.monotonic() + timeout
    url = f"http://{LOOPBACK}:{port}/readyz"
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode} before it was ready"
            )

        try:
            response = httpx.get(url, timeout=1.0)
            if response.status_code == 200:
                return

            last = f"{response.status_code} {response.text[:200]}"
        except httpx.TransportError as exc:
            last = repr(exc)

        time.sleep(0.05)

    raise RuntimeError(f"server on port {port} not ready after {timeout}s: {last}")


def is_listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOOPBACK, port)) == 0


class ServerProcess:
    """One ``timerserver serve`` process on a loopback port and its own storage.

    :param workdir: its working directory; logs (and a SQLite file) go here.
    :param env: extra environment variables (settings).
    :param args: extra ``serve`` arguments.
    :param command_args: the whole argument list instead of ``serve`` with
        host, port and storage flags; *port* then says where it will listen.
    :param storage: its storage URL; by default one of its own, of the kind
        the suite runs on (:func:`storage_for`), made when first needed.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        port: int | None = None,
        command_args: Sequence[str] | None = None,
        storage: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._storage = storage
        self.port = port or free_port()
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self.env = clean_environment(env)
        self.args = list(args)
        self.command_args = None if command_args is None else list(command_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def storage(self) -> str:
        """The storage URL it is started with."""
        if self._storage is None:
            self._storage = storage_for(self.workdir)

        return self._storage

    @property
    def command(self) -> list[str]:
        if self.command_args is not None:
            return [*server_command(), *self.command_args]

        return [
            *server_command(),
            "serve",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--storage",
            self.storage,
            *self.args,
        ]

    @property
    def stdout_path(self) -> Path:
        return self.workdir / f"server-{self.starts}.out"

    @property
    def stderr_path(self) -> Path:
        return self.workdir / f"server-{self.starts}.err"

    def start(self, *, ready: bool = True) -> ServerProcess:
        """Start the process and (unless told not to) wait until it is ready."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                self.command, cwd=self.workdir, env=self.env, stdout=out, stderr=err
            )

        if not ready:
            return self

        try:
            wait_ready(self.port, proc=self.proc)
        except RuntimeError as exc:
            self.kill()
            raise RuntimeError(
                f"{exc}\n--- server log ---\n{self.log()[-4000:]}"
            ) from None

        return self

    def stderr(self) -> str:
        """What the current (or last) process wrote to standard error."""
        return (
            self.stderr_path.read_text(errors="replace")
            if self.stderr_path.exists()
            else ""
        )

    def stdout(self) -> str:
        return (
            self.stdout_path.read_text(errors="replace")
            if self.stdout_path.exists()
            else ""
        )

    def log(self) -> str:
        """Both output streams of the current (or last) process so far."""
        return self.stdout() + self.stderr()

    def signal(self, signum: int) -> None:
        assert self.proc is not None, "never started"
        assert self.proc.poll() is None, "not running"
        self.proc.send_signal(signum)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then wait for the exit; returns the exit code."""
        if self.proc is None:
            return 0

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                log = self.log()[-4000:]
                raise AssertionError(
                    f"server did not exit {timeout}s after SIGTERM\n{log}"
                ) from None

        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def restart(self) -> ServerProcess:
        """Stop (if running) and start again on the same port and database."""
        if self.proc is not None and self.proc.poll() is None:
            self.stop()

        # The port may linger briefly; bind checks are left to the server.
        return self.start()

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30.0, **kwargs)


ServerFactory = Callable[..., ServerProcess]
"""Makes a server of a test's own: ``(env=None, args=(), *, start=True, ...)``."""


# -- the webhook receiver -----------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What the receiver answers to one request.

    ``json`` (when not ``None``) is sent as the body with a JSON content
    type; otherwise ``body`` is sent as it is.
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    body: bytes = b""
    delay: float = 0.0


@dataclass
class Received:
    """One request the receiver got."""

    at: float
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    answered_at: float | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def key(self) -> tuple[str, str, str]:
        """The dedup key the contract tells receivers to use."""
        body = self.json()
        return (body["namespace"], body["id"], body["fire_at"])


class WebhookServer:
    """A real HTTP webhook target on 127.0.0.1, run in a background thread.

    Each path has its own script of replies, used in order; the last reply
    (or the ``then`` reply) repeats once the script is used up. Every
    request is recorded with the time it arrived. Tests use it through a
    :class:`Receiver`, which keeps them to a path prefix of their own.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._received: list[Received] = []
        self._scripts: dict[str, deque[Reply]] = {}
        self._after: dict[str, Reply] = {}
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, 0))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            host=LOOPBACK,
            port=self.port,
            http="h11",
            ws="none",
            interface="asgi3",
            proxy_headers=False,
            lifespan="off",
            log_level="error",
            access_log=False,
            timeout_graceful_shutdown=2,
            backlog=4096,
        )
        self._server = uvicorn.Server(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> WebhookServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the webhook receiver did not start")

            time.sleep(0.01)

        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            # Cut scripted delays short so that stopping never waits on them.
            self._loop.call_soon_threadsafe(self._stopping.set)

        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def url(self, path: str = "/") -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    def script(self, path: str, *replies: Reply, then: Reply | None = None) -> None:
        """Answer requests to *path* with *replies* in order, then *then*."""
        with self._condition:
            self._scripts[path] = deque(replies)
            self._after[path] = then or (replies[-1] if replies else Reply())

    def _select(self, path: str | None, prefix: str) -> list[Received]:
        return [
            r
            for r in self._received
            if (r.path == path if path is not None else r.path.startswith(prefix))
        ]

    def requests(self, path: str | None = None, *, prefix: str = "/") -> list[Received]:
        """Requests to exactly *path*, or else to any path under *prefix*."""
        with self._condition:
            return self._select(path, prefix)

    def wait_for(
        self,
        count: int,
        path: str | None = None,
        timeout: float = 10.0,
        *,
        prefix: str = "/",
    ) -> list[Received]:
        """Wait until at least *count* requests (to *path*) have arrived."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                got = self._select(path, prefix)
                if len(got) >= count:
                    return got

                left = deadline - time.monotonic()
                if left <= 0:
                    where = path or "any path"
                    raise AssertionError(
                        f"receiver got {len(got)} of {count} requests to {where}"
                        f" within {timeout}s"
                    )

                self._condition.wait(left)

    def _next_reply(self, path: str) -> Reply:
        script = self._scripts.get(path)
        if script:
            return script.popleft()

        return self._after.get(path, Reply())

    async def _app(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Any],
        send: Callable[[dict[str, Any]], Any],
    ) -> None:
        assert scope["type"] == "http"
        if self._stopping is None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()

        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break

        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value

        record = Received(
            at=time.time(),
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers=headers,
            body=b"".join(chunks),
        )
        with self._condition:
            self._received.append(record)
            reply = self._next_reply(record.path)
            self._condition.notify_all()

        if reply.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), reply.delay)

        body = reply.body
        out_headers = [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        if reply.json is not None:
            body = json.dumps(reply.json).encode()
            out_headers.append((b"content-type", b"application/json"))

        out_headers.append((b"content-length", str(len(body)).encode()))
        with contextlib.suppress(OSError):
            await send(
                {
                    "type": "http.response.start",
                    "status": reply.status,
                    "headers": out_headers,
                }
            )
            await send({"type": "http.response.body", "body": body})

        with self._condition:
            record.answered_at = time.time()
            self._condition.notify_all()


class Receiver:
    """One test's part of the shared :class:`WebhookServer`: its own path prefix.

    Paths given here (``/hook``, ``/hook?x=1``) are relative to the prefix.
    """

    def __init__(self, server: WebhookServer, prefix: str) -> None:
        self.server = server
        self.prefix = prefix

    def url(self, path: str = "/") -> str:
        return self.server.url(self.prefix + path)

    def script(self, path: str, *replies: Reply, then: Reply | None = None) -> None:
        """Answer requests to *path* with *replies* in order, then *then*."""
        self.server.script(self.prefix + path, *replies, then=then)

    def requests(self, path: str | None = None) -> list[Received]:
        if path is None:
            return self.server.requests(prefix=self.prefix + "/")

        return self.server.requests(self.prefix + path)

    def wait_for(
        self, count: int, path: str | None = None, timeout: float = 10.0
    ) -> list[Received]:
        """Wait until at least *count* requests (to *path*) have arrived."""
        if path is None:
            return self.server.wait_for(count, None, timeout, prefix=self.prefix + "/")

        return self.server.wait_for(count, self.prefix + path, timeout)

    def wait_answered(
        self, count: int, path: str | None = None, timeout: float = 10.0
    ) -> None:
        """Wait until *count* requests (to *path*) have been answered."""

        def answered() -> bool:
            got = self.requests(path)
            return len(got) >= count and all(r.answered_at is not None for r in got)

        wait_until(answered, timeout=timeout, message="requests not answered")


# -- API helpers ----------------------------------------------------------------


class Api:
    """Thin helpers over an ``httpx.Client`` for one namespace."""

    def __init__(self, client: httpx.Client, namespace: str) -> None:
        self.client = client
        self.ns = namespace

    def create(self, body: Any, **kwargs: Any) -> httpx.Response:
        return self.client.post(timers_path(self.ns), json=body, **kwargs)

    def created(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.create(body)
        assert response.status_code == 201, response.text
        timer: dict[str, Any] = response.json()
        return timer

    def get(self, timer_id: str) -> httpx.Response:
        return self.client.get(timer_path(self.ns, timer_id))

    def timer(self, timer_id: str) -> dict[str, Any]:
        response = self.get(timer_id)
        assert response.status_code == 200, response.text
        timer: dict[str, Any] = response.json()
        return timer

    def patch(self, timer_id: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.client.patch(timer_path(self.ns, timer_id), json=body, **kwargs)

    def delete(self, timer_id: str) -> httpx.Response:
        return self.client.delete(timer_path(self.ns, timer_id))

    def list_timers(self, **params: Any) -> httpx.Response:
        return self.client.get(timers_path(self.ns), params=params)

    def all_timers(self, **params: Any) -> list[dict[str, Any]]:
        """Every timer of the namespace, following page tokens (bounded)."""
        timers: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(1000):
            query = dict(params, limit=params.get("limit", 1000))
            if token is not None:
                query["page_token"] = token

            response = self.list_timers(**query)
            assert response.status_code == 200, response.text
            page = response.json()
            timers.extend(page["timers"])
            token = page["next_page_token"]
            if token is None:
                return timers

        raise AssertionError("more than 1000 pages")

    def attempts(self, timer_id: str) -> list[dict[str, Any]]:
        response = self.client.get(timer_path(self.ns, timer_id) + "/attempts")
        assert response.status_code == 200, response.text
        attempts: list[dict[str, Any]] = response.json()["attempts"]
        return attempts

    def batch(self, items: Any) -> httpx.Response:
        return self.client.post(
            timers_path(self.ns) + ":batchCreate", json={"timers": items}
        )

    def wait_status(
        self, timer_id: str, status: str | Iterable[str], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Poll the timer until its status is *status*."""
        wanted = {status} if isinstance(status, str) else set(status)
        seen: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            nonlocal seen
            seen = self.timer(timer_id)
            return seen if seen["status"] in wanted else None

        return wait_until(
            check,
            timeout=timeout,
            message=lambda: f"timer {timer_id} not {sorted(wanted)}: {seen}",
        )

    def wait_attempts(
        self, timer_id: str, count: int, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Poll the timer until it has made at least *count* attempts."""
        seen: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            nonlocal seen
            seen = self.timer(timer_id)
            return seen if seen["attempts"] >= count else None

        return wait_until(
            check, timeout=timeout, message=lambda: f"timer {timer_id} attempts: {seen}"
        )


def namespace_counts(client: httpx.Client, namespace: str) -> dict[str, int] | None:
    """The counts ``GET /api/v1/namespaces`` reports for *namespace*, if listed."""
    response = client.get("/api/v1/namespaces")
    assert response.status_code == 200, response.text
    for entry in response.json()["namespaces"]:
        if entry["name"] == namespace:
            counts: dict[str, int] = entry["counts"]
            return counts

    return None


def refused_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://{LOOPBACK}:{free_port()}/nobody-home"


TIMER_FIELDS = frozenset(
    {
        "namespace",
        "id",
        "fire_at",
        "callback",
        "payload",
        "retry_policy",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "updated_at",
        "executed_at",
        "version",
    }
)
DEFAULT_RETRY_POLICY = {
    "max_attempts": 10,
    "initial_interval_seconds": 1,
    "backoff_coefficient": 2.0,
    "max_interval_seconds": 600,
    "max_duration_seconds": None,
}
LAST_ERROR_FIELDS = frozenset({"at", "kind", "message", "status_code"})
ATTEMPT_FIELDS = frozenset(
    {
        "attempt",
        "fire_at",
        "started_at",
        "duration_ms",
        "outcome",
        "status_code",
        "error",
    }
)
FAST_RETRY = {"initial_interval_seconds": 0.2, "backoff_coefficient": 1.0}
