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

SUPPORTED_SCHEMES = ("memory", "sqlite", "postgresql", "postgres")
"""URL schemes :func:`create_store` accepts."""


def create_store(url: str, **options: Any) -> Store:
    """Return the store for the storage URL *url*, not yet initialised.

    ``memory://`` gives a :class:`~timerkernel.MemoryStore`, which loses
    everything when the process ends. ``sqlite:///path/to/timers.db`` and
    ``postgresql://user:password@host:port/database`` (or ``postgres://``)
    give a :class:`~timerbackends.sql.SQLAlchemyStore`, which takes
    *options* (``pool_size``, ``max_overflow``, ``pool_timeout``,
    ``busy_timeout``, ``max_batch``).

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

    # Imported here so that the memory store does not load SQLAlchemy.
    from .sql import SQLAlchemyStore

    return SQLAlchemyStore(url, **options)


def _scheme_of(url: str) -> str:
    # Only the scheme: the rest of a URL may hold a password.
    scheme, separator, _ = url.partition("://")
    return f"{scheme}://" if separator else url[:40]
