from __future__ import annotations

import hashlib


def shard_of(namespace: str, timer_id: str, shard_count: int) -> int:
    """Return the stable shard of a timer key.

    The hash must never change between versions or processes: Python's own
    ``hash`` is salted per process, so a digest of the key's bytes is used.
    """
    digest = hashlib.blake2b(
        f"{namespace}\x00{timer_id}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") % shard_count
