"""The guides show code as it is in its files, and their examples work.

``examples.md`` shows SDK code from files that the SDKs' own suites compile
and run; each of its code blocks must still be in the file it names.
``getting-started.md``'s first timer and the Python batch example run here
against a real ``timerserver serve`` on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import pytest

from examples import batch_create, receiver
from timerclient import TimerClient

DOCS = Path(__file__).parent
EXAMPLES_MD = DOCS / "examples.md"
GETTING_STARTED = DOCS / "getting-started.md"
SDK_LANGUAGES = {"python", "go", "ts", "java"}
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
DELIVERY_TIMEOUT = 20.0

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
_LINK = re.compile(r"\]\(([^)#]+)\)")


def code_blocks(path: Path) -> list[tuple[str, str, str]]:
    """Each fenced block of *path*: its language, text and the line before it."""
    text = path.read_text()
    blocks = []
    for match in _FENCE.finditer(text):
        before = [line for line in text[: match.start()].splitlines() if line.strip()]
        blocks.append((match.group(1), match.group(2), before[-1] if before else ""))

    return blocks


def stripped_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def shows_as_is(block: str, source: Path) -> bool:
    """Whether *block*'s lines are consecutive lines of *source*, indent aside."""
    wanted = stripped_lines(block)
    lines = stripped_lines(source.read_text())
    return any(
        lines[start : start + len(wanted)] == wanted
        for start in range(len(lines) - len(wanted) + 1)
    )


def test_examples_show_each_sdk_block_as_it_is_in_its_file() -> None:
    sources: list[Path] = []
    checked = 0
    for language, block, before in code_blocks(EXAMPLES_MD):
        if language not in SDK_LANGUAGES:
            continue

        links = _LINK.findall(before)
        if links:
            sources.append((DOCS / links[0]).resolve())
        else:
            assert "the same file" in before, f"no source named for:\n{block[:200]}"

        source = sources[-1]
        assert source.is_file(), source
        assert shows_as_is(block, source), f"not as in {source}:\n{block[:300]}"
        checked += 1

    assert checked >= 20


def test_examples_show_each_case_in_curl_and_every_sdk() -> None:
    text = EXAMPLES_MD.read_text()
    sections = re.split(r"^## ", text, flags=re.MULTILINE)[1:]

    assert len(sections) == 5
    for section in sections:
        languages = {language for language, _, _ in code_blocks_of(section)}
        assert {"sh", *SDK_LANGUAGES} <= languages, section.splitlines()[0]


def code_blocks_of(text: str) -> list[tuple[str, str, str]]:
    return [(match.group(1), match.group(2), "") for match in _FENCE.finditer(text)]


# -- a real server ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def timerserver() -> list[str]:
    script = Path(sys.executable).parent / "timerserver"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "timerserver"]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``timerserver serve`` on a loopback port and a fresh SQLite file."""
    folder = tmp_path_factory.mktemp("server")
    port = free_port()
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("TIMERSERVER_")
    }
    environment["TIMERSERVER_RUNNER__POLL_INTERVAL_SECONDS"] = "0.2"
    process = subprocess.Popen(
        [*timerserver(), "serve", "--port", str(port)],
        cwd=folder,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not answers(f"{url}/readyz"):
            assert process.poll() is None, "timerserver serve exited"
            assert time.monotonic() < deadline, "timerserver serve did not start"
            time.sleep(0.1)

        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def getting_started_create() -> tuple[str, dict[str, Any]]:
    """The path and body of the create that ``getting-started.md`` sends."""
    for language, block, _ in code_blocks(GETTING_STARTED):
        if language == "sh" and '"id": "hello-1"' in block:
            path = re.search(r"http://127\.0\.0\.1:8080(\S+)", block)
            body = re.search(r"-d '(.*?)'", block, re.DOTALL)
            assert path is not None
            assert body is not None
            return path.group(1), json.loads(body.group(1))

    raise AssertionError("getting-started.md has no create of hello-1")


def test_the_first_timer_of_getting_started_fires_into_the_receiver(
    server_url: str,
) -> None:
    path, body = getting_started_create()
    got: Queue[tuple[dict[str, str], Any]] = Queue()
    listener = receiver.make_server(free_port(), lambda h, b: got.put((h, b)))
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        body["delay_seconds"] = 0.5
        body["callback"]["url"] = body["callback"]["url"].replace(
            "127.0.0.1:9000", f"127.0.0.1:{listener.server_address[1]}"
        )
        request = urllib.request.Request(
            f"{server_url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            status = answer.status
            created = json.load(answer)

        try:
            headers, delivered = got.get(timeout=DELIVERY_TIMEOUT)
        except Empty:
            pytest.fail("the receiver got no callback")
    finally:
        listener.shutdown()
        listener.server_close()
        thread.join(timeout=STOP_TIMEOUT)

    assert status == 201
    assert created["status"] == "scheduled"
    assert headers == {
        "Timer-Namespace": "demo",
        "Timer-Id": "hello-1",
        "Timer-Attempt": "1",
    }
    assert delivered == {
        "namespace": "demo",
        "id": "hello-1",
        "fire_at": created["fire_at"],
        "attempt": 1,
        "payload": {"greeting": "hello"},
    }


def test_the_batch_example_creates_each_timer_once(
    server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with TimerClient(server_url) as client:
        first = batch_create.schedule_trial_ends(
            client, [1, 2], "https://crm.example/t"
        )
        again = batch_create.schedule_trial_ends(
            client, [2, 3], "https://crm.example/t"
        )
        stored = client.get_timer("trials", "trial-1-ends")

    assert [result.status for result in first] == [201, 201]
    assert [result.status for result in again] == [200, 201]
    assert stored.payload == {"account": 1}
    assert capsys.readouterr().out.splitlines() == [
        "trial-1-ends 201",
        "trial-2-ends 201",
        "trial-2-ends 200",
        "trial-3-ends 201",
    ]
