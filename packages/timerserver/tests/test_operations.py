"""/healthz, /readyz and /metrics."""

from __future__ import annotations

import re

import httpx

from blackbox import (
    FAST_RETRY,
    Api,
    Receiver,
    Reply,
    ServerFactory,
    timer_body,
    timers_path,
    utc_now,
    wait_until,
)

SAMPLE = re.compile(
    r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\d+)?"
)
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples of a Prometheus text exposition."""
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue

        match = SAMPLE.fullmatch(line)
        assert match is not None, f"not a sample line: {line!r}"
        labels = dict(LABEL.findall(match.group("labels") or ""))
        samples.append((match.group("name"), labels, float(match.group("value"))))

    return samples


def metric_total(client: httpx.Client, name: str, **labels: str) -> float:
    """The sum of the samples of *name* whose labels include *labels*."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return sum(
        value
        for sample, sample_labels, value in metric_samples(response.text)
        if sample == name and labels.items() <= sample_labels.items()
    )


class TestHealth:
    def test_healthz_answers_200(self, client: httpx.Client) -> None:
        assert client.get("/healthz").status_code == 200

    def test_readyz_answers_200_when_storage_is_reachable(
        self, client: httpx.Client
    ) -> None:
        assert client.get("/readyz").status_code == 200


class TestWebUi:
    def test_serve_runs_the_web_ui(self, client: httpx.Client) -> None:
        response = client.get("/", follow_redirects=True)

        assert response.status_code == 200, response.text[:300]
        assert response.headers["content-type"].startswith("text/html")


class TestMetrics:
    def test_metrics_are_prometheus_text_with_the_counters(
        self, api: Api, client: httpx.Client, receiver: Receiver
    ) -> None:
        # A counter by namespace has samples once a namespace has been seen.
        api.created(timer_body("first", receiver.url()))

        response = client.get("/metrics")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        names = {name for name, _, _ in metric_samples(response.text)}
        assert "timerserver_timers_created_total" in names
        assert "timerserver_deliveries_total" in names

    def test_created_counter_counts_a_create(
        self, api: Api, client: httpx.Client, receiver: Receiver
    ) -> None:
        before = metric_total(client, "timerserver_timers_created_total")

        api.created(timer_body("counted", receiver.url()))

        assert metric_total(client, "timerserver_timers_created_total") == before + 1

    def test_delivery_counters_count_each_outcome(
        self, api: Api, client: httpx.Client, receiver: Receiver
    ) -> None:
        outcomes = ("succeeded", "retried", "failed", "rescheduled")
        before = {
            outcome: metric_total(
                client, "timerserver_deliveries_total", outcome=outcome
            )
            for outcome in outcomes
        }
        receiver.script("/fail", Reply(status=500))
        receiver.script("/later", Reply(json={"next_delay_seconds": 3600}))
        now = utc_now()
        api.created(timer_body("ok", receiver.url("/ok"), fire_at=now))
        api.created(timer_body("later", receiver.url("/later"), fire_at=now))
        api.created(
            timer_body(
                "fail",
                receiver.url("/fail"),
                fire_at=now,
                retry_policy=dict(FAST_RETRY, max_attempts=2),
            )
        )
        api.wait_status("ok", "succeeded")
        api.wait_status("fail", "failed")
        receiver.wait_for(1, "/later")

        def all_counted() -> dict[str, float] | None:
            after = {
                outcome: metric_total(
                    client, "timerserver_deliveries_total", outcome=outcome
                )
                for outcome in outcomes
            }
            return after if all(after[o] > before[o] for o in outcomes) else None

        after = wait_until(
            all_counted, timeout=5, message=lambda: f"counters from {before}"
        )

        assert all(after[o] >= before[o] + 1 for o in outcomes)

    def test_storage_calls_are_timed_by_operation(
        self, api: Api, client: httpx.Client, receiver: Receiver
    ) -> None:
        name = "timerserver_storage_operation_seconds_count"
        before = {
            operation: metric_total(client, name, operation=operation)
            for operation in ("insert_timers", "get_timer")
        }

        api.created(timer_body("timed", receiver.url()))
        api.timer("timed")

        assert (
            metric_total(client, name, operation="insert_timers")
            > before["insert_timers"]
        )
        assert metric_total(client, name, operation="get_timer") > before["get_timer"]

    def test_stored_timers_are_counted_by_namespace_and_status(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        # A server of its own: the counts are read at most every 10 s.
        own = server_factory()
        with own.client() as client:
            for timer_id in ("one", "two"):
                body = timer_body(timer_id, receiver.url())
                assert client.post(timers_path("stored"), json=body).status_code == 201

            counts = {
                status: metric_total(
                    client,
                    "timerserver_timers_stored",
                    namespace="stored",
                    status=status,
                )
                for status in ("scheduled", "succeeded", "failed")
            }

        assert counts == {"scheduled": 2, "succeeded": 0, "failed": 0}

    def test_the_runner_reports_the_shards_it_owns(self, client: httpx.Client) -> None:
        shards = metric_total(client, "timerserver_shards")

        owned = wait_until(
            lambda: metric_total(client, "timerserver_runner_shards_owned") or None,
            timeout=10,
            message="no shard owned",
        )

        assert shards >= 1
        assert owned == shards
        assert metric_total(client, "timerserver_runner_lease_takeovers_total") == 0
