"""The schema floor: the oldest code a schema still works with.

Migrations expand: an older release keeps running on the schema a newer
one leaves, which is what a rolling upgrade needs. A contract migration
(one that removes what some older release still reads or writes) declares
a floor: the oldest schema version whose code still works once it is
applied. Each store records the highest floor applied, and code whose
newest known schema is below it refuses to start, instead of failing on
its first write to a column that is gone.
"""

from __future__ import annotations

from timerkernel import StorageError


def refuse_below_floor(*, backend: str, version: int, floor: int, latest: int) -> None:
    """Raise if the store's *floor* is above *latest*, this code's schema.

    :raises StorageError: naming the versions and what to do.
    """
    if floor <= latest:
        return

    raise StorageError(
        f"the {backend} schema is at version {version}, which works only with "
        f"code that knows schema {floor} or later, and this code knows "
        f"{latest}: run a newer release (upgrade one release at a time)"
    )
