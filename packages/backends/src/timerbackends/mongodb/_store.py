"""The store on MongoDB (or a server of its wire protocol), through pymongo.

One document per timer in ``timers``, keyed by ``"<length>:<namespace>/<id>"``
and holding the columns of the SQL store's rows as fields, plus ``due``:
the next attempt's time while the timer is scheduled, null otherwise, which
the index ``(shard, due)`` turns into the due queue. Every change of a timer
is an update filtered by its version, so a version check and its write are
one atomic operation on the document.

What needs two documents is not atomic: the server this is tested against
(FerretDB) has no multi-document transactions. The epoch fence of
:meth:`MongoStore.record_outcomes` reads the leases and then writes each
timer under its version filter; a lease taken over between the two is not
seen, but the version filter still refuses the new owner's outcome for the
same version, so nothing is lost or fired twice by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pymongo import (
    ASCENDING,
    DESCENDING,
    AsyncMongoClient,
    DeleteMany,
    ReplaceOne,
    UpdateOne,
)
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    PyMongoError,
    ServerSelectionTimeoutError,
    WTimeoutError,
)

from timerkernel import (
    Attempt,
    AttemptOutcome,
    DueTimer,
    Lease,
    NamespaceCounts,
    Outcome,
    StorageError,
    StorageUnavailable,
    Timer,
    TimerQuery,
    TimerStatus,
    VersionConflict,
    from_millis,
    to_millis,
)
from timerkernel.abc import Store

from .._floor import refuse_below_floor
from .._rows import (
    ATTEMPT_COLUMN_NAMES,
    TIMER_COLUMN_NAMES,
    attempt_from_row,
    attempt_to_row,
    floor_millis,
    from_micros,
    state_of,
    timer_from_row,
    timer_to_row,
    to_micros,
)
from . import _migrations

T = TypeVar("T")

#: Attempts kept per timer; older ones are deleted as new ones are written.
ATTEMPTS_KEPT = 20

_DUPLICATE_KEY = 11000
_UNAVAILABLE = (
    AutoReconnect,
    ConnectionFailure,
    ExecutionTimeout,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    WTimeoutError,
)
# Tries of a lease change that another runner's write came between.
_LEASE_TRIES = 8
_ID_CEILING = "\U0010ffff"


def _translate(exc: BaseException) -> StorageError:
    if isinstance(exc, _UNAVAILABLE):
        return StorageUnavailable(
            f"MongoDB cannot be reached: {type(exc).__name__}: {exc}"
        )

    return StorageError(f"MongoDB failed: {type(exc).__name__}: {exc}")


def _key(namespace: str, timer_id: str) -> str:
    # A string, not a document: FerretDB uses its index only for a filter of
    # one string _id. The length prefix keeps every pair's key distinct.
    return f"{len(namespace)}:{namespace}/{timer_id}"


def _document(timer: Timer) -> dict[str, Any]:
    row = timer_to_row(timer)
    row["_id"] = _key(timer.namespace, timer.id)
    row["due"] = (
        row["next_attempt_at"] if timer.status is TimerStatus.scheduled else None
    )
    return row


_PROJECTION = {name: 1 for name in TIMER_COLUMN_NAMES}


def _changes_of(outcome: Outcome) -> dict[str, Any]:
    """The fields an outcome sets: all of them for a reschedule."""
    timer = outcome.timer
    if outcome.attempt.outcome is AttemptOutcome.rescheduled:
        changes = _document(timer)
        del changes["_id"]
        return changes

    changes = state_of(timer)
    changes["due"] = (
        changes["next_attempt_at"] if timer.status is TimerStatus.scheduled else None
    )
    return changes


def _attempt_document(outcome: Outcome) -> dict[str, Any]:
    timer = outcome.timer
    document = attempt_to_row(timer.namespace, timer.id, outcome.attempt)
    document["_id"] = f"{_key(timer.namespace, timer.id)}/{outcome.attempt.seq}"
    return document


def _timer(document: Mapping[str, Any]) -> Timer:
    return timer_from_row([document.get(name) for name in TIMER_COLUMN_NAMES])


class MongoStore(Store):
    """A :class:`~timerkernel.abc.Store` in MongoDB: ``mongodb://host:port/db``.

    The URL is pymongo's (``mongodb://user:password@host1,host2/db?...``,
    with its options); the database is the path. Reads and writes take
    pymongo's defaults (the primary, acknowledged writes) unless the URL
    says otherwise, and every call is bounded by *timeout* seconds.

    :raises ValueError: if the URL names no database.
    """

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("mongodb", "mongodb+srv"):
            raise ValueError(f"not a mongodb:// URL: {parts.scheme}://")

        name = parts.path.strip("/")
        if not name or any(char in name for char in '/\\. "$\0'):
            raise ValueError(
                "the MongoDB URL names no usable database: mongodb://host:port/db"
            )

        if timeout <= 0:
            raise ValueError("timeout must be positive")

        self._url = url
        self._name = name
        self._timeout = timeout
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self._shard_count = 0
        # The schema's steps this code knows, the last being what it needs.
        self._migrations: tuple[_migrations.Migration, ...] = _migrations.MIGRATIONS
        # Whether the server is FerretDB, which reads and writes best one
        # document at a time.
        self._ferretdb = False
        self._limiter = asyncio.Semaphore(16)

    # -- plumbing -------------------------------------------------------------

    def _db(self) -> AsyncDatabase[dict[str, Any]]:
        if self._client is None:
            raise StorageError("the MongoDB store is closed")

        return self._client[self._name]

    def _timers(self) -> AsyncCollection[dict[str, Any]]:
        return self._db()["timers"]

    def _attempts(self) -> AsyncCollection[dict[str, Any]]:
        return self._db()["timer_attempts"]

    def _leases(self) -> AsyncCollection[dict[str, Any]]:
        return self._db()["shard_leases"]

    def _runners(self) -> AsyncCollection[dict[str, Any]]:
        return self._db()["runners"]

    # -- lifecycle ------------------------------------------------------------

    async def initialize(self, *, shard_count: int, migrate: bool = True) -> int:
        if self._client is None:
            millis = int(self._timeout * 1000)
            self._client = AsyncMongoClient(
                self._url,
                serverSelectionTimeoutMS=millis,
                connectTimeoutMS=millis,
                socketTimeoutMS=millis,
                tz_aware=True,
            )

        database = self._db()
        try:
            if migrate:
                await _migrations.migrate(database, self._migrations)

            info = await database.command("buildInfo")
            self._ferretdb = "ferretdbVersion" in info
            version = await _migrations.schema_version(database)
            if version == 0:
                raise StorageError(
                    f"database {self._name!r} has no timer schema; "
                    "run timerserver migrate"
                )

            latest = self._migrations[-1].version
            if version < latest:
                raise StorageError(
                    f"the MongoDB schema is at version {version}, this code needs "
                    f"{latest}; run timerserver migrate"
                )

            if version > latest:
                refuse_below_floor(
                    backend="MongoDB",
                    version=version,
                    floor=await _migrations.schema_floor(database),
                    latest=latest,
                )

            meta = database["store_meta"]
            if migrate:
                with contextlib.suppress(DuplicateKeyError):
                    # The first initialisation records it; later ones read it.
                    await meta.insert_one({"_id": "shard_count", "value": shard_count})

            found = await meta.find_one({"_id": "shard_count"})
        except StorageError:
            raise
        except PyMongoError as exc:
            raise _translate(exc) from exc

        if found is None:
            raise StorageError(
                "the store records no shard count; run timerserver migrate"
            )

        self._shard_count = int(found["value"])
        return self._shard_count

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def ping(self) -> None:
        try:
            await asyncio.wait_for(self._db().command("ping"), timeout=2.0)
        except (PyMongoError, TimeoutError, StorageError) as exc:
            raise StorageUnavailable(f"MongoDB does not answer: {exc}") from exc

    # -- timers -------------------------------------------------------------

    async def insert_timers(self, timers: Sequence[Timer]) -> list[Timer | None]:
        if not timers:
            return []

        documents = [_document(timer) for timer in timers]
        taken: set[int] = set()
        try:
            await self._timers().insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != _DUPLICATE_KEY:
                    raise _translate(exc) from exc
                taken.add(int(error["index"]))
        except PyMongoError as exc:
            raise _translate(exc) from exc

        existing: dict[tuple[str, str], Timer] = {}
        if taken:
            for document in await self._by_keys([timers[i].key for i in sorted(taken)]):
                found = _timer(document)
                existing[found.key] = found

        results: list[Timer | None] = []
        for position, timer in enumerate(timers):
            if position not in taken:
                results.append(None)
            elif timer.key in existing:
                results.append(existing[timer.key])
            else:
                raise StorageUnavailable(
                    f"timer {timer.id!r} was deleted while it was being created; "
                    "try again"
                )

        return results

    def _find(self, query: Mapping[str, Any], **options: Any) -> Any:
        try:
            return self._timers().find(query, _PROJECTION, **options)
        except PyMongoError as exc:
            raise _translate(exc) from exc

    async def _one(self, query: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            return await self._timers().find_one(query, _PROJECTION)
        except PyMongoError as exc:
            raise _translate(exc) from exc

    async def _by_keys(
        self,
        keys: Sequence[tuple[str, str]],
        *,
        projection: Mapping[str, int] = _PROJECTION,
    ) -> list[dict[str, Any]]:
        """The stored documents of *keys*: one ``$in`` query on MongoDB.

        On FerretDB, one ``find_one`` per key instead, a few at a time:
        FerretDB answers a lone ``_id`` from its index and scans the whole
        collection for anything else, an ``$in`` included.
        """
        ids = [_key(namespace, timer_id) for namespace, timer_id in keys]
        try:
            if not self._ferretdb:
                cursor = self._timers().find({"_id": {"$in": ids}}, projection)
                return [document async for document in cursor]

            found = await self._each(
                self._timers().find_one({"_id": key}, projection) for key in ids
            )
        except PyMongoError as exc:
            raise _translate(exc) from exc

        return [document for document in found if document is not None]

    async def get_timer(self, namespace: str, timer_id: str) -> Timer | None:
        document = await self._one({"_id": _key(namespace, timer_id)})
        return None if document is None else _timer(document)

    async def replace_timer(self, timer: Timer, *, expected_version: int) -> bool:
        document = _document(timer)
        del document["_id"]
        try:
            result = await self._timers().update_one(
                {"_id": _key(timer.namespace, timer.id), "version": expected_version},
                {"$set": document},
            )
        except PyMongoError as exc:
            raise _translate(exc) from exc

        return result.matched_count == 1

    async def delete_timer(
        self, namespace: str, timer_id: str, *, expected_version: int | None = None
    ) -> Timer | None:
        query: dict[str, Any] = {"_id": _key(namespace, timer_id)}
        if expected_version is not None:
            query["version"] = expected_version

        try:
            # No projection: FerretDB's findAndModify takes none.
            deleted = await self._timers().find_one_and_delete(query)
            if deleted is None:
                if expected_version is None:
                    return None

                current = await self._one({"_id": _key(namespace, timer_id)})
                if current is None:
                    return None

                raise VersionConflict(
                    namespace, timer_id, expected_version, int(current["version"])
                )

            await self._attempts().delete_many(
                {"namespace": namespace, "timer_id": timer_id}
            )
        except PyMongoError as exc:
            raise _translate(exc) from exc

        return _timer(deleted)

    async def list_timers(self, namespace: str, query: TimerQuery) -> list[Timer]:
        if query.limit <= 0:
            return []

        conditions: list[dict[str, Any]] = [{"namespace": namespace}]
        fire: dict[str, int] = {}
        if query.fire_after is not None:
            fire["$gte"] = to_millis(query.fire_after)
        if query.fire_before is not None:
            fire["$lt"] = to_millis(query.fire_before)
        if fire:
            conditions.append({"fire_at": fire})

        if query.statuses:
            conditions.append(
                {"status": {"$in": sorted(status.value for status in query.statuses)}}
            )

        if query.id_prefix is not None:
            prefix = query.id_prefix
            conditions.append({"id": {"$gte": prefix, "$lt": prefix + _ID_CEILING}})

        if query.after is not None:
            after_ms, after_id = to_millis(query.after[0]), query.after[1]
            conditions.append(
                {
                    "$or": [
                        {"fire_at": {"$gt": after_ms}},
                        {"fire_at": after_ms, "id": {"$gt": after_id}},
                    ]
                }
            )

        cursor = self._find(
            {"$and": conditions},
            sort=[("fire_at", ASCENDING), ("id", ASCENDING)],
            limit=query.limit,
        )
        try:
            return [_timer(document) async for document in cursor]
        except PyMongoError as exc:
            raise _translate(exc) from exc

    async def count_timers(self) -> list[NamespaceCounts]:
        pipeline = [
            {
                "$group": {
                    "_id": {"n": "$namespace", "s": "$status"},
                    "count": {"$sum": 1},
                }
            }
        ]
        counts: dict[str, dict[TimerStatus, int]] = {}
        try:
            cursor = await self._timers().aggregate(pipeline)
            async for group in cursor:
                namespace, status = group["_id"]["n"], group["_id"]["s"]
                by_status = counts.setdefault(namespace, dict.fromkeys(TimerStatus, 0))
                by_status[TimerStatus(status)] = int(group["count"])
        except PyMongoError as exc:
            raise _translate(exc) from exc

        return [NamespaceCounts(name, counts[name]) for name in sorted(counts)]

    async def list_attempts(
        self, namespace: str, timer_id: str, *, limit: int
    ) -> list[Attempt]:
        if limit <= 0:
            return []

        try:
            cursor = self._attempts().find(
                {"namespace": namespace, "timer_id": timer_id},
                sort=[("seq", DESCENDING)],
                limit=limit,
            )
            documents = [document async for document in cursor]
        except PyMongoError as exc:
            raise _translate(exc) from exc

        return [
            attempt_from_row([document.get(name) for name in ATTEMPT_COLUMN_NAMES])
            for document in documents
        ]

    async def purge_finished(self, *, before: datetime, limit: int) -> int:
        if limit <= 0:
            return 0

        # Whole milliseconds are before *before* when before it rounded up.
        cutoff = to_millis(before)
        finished = {"due": None, "updated_at": {"$lt": cutoff}}
        try:
            cursor = self._timers().find(
                finished, {"_id": 1, "namespace": 1, "id": 1}, limit=limit
            )
            found = [document async for document in cursor]
            if not found:
                return 0

            keys = [document["_id"] for document in found]
            # The filter again: a timer scheduled anew since it was read stays.
            result = await self._timers().delete_many(
                {"_id": {"$in": keys}, **finished}
            )
            await self._attempts().delete_many(
                {
                    "$or": [
                        {"namespace": document["namespace"], "timer_id": document["id"]}
                        for document in found
                    ]
                }
            )
        except PyMongoError as exc:
            raise _translate(exc) from exc

        return int(result.deleted_count)

    # -- the runner's side ------------------------------------------------------

    async def fetch_due(
        self,
        shards: Collection[int],
        *,
        horizon: datetime,
        limit: int,
        known_through: datetime | None = None,
        changed_since: datetime | None = None,
    ) -> list[DueTimer]:
        wanted = sorted(set(shards))
        if not wanted or limit <= 0:
            return []

        query: dict[str, Any] = {
            "shard": {"$in": wanted},
            "due": {"$lte": floor_millis(horizon)},
        }
        if known_through is not None and changed_since is not None:
            query["$or"] = [
                {"due": {"$gt": floor_millis(known_through)}},
                {"updated_at": {"$gte": to_millis(changed_since)}},
            ]

        projection = {"namespace": 1, "id": 1, "version": 1, "due": 1, "shard": 1}
        try:
            cursor = self._timers().find(
                query, projection, sort=[("due", ASCENDING)], limit=limit
            )
            return [
                DueTimer(
                    document["namespace"],
                    document["id"],
                    int(document["version"]),
                    from_millis(int(document["due"])),
                    int(document["shard"]),
                )
                async for document in cursor
            ]
        except PyMongoError as exc:
            raise _translate(exc) from exc

    async def claim_timers(self, due: Sequence[DueTimer]) -> list[Timer]:
        if not due:
            return []

        stored: dict[tuple[str, str], Timer] = {}
        for document in await self._by_keys([entry.key for entry in due]):
            found = _timer(document)
            stored[found.key] = found

        claimed: list[Timer] = []
        for entry in due:
            timer = stored.get(entry.key)
            if (
                timer is not None
                and timer.version == entry.version
                and timer.status is TimerStatus.scheduled
            ):
                claimed.append(timer)

        return claimed

    async def record_outcomes(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []

        try:
            epochs = {
                int(document["_id"]): int(document["epoch"])
                async for document in self._leases().find({}, {"epoch": 1})
            }
        except PyMongoError as exc:
            raise _translate(exc) from exc

        # Round n holds the n-th outcome of each timer: the outcomes of one
        # timer apply in order, each round's in one bulk write.
        rounds: list[list[int]] = []
        seen: dict[tuple[str, str], int] = {}
        for position, outcome in enumerate(outcomes):
            number = seen.get(outcome.timer.key, 0)
            seen[outcome.timer.key] = number + 1
            if number == len(rounds):
                rounds.append([])
            rounds[number].append(position)

        applied = [False] * len(outcomes)
        for positions in rounds:
            fenced = [
                p
                for p in positions
                if epochs.get(outcomes[p].timer.shard) == outcomes[p].epoch
            ]
            for position in await self._apply_round([outcomes[p] for p in fenced]):
                applied[fenced[position]] = True

        return applied

    async def _apply_round(self, outcomes: Sequence[Outcome]) -> list[int]:
        """Write *outcomes* (one per timer); return the indexes of those applied."""
        if not outcomes:
            return []

        try:
            if self._ferretdb:
                applied = await self._apply_one_by_one(outcomes)
            else:
                applied = await self._apply_in_bulk(outcomes)

            # Replaced, not inserted: a retried batch writes the same _id.
            attempts = [_attempt_document(outcomes[index]) for index in applied]
            trims = [
                {
                    "namespace": outcomes[index].timer.namespace,
                    "timer_id": outcomes[index].timer.id,
                    "seq": {"$lte": outcomes[index].attempt.seq - ATTEMPTS_KEPT},
                }
                for index in applied
                if outcomes[index].attempt.seq > ATTEMPTS_KEPT
            ]
            collection = self._attempts()
            if self._ferretdb:
                await self._each(
                    collection.replace_one({"_id": a["_id"]}, a, upsert=True)
                    for a in attempts
                )
                await self._each(collection.delete_many(trim) for trim in trims)
            else:
                if attempts:
                    await collection.bulk_write(
                        [
                            ReplaceOne({"_id": a["_id"]}, a, upsert=True)
                            for a in attempts
                        ],
                        ordered=False,
                    )
                if trims:
                    await collection.bulk_write(
                        [DeleteMany(trim) for trim in trims], ordered=False
                    )
        except PyMongoError as exc:
            raise _translate(exc) from exc

        return applied

    async def _apply_in_bulk(self, outcomes: Sequence[Outcome]) -> list[int]:
        # A bulk write reports only how many updates matched, not which:
        # each update also writes a token of its own, and the documents
        # read back say which of them now hold theirs.
        tokens = [uuid.uuid4().hex for _ in outcomes]
        updates = [
            UpdateOne(
                {
                    "_id": _key(o.timer.namespace, o.timer.id),
                    "version": o.expected_version,
                },
                {"$set": {**_changes_of(o), "write_token": token}},
            )
            for o, token in zip(outcomes, tokens, strict=True)
        ]
        await self._timers().bulk_write(updates, ordered=False)
        stored = await self._tokens_of([o.timer.key for o in outcomes])
        return [
            index
            for index, (o, token) in enumerate(zip(outcomes, tokens, strict=True))
            if stored.get(o.timer.key) == token
        ]

    async def _apply_one_by_one(self, outcomes: Sequence[Outcome]) -> list[int]:
        # FerretDB: one version-filtered update each, a few at a time; a bulk
        # write of a few hundred, beside other requests, stalled it here.
        results = await self._each(
            self._timers().update_one(
                {
                    "_id": _key(o.timer.namespace, o.timer.id),
                    "version": o.expected_version,
                },
                {"$set": _changes_of(o)},
            )
            for o in outcomes
        )
        return [
            index for index, result in enumerate(results) if result.matched_count == 1
        ]

    async def _each(self, calls: Iterable[Awaitable[T]]) -> list[T]:
        """Await *calls* at once, at most a few in flight."""

        async def limited(call: Awaitable[T]) -> T:
            async with self._limiter:
                return await call

        return list(await asyncio.gather(*(limited(call) for call in calls)))

    async def _tokens_of(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], str | None]:
        documents = await self._by_keys(
            keys, projection={"namespace": 1, "id": 1, "write_token": 1}
        )
        return {(d["namespace"], d["id"]): d.get("write_token") for d in documents}

    # -- leases -----------------------------------------------------------------

    async def heartbeat(
        self, runner_id: str, *, now: datetime, ttl: float
    ) -> list[str]:
        now_us = to_micros(now)
        expires_us = now_us + int(ttl * 1_000_000)
        runners = self._runners()
        try:
            await runners.update_one(
                {"_id": runner_id}, {"$set": {"expires_at": expires_us}}, upsert=True
            )
            # The filter is checked per document as it is deleted: an
            # announcement renewed meanwhile no longer matches.
            await runners.delete_many(
                {"_id": {"$ne": runner_id}, "expires_at": {"$lte": now_us}}
            )
            live = [document["_id"] async for document in runners.find({}, {"_id": 1})]
        except PyMongoError as exc:
            raise _translate(exc) from exc

        return sorted(live)

    async def remove_runner(self, runner_id: str) -> None:
        try:
            await self._runners().delete_one({"_id": runner_id})
        except PyMongoError as exc:
            raise _translate(exc) from exc

    async def _all_leases(self) -> dict[int, dict[str, Any]]:
        try:
            return {
                int(document["_id"]): document
                async for document in self._leases().find({})
            }
        except PyMongoError as exc:
            raise _translate(exc) from exc

    async def list_leases(self) -> list[Lease]:
        leases = await self._all_leases()
        return [
            Lease(
                shard,
                leases[shard].get("owner"),
                int(leases[shard]["epoch"]),
                from_micros(int(leases[shard]["expires_at"])),
            )
            for shard in sorted(leases)
        ]

    async def _swap(
        self, shard: int, seen: Mapping[str, Any] | None, new: Mapping[str, Any]
    ) -> bool:
        """Write *new* as the lease of *shard* if it is still *seen*."""
        try:
            if seen is None:
                await self._leases().insert_one({"_id": shard, **new})
                return True

            result = await self._leases().update_one(
                {
                    "_id": shard,
                    "owner": seen.get("owner"),
                    "epoch": seen["epoch"],
                    "expires_at": seen["expires_at"],
                },
                {"$set": dict(new)},
            )
        except DuplicateKeyError:
            return False
        except PyMongoError as exc:
            raise _translate(exc) from exc

        return result.matched_count == 1

    async def acquire_leases(
        self, runner_id: str, shards: Collection[int], *, now: datetime, duration: float
    ) -> dict[int, int]:
        now_us = to_micros(now)
        expires_us = now_us + int(duration * 1_000_000)
        held: dict[int, int] = {}
        pending = sorted(set(shards))
        for _ in range(_LEASE_TRIES):
            if not pending:
                break

            current = await self._all_leases()
            retry: list[int] = []
            for shard in pending:
                lease = current.get(shard)
                if lease is None:
                    epoch = 1
                elif lease.get("owner") == runner_id and lease["expires_at"] > now_us:
                    epoch = int(lease["epoch"])
                elif lease.get("owner") is None or lease["expires_at"] <= now_us:
                    epoch = int(lease["epoch"]) + 1
                else:
                    continue

                new = {"owner": runner_id, "epoch": epoch, "expires_at": expires_us}
                if await self._swap(shard, lease, new):
                    held[shard] = epoch
                else:
                    retry.append(shard)

            pending = retry

        return held

    async def renew_leases(
        self,
        runner_id: str,
        leases: Mapping[int, int],
        *,
        now: datetime,
        duration: float,
    ) -> dict[int, int]:
        if not leases:
            return {}

        now_us = to_micros(now)
        expires_us = now_us + int(duration * 1_000_000)
        renewed: dict[int, int] = {}
        try:
            for shard, epoch in sorted(leases.items()):
                result = await self._leases().update_one(
                    {
                        "_id": shard,
                        "owner": runner_id,
                        "epoch": epoch,
                        "expires_at": {"$gt": now_us},
                    },
                    {"$set": {"expires_at": expires_us}},
                )
                if result.matched_count == 1:
                    renewed[shard] = epoch
        except PyMongoError as exc:
            raise _translate(exc) from exc

        return renewed

    async def release_leases(self, runner_id: str, shards: Collection[int]) -> None:
        wanted = sorted(set(shards))
        if not wanted:
            return

        try:
            await self._leases().update_many(
                {"_id": {"$in": wanted}, "owner": runner_id}, {"$set": {"owner": None}}
            )
        except PyMongoError as exc:
            raise _translate(exc) from exc
