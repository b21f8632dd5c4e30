"""A block whose appended rows are written together when it ends: a service that writes several rows of one
kind through different receivers (a filing's audit events) gets one statement for them instead of one each.

Writers opt in (``audits.services.trail``): inside ``writes_batched()`` they hand their rows to
``batch_rows(key, flush)`` instead of writing them, and ``flush(rows)`` runs once per key, in the order the
keys were first used, when the block ends without an exception. An exception discards the collected rows
with the block. Open it inside the transaction whose rows it collects, around code that does not read those
rows back and does not catch a rolled-back savepoint's error (the rows of a rolled-back savepoint would be
kept): a service's own straight-line writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction

Flush = Callable[[list], None]


@contextmanager
def writes_batched() -> Iterator[None]:
    """Collect the opted-in writes of the block; write them when it ends. Nested blocks join the outer one."""
    if getattr(connection, "_qms_batch", None) is not None:
        yield
        return
    batch: dict[str, tuple[Flush, list]] = {}
    connection._qms_batch = batch
    try:
        with transaction.atomic(savepoint=False):
            yield
            connection._qms_batch = None
            for flush, rows in batch.values():
                flush(rows)
    finally:
        connection._qms_batch = None


def batch_rows(key: str, flush: Flush) -> list | None:
    """The list to append this kind of row to, when a batch is open (``None``: write it now)."""
    batch = getattr(connection, "_qms_batch", None)
    if batch is None:
        return None
    return batch.setdefault(key, (flush, []))[1]
