"""The ``timerserver`` command: migrate, serve, runner, settings and signals."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from blackbox import (
    LOOPBACK,
    STORAGE_KIND,
    Api,
    Receiver,
    Reply,
    ServerFactory,
    ServerProcess,
    bad_fields,
    free_port,
    is_listening,
    namespace_for,
    run_cli,
    storage_for,
    tables_in,
    timer_body,
    utc_now,
    wait_until,
)

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A loopback server told not to allow private callback targets."""
    process = ServerProcess(
        tmp_path_factory.mktemp("guarded"),
        env={"TIMERSERVER_CALLBACKS__ALLOW_PRIVATE_NETWORKS": "false"},
    )
    process.start()
    yield process
    process.stop()


def signature_secret_matches(headers: dict[str, str], body: bytes, secret: str) -> bool:
    fields = dict(part.split("=", 1) for part in headers["timer-signature"].split(","))
    expected = hmac.new(
        secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256
    )
    return hmac.compare_digest(expected.hexdigest(), fields["v1"])


class TestHelp:
    @pytest.mark.parametrize(
        ("command", "options"),
        [
            pytest.param(
                "serve",
                [
                    "--host",
                    "--port",
                    "--storage",
                    "--shards",
                    "--no-runner",
                    "--config",
                ],
                id="serve",
            ),
            pytest.param("runner", ["--storage", "--config"], id="runner"),
            pytest.param("migrate", ["--storage"], id="migrate"),
        ],
    )
    def test_help_lists_the_options(
        self, tmp_path: Path, command: str, options: list[str]
    ) -> None:
        result = run_cli([command, "--help"], cwd=tmp_path)

        assert result.returncode == 0, result.stderr
        assert all(option in result.stdout for option in options), result.stdout


class TestListenFailure:
    def test_a_port_in_use_is_one_error_line_and_exit_1(self, tmp_path: Path) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            storage = storage_for(tmp_path / "storage")
            args = ["serve", "--port", str(port), "--storage", storage]

            result = run_cli(args, cwd=tmp_path)

        assert result.returncode == 1
        assert f"could not listen on 127.0.0.1:{port}" in result.stderr
        assert "Traceback" not in result.stderr


class TestMigrate:
    def test_migrate_with_an_unknown_storage_says_so_in_one_line(
        self, tmp_path: Path
    ) -> None:
        result = run_cli(["migrate", "--storage", "redis://127.0.0.1/0"], cwd=tmp_path)

        assert result.returncode == 1
        assert "cannot open the storage" in result.stderr
        assert "Traceback" not in result.stderr

    def test_migrate_creates_the_schema_and_can_run_again(self, tmp_path: Path) -> None:
        storage = storage_for(tmp_path / "fresh")

        first = run_cli(["migrate", "--storage", storage], cwd=tmp_path)
        tables = tables_in(storage)
        second = run_cli(["migrate", "--storage", storage], cwd=tmp_path)

        assert first.returncode == 0, first.stderr
        assert tables
        assert second.returncode == 0, second.stderr
        assert tables_in(storage) == tables

    def test_serve_without_migrating_runs_on_a_migrated_database(
        self, server_factory: ServerFactory, receiver: Receiver, tmp_path: Path
    ) -> None:
        process = server_factory(args=["--no-migrate"], start=False)
        migrated = run_cli(["migrate", "--storage", process.storage], cwd=tmp_path)
        assert migrated.returncode == 0, migrated.stderr

        process.start()

        with process.client() as client:
            api = Api(client, "migrated")
            api.created(timer_body("t", receiver.url("/m"), fire_at=utc_now()))
            receiver.wait_for(1, "/m")


