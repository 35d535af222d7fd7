"""The kernel facade: the calls an API makes, on top of a store and a clock."""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from ._clocks import SystemClock
from ._codec import callback_to_dict, retry_policy_to_dict
from ._exceptions import (
    FieldError,
    InvalidArgument,
    StorageError,
    TimerAlreadyExists,
    TimerKernelError,
    TimerNotFound,
    VersionConflict,
)
from ._model import (
    UNSET,
    Attempt,
    Callback,
    NamespaceCounts,
    RetryPolicy,
    Timer,
    TimerPatch,
    TimerQuery,
    TimerSpec,
    TimerStatus,
    ceil_to_millis,
    from_millis,
    to_millis,
)
from ._parsing import (
    TIMER_ID_PATTERN,
    check_namespace,
    check_timer_id,
    encode_json,
    fire_time_from_delay,
    plain_json,
)
from ._sharding import shard_of
from .abc import Clock, Store

logger = logging.getLogger(__name__)

# A store may report a conflict because a runner recorded an outcome between
# our read and our write; past this many rounds something is badly wrong.
_MAX_UPDATE_ROUNDS = 20
MAX_ATTEMPTS_LISTED = 100


@attrs.frozen
class KernelSettings:
    """Settings of the kernel's API side.

    :param shard_count: shards of new storage; storage that was initialised
        before keeps the count it was given then.
    :param max_payload_bytes: limit on a payload's serialized size.
    :param retention_seconds: how long finished timers stay readable.
    """

    shard_count: int = 16
    max_payload_bytes: int = 64 * 1024
    retention_seconds: float = 7 * 86_400.0


class TimerEventKind(enum.StrEnum):
    """What happened to a timer."""

    created = "created"
    updated = "updated"
    deleted = "deleted"
    delivered = "delivered"
    rescheduled = "rescheduled"
    retrying = "retrying"
    failed = "failed"


@attrs.frozen
class TimerEvent:
    """A change to a timer, told to the kernel's listeners.

    ``timer`` is the state after the change (for ``deleted``, the last state);
    ``attempt`` is set for the delivery events, with ``due_at``, when the
    attempt was due (its lateness is ``attempt.started_at - due_at``).
    """

    kind: TimerEventKind
    timer: Timer
    attempt: Attempt | None = None
    due_at: datetime | None = None


Listener = Callable[[TimerEvent], None]


@attrs.frozen
class CreateResult:
    """A created timer, or the existing one a repeated create found."""

    timer: Timer
    created: bool


@attrs.frozen
class TimerPage:
    """One page of a list call."""

    timers: list[Timer]
    next_page_token: str | None


