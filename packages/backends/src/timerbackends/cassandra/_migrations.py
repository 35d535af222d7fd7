"""Versioned CQL migrations of the Cassandra store, and their runner.

Each migration is a file ``migrations/NNNN_description.cql`` shipped in the
package: statements ended by ``;``, each written to be run again safely
(``IF NOT EXISTS``), since Cassandra has no transactional DDL and a
migration cut off half-way must be able to run again from its start. The
runner records every applied version in ``schema_version``.

Two processes must not create the same table at once: Cassandra can end up
with two definitions of it. The runner therefore takes a lock first, a row
of ``schema_version`` inserted with a lightweight transaction and a TTL (so
that a process that died holding it does not block the next for long), and
re-reads the version under it. Migrations are never edited once released:
a change is a new file.

A contract migration (one that removes what an older release still uses)
says so in a line ``-- floor: N`` of its file: once it is applied, code
that knows only schemas below N refuses to start (see
:mod:`timerbackends._floor`). The runner records the floor as a row of
``schema_version`` in the scope ``floor``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Sequence
from importlib import resources

import attrs
from cassandra.cluster import Session

from timerkernel import StorageError

from ._driver import translated, wait_for

logger = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"(\d{4})_(\w+)\.cql")
_FLOOR_LINE = re.compile(r"^--\s*floor:\s*(\d+)\s*$", re.MULTILINE)

#: Seconds a migration lock lives unless released: longer than any migration.
LOCK_TTL = 600
#: Seconds to wait for another process's lock before giving up.
LOCK_WAIT = 120.0


@attrs.frozen
class Migration:
    """One step of the schema: its version, what it does, its statements."""

    version: int
    description: str
    statements: tuple[str, ...]
    floor: int | None = None


def _statements(text: str) -> tuple[str, ...]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    parts = "\n".join(lines).split(";")
    return tuple(part.strip() for part in parts if part.strip())


def load_migrations() -> tuple[Migration, ...]:
    """Every migration shipped with the package, in version order."""
    folder = resources.files(__package__) / "migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE_NAME.fullmatch(entry.name)
        if match is None:
            continue

        number, words = match.groups()
        text = entry.read_text()
        floor = _FLOOR_LINE.search(text)
        found.append(
            Migration(
                int(number),
                words.replace("_", " "),
                _statements(text),
                floor=int(floor.group(1)) if floor else None,
            )
        )

    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(
            f"the Cassandra migrations are not numbered 1..n: {versions}"
        )

    return tuple(found)


MIGRATIONS = load_migrations()

#: The schema version this code needs.
LATEST = MIGRATIONS[-1].version

_BOOTSTRAP = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " scope text, version int, description text, applied_at bigint, holder text,"
    " PRIMARY KEY ((scope), version))"
)


async def _run(session: Session, statement: str, *values: object) -> list[object]:
    return await wait_for(session.execute_async(statement, values or None))


async def keyspace_exists(session: Session, keyspace: str) -> bool:
    """Whether *keyspace* exists on the cluster."""
    rows = await _run(
        session,
        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s",
        keyspace,
    )
    return bool(rows)


async def schema_version(session: Session, keyspace: str) -> int:
    """The latest version applied to *keyspace*; 0 for none."""
    tables = await _run(
        session,
        "SELECT table_name FROM system_schema.tables "
        "WHERE keyspace_name = %s AND table_name = 'schema_version'",
        keyspace,
    )
    if not tables:
        return 0

    rows = await _run(
        session,
        f"SELECT version FROM {keyspace}.schema_version "
        "WHERE scope = 'applied' ORDER BY version DESC LIMIT 1",
    )
    return int(rows[0][0]) if rows else 0  # type: ignore[index]


async def schema_floor(session: Session, keyspace: str) -> int:
    """The highest floor a migration applied to *keyspace* set; 0 for none."""
    rows = await _run(
        session,
        f"SELECT version FROM {keyspace}.schema_version "
        "WHERE scope = 'floor' ORDER BY version DESC LIMIT 1",
    )
    return int(rows[0][0]) if rows else 0  # type: ignore[index]


async def create_keyspace(session: Session, keyspace: str, replication: str) -> None:
    """Create *keyspace* with the CQL replication map *replication*, if missing."""
    with translated():
        await _run(
            session,
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} "
            f"WITH replication = {replication}",
        )


async def migrate(
    session: Session,
    keyspace: str,
    *,
    target: int | None = None,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Apply *migrations* up to *target* (all) to the session's keyspace.

    The session must be using *keyspace* (``USE``). Return the version
    reached.

    :raises StorageError: if another process holds the lock too long, or a
        statement fails.
    """
    with translated():
        await _run(session, _BOOTSTRAP)
        holder = await _lock(session, keyspace)
        try:
            current = await schema_version(session, keyspace)
            last = migrations[-1].version if target is None else target
            for migration in migrations:
                if current < migration.version <= last:
                    await _apply(session, migration, holder)
                    current = migration.version
        finally:
            await _run(
                session,
                "DELETE FROM schema_version WHERE scope = 'lock' AND version = 0 "
                "IF holder = %s",
                holder,
            )

    return current


async def _lock(session: Session, keyspace: str) -> str:
    holder = uuid.uuid4().hex
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        rows = await _run(
            session,
            "INSERT INTO schema_version (scope, version, holder) "
            f"VALUES ('lock', 0, %s) IF NOT EXISTS USING TTL {LOCK_TTL}",
            holder,
        )
        if rows and rows[0][0]:  # type: ignore[index]
            return holder

        if time.monotonic() >= deadline:
            raise StorageError(
                f"another process has been migrating {keyspace} for over "
                f"{LOCK_WAIT:.0f} s; its lock expires by itself after {LOCK_TTL} s"
            )

        await asyncio.sleep(0.5)


async def _apply(session: Session, migration: Migration, holder: str) -> None:
    logger.info(
        "applying Cassandra migration %d (%s)",
        migration.version,
        migration.description,
        extra={"action": "migrate"},
    )
    for statement in migration.statements:
        await _run(session, statement)

    if migration.floor is not None:
        # Before the version: older code refused a moment early is better
        # than older code let in on a schema it no longer fits.
        await _run(
            session,
            "INSERT INTO schema_version "
            "(scope, version, description, applied_at, holder) "
            "VALUES ('floor', %s, %s, %s, %s)",
            migration.floor,
            f"set by migration {migration.version}",
            int(time.time() * 1000),
            holder,
        )

    await _run(
        session,
        "INSERT INTO schema_version "
        "(scope, version, description, applied_at, holder) "
        "VALUES ('applied', %s, %s, %s, %s)",
        migration.version,
        migration.description,
        int(time.time() * 1000),
        holder,
    )
