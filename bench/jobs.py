"""The set-based operations the benchmark times on the seeded data (see ``scenarios.JOBS``)."""

from __future__ import annotations

import importlib
import time

from django.utils import timezone

from bench.errors import NotBuilt


def call(path: str, **kwargs) -> dict:
    """Time ``module:function(**kwargs)`` once; NotBuilt when the module or function does not exist yet."""
    module_name, _, function_name = path.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise NotBuilt(f"{path} does not exist yet") from exc
    started = time.perf_counter()
    result = function(**kwargs)
    return {"seconds": time.perf_counter() - started, "detail": f"returned {type(result).__name__}"}


def _sweep_share(now_iso: str, batch: int) -> tuple[int, int]:
    """One worker process's share of the backlog: what ``obligation_sweep_batches_task`` runs."""
    from datetime import datetime

    from django.db import connections

    from audits.escalation.fanout import obligation_sweep_batches

    connections.close_all()  # the parent's connection is not this process's
    try:
        result = obligation_sweep_batches(now=datetime.fromisoformat(now_iso), batch=batch)
        return result.escalated, result.notifications
    finally:
        connections.close_all()


def escalation_sweep(ctx) -> dict:
    """Drain the seeded backlog of overdue clocks for real (the database is a throwaway copy), fanned out as
    the beat task fans it out: one process per CPU (the worker's prefork pool), each draining batches with
    ``SKIP LOCKED``; then a full tick and the next beat tick with nothing new (narrowed, see
    ``audits.escalation.fanout``): the steady-state cost at this size."""
    import multiprocessing
    import os

    from django.db import connections

    from audits.escalation.fanout import obligation_tick
    from audits.models import Obligation

    now = timezone.now()
    overdue = Obligation.objects.filter(satisfied_at__isnull=True, due_at__lt=now, escalation_level=0)
    total, open_ = Obligation.objects.count(), Obligation.objects.filter(satisfied_at__isnull=True).count()
    backlog = overdue.count()
    workers = os.cpu_count() or 1
    connections.close_all()
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        shares = pool.starmap(_sweep_share, [(now.isoformat(), 5000)] * workers)
    measured = time.perf_counter() - started
    done, notifications = sum(n for n, _ in shares), sum(m for _, m in shares)
    rate = done / measured if measured and done else 0.0
    obligation_tick(now=timezone.now(), fan_out=False)  # a full tick: the mark is set
    ticks = []
    for _ in range(5):
        t0 = time.perf_counter()
        idle = obligation_tick(now=timezone.now(), fan_out=False)
        ticks.append(time.perf_counter() - t0)
    tick = sorted(ticks)[len(ticks) // 2]
    ctx.idle_tick_seconds = tick
    return {
        "seconds": measured * 100_000 / done if done else 0.0,
        "projected": False,
        "measured_seconds": measured,
        "detail": (
            f"{backlog:,} overdue of {open_:,} open / {total:,} obligations; {workers} processes escalated "
            f"{done:,} in {measured:.1f} s ({rate:,.0f}/s), {notifications:,} digest messages; time given per "
            f"10^5 clocks; the next tick, with nothing new: {tick * 1000:.0f} ms (median of 5)"
        ),
        "obligations": total,
        "open": open_,
        "backlog": backlog,
        "escalated": done,
        "notifications": notifications,
        "workers": workers,
        "rate_per_second": rate,
        "idle_tick_seconds": tick,
        "idle_tick_escalated": idle.escalated,
    }


def escalation_idle_tick(ctx) -> dict:
    """The beat tick with nothing new, as the sweep job measured it (median of five narrowed ticks)."""
    seconds = getattr(ctx, "idle_tick_seconds", None)
    if seconds is None:
        raise NotBuilt("the escalation sweep job did not run")
    return {"seconds": seconds, "detail": "narrowed to what became due or was written since the last drained tick"}