def definition_digest(spec: TimerSpec) -> str:
    """Digest of the parts of a definition that a repeated create must match.

    The fire time is compared on its own, since a create with
    ``delay_seconds`` is not compared on it. The digest is the SHA-256 of
    the canonical JSON (sorted keys, no spaces) of ``[callback, payload,
    retry_policy]``; it is stored, so it must never change.
    """
    callback = spec.callback
    canonical = "".join(
        (
            "[",
            _canonical_callback(
                callback.url, callback.timeout_seconds, tuple(callback.headers.items())
            ),
            ",",
            _canonical(spec.payload),
            ",",
            _canonical_retry_policy(spec.retry_policy),
            "]",
        )
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _canonical(value: Any) -> str:
    # The canonical JSON of a list is its items' canonical JSON joined by
    # commas, so the parts can be encoded (and cached) one by one.
    plain = plain_json(value, sort_keys=True)
    if plain is not None:
        return plain.decode()

    return _encode_canonical(value)


_encode_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


@functools.lru_cache(maxsize=1024)
def _canonical_callback(
    url: str, timeout_seconds: float, headers: tuple[tuple[str, str], ...]
) -> str:
    return _canonical(callback_to_dict(Callback(url, timeout_seconds, dict(headers))))


@functools.lru_cache(maxsize=256)
def _canonical_retry_policy(policy: RetryPolicy) -> str:
    return _canonical(retry_policy_to_dict(policy))


class Kernel:
    """The timer kernel: create, read, change and delete timers on a store.

    Call :meth:`initialize` once before anything else. A
    :class:`~timerkernel.Runner` made by :meth:`runner` fires the timers.

    :param store: where timers live.
    :param clock: the time source; the system clock by default.
    :param settings: limits and defaults.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        settings: KernelSettings | None = None,
    ) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.settings = settings or KernelSettings()
        self.shard_count = self.settings.shard_count
        self._listeners: list[Listener] = []

    async def initialize(self, *, migrate: bool = True) -> None:
        """Open the store (migrating its schema unless told not to)."""
        self.shard_count = await self.store.initialize(
            shard_count=self.settings.shard_count, migrate=migrate
        )

    async def close(self) -> None:
        """Close the store."""
        await self.store.close()

    # -- events ---------------------------------------------------------

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call *listener* on every timer event; return a function to stop.

        Listeners run synchronously inside the kernel's calls: they must be
        quick and must not raise.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: TimerEvent) -> None:
        """Tell every listener of *event*."""
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception(
                    "timer event listener failed", extra={"action": "emit"}
                )

    # -- create ---------------------------------------------------------

    async def create_timer(self, namespace: str, spec: TimerSpec) -> CreateResult:
        """Create a timer, or find the same one created before.

        :raises TimerAlreadyExists: if the id holds a different timer.
        :raises InvalidArgument: if the namespace or id is malformed.
        """
        result = (await self.create_timers(namespace, [spec]))[0]
        if isinstance(result, TimerKernelError):
            raise result

        return result

    async def create_timers(
        self, namespace: str, specs: Sequence[TimerSpec]
    ) -> list[CreateResult | TimerKernelError]:
        """Create many timers, each judged as :meth:`create_timer` would.

        Return per spec, in order, its result or the error it would raise.
        Specs that repeat an id of an earlier one in the call are compared
        with that one, as if the creates came one after the other.
        """
        check_namespace(namespace)
        now = self.clock.now()
        stamp = from_millis(to_millis(now))
        results: list[CreateResult | TimerKernelError | None] = [None] * len(specs)
        first_of_id: dict[str, int] = {}
        to_insert: list[Timer] = []
        insert_positions: list[int] = []

        for position, spec in enumerate(specs):
            try:
                check_timer_id(spec.id)
                timer = self._new_timer(namespace, spec, now, stamp)
            except InvalidArgument as exc:
                results[position] = exc
                continue

            if spec.id in first_of_id:
                continue

            first_of_id[spec.id] = position
            to_insert.append(timer)
            insert_positions.append(position)

        existing = await self.store.insert_timers(to_insert) if to_insert else []
        for position, timer, found in zip(
            insert_positions, to_insert, existing, strict=True
        ):
            if found is None:
                results[position] = CreateResult(timer, created=True)
                self.emit(TimerEvent(TimerEventKind.created, timer))
            else:
                results[position] = self._judge_repeat(specs[position], timer, found)

        for position, spec in enumerate(specs):
            if results[position] is not None:
                continue

            # A repeat is judged against the stored timer, whether the first
            # create of its id made it, found it or conflicted with it.
            first = results[first_of_id[spec.id]]
            if isinstance(first, CreateResult):
                stored = first.timer
            elif isinstance(first, TimerAlreadyExists):
                stored = first.existing
            else:
                results[position] = first
                continue

            candidate = self._new_timer(namespace, spec, now, stamp)
            results[position] = self._judge_repeat(spec, candidate, stored)

        return [result for result in results if result is not None]

    def _new_timer(
        self, namespace: str, spec: TimerSpec, now: datetime, stamp: datetime
    ) -> Timer:
        # *stamp* is *now* in whole milliseconds, as stores keep it.
        if spec.fire_at is not None:
            # Stores keep whole UTC milliseconds; rounding up never fires early.
            fire_at = ceil_to_millis(spec.fire_at)
        elif spec.delay_seconds is not None:
            fire_at = fire_time_from_delay(now, spec.delay_seconds)
        else:
            raise InvalidArgument(
                [FieldError("fire_at", "one of fire_at or delay_seconds is required")]
            )

        return Timer(
            namespace=namespace,
            id=spec.id,
            fire_at=fire_at,
            callback=spec.callback,
            payload=spec.payload,
            retry_policy=spec.retry_policy,
            status=TimerStatus.scheduled,
            attempts=0,
            next_attempt_at=fire_at,
            last_error=None,
            created_at=stamp,
            updated_at=stamp,
            executed_at=None,
            version=1,
            shard=shard_of(namespace, spec.id, self.shard_count),
            definition_digest=definition_digest(spec),
            initial_fire_at=fire_at,
        )

    @staticmethod
    def _judge_repeat(
        spec: TimerSpec, candidate: Timer, existing: Timer
    ) -> CreateResult | TimerKernelError:
        # A repeated create is compared with the definition the timer was
        # created with, not its current state: a create retried after the
        # timer fired and was rescheduled by its target is still a repeat.
        same_definition = candidate.definition_digest == existing.definition_digest
        same_time = (
            spec.fire_at is None or existing.initial_fire_at == candidate.fire_at
        )
        if same_definition and same_time:
            return CreateResult(existing, created=False)

        return TimerAlreadyExists(existing)

    # -- read -------------------------------------------------------------

    async def get_timer(self, namespace: str, timer_id: str) -> Timer:
        """Return one timer.

        :raises TimerNotFound: if there is none with that id.
        """
        check_namespace(namespace)
        check_timer_id(timer_id)
        timer = await self.store.get_timer(namespace, timer_id)
        if timer is None:
            raise TimerNotFound(namespace, timer_id)

        return timer

    async def list_attempts(self, namespace: str, timer_id: str) -> list[Attempt]:
        """Return the timer's recent delivery attempts, newest first.

        :raises TimerNotFound: if there is no such timer.
        """
        await self.get_timer(namespace, timer_id)
        return await self.store.list_attempts(
            namespace, timer_id, limit=MAX_ATTEMPTS_LISTED
        )

    async def list_timers(
        self, namespace: str, query: TimerQuery, page_token: str | None = None
    ) -> TimerPage:
        """Return one page of timers ordered by ``(fire_at, id)``.

        :raises InvalidArgument: if *page_token* is not one this query made,
            or ``query.limit`` is below 1.
        """
        check_namespace(namespace)
        if query.limit < 1:
            raise InvalidArgument([FieldError("limit", "must be at least 1")])

        fingerprint = _query_fingerprint(namespace, query)
        if page_token is not None:
            query = attrs.evolve(
                query, after=_decode_page_token(page_token, fingerprint)
            )

        rows = await self.store.list_timers(
            namespace, attrs.evolve(query, limit=query.limit + 1)
        )
        if len(rows) <= query.limit:
            return TimerPage(rows, None)

        page = rows[: query.limit]
        last = page[-1]
        return TimerPage(page, _encode_page_token(last.fire_at, last.id, fingerprint))

    async def count_timers(self) -> list[NamespaceCounts]:
        """Return the namespaces with their timer counts by status."""
        return await self.store.count_timers()

    # -- change -----------------------------------------------------------

    async def update_timer(
        self,
        namespace: str,
        timer_id: str,
        patch: TimerPatch,
        *,
        expected_version: int | None = None,
    ) -> Timer:
        """Apply *patch* to a timer and return the new state.

        A new fire time re-arms the timer, finished or not. The change wins
        over a delivery in flight: the delivery's outcome is fenced out by
        the version.

        :raises TimerNotFound: if there is no such timer.
        :raises VersionConflict: if *expected_version* is given and differs.
        """
        check_namespace(namespace)
        check_timer_id(timer_id)
        for _ in range(_MAX_UPDATE_ROUNDS):
            current = await self.store.get_timer(namespace, timer_id)
            if current is None:
                raise TimerNotFound(namespace, timer_id)

            if expected_version is not None and current.version != expected_version:
                raise VersionConflict(
                    namespace, timer_id, expected_version, current.version
                )

            changed = self._apply_patch(current, patch)
            if changed is current:
                return current

            if await self.store.replace_timer(
                changed, expected_version=current.version
            ):
                self.emit(TimerEvent(TimerEventKind.updated, changed))
                return changed

        raise StorageError(
            f"timer {timer_id!r} kept changing during "
            f"{_MAX_UPDATE_ROUNDS} update rounds"
        )

    def _apply_patch(self, timer: Timer, patch: TimerPatch) -> Timer:
        now = from_millis(to_millis(self.clock.now()))
        changes: dict[str, Any] = {}
        if patch.callback is not UNSET:
            changes["callback"] = patch.callback

        if patch.payload is not UNSET:
            changes["payload"] = patch.payload

        if patch.retry_policy is not UNSET:
            changes["retry_policy"] = patch.retry_policy

        fire_at: datetime | None = None
        if patch.fire_at is not UNSET:
            fire_at = ceil_to_millis(patch.fire_at)
        elif patch.delay_seconds is not UNSET:
            fire_at = fire_time_from_delay(now, patch.delay_seconds)

        if fire_at is not None:
            changes.update(
                fire_at=fire_at,
                status=TimerStatus.scheduled,
                attempts=0,
                next_attempt_at=fire_at,
                first_attempt_at=None,
            )

        if not changes:
            return timer

        return attrs.evolve(timer, **changes, updated_at=now, version=timer.version + 1)

    async def delete_timer(
        self, namespace: str, timer_id: str, *, expected_version: int | None = None
    ) -> None:
        """Delete a timer: it will not fire again.

        :raises TimerNotFound: if there is no such timer.
        :raises VersionConflict: if *expected_version* is given and differs.
        """
        check_namespace(namespace)
        check_timer_id(timer_id)
        deleted = await self.store.delete_timer(
            namespace, timer_id, expected_version=expected_version
        )
        if deleted is None:
            raise TimerNotFound(namespace, timer_id)

        self.emit(TimerEvent(TimerEventKind.deleted, deleted))

    async def purge_finished(self, *, batch: int = 1000) -> int:
        """Delete finished timers past their retention; return how many."""
        cutoff = self.clock.now() - timedelta(seconds=self.settings.retention_seconds)
        total = 0
        while True:
            purged = await self.store.purge_finished(before=cutoff, limit=batch)
            total += purged
            if purged < batch:
                return total


def _query_fingerprint(namespace: str, query: TimerQuery) -> str:
    parts = [
        namespace,
        sorted(status.value for status in query.statuses),
        None if query.fire_after is None else to_millis(query.fire_after),
        None if query.fire_before is None else to_millis(query.fire_before),
        query.id_prefix,
    ]
    return hashlib.sha256(encode_json(parts).encode()).hexdigest()[:12]


def _encode_page_token(fire_at: datetime, timer_id: str, fingerprint: str) -> str:
    """The keyset position after (*fire_at*, *timer_id*), bound to one query.

    A token is not secret: anyone may decode it, or make one. The fingerprint
    of the namespace and filters keeps it to the query that made it, and
    whatever position a token names, the query reads only its own namespace.
    """
    raw = encode_json([to_millis(fire_at), timer_id, fingerprint]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page_token(token: str, fingerprint: str) -> tuple[datetime, str]:
    problem = FieldError("page_token", "is not a page token of this query")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        fire_millis, timer_id, token_fingerprint = json.loads(raw)
    # Deep nesting makes the decoder recurse past the interpreter's limit.
    except (ValueError, TypeError, RecursionError, binascii.Error):
        raise InvalidArgument([problem]) from None

    # The id goes into a store query: only a real id's characters may, never
    # a lone surrogate or a NUL that a driver cannot encode.
    if (
        token_fingerprint != fingerprint
        or not isinstance(fire_millis, int)
        or isinstance(fire_millis, bool)
        or not isinstance(timer_id, str)
        or not TIMER_ID_PATTERN.fullmatch(timer_id)
    ):
        raise InvalidArgument([problem])

    try:
        return from_millis(fire_millis), timer_id
    except OverflowError:
        raise InvalidArgument([problem]) from None
