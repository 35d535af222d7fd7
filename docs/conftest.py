from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The examples are scripts, not a package: make them importable by name.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
