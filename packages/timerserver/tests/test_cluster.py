"""The cluster shape on PostgreSQL: API and runner processes dying and coming back.

Each test starts its own PostgreSQL node, API processes (``serve
--no-runner``) and runner processes (``runner``) as real processes on
127.0.0.1, kills some of them with SIGKILL while timers come due, and checks
that every acknowledged timer is delivered and finally ``succeeded``. The
counts are printed, so a run shows how many duplicates the kills caused.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from blackbox import (
    LOOPBACK,
    Received,
    Reply,
    ServerProcess,
    WebhookServer,
    free_port,
    in_seconds,
    iso,
    require_postgres,
    timer_body,
    timers_path,
)
from timerbackends.testing.postgres import PostgresServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

NAMESPACE = "cluster"
RUNNER_ENV = {
    "TIMERSERVER_RUNNER__POLL_INTERVAL_SECONDS": "0.5",
    "TIMERSERVER_LOG_LEVEL": "warning",
}
# A delivery is in flight from its claim until its outcome is committed; the
# receiver sees only arrival and answer, so an answer sent this shortly
# before a kill counts as in flight too (its outcome may not be written yet).
OUTCOME_WRITE_MARGIN_SECONDS = 1.0


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    require_postgres()
    server = PostgresServer(tmp_path / "postgres")
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def target() -> Iterator[WebhookServer]:
    receiver = WebhookServer().start()
    yield receiver
    receiver.stop()


def api_process(workdir: Path, storage: str, *, runner: bool) -> ServerProcess:
    port = free_port()
    args = ["serve", "--host", LOOPBACK, "--port", str(port), "--storage", storage]
    if not runner:
        args.append("--no-runner")

    return ServerProcess(workdir, env=RUNNER_ENV, port=port, command_args=args)


def runner_process(workdir: Path, storage: str) -> ServerProcess:
    return ServerProcess(
        workdir, env=RUNNER_ENV, command_args=["runner", "--storage", storage]
    )


def create_in_batches(
    apis: list[ServerProcess], bodies: list[dict[str, Any]]
) -> set[str]:
    """Create *bodies* 1,000 at a time, alternating API processes."""
    acknowledged: set[str] = set()
    clients = [api.client() for api in apis]
    try:
        for number, start in enumerate(range(0, len(bodies), 1000)):
            client = clients[number % len(clients)]
            answer = client.post(
                timers_path(NAMESPACE) + ":batchCreate",
                json={"timers": bodies[start : start + 1000]},
            )
            assert answer.status_code == 200, answer.text
            for item in answer.json()["results"]:
                if item["status"] in (200, 201):
                    acknowledged.add(item["timer"]["id"])
    finally:
        for client in clients:
            client.close()

    return acknowledged


def succeeded_count(api: ServerProcess) -> int | None:
    try:
        with api.client() as client:
            answer = client.get("/api/v1/namespaces")
    except httpx.TransportError:
        return None

    if answer.status_code != 200:
        return None

    for entry in answer.json()["namespaces"]:
        if entry["name"] == NAMESPACE:
            return int(entry["counts"]["succeeded"])

    return 0


def wait_all_succeeded(api: ServerProcess, total: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        if succeeded_count(api) == total:
            return

        time.sleep(0.5)

    raise AssertionError(
        f"only {succeeded_count(api)} of {total} timers succeeded in time"
    )


def in_flight_at(requests: list[Received], moment: float) -> int:
    return sum(
        1
        for request in requests
        if request.at <= moment
        and (
            request.answered_at is None
            or request.answered_at >= moment - OUTCOME_WRITE_MARGIN_SECONDS
        )
    )


class TestCluster:
    def test_killing_runners_every_five_seconds_loses_nothing(
        self, postgres: PostgresServer, target: WebhookServer, tmp_path: Path
    ) -> None:
        total, window, kills = 20_000, 60.0, 12
        target.script("/due", Reply())
        apis = [
            api_process(tmp_path / f"api-{n}", postgres.url, runner=False)
            for n in range(2)
        ]
        for api in apis:
            api.start()

        runners = [
            runner_process(tmp_path / f"runner-{n}", postgres.url) for n in range(3)
        ]
        for runner in runners:
            runner.start(ready=False)

        start = in_seconds(8)
        bodies = [
            timer_body(
                f"t-{i:05d}",
                target.url("/due"),
                fire_at=iso(start + timedelta(seconds=window * i / total)),
                retry_policy={"initial_interval_seconds": 0.5},
            )
            for i in range(total)
        ]
        acknowledged = create_in_batches(apis, bodies)

        chooser = random.Random(20261203)
        kill_times: list[float] = []
        first_kill = start.timestamp() + 5
        try:
            for number in range(kills):
                time.sleep(max(0.0, first_kill + 5 * number - time.time()))
                slot = chooser.randrange(len(runners))
                runners[slot].kill()
                kill_times.append(time.time())
                runners[slot] = runner_process(
                    tmp_path / f"runner-{len(kill_times) + 2}", postgres.url
                )
                runners[slot].start(ready=False)

            wait_all_succeeded(apis[0], total, time.monotonic() + 90)
        finally:
            for process in [*runners, *apis]:
                process.kill()

        requests = target.requests("/due")
        delivered = Counter(request.json()["id"] for request in requests)
        duplicates = sum(delivered.values()) - len(delivered)
        in_flight = sum(in_flight_at(requests, moment) for moment in kill_times)
        lost = acknowledged - set(delivered)
        print(
            f"cluster: acknowledged={len(acknowledged)} delivered={len(delivered)} "
            f"lost={len(lost)} duplicates={duplicates} kills={len(kill_times)} "
            f"in_flight_at_kills={in_flight}"
        )

        assert len(acknowledged) == total
        assert lost == set()
        assert duplicates <= in_flight

    def test_postgres_outage_answers_503_and_loses_nothing(
        self, postgres: PostgresServer, target: WebhookServer, tmp_path: Path
    ) -> None:
        total = 3_000
        target.script("/due", Reply())
        api = api_process(tmp_path / "api", postgres.url, runner=True)
        api.start()
        extra_runner = runner_process(tmp_path / "runner", postgres.url)
        extra_runner.start(ready=False)

        start = in_seconds(5)
        bodies = [
            timer_body(
                f"o-{i:05d}",
                target.url("/due"),
                fire_at=iso(start + timedelta(seconds=30 * i / total)),
                retry_policy={"initial_interval_seconds": 0.5},
            )
            for i in range(total)
        ]
        acknowledged = create_in_batches([api], bodies)

        statuses: Counter[int] = Counter()
        ready_statuses: Counter[int] = Counter()
        try:
            time.sleep(max(0.0, start.timestamp() + 7 - time.time()))
            postgres.stop()
            outage_end = time.monotonic() + 10
            with httpx.Client(base_url=api.base_url, timeout=5.0) as client:
                for attempt in range(200):
                    if time.monotonic() >= outage_end:
                        break

                    body = timer_body(f"during-{attempt}", target.url("/due"))
                    statuses[
                        client.post(timers_path(NAMESPACE), json=body).status_code
                    ] += 1
                    ready_statuses[client.get("/readyz").status_code] += 1
                    time.sleep(0.25)

            postgres.start()
            wait_all_succeeded(api, total, time.monotonic() + 90)
        finally:
            extra_runner.kill()
            api.kill()

        delivered = Counter(request.json()["id"] for request in target.requests("/due"))
        lost = acknowledged - set(delivered)
        print(
            f"outage: acknowledged={len(acknowledged)} delivered={len(delivered)} "
            f"lost={len(lost)} answers_during_outage={dict(statuses)} "
            f"readyz_during_outage={dict(ready_statuses)}"
        )

        assert len(acknowledged) == total
        assert lost == set()
        assert statuses
        assert set(statuses) == {503}
        assert set(ready_statuses) == {503}

    def test_api_processes_share_every_timer(
        self, postgres: PostgresServer, target: WebhookServer, tmp_path: Path
    ) -> None:
        first, second = (
            api_process(tmp_path / f"api-{n}", postgres.url, runner=False)
            for n in range(2)
        )
        first.start()
        second.start()
        path = timers_path(NAMESPACE)
        body = timer_body("shared", target.url("/due"))
        try:
            with first.client() as one, second.client() as two:
                created = one.post(path, json=body)
                repeated = two.post(path, json=body)
                read = two.get(f"{path}/shared")
                changed = two.patch(f"{path}/shared", json={"payload": {"step": 2}})
                seen = one.get(f"{path}/shared")
                stale = one.patch(
                    f"{path}/shared", json={"payload": 3}, headers={"If-Match": '"1"'}
                )
                deleted = one.delete(f"{path}/shared")
                gone = two.get(f"{path}/shared")
        finally:
            first.stop()
            second.stop()

        assert created.status_code == 201
        assert repeated.status_code == 200
        assert read.json() == created.json()
        assert changed.status_code == 200
        assert seen.json()["payload"] == {"step": 2}
        assert seen.json()["version"] == 2
        assert stale.status_code == 412
        assert deleted.status_code == 204
        assert gone.status_code == 404
