from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sdk_api import KINDS, Api, Kind, open_api
from sdk_stub import Sleeps, StubServer

# The examples are scripts, not a package: their tests import them by name.
sys.path.insert(0, str(Path(__file__).parent.parent / "examples"))

# It runs the example receiver, found through the path above.
from sdk_server import TimerServer, server_command


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "timerserver: needs the real timer server, which the test starts itself",
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def timer_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TimerServer]:
    """The real server, one for the whole run: tests keep to their namespaces."""
    command = server_command()
    with TimerServer(command, tmp_path_factory.mktemp("timerserver")) as server:
        yield server


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    kind: Kind = request.param
    return kind


@pytest.fixture
async def api(kind: Kind, stub: StubServer, sleeps: Sleeps) -> AsyncIterator[Api]:
    """A client of each kind on the stub, with retries that do not wait."""
    async with open_api(kind, stub.url, sleeps=sleeps) as client:
        yield client
