"""A slow or failing callback target does not hold up timers of other targets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from blackbox import (
    Api,
    Receiver,
    Reply,
    WebhookServer,
    in_seconds,
    iso,
    parse_time,
    timer_body,
)

HANGING = 200
HEALTHY = 50


@pytest.fixture
def other_target() -> Iterator[WebhookServer]:
    """A second receiver on a port of its own: another target for the server."""
    target = WebhookServer().start()
    yield target
    target.stop()


def lateness_of_healthy(receiver: Receiver, count: int) -> list[float]:
    arrived = receiver.wait_for(count, "/healthy", timeout=20)
    return [
        request.at - parse_time(request.json()["fire_at"]).timestamp()
        for request in arrived
    ]


class TestTargetIsolation:
    def test_hanging_target_does_not_delay_other_targets(
        self, api: Api, receiver: Receiver, other_target: WebhookServer
    ) -> None:
        # The hanging target keeps every request open for longer than the
        # callback timeout; more are due there than the per-target bound.
        other_target.script("/hang", Reply(delay=30))
        due = in_seconds(3)
        hanging = [
            timer_body(
                f"hang-{i}",
                other_target.url("/hang"),
                fire_at=iso(due),
                callback={"url": other_target.url("/hang"), "timeout_seconds": 5},
            )
            for i in range(HANGING)
        ]
        healthy = [
            timer_body(f"ok-{i}", receiver.url("/healthy"), fire_at=iso(due))
            for i in range(HEALTHY)
        ]

        assert api.batch(hanging + healthy).status_code == 200
        late = lateness_of_healthy(receiver, HEALTHY)

        assert len(late) == HEALTHY
        assert min(late) >= 0
        assert max(late) < 1.0

    def test_failing_target_does_not_delay_other_targets(
        self, api: Api, receiver: Receiver, other_target: WebhookServer
    ) -> None:
        other_target.script("/fail", Reply(status=500))
        due = in_seconds(3)
        failing = [
            timer_body(
                f"fail-{i}",
                other_target.url("/fail"),
                fire_at=iso(due),
                retry_policy={"initial_interval_seconds": 0.1, "max_attempts": 5},
            )
            for i in range(HANGING)
        ]
        healthy = [
            timer_body(f"ok-{i}", receiver.url("/healthy"), fire_at=iso(due))
            for i in range(HEALTHY)
        ]

        assert api.batch(failing + healthy).status_code == 200
        late = lateness_of_healthy(receiver, HEALTHY)

        assert len(late) == HEALTHY
        assert max(late) < 1.0
