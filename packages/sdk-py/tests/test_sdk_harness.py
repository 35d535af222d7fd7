"""How the integration tests find the real server, or say why they cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdk_server import server_command


@pytest.fixture
def executable(tmp_path: Path) -> Path:
    path = tmp_path / "timerserver"
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def no_server_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("TIMERSDK_SERVER", raising=False)


def test_the_variable_names_the_server(
    monkeypatch: pytest.MonkeyPatch, executable: Path
) -> None:
    monkeypatch.setenv("TIMERSDK_SERVER", str(executable))

    assert server_command() == str(executable)


def test_without_the_variable_the_server_on_path_is_taken(
    monkeypatch: pytest.MonkeyPatch, executable: Path
) -> None:
    monkeypatch.delenv("TIMERSDK_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(executable.parent))

    assert server_command() == str(executable)


@pytest.mark.usefixtures("no_server_on_path")
def test_without_a_server_the_tests_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception, match="TIMERSDK_SERVER"):
        server_command()


@pytest.mark.usefixtures("no_server_on_path")
def test_without_a_server_the_tests_fail_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception, match="TIMERSDK_SERVER"):
        server_command()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("timerserver", id="relative"),
        pytest.param("/nonexistent/timerserver", id="missing"),
    ],
)
def test_a_variable_that_names_no_server_fails_even_outside_ci(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TIMERSDK_SERVER", value)

    with pytest.raises(pytest.fail.Exception, match="absolute path"):
        server_command()
