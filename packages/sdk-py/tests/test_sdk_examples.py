"""The examples of the README run against the real server, as shown."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import quickstart
import recurring
import reminder
import timeout

from sdk_server import Receiver, TimerServer
from timerclient import AsyncTimerClient, NotFound, TimerClient, TimerStatus

EXAMPLES = Path(__file__).parent.parent / "examples"
README = Path(__file__).parent.parent / "README.md"


@pytest.fixture
def client(timer_server: TimerServer) -> Iterator[TimerClient]:
    with TimerClient(timer_server.url) as opened:
        yield opened


def test_the_readme_shows_each_example_as_it_is() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)

    for path in sorted(EXAMPLES.glob("*.py")):
        assert path.read_text() in blocks, f"README.md does not show {path.name} as is"


@pytest.mark.timerserver
def test_reminder_in_24_hours(client: TimerClient) -> None:
    before = datetime.now(UTC)

    timer = reminder.schedule_reminder(client, "1234", "http://127.0.0.1:9/reminders")
    again = client.get_timer("shop", "order-1234-reminder")

    assert timer == again
    assert before + timedelta(hours=24) <= timer.fire_at
    assert timer.fire_at < datetime.now(UTC) + timedelta(hours=24, seconds=5)
    assert timer.payload == {"order": "1234", "kind": "reminder"}
    assert timer.retry_policy.max_attempts == 5


@pytest.mark.timerserver
@pytest.mark.anyio
async def test_timeout_is_cancelled_when_the_work_finishes(
    timer_server: TimerServer,
) -> None:
    async def work() -> str:
        await asyncio.sleep(0)
        return "done"

    async with AsyncTimerClient(timer_server.url) as client:
        result = await timeout.run_with_timeout(
            client, "fast", work, alarm_url="http://127.0.0.1:9/alarm", seconds=600
        )

        assert result == "done"
        with pytest.raises(NotFound):
            await client.get_timer("jobs", "job-fast-timeout")


@pytest.mark.timerserver
@pytest.mark.anyio
async def test_timeout_stays_armed_when_the_work_fails(
    timer_server: TimerServer,
) -> None:
    async def work() -> str:
        raise RuntimeError("the worker crashed")

    async with AsyncTimerClient(timer_server.url) as client:
        with pytest.raises(RuntimeError, match="crashed"):
            await timeout.run_with_timeout(
                client, "crash", work, alarm_url="http://127.0.0.1:9/alarm", seconds=600
            )

        armed = await client.get_timer("jobs", "job-crash-timeout")

    assert armed.status is TimerStatus.scheduled
    assert armed.payload == {"job": "crash"}


@pytest.mark.timerserver
def test_recurring_job_runs_until_its_last_run(client: TimerClient) -> None:
    runs: list[int] = []
    on_delivery = recurring.make_on_delivery(
        runs.append, interval_seconds=0.3, last_run=3
    )

    with Receiver(decide=on_delivery) as receiver:
        recurring.start_series(client, "tests", receiver.url, interval_seconds=0.1)
        deliveries = [receiver.next() for _ in range(3)]
        deadline = time.monotonic() + 20
        timer = client.get_timer("reports", "series-tests")
        while timer.status != TimerStatus.succeeded and time.monotonic() < deadline:
            time.sleep(0.05)
            timer = client.get_timer("reports", "series-tests")

    assert runs == [1, 2, 3]
    assert [delivery.payload for delivery in deliveries] == [
        {"run": 1},
        {"run": 2},
        {"run": 3},
    ]
    assert deliveries[2].fire_at - deliveries[1].fire_at >= timedelta(seconds=0.3)
    assert timer.status is TimerStatus.succeeded
    assert receiver.deliveries.empty()


@pytest.mark.timerserver
def test_quickstart(
    timer_server: TimerServer, capsys: pytest.CaptureFixture[str]
) -> None:
    quickstart.main(timer_server.url)

    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("scheduled 20")
    assert any(line.startswith("cart-77-expiry ") for line in printed)
    assert printed[-1].startswith(
        "not_found {'namespace': 'shop', 'id': 'cart-77-expiry'}"
    )


@pytest.mark.timerserver
@pytest.mark.anyio
async def test_quickstart_async(
    timer_server: TimerServer, capsys: pytest.CaptureFixture[str]
) -> None:
    await quickstart.main_async(timer_server.url)

    printed = capsys.readouterr().out.splitlines()
    assert "cart-78-expiry 1" in printed
    with TimerClient(timer_server.url) as client, pytest.raises(NotFound):
        client.get_timer("shop", "cart-78-expiry")
