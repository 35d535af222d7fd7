"""The examples in the documentation run and do what the text says."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.embedded import main as embedded_main


@pytest.mark.anyio
async def test_embedded_example_fires_changes_and_skips_cancelled(
    tmp_path: Path,
) -> None:
    fired = await embedded_main(tmp_path / "timers.db")

    heartbeats = [entry for entry in fired if entry.startswith("heartbeat")]
    assert heartbeats == ["heartbeat:0", "heartbeat:1", "heartbeat:2"]
    assert sorted(fired) == [*heartbeats, "reminder:hello"]
