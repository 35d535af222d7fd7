"""While the storage cannot be reached, the API answers 503 and loses nothing.

SQLite cannot be made unreachable from outside a running server, so these
tests run the application in process on a real store (of the suite's
storage kind) wrapped by a switch that makes every store call fail as an
unreachable database does. ``test_cluster`` takes a real PostgreSQL away
from real server and runner processes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from blackbox import storage_for
from timerbackends import create_store
from timerkernel import Kernel, StorageUnavailable
from timerkernel.abc import Store
from timerserver.app import ServerState, create_app
from timerserver.metrics import Metrics
from timerserver.settings import Settings

pytestmark = pytest.mark.anyio

TIMERS = "/api/v1/namespaces/outage/timers"


class SwitchableStore:
    """Forwards to a real store, or fails every call while ``down`` is set."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.store, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down and name not in ("initialize", "close"):
                raise StorageUnavailable("database is unreachable")

            return await method(*args, **kwargs)

        return call


@pytest.fixture
async def switch(tmp_path: Path) -> AsyncIterator[SwitchableStore]:
    store = SwitchableStore(create_store(storage_for(tmp_path / "storage")))
    yield store
    store.down = False


@pytest.fixture
async def client(switch: SwitchableStore) -> AsyncIterator[httpx.AsyncClient]:
    kernel = Kernel(switch)  # type: ignore[arg-type]  # duck-typed wrapper
    await kernel.initialize()
    app = create_app(ServerState(kernel=kernel, settings=Settings(), metrics=Metrics()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client

    await kernel.close()


def body(timer_id: str) -> dict[str, Any]:
    return {
        "id": timer_id,
        "delay_seconds": 3600,
        "callback": {"url": "http://127.0.0.1:9/hook"},
    }


async def test_every_endpoint_answers_503_while_storage_is_down(
    client: httpx.AsyncClient, switch: SwitchableStore
) -> None:
    switch.down = True

    answers = [
        await client.post(TIMERS, json=body("a")),
        await client.post(f"{TIMERS}:batchCreate", json={"timers": [body("b")]}),
        await client.get(f"{TIMERS}/a"),
        await client.patch(f"{TIMERS}/a", json={"payload": 1}),
        await client.delete(f"{TIMERS}/a"),
        await client.get(TIMERS),
        await client.get(f"{TIMERS}/a/attempts"),
        await client.get("/api/v1/namespaces"),
    ]

    for answer in answers:
        assert answer.status_code == 503, answer.request.url
        assert answer.json()["error"]["code"] == "unavailable"
        assert answer.headers["retry-after"] == "1"


async def test_readiness_goes_red_and_back(
    client: httpx.AsyncClient, switch: SwitchableStore
) -> None:
    switch.down = True
    down = await client.get("/readyz")
    switch.down = False
    up = await client.get("/readyz")

    assert down.status_code == 503
    assert down.json()["error"]["code"] == "unavailable"
    assert up.status_code == 200


async def test_timers_created_before_the_outage_are_there_after_it(
    client: httpx.AsyncClient, switch: SwitchableStore
) -> None:
    created = await client.post(TIMERS, json=body("kept"))
    switch.down = True
    refused = await client.post(TIMERS, json=body("refused"))
    switch.down = False

    assert created.status_code == 201
    assert refused.status_code == 503
    assert (await client.get(f"{TIMERS}/kept")).json() == created.json()
    assert (await client.get(f"{TIMERS}/refused")).status_code == 404
