"""``timerserver runner`` beside an API process: its health and metrics port."""

from __future__ import annotations

import httpx

from blackbox import (
    Receiver,
    ServerFactory,
    free_port,
    timer_body,
    timers_path,
    wait_until,
)
from test_operations import metric_total


def test_runner_serves_readiness_and_its_own_metrics(
    server_factory: ServerFactory, receiver: Receiver
) -> None:
    api = server_factory(args=["--no-runner"])
    port = free_port()
    runner = server_factory(
        env={
            "TIMERSERVER_RUNNER__METRICS_PORT": str(port),
            "TIMERSERVER_RUNNER__POLL_INTERVAL_SECONDS": "0.2",
        },
        command_args=["runner", "--storage", api.storage],
        port=port,
    )
    with api.client() as client:
        body = timer_body("fired", receiver.url("/fired"), delay_seconds=0)
        assert client.post(timers_path("runner-metrics"), json=body).status_code == 201

    receiver.wait_for(1, "/fired")

    with httpx.Client(base_url=runner.base_url, timeout=10) as ops:
        delivered = wait_until(
            lambda: (
                metric_total(ops, "timerserver_deliveries_total", outcome="succeeded")
                or None
            ),
            timeout=10,
            message="the runner counted no delivery",
        )
        owned = metric_total(ops, "timerserver_runner_shards_owned")
        shards = metric_total(ops, "timerserver_shards")
        health = ops.get("/healthz").status_code
        api_route = ops.get("/api/v1/namespaces").status_code

    assert delivered == 1
    assert owned == shards >= 1
    assert health == 200
    assert api_route == 404
    assert runner.stop() == 0
