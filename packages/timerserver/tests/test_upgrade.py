"""The previous release and this one, side by side on one database.

A rolling upgrade runs both for a while: the new release migrates the
schema when its first process starts, while processes of the old one go
on serving and delivering on it, and old processes that restart meanwhile
must start on the newer schema. This test installs the previous release
from this repository's history into an environment of its own, runs it
next to the current code on one PostgreSQL while timers come due, and
checks that every timer created through either is delivered once.

The previous release is the commit named below; a release that changes
the schema moves it forward (docs/operations/availability.md).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from blackbox import (
    ServerProcess,
    WebhookServer,
    in_seconds,
    iso,
    require_postgres,
    timer_body,
    timers_path,
    wait_until,
)
from timerbackends.testing.postgres import PostgresServer, simple_query

# Installing the previous release may download its dependencies first.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]

#: The release before this one: its packages are built from this commit.
PREVIOUS_RELEASE = "b6a4f2f47cac32a363909b5bdc5fa8c180f4528e"
PACKAGES = ("packages/timerkernel", "packages/backends", "packages/timerserver")
REPOSITORY = Path(__file__).resolve().parents[3]
INSTALL_TIMEOUT = 600.0
NAMESPACE = "upgrade"
TIMERS_PER_STEP = 40
ENV = {"TIMERSERVER_LOG_LEVEL": "warning"}


def install_previous_release(target: Path) -> Path:
    """Install the previous release's server into *target*; return its command."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail(
            "uv is needed to install the previous release (./dev puts it on PATH)"
        )

    command = ["git", "-C", str(REPOSITORY), "archive", PREVIOUS_RELEASE, *PACKAGES]
    archive = subprocess.run(command, capture_output=True, check=False, timeout=60)
    if archive.returncode != 0:
        # A shallow clone lacks the commit: fetch it alone, where the
        # clone's origin is at hand.
        fetch = ["fetch", "--quiet", "--depth", "1", "origin", PREVIOUS_RELEASE]
        subprocess.run(
            ["git", "-C", str(REPOSITORY), *fetch],
            capture_output=True,
            check=False,
            timeout=120,
        )
        archive = subprocess.run(command, capture_output=True, check=False, timeout=60)

    if archive.returncode != 0:
        pytest.fail(
            f"cannot read release {PREVIOUS_RELEASE[:12]} from the repository "
            f"(a shallow clone?): {archive.stderr.decode(errors='replace')}"
        )

    sources = target / "sources"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(sources, filter="data")

    venv = target / "venv"
    environment = {**os.environ, "VIRTUAL_ENV": str(venv)}
    steps = [
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            *(str(sources / package) for package in PACKAGES),
        ],
    ]
    for step in steps:
        done = subprocess.run(
            step,
            capture_output=True,
            env=environment,
            check=False,
            timeout=INSTALL_TIMEOUT,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]

    return venv / "bin" / "timerserver"


class PreviousRelease(ServerProcess):
    """A ``timerserver`` process of the previous release."""

    def __init__(
        self,
        executable: Path,
        workdir: Path,
        *,
        env: dict[str, str],
        storage: str,
    ) -> None:
        super().__init__(workdir, env=env, storage=storage)
        self.executable = executable

    @property
    def command(self) -> list[str]:
        current = super().command
        return [str(self.executable), *current[1:]]


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_previous_release(tmp_path_factory.mktemp("previous-release"))


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    require_postgres()
    server = PostgresServer(tmp_path / "postgres")
    server.start()
    yield server
    server.destroy()


def schema_version(postgres: PostgresServer) -> int:
    assert postgres.port is not None
    ((version,),) = simple_query(
        postgres.port, "SELECT max(version) FROM schema_version"
    )
    assert version is not None
    return int(version)


def create_due(
    api: ServerProcess, target: WebhookServer, prefix: str, start_in: float
) -> set[str]:
    """Create timers due over the next seconds through *api*; return their ids."""
    start = in_seconds(start_in)
    bodies = [
        timer_body(
            f"{prefix}-{number:03d}",
            target.url("/due"),
            fire_at=iso(start + timedelta(seconds=4 * number / TIMERS_PER_STEP)),
        )
        for number in range(TIMERS_PER_STEP)
    ]
    with api.client() as client:
        answer = client.post(
            timers_path(NAMESPACE) + ":batchCreate", json={"timers": bodies}
        )

    assert answer.status_code == 200, answer.text
    assert {item["status"] for item in answer.json()["results"]} == {201}
    return {body["id"] for body in bodies}


def test_the_previous_release_and_this_one_share_a_database(
    previous_release: Path, postgres: PostgresServer, tmp_path: Path
) -> None:
    target = WebhookServer().start()
    old = PreviousRelease(
        previous_release, tmp_path / "old", env=ENV, storage=postgres.url
    )
    new = ServerProcess(tmp_path / "new", env=ENV, storage=postgres.url)
    created: set[str] = set()
    try:
        old.start()
        old_schema = schema_version(postgres)
        created |= create_due(old, target, "old-before", start_in=1)

        # The new release joins: it migrates the schema under the running
        # old process, which keeps creating and delivering meanwhile.
        new.start()
        new_schema = schema_version(postgres)
        created |= create_due(old, target, "old-during", start_in=1)
        created |= create_due(new, target, "new-during", start_in=1)

        # Either reads and changes what the other wrote.
        with old.client() as old_client, new.client() as new_client:
            path = f"{timers_path(NAMESPACE)}/long"
            made = old_client.post(
                timers_path(NAMESPACE),
                json=timer_body("long", target.url("/long"), delay_seconds=3600),
            )
            read = new_client.get(path)
            changed = new_client.patch(path, json={"payload": {"by": "new"}})
            seen = old_client.get(path)
            deleted = old_client.delete(path)

        # An old process restarted mid-rollout starts on the newer schema.
        assert old.stop() == 0
        old.start()
        created |= create_due(old, target, "old-restarted", start_in=1)

        # The rollout ends: only the new release remains.
        assert old.stop() == 0
        created |= create_due(new, target, "new-after", start_in=1)

        def all_delivered() -> bool:
            arrived = {request.json()["id"] for request in target.requests("/due")}
            return created <= arrived

        wait_until(all_delivered, timeout=30, message="timers were not delivered")
        time.sleep(1)
        with new.client() as client:
            statuses = Counter(
                client.get(f"{timers_path(NAMESPACE)}/{timer_id}").json()["status"]
                for timer_id in sorted(created)
            )
    finally:
        old.stop()
        new.stop()
        target.stop()

    deliveries = Counter(request.json()["id"] for request in target.requests("/due"))
    print(
        f"schema {old_schema} -> {new_schema}; {len(created)} timers, "
        f"{sum(deliveries.values()) - len(deliveries)} duplicates"
    )
    assert new_schema >= old_schema
    assert made.status_code == 201, made.text
    assert read.json() == made.json()
    assert deleted.status_code == 204
    assert changed.status_code == 200, changed.text
    assert seen.json()["payload"] == {"by": "new"}
    assert statuses == {"succeeded": len(created)}
    assert all(deliveries[timer_id] == 1 for timer_id in created)
