"""The throwaway PostgreSQL server of timerbackends.testing.postgres."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from postgres_support import require_postgres
from timerbackends.testing.postgres import (
    STOP_TIMEOUT,
    PostgresError,
    PostgresServer,
    simple_query,
)

pytestmark = pytest.mark.postgres


def test_the_session_server_has_a_timers_database(
    postgres_server: PostgresServer,
) -> None:
    assert re.fullmatch(
        r"postgresql://postgres@127\.0\.0\.1:\d+/timers", postgres_server.url
    )
    assert postgres_server.execute("SELECT current_database()") == [("timers",)]
    assert postgres_server.execute("SHOW listen_addresses") == [("127.0.0.1",)]


def test_databases_are_made_and_dropped(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("harness_check")
    try:
        assert url == postgres_server.url_for("harness_check")
        with pytest.raises(PostgresError, match="already exists"):
            postgres_server.create_database("harness_check")
    finally:
        postgres_server.drop_database("harness_check")

    with pytest.raises(ValueError, match="identifier"):
        postgres_server.create_database("Robert'); DROP")


def test_restart_keeps_the_port_and_the_data_and_destroy_leaves_nothing(
    tmp_path: Path,
) -> None:
    require_postgres()
    with PostgresServer(tmp_path / "pg") as server:
        port = server.port
        server.execute("CREATE TABLE kept (x INTEGER); INSERT INTO kept VALUES (7)")
        assert server._process is not None
        pid = server._process.pid

        server.restart()

        assert server.port == port
        assert server.execute("SELECT x FROM kept") == [("7",)]

    assert not server.running
    assert not (tmp_path / "pg").exists()
    assert not server.data_dir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    "started_with",
    [
        pytest.param(None, id="from-a-terminal"),
        # As a shell starts a command in the background (``command &``).
        pytest.param(_ignore_sigint, id="sigint-ignored"),
    ],
)
def test_the_command_prints_the_url_and_stops_on_ctrl_c(
    tmp_path: Path, started_with: Callable[[], None] | None
) -> None:
    require_postgres()
    command = [sys.executable, "-m", "timerbackends.testing.postgres", str(tmp_path)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=started_with,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        process.send_signal(signal.SIGINT)
        # Longer than the harness's own bound on the server's shutdown, which
        # a busy machine can take most of.
        _, errors = process.communicate(timeout=STOP_TIMEOUT + 30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)

    kept = Path(errors.rsplit("the data is kept in ", 1)[1].strip())
    try:
        assert re.fullmatch(r"postgresql://postgres@127\.0\.0\.1:\d+/timers", url)
        assert process.returncode == 0, errors
        assert (kept / "PG_VERSION").exists()
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(ConnectionRefusedError):
            simple_query(port, "SELECT 1", timeout=2)
    finally:
        if kept.parent.name.startswith("timerbackends-pg-"):
            shutil.rmtree(kept.parent, ignore_errors=True)