class TestSettings:
    def write_config(self, path: Path, *, port: int, secret: str | None = None) -> Path:
        lines = [
            f'host = "{LOOPBACK}"',
            f"port = {port}",
            f'storage = "{storage_for(path.parent / "config-storage")}"',
        ]
        if secret is not None:
            lines += ["", "[callbacks]", f'signing_secret = "{secret}"']

        path.write_text("\n".join(lines) + "\n")
        return path

    def test_config_file_sets_the_port(
        self, server_factory: ServerFactory, tmp_path: Path
    ) -> None:
        file_port = free_port()
        config = self.write_config(tmp_path / "settings.toml", port=file_port)

        server_factory(command_args=["serve", "--config", str(config)], port=file_port)

        assert is_listening(file_port)

    def test_timerserver_toml_in_the_working_directory_is_read(
        self, server_factory: ServerFactory, tmp_path: Path
    ) -> None:
        file_port = free_port()
        workdir = tmp_path / "cwd"
        workdir.mkdir()
        self.write_config(workdir / "timerserver.toml", port=file_port)

        server_factory(command_args=["serve"], port=file_port, workdir=workdir)

        assert is_listening(file_port)

    def test_environment_overrides_the_file(
        self, server_factory: ServerFactory, tmp_path: Path
    ) -> None:
        file_port, env_port = free_port(), free_port()
        config = self.write_config(tmp_path / "settings.toml", port=file_port)

        server_factory(
            env={"TIMERSERVER_PORT": str(env_port)},
            command_args=["serve", "--config", str(config)],
            port=env_port,
        )

        assert is_listening(env_port)
        assert not is_listening(file_port)

    def test_flags_override_environment_and_file(
        self, server_factory: ServerFactory, tmp_path: Path, receiver: Receiver
    ) -> None:
        file_port, env_port, flag_port = free_port(), free_port(), free_port()
        config = self.write_config(
            tmp_path / "settings.toml", port=file_port, secret="from-file"
        )

        process = server_factory(
            env={
                "TIMERSERVER_PORT": str(env_port),
                "TIMERSERVER_CALLBACKS__SIGNING_SECRET": "from-env",
            },
            command_args=["serve", "--config", str(config), "--port", str(flag_port)],
            port=flag_port,
        )

        assert is_listening(flag_port)
        assert not is_listening(env_port)
        assert not is_listening(file_port)
        with process.client() as client:
            Api(client, "precedence").created(
                timer_body("signed", receiver.url("/p"), fire_at=utc_now())
            )
            (request,) = receiver.wait_for(1, "/p")

        assert signature_secret_matches(request.headers, request.body, "from-env")

    def test_nested_setting_from_the_file_applies(
        self, server_factory: ServerFactory, tmp_path: Path, receiver: Receiver
    ) -> None:
        port = free_port()
        config = self.write_config(
            tmp_path / "settings.toml", port=port, secret="from-file"
        )

        process = server_factory(
            command_args=["serve", "--config", str(config)], port=port
        )

        with process.client() as client:
            Api(client, "nested").created(
                timer_body("signed", receiver.url("/n"), fire_at=utc_now())
            )
            (request,) = receiver.wait_for(1, "/n")

        assert signature_secret_matches(request.headers, request.body, "from-file")

    @pytest.mark.skipif(
        STORAGE_KIND != "sqlite",
        reason="about the SQLite default, whatever the suite's storage",
    )
    def test_default_storage_is_timers_db_in_the_working_directory(
        self, server_factory: ServerFactory, tmp_path: Path
    ) -> None:
        port = free_port()
        workdir = tmp_path / "defaults"
        workdir.mkdir()

        server_factory(
            command_args=["serve", "--port", str(port)], port=port, workdir=workdir
        )

        assert (workdir / "timers.db").exists()


