"""Schemathesis against the served OpenAPI document, on a real server with API keys.

Every documented operation gets generated requests, valid and invalid; each
answer must be no 5xx, and have a documented status, content type and
headers, and a body that matches the document's schema for that status.
The server runs without a runner, so that no generated callback URL is ever
called. Schemathesis runs as its command line does: the one interface of it
that is stable across releases.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from blackbox import ServerProcess, clean_environment

FUZZ_TOKEN = "fuzzing-token-0123456789"
# A fixed seed: every run sends the same requests, so that a failure on CI
# can be run again here.
SEED = 20261204
MAX_EXAMPLES = 60
RUN_TIMEOUT = 240.0
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
]
ENABLED_CHECKS = "".join(f"{name}.enabled = true\n" for name in CHECKS)
EVENTS_PATH = "/api/v1/namespaces/{namespace}/events"
BATCH_PATH = "/api/v1/namespaces/{namespace}/timers:batchCreate"
CONFIG = f"""\
[cache]
enabled = false

[phases.stateful]
enabled = false

[checks]
enabled = false
{ENABLED_CHECKS}

# The event stream never ends: read its first event (``ready``), then close.
[[operations]]
include-path = "{EVENTS_PATH}"
max-stream-events = 1

# A batch judges each item as a create would, and answers 200 with a 400
# for each bad one (the contract's "not atomic"), so an invalid item is not
# an invalid request.
[[operations]]
include-path = "{BATCH_PATH}"
checks.negative_data_rejection.enabled = false
"""


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("fuzzed-server"),
        args=["--no-runner"],
        env={
            "TIMERSERVER_AUTH__KEYS__FUZZ__TOKEN": FUZZ_TOKEN,
            "TIMERSERVER_AUTH__KEYS__FUZZ__NAMESPACES": "*",
        },
    )
    process.start()
    yield process
    process.stop()


def test_every_answer_matches_the_document(
    fuzzed_server: ServerProcess, tmp_path: Path
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "--no-color",
            "run",
            f"{fuzzed_server.base_url}/api/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {FUZZ_TOKEN}",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--generation-database",
            "none",
            "--request-timeout",
            "10",
            "--workers",
            "1",
        ],
        cwd=tmp_path,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )

    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-20_000:]
    # Every operation it found was tested: none fell out with an error.
    selected = re.search(r"(\d+) selected / (\d+) total", report)
    tested = re.search(r"Tested: (\d+)", report)
    assert selected is not None, report[-5_000:]
    assert tested is not None, report[-5_000:]
    assert selected.group(1) == selected.group(2) == tested.group(1), report[-5_000:]
