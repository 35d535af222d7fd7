"""A timeout that is cancelled when the work finishes in time.

The timer is the alarm: if the worker crashes or hangs, it fires and the
alarm endpoint learns that the job never finished. Finishing deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from timerclient import AsyncTimerClient, NotFound

T = TypeVar("T")


async def run_with_timeout(
    client: AsyncTimerClient,
    job_id: str,
    work: Callable[[], Awaitable[T]],
    *,
    alarm_url: str,
    seconds: float,
) -> T:
    timer_id = f"job-{job_id}-timeout"
    await client.create_timer(
        "jobs",
        timer_id,
        delay_seconds=seconds,
        callback=alarm_url,
        payload={"job": job_id},
    )

    result = await work()

    # NotFound: deleted already (by a retried delete, or by hand).
    with contextlib.suppress(NotFound):
        await client.delete_timer("jobs", timer_id)

    return result


async def main() -> None:
    async def resize_images() -> int:
        await asyncio.sleep(1)
        return 42

    async with AsyncTimerClient("http://127.0.0.1:8080") as client:
        done = await run_with_timeout(
            client,
            "resize-981",
            resize_images,
            alarm_url="https://ops.example/hooks/job-timeout",
            seconds=600,
        )
        print(f"resized {done} images in time")


if __name__ == "__main__":
    asyncio.run(main())