class TestCallbackGuard:
    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("http://127.0.0.1:9/hook", id="loopback"),
            pytest.param("http://localhost:9/hook", id="localhost"),
            pytest.param("http://[::1]:9/hook", id="loopback-v6"),
            pytest.param("http://10.1.2.3/hook", id="private-10"),
            pytest.param("http://192.168.1.1/hook", id="private-192"),
            pytest.param("http://169.254.169.254/latest", id="link-local"),
        ],
    )
    def test_private_callbacks_are_refused_when_not_allowed(
        self, guarded_server: ServerProcess, url: str
    ) -> None:
        with guarded_server.client() as client:
            api = Api(client, "guarded")

            response = api.create(timer_body("private", url))

            assert "callback.url" in bad_fields(response)
            assert api.get("private").status_code == 404

    def test_public_callbacks_pass_the_guard(
        self, guarded_server: ServerProcess
    ) -> None:
        with guarded_server.client() as client:
            api = Api(client, "guarded")

            response = api.create(
                timer_body("public", "https://hooks.example.com/timer")
            )
            api.delete("public")

        assert response.status_code == 201

    def test_a_name_of_a_private_address_is_refused_at_send_time(
        self, guarded_server: ServerProcess, receiver: Receiver
    ) -> None:
        # This machine's own name passes the create-time check, which sees
        # only the URL, and resolves to a private address: the case of a
        # name that is rebound to one after the timer was made.
        name = socket.gethostname().lower()
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
        assert all(ipaddress.ip_address(address).is_private for address in addresses), (
            f"{name} resolves to {addresses}: the test needs a private one"
        )
        url = f"http://{name}:{receiver.server.port}/rebound"

        with guarded_server.client() as client:
            api = Api(client, "guarded")
            api.created(timer_body("rebound", url, fire_at=utc_now()))
            wait_until(
                lambda: api.timer("rebound")["last_error"] is not None,
                timeout=10,
                message="no attempt was made",
            )
            timer = api.timer("rebound")
            api.delete("rebound")

        assert timer["last_error"]["kind"] == "connection"
        assert f"refused to connect to {name}" in timer["last_error"]["message"]
        assert "allow_private_networks is off" in timer["last_error"]["message"]
        assert receiver.requests("/rebound") == []


