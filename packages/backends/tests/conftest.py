"""Fixtures of the store contract suite: one ``store`` per registered backend.

A backend joins the suite by adding a :class:`Backend` to :data:`BACKENDS`;
one that needs a database server carries a marker and starts the server in
its factory.

The ``postgres`` backend runs on one PostgreSQL server for the session
(:class:`~timerbackends.testing.postgres.PostgresServer`), with a database
of its own for each test's directory, emptied when the test ends. Without
PostgreSQL (and no way to install it) those tests are skipped, except on CI
(``CI=true``), where they fail.

The ``cassandra`` backend runs likewise on one Cassandra node for the
session (:class:`~timerbackends.testing.cassandra.CassandraNode`), with a
keyspace of its own for each test's directory, truncated when the test ends.
The ``mongodb`` backend runs on one FerretDB server (the MongoDB wire
protocol, on a PostgreSQL server of its own), with a database per test,
dropped at its end.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from backend_support import SHARDS, Backend
from cassandra_support import CASSANDRA, require_cassandra
from mongo_support import MONGO, require_ferretdb
from postgres_support import require_postgres
from timerbackends.cassandra import CassandraStore
from timerbackends.cassandra import _migrations as cassandra_migrations
from timerbackends.mongodb import MongoStore
from timerbackends.mongodb import _migrations as mongodb_migrations
from timerbackends.sql import SQLAlchemyStore
from timerbackends.sql import _migrations as sql_migrations
from timerbackends.testing.cassandra import CassandraNode
from timerbackends.testing.ferretdb import FerretDBServer
from timerbackends.testing.postgres import PostgresServer
from timerkernel import MemoryStore
from timerkernel.abc import Store


class PostgresDatabases:
    """The session's PostgreSQL server, and a database per test directory.

    A database is emptied when its test ends (its schema dropped and made
    anew, which takes milliseconds where a new database takes tens) and
    handed to a later test, so the session makes only as many as one test
    uses at once.
    """

    def __init__(self) -> None:
        self.server: PostgresServer | None = None
        self.by_directory: dict[Path, str] = {}
        self._free: list[str] = []
        self._numbers = itertools.count(1)

    def url_for(self, directory: Path) -> str:
        """The URL of *directory*'s database, taken at the first call."""
        if self.server is None:
            raise RuntimeError("the postgres backend is used without its fixture")

        name = self.by_directory.get(directory)
        if name is None:
            if self._free:
                name = self._free.pop()
            else:
                name = f"test_{next(self._numbers)}"
                self.server.create_database(name)

            self.by_directory[directory] = name

        return self.server.url_for(name)

    def release_all(self) -> None:
        """Empty the databases taken since the last call and keep them."""
        assert self.server is not None
        for name in self.by_directory.values():
            # A store a test failed to close must not hold the schema.
            self.server.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
                database="postgres",
            )
            self.server.execute(
                "DROP SCHEMA public CASCADE; CREATE SCHEMA public", database=name
            )
            self._free.append(name)

        self.by_directory.clear()


POSTGRES = PostgresDatabases()


def _sqlite(directory: Path) -> Store:
    return SQLAlchemyStore(f"sqlite:///{directory / 'timers.db'}")


def _postgres(directory: Path) -> Store:
    return SQLAlchemyStore(POSTGRES.url_for(directory))


def _cassandra(directory: Path) -> Store:
    return CassandraStore(CASSANDRA.url_for(directory))


def _mongodb(directory: Path) -> Store:
    return MongoStore(MONGO.url_for(directory))


# One more step of each schema, as a next release would ship: a table or
# an index, which the code that does not know it never touches.


def _sql_migration(store: Store, floor: int | None = None) -> None:
    assert isinstance(store, SQLAlchemyStore)
    known = store._migrations
    version = known[-1].version + 1
    statement = f"CREATE TABLE extra_{version} (x INTEGER)"
    step = sql_migrations.Migration(
        version,
        "an extra table",
        {"sqlite": (statement,), "postgresql": (statement,)},
        floor=floor,
    )
    store._migrations = (*known, step)


