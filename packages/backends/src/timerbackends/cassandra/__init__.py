"""The store on Apache Cassandra: :class:`CassandraStore`."""

from __future__ import annotations

from ._migrations import LATEST as SCHEMA_VERSION
from ._store import CassandraStore

__all__ = ["SCHEMA_VERSION", "CassandraStore"]
