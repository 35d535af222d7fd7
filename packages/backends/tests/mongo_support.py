"""The FerretDB server of the test session, and a database per test directory."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from pymongo import MongoClient

from timerbackends.testing.ferretdb import (
    FerretDBNotFound,
    FerretDBServer,
    ensure_ferretdb,
)


def require_ferretdb() -> None:
    """Skip the test if FerretDB cannot be had; on CI, fail it instead."""
    try:
        ensure_ferretdb()
    except FerretDBNotFound as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"FerretDB is needed on CI: {exc}")

        pytest.skip(f"FerretDB is not available: {exc}")


class MongoDatabases:
    """The session's server, and a database for each test directory.

    A database is dropped when its test ends; the next test gets a new
    name, so nothing of an earlier test can be seen.
    """

    def __init__(self) -> None:
        self.server: FerretDBServer | None = None
        self.by_directory: dict[Path, str] = {}
        self._numbers = itertools.count(1)
        self._client: MongoClient[dict[str, object]] | None = None

    def url_for(self, directory: Path) -> str:
        if self.server is None:
            raise RuntimeError("the mongodb backend is used without its fixture")

        name = self.by_directory.get(directory)
        if name is None:
            name = self.by_directory[directory] = f"test_{next(self._numbers)}"

        return self.server.url_for(name)

    def client(self) -> MongoClient[dict[str, object]]:
        if self._client is None:
            assert self.server is not None
            self._client = MongoClient(self.server.url_for("admin"))

        return self._client

    def release_all(self) -> None:
        for name in self.by_directory.values():
            self.client().drop_database(name)

        self.by_directory.clear()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


MONGO = MongoDatabases()