def _cassandra_migration(store: Store, floor: int | None = None) -> None:
    assert isinstance(store, CassandraStore)
    known = store._migrations
    version = known[-1].version + 1
    step = cassandra_migrations.Migration(
        version,
        "an extra table",
        (f"CREATE TABLE IF NOT EXISTS extra_{version} (x int PRIMARY KEY)",),
        floor=floor,
    )
    store._migrations = (*known, step)


def _mongodb_migration(store: Store, floor: int | None = None) -> None:
    assert isinstance(store, MongoStore)
    known = store._migrations
    version = known[-1].version + 1
    name = f"extra_{version}"
    step = mongodb_migrations.Migration(
        version,
        "an extra index",
        (mongodb_migrations.Index("timers", name, ((name, 1),)),),
        floor=floor,
    )
    store._migrations = (*known, step)


BACKENDS = (
    Backend("memory", lambda _directory: MemoryStore(), durable=False),
    Backend("sqlite", _sqlite, durable=True, add_migration=_sql_migration),
    Backend(
        "postgres",
        _postgres,
        durable=True,
        marks=(pytest.mark.postgres,),
        add_migration=_sql_migration,
    ),
    Backend(
        "cassandra",
        _cassandra,
        durable=True,
        marks=(pytest.mark.cassandra,),
        add_migration=_cassandra_migration,
    ),
    Backend(
        "mongodb",
        _mongodb,
        durable=True,
        marks=(pytest.mark.mongodb,),
        add_migration=_mongodb_migration,
    ),
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PostgresServer]:
    """A PostgreSQL server of the session's own, removed at its end."""
    require_postgres()
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def cassandra_node(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CassandraNode]:
    """A one-node Cassandra of the session's own, removed at its end."""
    require_cassandra()
    node = CassandraNode(tmp_path_factory.mktemp("cassandra"))
    try:
        node.start()
        CASSANDRA.attach(node)
        yield node
    finally:
        CASSANDRA.close()
        node.destroy()


@pytest.fixture(autouse=True)
def _cassandra_keyspaces(request: pytest.FixtureRequest) -> Iterator[None]:
    # Only tests marked cassandra start the node (or skip without it).
    if request.node.get_closest_marker("cassandra") is None:
        yield
        return

    request.getfixturevalue("cassandra_node")
    try:
        yield
    finally:
        CASSANDRA.release_all()


@pytest.fixture(scope="session")
def ferretdb_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FerretDBServer]:
    """A FerretDB server of the session's own, removed at its end."""
    require_ferretdb()
    server = FerretDBServer(tmp_path_factory.mktemp("ferretdb"))
    try:
        server.start()
        MONGO.server = server
        yield server
    finally:
        MONGO.close()
        server.destroy()


@pytest.fixture(autouse=True)
def _mongo_databases(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("mongodb") is None:
        yield
        return

    request.getfixturevalue("ferretdb_server")
    try:
        yield
    finally:
        MONGO.release_all()


@pytest.fixture(autouse=True)
def _postgres_databases(request: pytest.FixtureRequest) -> Iterator[None]:
    # Only tests marked postgres start the server (or skip without it).
    if request.node.get_closest_marker("postgres") is None:
        yield
        return

    POSTGRES.server = request.getfixturevalue("postgres_server")
    try:
        yield
    finally:
        POSTGRES.release_all()


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of this test's own, empty PostgreSQL database."""
    assert request.node.get_closest_marker("postgres"), "mark the test postgres"
    return POSTGRES.url_for(tmp_path)


@pytest.fixture(params=[backend.param() for backend in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    assert isinstance(request.param, Backend)
    return request.param


@pytest.fixture(params=[backend.param() for backend in BACKENDS if backend.durable])
def durable_backend(request: pytest.FixtureRequest) -> Backend:
    assert isinstance(request.param, Backend)
    return request.param


@pytest.fixture
async def store(backend: Backend, tmp_path: Path) -> AsyncIterator[Store]:
    store = backend.make(tmp_path)
    try:
        await store.initialize(shard_count=SHARDS)
        yield store
    finally:
        await store.close()
