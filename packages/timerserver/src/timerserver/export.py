"""Every timer of a list query, streamed as CSV or as a JSON array.

An export reads the store a page at a time, so that its memory stays flat
however many timers match; the answer is not a snapshot: a timer created or
changed while the export runs may be in it or not.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import orjson

from timerkernel import Kernel, Timer, TimerQuery, format_time, timer_to_dict

EXPORT_PAGE_SIZE = 1000
CSV_COLUMNS = (
    "namespace",
    "id",
    "status",
    "fire_at",
    "callback_url",
    "attempts",
    "next_attempt_at",
    "executed_at",
    "version",
    "created_at",
    "updated_at",
    "payload",
)
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


async def _timers(
    kernel: Kernel, namespace: str, query: TimerQuery
) -> AsyncIterator[list[Timer]]:
    query = TimerQuery(
        statuses=query.statuses,
        fire_after=query.fire_after,
        fire_before=query.fire_before,
        id_prefix=query.id_prefix,
        limit=EXPORT_PAGE_SIZE,
    )
    page_token: str | None = None
    seen_tokens: set[str] = set()
    while True:
        page = await kernel.list_timers(namespace, query, page_token)
        if page.timers:
            yield list(page.timers)

        page_token = page.next_page_token
        # Keyset tokens move forward; a repeated one would loop for ever.
        if page_token is None or page_token in seen_tokens:
            return

        seen_tokens.add(page_token)


async def export_csv(
    kernel: Kernel, namespace: str, query: TimerQuery
) -> AsyncIterator[bytes]:
    """The header row, then one row per timer, a page per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield _drain(buffer)

    async for timers in _timers(kernel, namespace, query):
        writer.writerows(_csv_row(timer) for timer in timers)
        yield _drain(buffer)


def _csv_row(timer: Timer) -> tuple[object, ...]:
    return (
        timer.namespace,
        timer.id,
        timer.status.value,
        format_time(timer.fire_at),
        timer.callback.url,
        timer.attempts,
        "" if timer.next_attempt_at is None else format_time(timer.next_attempt_at),
        "" if timer.executed_at is None else format_time(timer.executed_at),
        timer.version,
        format_time(timer.created_at),
        format_time(timer.updated_at),
        orjson.dumps(timer.payload).decode(),
    )


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode()


async def export_json(
    kernel: Kernel, namespace: str, query: TimerQuery
) -> AsyncIterator[bytes]:
    """A JSON array of timers as the API returns them, a page per chunk."""
    separator = b"[\n"
    async for timers in _timers(kernel, namespace, query):
        chunk = b",\n".join(orjson.dumps(timer_to_dict(timer)) for timer in timers)
        yield separator + chunk
        separator = b",\n"

    yield b"[]\n" if separator == b"[\n" else b"\n]\n"
