"""The escalation sweep as the beat runs it: a cheap tick when nothing is new, a backlog fanned out.

A tick after a drained sweep looks only at what can have become due since: per step, the clocks whose due time
its delay crossed after the last drained run (a range of the open clocks' ``due_at`` index) and the clocks
written since then (their history rows, by the ``history_date`` index), never at the hundreds of thousands of
clocks already at the top of the ladder. The sweep's own history rows are left out of "written since": an
escalation only moves a clock up. A full sweep still runs at least every ``FULL_EVERY`` and whenever the mark is
missing, so a clock a narrowed tick could miss (a transaction open for longer than ``SLACK``) waits at most that.

A backlog (the first batch comes back full) is fanned out: one Celery task per worker process, each draining
batches with ``SELECT … FOR UPDATE SKIP LOCKED``, so the batches never share a clock and the sweep uses every
core instead of one interpreter. Only a run that drains in place moves the mark.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audits.escalation.sweep import SweepResult, obligation_sweep
from audits.models import Obligation, SweepMark

MARK = "escalation"
FULL_EVERY = timedelta(hours=1)
SLACK = timedelta(minutes=1)  # history rows committed late by a transaction that began before the last tick
RECENT_LIMIT = 5000  # more clocks written since the mark than this: a full sweep is as cheap
SWEEP_REASON_PREFIX = "overdue:"  # the history rows the sweep itself writes (``obligation_sweep``)
# The task that drains one worker process's share of a backlog, named rather than imported: the task module
# sits above this one (it calls ``obligation_tick``). Django registers it at start (``AuditsConfig.ready``).
BATCHES_TASK = "audits.tasks.obligation_sweep_batches_task"


def narrowing(now: datetime) -> tuple[datetime | None, list[int]]:
    """``(since, recent pks)`` for a narrowed tick, or ``(None, [])`` when the tick must be a full sweep."""
    mark = SweepMark.objects.filter(name=MARK).first()
    if mark is None or now - mark.full_at >= FULL_EVERY or mark.swept_until > now:
        return None, []
    since = mark.swept_until - SLACK
    recent = list(
        Obligation.history.filter(history_date__gt=since, history_date__lte=now)
        .exclude(history_change_reason__startswith=SWEEP_REASON_PREFIX)
        .order_by()
        .values_list("id", flat=True)
        .distinct()[: RECENT_LIMIT + 1]
    )
    if len(recent) > RECENT_LIMIT:
        return None, []
    return since, recent


def patterns_may_have_changed(since: datetime, recent: list[int]) -> bool:
    """Whether a repeat-bypass pattern can be new since ``since``: a bypass was written (granted, say), or a
    preventive follow-up changed (one met lets its pattern open again)."""
    from audits.escalation.patterns import PREVENTIVE_KIND
    from emergencies.models import BypassRequest

    return (
        BypassRequest.history.filter(history_date__gt=since).exists()
        or Obligation.objects.filter(pk__in=recent, kind=PREVENTIVE_KIND).exists()
    )


def mark_swept(now: datetime, *, full: bool) -> None:
    """Record that everything due at ``now`` is escalated (never moving the mark back)."""
    with transaction.atomic():
        mark = SweepMark.objects.select_for_update().filter(name=MARK).first()
        if mark is None:
            SweepMark.objects.create(name=MARK, swept_until=now, full_at=now)
            return
        mark.swept_until = max(mark.swept_until, now)
        if full:
            mark.full_at = max(mark.full_at, now)
        mark.save(update_fields=["swept_until", "full_at"])


def worker_processes() -> int:
    return int(getattr(settings, "CELERY_WORKER_CONCURRENCY", None) or os.cpu_count() or 1)


def obligation_tick(
    *, now: datetime | None = None, batch: int = 5000, max_batches: int | None = 10, fan_out: bool = True
) -> SweepResult:
    """One beat run: a narrowed look when the last run drained, else a full one; a backlog is fanned out.

    The first batches run here; if they leave more (the first batch came back full) and ``fan_out``, one
    ``obligation_sweep_batches_task`` per worker process drains the rest. Returns what ran in place.
    """
    now = now or timezone.now()
    since, recent = narrowing(now)
    inline = 1 if fan_out else max_batches
    result = obligation_sweep(
        now=now,
        batch=batch,
        max_batches=inline,
        since=since,
        recent=recent,
        connections=1 if since is not None else 2,  # a narrowed tick: no second connection to open
        patterns=since is None or patterns_may_have_changed(since, recent),
    )
    if result.drained:
        mark_swept(now, full=since is None)
    elif fan_out:
        from celery import group, signature

        per_task = None if max_batches is None else max(1, -(-(max_batches - 1) // worker_processes()))
        group(
            signature(BATCHES_TASK, args=(now.isoformat(), batch, per_task)) for _ in range(worker_processes())
        ).apply_async()
    return result


def obligation_sweep_batches(*, now: datetime, batch: int = 5000, max_batches: int | None = None) -> SweepResult:
    """What one fanned-out task runs: batches on one connection until nothing is left or the budget is spent."""
    return obligation_sweep(now=now, batch=batch, max_batches=max_batches, connections=1, patterns=False)