class TestRetention:
    def test_finished_timer_is_purged_after_retention_and_its_id_is_free(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        process = server_factory(
            env={
                "TIMERSERVER_RETENTION_SECONDS": "1",
                "TIMERSERVER_RUNNER__PURGE_INTERVAL_SECONDS": "0.5",
            }
        )
        with process.client() as client:
            api = Api(client, "retention")
            body = timer_body("short-lived", receiver.url("/r"), fire_at=utc_now())
            api.created(body)
            api.wait_status("short-lived", "succeeded")

            wait_until(
                lambda: api.get("short-lived").status_code == 404,
                timeout=10,
                message="the finished timer was not purged",
            )
            again = api.create(body)
            receiver.wait_for(2, "/r")

        assert again.status_code == 201


class TestSignals:
    def test_sigint_stops_the_server_with_exit_0(
        self, server_factory: ServerFactory
    ) -> None:
        process = server_factory()

        process.signal(signal.SIGINT)

        assert process.wait(timeout=15) == 0
        assert not is_listening(process.port)

    def test_sigterm_lets_an_in_flight_delivery_finish(
        self,
        server_factory: ServerFactory,
        receiver: Receiver,
        request: pytest.FixtureRequest,
    ) -> None:
        receiver.script("/slow", Reply(delay=1.5))
        process = server_factory()
        ns = namespace_for(request.node.nodeid)
        with process.client() as client:
            Api(client, ns).created(
                timer_body("inflight", receiver.url("/slow"), fire_at=utc_now())
            )

        (delivery,) = receiver.wait_for(1, "/slow")
        process.signal(signal.SIGTERM)
        wait_until(
            lambda: not is_listening(process.port),
            timeout=1.0,
            message="the API still takes connections after SIGTERM",
        )
        closed_while_in_flight = delivery.answered_at is None
        code = process.wait(timeout=15)
        exited_at = time.time()

        assert code == 0
        assert closed_while_in_flight
        assert delivery.answered_at is not None
        assert delivery.answered_at <= exited_at
        process.start()
        with process.client() as client:
            timer = Api(client, ns).timer("inflight")
        assert timer["status"] == "succeeded"
        assert timer["attempts"] == 1
        time.sleep(1.0)
        assert len(receiver.requests("/slow")) == 1


class TestRunnerCommand:
    def test_no_runner_serves_the_api_and_a_runner_process_fires(
        self, server_factory: ServerFactory, receiver: Receiver, tmp_path: Path
    ) -> None:
        api_only = server_factory(args=["--no-runner"])
        with api_only.client() as client:
            api = Api(client, "split")
            api.created(timer_body("t", receiver.url("/split"), fire_at=utc_now()))
            time.sleep(1.5)
            assert receiver.requests("/split") == []

            runner = server_factory(
                command_args=["runner", "--storage", api_only.storage], start=False
            )
            runner.start(ready=False)
            receiver.wait_for(1, "/split", timeout=15)

            assert api.wait_status("t", "succeeded")["attempts"] == 1

        runner.signal(signal.SIGTERM)
        assert runner.wait(timeout=15) == 0


class TestLogs:
    def test_logs_go_to_stderr_one_line_per_event_with_a_level(
        self, server_factory: ServerFactory
    ) -> None:
        process = server_factory()
        with process.client() as client:
            client.get("/api/v1/namespaces")

        assert process.stop() == 0

        lines = [line for line in process.stderr().splitlines() if line.strip()]
        assert lines
        assert all(any(level in line for level in LEVELS) for line in lines), lines

    def test_log_json_writes_json_lines(self, server_factory: ServerFactory) -> None:
        process = server_factory(args=["--log-json"])
        with process.client() as client:
            client.get("/api/v1/namespaces")

        assert process.stop() == 0

        lines = [line for line in process.stderr().splitlines() if line.strip()]
        assert lines
        records = [json.loads(line) for line in lines]
        assert all(isinstance(record, dict) for record in records)
        assert all(
            any(str(value).upper() in LEVELS for value in record.values())
            for record in records
        ), records

    def test_each_event_is_logged_at_its_level(
        self,
        server_factory: ServerFactory,
        receiver: Receiver,
        request: pytest.FixtureRequest,
    ) -> None:
        secret = "a-secret-never-logged"
        process = server_factory(
            env={"TIMERSERVER_CALLBACKS__SIGNING_SECRET": secret},
            args=["--log-json", "--log-level", "debug"],
        )
        receiver.script("/fails", then=Reply(status=500))
        failing = {"max_attempts": 2, "initial_interval_seconds": 0.1}
        with process.client() as client:
            api = Api(client, namespace_for(request.node.nodeid))
            api.created(
                timer_body(
                    "fails",
                    receiver.url("/fails"),
                    fire_at=utc_now(),
                    retry_policy=failing,
                )
            )
            api.created(timer_body("works", receiver.url("/works"), fire_at=utc_now()))
            api.wait_status("fails", "failed")
            api.wait_status("works", "succeeded")

        assert process.stop() == 0

        text = process.stderr()
        assert secret not in text
        records = [json.loads(line) for line in text.splitlines() if line.strip()]

        def levels_of(predicate: Callable[[dict[str, Any]], bool]) -> set[str]:
            return {record["level"] for record in records if predicate(record)}

        def message_starts(prefix: str) -> Callable[[dict[str, Any]], bool]:
            return lambda record: record["message"].startswith(prefix)

        assert levels_of(message_starts("starting timerserver")) == {"info"}
        assert levels_of(lambda r: r.get("action") == "shards_acquired") == {"info"}
        assert levels_of(lambda r: r.get("action") == "shards_released") == {"info"}
        assert levels_of(lambda r: r.get("action") == "retrying") == {"warning"}
        assert levels_of(lambda r: r.get("action") == "failed") == {"error"}
        # Routine, one per timer fired: at DEBUG, as each request is.
        assert levels_of(lambda r: r.get("action") == "delivered") == {"debug"}

        created, _ = [
            record
            for record in records
            if record.get("action") == "request" and record["status"] == 201
        ]
        assert created["level"] == "debug"
        assert created["method"] == "POST"
        assert created["route"] == "/api/v1/namespaces/{namespace}/timers"
        assert created["path"] == f"/api/v1/namespaces/{api.ns}/timers"
        assert created["duration_ms"] >= 0

    def test_requests_are_not_logged_at_info(
        self, server_factory: ServerFactory
    ) -> None:
        process = server_factory(args=["--log-json"])
        with process.client() as client:
            client.get("/api/v1/namespaces")

        assert process.stop() == 0

        records = [json.loads(line) for line in process.stderr().splitlines()]
        assert not [record for record in records if record.get("action") == "request"]
