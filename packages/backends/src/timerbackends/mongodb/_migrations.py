"""Versioned migrations of the MongoDB store: its collections' indexes.

A document store has no table to create; what a version adds is indexes,
and each migration is a list of ``createIndexes`` steps, which the server
treats as done when an identical index exists, so a migration cut off
half-way runs again safely. The runner records each applied version in
``schema_version`` (one document per version).

Migrations are never edited once released: a change is a new one. A
contract migration (one that removes what an older release still uses)
declares a ``floor``, recorded in its version's document: once it is
applied, code that knows only schemas below the floor refuses to start
(see :mod:`timerbackends._floor`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import attrs
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

logger = logging.getLogger(__name__)


@attrs.frozen
class Index:
    """One index of one collection: its name and its key."""

    collection: str
    name: str
    keys: tuple[tuple[str, int], ...]


@attrs.frozen
class Migration:
    version: int
    description: str
    indexes: tuple[Index, ...]
    floor: int | None = None


MIGRATIONS = (
    Migration(
        1,
        "timers, attempts, leases and runners",
        (
            # The due queue: a runner's poll is one range per shard.
            Index("timers", "due_by_shard", (("shard", ASCENDING), ("due", ASCENDING))),
            # Listing a namespace by fire time, in keyset pages.
            Index(
                "timers",
                "by_fire_time",
                (("namespace", ASCENDING), ("fire_at", ASCENDING), ("id", ASCENDING)),
            ),
            # The retention purge: finished timers (due null) by last change.
            Index(
                "timers", "finished", (("due", ASCENDING), ("updated_at", ASCENDING))
            ),
            Index(
                "timer_attempts",
                "latest_first",
                (
                    ("namespace", ASCENDING),
                    ("timer_id", ASCENDING),
                    ("seq", DESCENDING),
                ),
            ),
            Index("runners", "by_expiry", (("expires_at", ASCENDING),)),
        ),
    ),
)

LATEST = MIGRATIONS[-1].version


async def schema_version(database: AsyncDatabase[dict[str, Any]]) -> int:
    """The latest version applied to *database*; 0 for none."""
    found = await database["schema_version"].find_one(sort=[("_id", DESCENDING)])
    return int(found["_id"]) if found else 0


async def schema_floor(database: AsyncDatabase[dict[str, Any]]) -> int:
    """The highest floor a migration applied to *database* set; 0 for none."""
    found = await database["schema_version"].find_one(
        {"floor": {"$exists": True}}, sort=[("floor", DESCENDING)]
    )
    return int(found["floor"]) if found else 0


async def migrate(
    database: AsyncDatabase[dict[str, Any]],
    migrations: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Apply the missing *migrations* to *database*; return the version reached."""
    current = await schema_version(database)
    for migration in migrations:
        if migration.version <= current:
            continue

        logger.info(
            "applying MongoDB migration %d (%s)",
            migration.version,
            migration.description,
            extra={"action": "migrate"},
        )
        for index in migration.indexes:
            await database[index.collection].create_index(
                list(index.keys), name=index.name
            )

        # Another process may have applied it at the same time; both did
        # the same.
        with contextlib.suppress(DuplicateKeyError):
            record: dict[str, Any] = {
                "_id": migration.version,
                "description": migration.description,
                "applied_at": int(time.time() * 1000),
            }
            if migration.floor is not None:
                record["floor"] = migration.floor

            await database["schema_version"].insert_one(record)

        current = migration.version

    return current
