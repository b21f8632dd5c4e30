"""``seed_bulk``: the changes' times and states, batch by batch, each built in memory and written while the
next is built (see the package's docstring)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from audits.management.bulk.batch import Batch
from audits.management.bulk.core import given_timestamps, weighted
from audits.management.bulk.plans import STATES, Status, plan_change
from audits.management.bulk.standalone import plan_standalone
from audits.management.bulk.world import SeedReport, World
from emergencies.models import ChangeRecord, Incident
from qms.models import Notification

# Changes older than a month have mostly finished; the rest are still moving. The share left open and
# overdue (post-incident documentation never finished, a deploy never confirmed) is what the clocks and
# the escalation sweep are for.
OLD_MIX = {
    Status.CLOSED: 55,
    Status.CONVERTED: 9,
    Status.POST_INCIDENT: 24,
    Status.ROLLED_BACK: 3,
    Status.MONITORING: 4,
    Status.DEPLOYED: 3,
    Status.HOTFIX: 1,
    Status.BYPASS_AUTHORISED: 0.5,
    Status.STUB: 0.5,
}
YOUNG_MIX = {
    Status.STUB: 10,
    Status.BYPASS_AUTHORISED: 10,
    Status.HOTFIX: 12,
    Status.DEPLOYED: 10,
    Status.MONITORING: 12,
    Status.POST_INCIDENT: 18,
    Status.CLOSED: 14,
    Status.ROLLED_BACK: 6,
    Status.CONVERTED: 8,
}
YOUNG_DAYS = 30


def _close_connection() -> None:
    connection.close()


def _declared_times(
    *, changes: int, start: datetime, span: timedelta, first: int, count: int, rng: random.Random
) -> list[datetime]:
    """Times for changes first..first+count, each in its own slice of the span, so batches run in order."""
    step = span / changes
    return [start + step * (i + rng.random()) for i in range(first, first + count)]


def seed_bulk(
    *,
    changes: int,
    days: int = 730,
    batch_size: int = 500,
    seed: int = 8,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SeedReport:
    """Write ``changes`` emergency changes, spread over the last ``days``, and all that hangs off them.

    Deterministic for a given ``seed`` and ``now``. The newest changes cover every state at least once.
    """
    started = time.monotonic()
    now = (now or timezone.now()).astimezone(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    rng = random.Random(seed)
    report = SeedReport()
    world = World(rng=rng, now=now, report=report)
    start, span = now - timedelta(days=days), timedelta(days=days)
    forced = {changes - 1 - i: state for i, state in enumerate(STATES)}  # newest ones: every state once
    # On PostgreSQL, outside a transaction, two threads with their own connections write each batch (its
    # records on one, its audit events on the other) while the next is built: on two CPUs the database's work
    # overlaps Python's. In a transaction (a test) or on SQLite, one thread builds and writes in turn.
    threaded = connection.vendor == "postgresql" and not connection.in_atomic_block
    writers = (
        [ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-writer") for _ in range(2)] if threaded else None
    )
    writing: list = []
    try:
        with given_timestamps(Incident, ChangeRecord, Notification):
            for first in range(0, changes, batch_size):
                count = min(batch_size, changes - first)
                plans = []
                for offset, declared in enumerate(
                    _declared_times(changes=changes, start=start, span=span, first=first, count=count, rng=rng)
                ):
                    young = now - declared < timedelta(days=YOUNG_DAYS)
                    state = forced.get(first + offset) or weighted(rng, YOUNG_MIX if young else OLD_MIX)
                    plans.append(plan_change(world, declared=declared, state=state))
                slice_start, slice_end = start + span * first / changes, start + span * (first + count) / changes
                standalone = plan_standalone(world, count=count, start=slice_start, end=slice_end)
                batch = Batch(world, plans, standalone)
                batch.build(report)
                if writers is None:
                    with transaction.atomic():
                        batch.flush_events()
                        batch.flush_rows()
                else:
                    for done in writing:
                        done.result()  # the batch before is committed; this one's identifiers are in flight
                    world.in_flight = batch.issued
                    writing = [writers[0].submit(batch.flush_rows), writers[1].submit(batch.flush_events)]
                if progress:
                    progress(first + count, changes)
            for done in writing:
                done.result()
    finally:
        for writer in writers or ():
            writer.submit(_close_connection).result()  # the writer thread's own connection
            writer.shutdown(wait=True)
    if connection.vendor == "postgresql":
        # What autovacuum gives a live database: planner statistics and, outside a transaction (not in a
        # test), the visibility map that lets counts use index-only scans.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)")
    report.seconds = time.monotonic() - started
    return report
