"""The Cassandra node of the test session, and a keyspace per test directory."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest
from cassandra.cluster import Cluster, NoHostAvailable, Session

from timerbackends.testing.cassandra import (
    LOOPBACK,
    CassandraNode,
    CassandraNotFound,
    ensure_cassandra_jars,
    find_java,
)


def require_cassandra() -> None:
    """Skip the test if Cassandra cannot be had; on CI, fail it instead."""
    try:
        if find_java() is None:
            raise CassandraNotFound("no Java 11 or 17 was found")

        ensure_cassandra_jars()
    except CassandraNotFound as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Cassandra is needed on CI: {exc}")

        pytest.skip(f"Cassandra is not available: {exc}")


class CassandraKeyspaces:
    """The session's node, and a keyspace for each test directory.

    A keyspace is emptied when its test ends (every table truncated, the
    record of migrations included, so that the next test finds an empty,
    unmigrated store: making tables anew would take seconds a test) and
    handed to a later test.
    """

    def __init__(self) -> None:
        self.node: CassandraNode | None = None
        self.by_directory: dict[Path, str] = {}
        self._free: list[str] = []
        self._numbers = itertools.count(1)
        self._cluster: Cluster | None = None
        self._session: Session | None = None

    def attach(self, node: CassandraNode) -> None:
        self.node = node

    def session(self) -> Session:
        """A session of the test harness itself, on the node."""
        if self._session is None:
            assert self.node is not None
            assert self.node.port is not None
            self._cluster = Cluster([LOOPBACK], port=self.node.port, protocol_version=4)
            self._session = self._cluster.connect()

        return self._session

    def url_for(self, directory: Path) -> str:
        """The URL of *directory*'s keyspace, taken at the first call."""
        if self.node is None:
            raise RuntimeError("the cassandra backend is used without its fixture")

        name = self.by_directory.get(directory)
        if name is None:
            name = self._free.pop() if self._free else f"test_{next(self._numbers)}"
            self.by_directory[directory] = name

        return self.node.url_for(name)

    def execute(self, statement: str, *values: Any) -> list[Any]:
        try:
            return list(self.session().execute(statement, values or None))
        except NoHostAvailable:
            # The node was restarted under this session (an outage test):
            # a new session connects at once, where the old one would wait
            # for its reconnection schedule.
            self.close()
            return list(self.session().execute(statement, values or None))

    def release_all(self) -> None:
        """Empty the keyspaces taken since the last call and keep them."""
        for name in self.by_directory.values():
            tables = self.execute(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
                name,
            )
            for row in tables:
                self.execute(f"TRUNCATE {name}.{row.table_name}")

            self._free.append(name)

        self.by_directory.clear()

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = self._session = None


CASSANDRA = CassandraKeyspaces()
