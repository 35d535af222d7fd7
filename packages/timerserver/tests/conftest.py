"""Fixtures: real server processes, a real webhook receiver, an HTTP client.

With ``TIMERSERVER_TEST_STORAGE=postgres`` (or ``cassandra``, ``mongodb``) the
session starts that database server first, and every server process gets a
database of its own on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx
import pytest

from blackbox import (
    CASSANDRA_STORAGE,
    MONGO_STORAGE,
    POSTGRES_STORAGE,
    SIGNING_SECRET,
    SMALL_BODY_LIMIT,
    SMALL_PAYLOAD_LIMIT,
    STORAGE_KIND,
    STORAGE_KINDS,
    Api,
    Receiver,
    ServerFactory,
    ServerProcess,
    WebhookServer,
    drop_storage,
    namespace_for,
    require_cassandra,
    require_ferretdb,
    require_postgres,
)
from timerbackends.testing.cassandra import CassandraNode
from timerbackends.testing.ferretdb import FerretDBServer
from timerbackends.testing.postgres import PostgresServer

if STORAGE_KIND not in STORAGE_KINDS:
    raise pytest.UsageError(
        f"TIMERSERVER_TEST_STORAGE={STORAGE_KIND!r}: use one of "
        f"{', '.join(STORAGE_KINDS)}"
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def storage_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The database server of the session, when the suite runs on one."""
    if STORAGE_KIND == "cassandra":
        require_cassandra()
        node = CassandraNode(tmp_path_factory.mktemp("cassandra"))
        try:
            node.start()
            CASSANDRA_STORAGE.node = node
            yield
        finally:
            CASSANDRA_STORAGE.close()
            CASSANDRA_STORAGE.node = None
            node.destroy()
        return

    if STORAGE_KIND == "mongodb":
        require_ferretdb()
        server = FerretDBServer(tmp_path_factory.mktemp("ferretdb"))
        try:
            server.start()
            MONGO_STORAGE.server = server
            yield
        finally:
            MONGO_STORAGE.close()
            MONGO_STORAGE.server = None
            server.destroy()
        return

    if STORAGE_KIND != "postgres":
        yield
        return

    require_postgres()
    postgres = PostgresServer(tmp_path_factory.mktemp("postgres"))
    try:
        postgres.start()
        POSTGRES_STORAGE.server = postgres
        yield
    finally:
        POSTGRES_STORAGE.server = None
        postgres.destroy()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The shared server: default limits, callbacks signed with SIGNING_SECRET.

    Tests that share it keep to their own namespace and never stop it.
    """
    process = ServerProcess(
        tmp_path_factory.mktemp("shared-server"),
        env={"TIMERSERVER_CALLBACKS__SIGNING_SECRET": SIGNING_SECRET},
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A second shared server: small body and payload limits, no signing secret."""
    process = ServerProcess(
        tmp_path_factory.mktemp("limited-server"),
        env={
            "TIMERSERVER_LIMITS__MAX_PAYLOAD_BYTES": str(SMALL_PAYLOAD_LIMIT),
            "TIMERSERVER_LIMITS__MAX_BODY_BYTES": str(SMALL_BODY_LIMIT),
        },
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Make servers of the test's own, stopped (or killed) at teardown."""
    made: list[ServerProcess] = []

    def make(
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        *,
        start: bool = True,
        command_args: Sequence[str] | None = None,
        port: int | None = None,
        workdir: Path | None = None,
        storage: str | None = None,
    ) -> ServerProcess:
        process = ServerProcess(
            workdir or tmp_path / f"server-{len(made)}",
            env=env,
            args=args,
            command_args=command_args,
            port=port,
            storage=storage,
        )
        made.append(process)
        if start:
            process.start()

        return process

    yield make
    for process in made:
        try:
            process.stop(timeout=10)
        finally:
            process.kill()
            drop_storage(process.workdir)


@pytest.fixture(scope="session")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


@pytest.fixture
def ns(request: pytest.FixtureRequest) -> str:
    """A namespace of this test's own on the shared server."""
    return namespace_for(request.node.nodeid)


@pytest.fixture
def api(client: httpx.Client, ns: str) -> Api:
    return Api(client, ns)


@pytest.fixture(scope="session")
def webhook_server() -> Iterator[WebhookServer]:
    target = WebhookServer().start()
    yield target
    target.stop()


@pytest.fixture
def receiver(webhook_server: WebhookServer, request: pytest.FixtureRequest) -> Receiver:
    """A webhook target of this test's own: a path prefix on the shared receiver."""
    return Receiver(webhook_server, "/" + namespace_for(request.node.nodeid))
