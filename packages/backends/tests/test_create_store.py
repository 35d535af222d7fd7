"""Choosing a store by URL, and the public names of the package."""

from __future__ import annotations

from pathlib import Path

import pytest
from cassandra import ConsistencyLevel

import timerbackends
import timerbackends.sql
from timerbackends import create_store
from timerbackends.cassandra import CassandraStore
from timerbackends.mongodb import MongoStore
from timerbackends.sql import SQLAlchemyStore
from timerkernel import MemoryStore

pytestmark = pytest.mark.anyio


def test_memory_url_gives_a_memory_store() -> None:
    assert isinstance(create_store("memory://"), MemoryStore)


def test_sqlite_url_gives_the_sql_store_with_its_options(tmp_path: Path) -> None:
    store = create_store(f"sqlite:///{tmp_path / 't.db'}", pool_size=2)

    assert isinstance(store, SQLAlchemyStore)
    assert store._engines.readers.pool.size() == 2  # type: ignore[attr-defined]


async def test_the_default_server_url_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = create_store("sqlite:///./timers.db")
    try:
        assert await store.initialize(shard_count=16) == 16
        await store.ping()
    finally:
        await store.close()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql://u:secret@db:5432/timers", id="postgresql"),
        pytest.param("postgres://u:secret@db/timers", id="postgres"),
        pytest.param("postgresql+asyncpg://u@db/timers", id="asyncpg"),
    ],
)
def test_postgresql_urls_give_the_sql_store_with_its_options(url: str) -> None:
    store = create_store(url, pool_size=3, max_overflow=1, pool_timeout=2.5)

    assert isinstance(store, SQLAlchemyStore)
    pool = store._engines.readers.sync_engine.pool
    assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 1, 2.5)  # type: ignore[attr-defined]
    assert store._engines.readers.url.drivername == "postgresql+asyncpg"


def test_cassandra_url_gives_the_cassandra_store() -> None:
    store = create_store(
        "cassandra://u:secret@db1,db2:9043/Timers?consistency=quorum",
        request_timeout=3,
    )

    assert isinstance(store, CassandraStore)
    assert store.keyspace == "timers"
    assert (store._hosts, store._port) == (["db1", "db2"], 9043)
    assert store._credentials == ("u", "secret")
    assert store._consistency == ConsistencyLevel.QUORUM
    assert store._serial == ConsistencyLevel.LOCAL_SERIAL
    assert store._timeout == 3


@pytest.mark.parametrize(
    ("url", "words"),
    [
        pytest.param("cassandra://db/", "no keyspace", id="no-keyspace"),
        pytest.param("cassandra://db/a-b", "not a name", id="bad-keyspace"),
        pytest.param("cassandra://db:x/ks", "not a port", id="bad-port"),
        pytest.param("cassandra://db/ks?consistency=MOST", "consistency", id="level"),
        pytest.param("cassandra://db/ks?colour=red", "unknown", id="option"),
        pytest.param("cassandra://db/ks?request_timeout=soon", "number", id="nan"),
        pytest.param("mongodb://db:27017", "no usable database", id="no-database"),
    ],
)
def test_malformed_urls_of_the_other_stores(url: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        create_store(url)


def test_mongodb_url_gives_the_mongodb_store() -> None:
    store = create_store("mongodb://u:secret@db:27017/timers?w=majority", timeout=4)

    assert isinstance(store, MongoStore)
    assert store._name == "timers"


def test_the_other_stores_name_the_options_they_take() -> None:
    with pytest.raises(ValueError, match="request_timeout"):
        create_store("cassandra://db/ks", pool_size=3)

    with pytest.raises(ValueError, match="timeout"):
        create_store("mongodb://db/ks", pool_size=3)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("redis://u:secret@db:6379/0", id="unknown"),
        pytest.param("timers.db", id="no-scheme"),
    ],
)
def test_unsupported_schemes_are_named_with_the_supported_ones(url: str) -> None:
    with pytest.raises(
        ValueError,
        match="supported: memory://, sqlite://, postgresql://, postgres://, "
        "cassandra://, mongodb://",
    ) as caught:
        create_store(url)

    assert "secret" not in str(caught.value)


def test_memory_store_takes_no_options() -> None:
    with pytest.raises(ValueError, match="pool_size"):
        create_store("memory://", pool_size=3)


def test_unknown_option_of_the_sql_store_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        create_store("sqlite:///t.db", pool_sizes=3)


def test_public_names() -> None:
    assert sorted(timerbackends.__all__) == ["SUPPORTED_SCHEMES", "create_store"]
    assert timerbackends.sql.__all__ == ["SQLAlchemyStore"]
    for name in timerbackends.__all__:
        assert hasattr(timerbackends, name)
