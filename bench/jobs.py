"""The set-based operations the benchmark times on the seeded data (see ``scenarios.JOBS``)."""

from __future__ import annotations

import importlib
import time

from django.utils import timezone

from bench.scenarios import NotBuilt


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


def escalation_sweep(ctx) -> dict:
    """Run the beat job's sweep over the seeded backlog of overdue clocks, for real (the database is a
    throwaway copy), until the backlog is gone or the time budget is spent (then project the rest); then
    the next beat tick, which finds nothing new: the steady-state cost of looking at every open clock."""
    from audits.escalation import obligation_sweep
    from audits.models import Obligation

    now = timezone.now()
    overdue = Obligation.objects.filter(satisfied_at__isnull=True, due_at__lt=now, escalation_level=0)
    total, open_ = Obligation.objects.count(), Obligation.objects.filter(satisfied_at__isnull=True).count()
    backlog = overdue.count()
    runs: list[tuple[int, float, int]] = []
    started = time.perf_counter()
    while True:
        # Eight batches a call, so that the time budget bounds the run; each call drains over two connections.
        t0 = time.perf_counter()
        result = obligation_sweep(now=now, max_batches=8)
        runs.append((result.escalated, time.perf_counter() - t0, result.notifications))
        if result.escalated == 0 or time.perf_counter() - started > ctx.job_budget:
            break
    measured = time.perf_counter() - started
    done, notifications = sum(n for n, _, _ in runs), sum(m for _, _, m in runs)
    drained = done >= backlog
    rate = done / measured if measured and done else 0.0
    seconds = measured if drained else (backlog / rate if rate else float("inf"))
    t0 = time.perf_counter()
    idle = obligation_sweep(now=now)
    tick = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "projected": not drained,
        "measured_seconds": measured,
        "detail": (
            f"{backlog:,} overdue of {open_:,} open / {total:,} obligations; "
            f"escalated {done:,} in {measured:.1f} s ({rate:,.0f}/s), {notifications:,} digest messages"
            + ("" if drained else f"; whole backlog projected at {seconds:,.0f} s")
            + f"; the next tick, with nothing new: {tick * 1000:.0f} ms"
        ),
        "obligations": total,
        "open": open_,
        "backlog": backlog,
        "escalated": done,
        "notifications": notifications,
        "runs": len(runs),
        "rate_per_second": rate,
        "idle_tick_seconds": tick,
        "idle_tick_escalated": idle.escalated,
    }
