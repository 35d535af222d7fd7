"""The command loop of a peer's process driven by ``bench/peers.py``.

The driver writes one JSON command a line on the process's stdin and reads
one JSON answer a line from its stdout; an error is answered as
``{"error": "..."}``, and the loop ends with stdin.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

Answer = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


async def answer_commands(answer: Answer) -> None:
    """Answer each command on stdin with *answer*, until stdin ends."""
    # Each line is read on a worker thread, so that the event loop keeps
    # working (firing timers, running jobs) while it waits for the next.
    while line := await asyncio.to_thread(sys.stdin.readline):
        try:
            reply = await answer(json.loads(line))
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}

        print(json.dumps(reply), flush=True)
