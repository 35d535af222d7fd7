"""Fixtures of the store contract suite: one ``store`` per registered backend.

A backend joins the suite by adding a :class:`Backend` to :data:`BACKENDS`;
one that needs a database server carries a marker and starts the server in
its factory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend_support import SHARDS, Backend
from timerbackends.sql import SQLAlchemyStore
from timerkernel import MemoryStore
from timerkernel.abc import Store


def _sqlite(directory: Path) -> Store:
    return SQLAlchemyStore(f"sqlite:///{directory / 'timers.db'}")


BACKENDS = (
    Backend("memory", lambda _directory: MemoryStore(), durable=False),
    Backend("sqlite", _sqlite, durable=True),
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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
