"""Readiness that means it: red while starting, draining or cut off from storage.

A load balancer sends requests only to processes whose ``/readyz`` answers
200, and an orchestrator restarts those whose ``/healthz`` does not. These
tests watch both from outside, on real processes, through start-up, a
drain after SIGTERM, and a database that is not up yet.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from blackbox import (
    LOOPBACK,
    Api,
    Receiver,
    Reply,
    ServerFactory,
    ServerProcess,
    free_port,
    require_postgres,
    timer_body,
    utc_now,
    wait_until,
)
from timerbackends.testing.postgres import PostgresServer

GRACE_SECONDS = 2.0
# Polls below are bounded by these, and sleep a little between tries.
PHASE_TIMEOUT = 20.0
POLL_SECONDS = 0.05


def probe(port: int, path: str) -> int | None:
    """The status of GET *path*, or None when nothing answers."""
    try:
        return httpx.get(f"http://{LOOPBACK}:{port}{path}", timeout=2.0).status_code
    except httpx.TransportError:
        return None


def unreachable_storage() -> str:
    """A PostgreSQL URL on a loopback port where nothing listens."""
    return f"postgresql://timers@{LOOPBACK}:{free_port()}/timers"


class TestStartingUp:
    def test_a_server_waiting_for_its_storage_is_alive_and_not_ready(
        self, server_factory: ServerFactory
    ) -> None:
        process = server_factory(storage=unreachable_storage(), start=False)
        process.start(ready=False)
        wait_until(
            lambda: probe(process.port, "/healthz") == 200,
            timeout=PHASE_TIMEOUT,
            message="the server did not listen while its storage was down",
        )

        with process.client() as client:
            ready = client.get("/readyz")
            api = client.get("/api/v1/namespaces")
            metrics = client.get("/metrics")
            document = client.get("/api/v1/openapi.json")

        assert ready.status_code == 503
        assert ready.json()["error"]["message"] == "the server is starting"
        assert api.status_code == 503
        assert api.json()["error"]["code"] == "unavailable"
        assert api.headers["Retry-After"] == "1"
        assert metrics.status_code == 200
        assert document.status_code == 200
        # Stopped before it ever was ready, it exits cleanly and at once.
        assert process.stop(timeout=10) == 0

    def test_a_runner_waiting_for_its_storage_is_alive_and_not_ready(
        self, server_factory: ServerFactory
    ) -> None:
        metrics_port = free_port()
        process = server_factory(
            command_args=["runner", "--storage", unreachable_storage()],
            env={"TIMERSERVER_RUNNER__METRICS_PORT": str(metrics_port)},
            port=metrics_port,
            start=False,
        )
        process.start(ready=False)
        wait_until(
            lambda: probe(metrics_port, "/healthz") == 200,
            timeout=PHASE_TIMEOUT,
            message="the runner did not serve its probes while storage was down",
        )

        assert probe(metrics_port, "/readyz") == 503
        assert probe(metrics_port, "/metrics") == 200
        assert process.stop(timeout=10) == 0

    def test_storage_that_cannot_be_used_ends_the_start_with_an_error(
        self, server_factory: ServerFactory, tmp_path: Path
    ) -> None:
        # A file where the database's folder should be: SQLite cannot open
        # it, which no retry mends.
        (tmp_path / "blocked").write_text("")
        storage = f"sqlite:///{tmp_path / 'blocked' / 'timers.db'}"
        process = server_factory(storage=storage, start=False)
        process.start(ready=False)

        assert process.wait(timeout=PHASE_TIMEOUT) == 1
        assert "cannot open the storage" in process.stderr()
        assert "Traceback" not in process.stderr()


@pytest.mark.slow
@pytest.mark.postgres
class TestStorageComingUp:
    @pytest.fixture
    def postgres(self, tmp_path: Path) -> Iterator[PostgresServer]:
        require_postgres()
        server = PostgresServer(tmp_path / "postgres")
        server.start()
        yield server
        server.destroy()

    def test_the_server_turns_ready_when_its_database_comes_up(
        self, postgres: PostgresServer, tmp_path: Path, receiver: Receiver
    ) -> None:
        postgres.stop()
        process = ServerProcess(tmp_path / "api", storage=postgres.url)
        try:
            process.start(ready=False)
            wait_until(
                lambda: probe(process.port, "/healthz") == 200,
                timeout=PHASE_TIMEOUT,
                message="the server did not listen while its database was down",
            )
            assert probe(process.port, "/readyz") == 503

            postgres.start()
            wait_until(
                lambda: probe(process.port, "/readyz") == 200,
                timeout=PHASE_TIMEOUT,
                message="the server did not turn ready after its database came up",
            )
            with process.client() as client:
                api = Api(client, "coming-up")
                api.created(timer_body("t", receiver.url("/up"), fire_at=utc_now()))
                receiver.wait_for(1, "/up")
        finally:
            process.stop()


class TestDraining:
    def test_readiness_is_red_for_the_grace_while_requests_are_served(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        process = server_factory(
            env={"TIMERSERVER_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS)}
        )
        process.signal(signal.SIGTERM)
        signalled = time.monotonic()
        wait_until(
            lambda: probe(process.port, "/readyz") == 503,
            timeout=PHASE_TIMEOUT,
            message="readiness did not turn red after SIGTERM",
        )

        # The load balancer has not noticed yet: requests must still work.
        with process.client() as client:
            api = Api(client, "draining")
            created = api.create(timer_body("late", receiver.url("/late")))
            ready = client.get("/readyz")

        while probe(process.port, "/healthz") is not None:
            assert time.monotonic() - signalled < PHASE_TIMEOUT, "still listening"
            time.sleep(POLL_SECONDS)

        closed_after = time.monotonic() - signalled
        assert created.status_code == 201, created.text
        assert ready.json()["error"]["message"] == "the server is shutting down"
        assert closed_after >= GRACE_SECONDS * 0.9
        assert process.wait() == 0

    def test_a_runner_is_red_while_its_deliveries_finish(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        api_process = server_factory(args=["--no-runner"])
        metrics_port = free_port()
        runner = server_factory(
            command_args=["runner", "--storage", api_process.storage],
            env={"TIMERSERVER_RUNNER__METRICS_PORT": str(metrics_port)},
            port=metrics_port,
        )
        receiver.script("/slow", Reply(delay=3.0))
        with api_process.client() as client:
            api = Api(client, "runner-drain")
            api.created(timer_body("slow", receiver.url("/slow"), fire_at=utc_now()))
            receiver.wait_for(1, "/slow")

            runner.signal(signal.SIGTERM)
            wait_until(
                lambda: probe(metrics_port, "/readyz") == 503,
                timeout=PHASE_TIMEOUT,
                message="the runner's readiness did not turn red while draining",
            )
            assert runner.wait(timeout=PHASE_TIMEOUT) == 0
            # The delivery in flight was let finish, not cut off.
            assert api.wait_status("slow", "succeeded")["attempts"] == 1
