"""The SQL store: SQLite and PostgreSQL, through SQLAlchemy Core.

:class:`SQLAlchemyStore` implements :class:`timerkernel.abc.Store`; its
schema is created and upgraded by the versioned migrations of this package.
"""

from __future__ import annotations

from ._store import SQLAlchemyStore

__all__ = ["SQLAlchemyStore"]
