"""Durable storage backends for timerkernel.

:func:`create_store` picks the store for a storage URL; the stores
themselves live in subpackages named after their technology
(:mod:`timerbackends.sql`).
"""

from __future__ import annotations

from typing import Any

from timerkernel import MemoryStore
from timerkernel.abc import Store

__all__ = ["SUPPORTED_SCHEMES", "create_store"]

SUPPORTED_SCHEMES = (
    "memory",
    "sqlite",
    "postgresql",
    "postgres",
    "cassandra",
    "mongodb",
)
"""URL schemes :func:`create_store` accepts."""


def create_store(url: str, **options: Any) -> Store:
    """Return the store for the storage URL *url*, not yet initialised.

    ``memory://`` gives a :class:`~timerkernel.MemoryStore`, which loses
    everything when the process ends. ``sqlite:///path/to/timers.db`` and
    ``postgresql://user:password@host:port/database`` (or ``postgres://``)
    give a :class:`~timerbackends.sql.SQLAlchemyStore`, which takes
    *options* (``pool_size``, ``max_overflow``, ``pool_timeout``,
    ``busy_timeout``, ``max_batch``). ``cassandra://host1,host2:port/keyspace``
    gives a :class:`~timerbackends.cassandra.CassandraStore` and
    ``mongodb://host:port/database`` a
    :class:`~timerbackends.mongodb.MongoStore`; their options are in their
    URLs' queries.

    :raises ValueError: if the scheme is not supported, or a store that
        takes no options is given some.
    """
    scheme, separator, _ = url.partition("://")
    family = scheme.split("+", 1)[0].lower()
    if not separator or family not in SUPPORTED_SCHEMES:
        supported = ", ".join(f"{name}://" for name in SUPPORTED_SCHEMES)
        raise ValueError(
            f"unsupported storage URL {_scheme_of(url)!r}; supported: {supported}"
        )

    if family == "memory":
        if options:
            raise ValueError(
                f"the memory store takes no options, got {', '.join(sorted(options))}"
            )

        return MemoryStore()

    # Imported here, so that each store loads only its own driver.
    if family == "cassandra":
        from .cassandra import CassandraStore

        return CassandraStore(url, **_only_known(family, options, _CASSANDRA_OPTIONS))

    if family == "mongodb":
        from .mongodb import MongoStore

        return MongoStore(url, **_only_known(family, options, _MONGODB_OPTIONS))

    from .sql import SQLAlchemyStore

    return SQLAlchemyStore(url, **options)


# What the server's settings may pass; the rest are URL options.
_CASSANDRA_OPTIONS = frozenset({"request_timeout", "concurrency"})
_MONGODB_OPTIONS = frozenset({"timeout"})


def _only_known(
    family: str, options: dict[str, Any], known: frozenset[str]
) -> dict[str, Any]:
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"the {family} store takes no options {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(known))} and the options of its URL"
        )

    return options


def _scheme_of(url: str) -> str:
    # Only the scheme: the rest of a URL may hold a password.
    scheme, separator, _ = url.partition("://")
    return f"{scheme}://" if separator else url[:40]
