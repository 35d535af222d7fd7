"""The store on MongoDB and servers of its wire protocol: :class:`MongoStore`."""

from __future__ import annotations

from ._migrations import LATEST as SCHEMA_VERSION
from ._store import MongoStore

__all__ = ["SCHEMA_VERSION", "MongoStore"]
