"""A reminder in 24 hours: the service calls the shop back about an order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from timerclient import Callback, RetryPolicy, Timer, TimerClient


def schedule_reminder(client: TimerClient, order_id: str, hook_url: str) -> Timer:
    # The id names what the timer is for, so that a retried create finds the
    # timer it already made instead of making a second one.
    return client.create_timer(
        "shop",
        f"order-{order_id}-reminder",
        fire_at=datetime.now(UTC) + timedelta(hours=24),
        callback=Callback(hook_url, timeout_seconds=5),
        payload={"order": order_id, "kind": "reminder"},
        retry_policy=RetryPolicy(max_attempts=5, initial_interval_seconds=30),
    )


if __name__ == "__main__":
    with TimerClient("http://127.0.0.1:8080") as client:
        timer = schedule_reminder(client, "1234", "https://shop.example/hooks/reminder")
        print(f"{timer.id} fires at {timer.fire_at:%Y-%m-%d %H:%M} UTC")
