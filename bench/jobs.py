"""The set-based operations the benchmark times on the seeded data (see ``scenarios.JOBS``)."""

from __future__ import annotations

import importlib
import inspect
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
    throwaway copy), until the backlog is gone or the time budget is spent; project the rest."""
    from audits.models import Obligation
    from audits.services import obligation_sweep

    now = timezone.now()
    overdue = Obligation.objects.filter(satisfied_at__isnull=True, due_at__lt=now, escalation_level=0)
    total, open_ = Obligation.objects.count(), Obligation.objects.filter(satisfied_at__isnull=True).count()
    backlog = overdue.count()
    # One batch per call when the sweep can be told so, so that the time budget bounds the run.
    kwargs = {"max_batches": 1} if "max_batches" in inspect.signature(obligation_sweep).parameters else {}
    runs: list[tuple[int, float]] = []
    started = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        escalated = int(obligation_sweep(now=now, **kwargs))
        runs.append((escalated, time.perf_counter() - t0))
        if escalated == 0 or time.perf_counter() - started > ctx.job_budget:
            break
    measured = time.perf_counter() - started
    done = sum(n for n, _ in runs)
    drained = done >= backlog
    rate = done / measured if measured and done else 0.0
    seconds = measured if drained else (backlog / rate if rate else float("inf"))
    first_n, first_s = runs[0]
    return {
        "seconds": seconds,
        "projected": not drained,
        "measured_seconds": measured,
        "detail": (
            f"{backlog:,} overdue of {open_:,} open / {total:,} obligations; "
            f"escalated {done:,} in {measured:.1f} s over {len(runs)} sweep runs "
            f"({rate:,.0f}/s; the first batch: {first_n:,} in {first_s:.2f} s)"
            + ("" if drained else f"; whole backlog projected at {seconds:,.0f} s")
        ),
        "obligations": total,
        "open": open_,
        "backlog": backlog,
        "escalated": done,
        "runs": len(runs),
        "first_run": {"escalated": first_n, "seconds": first_s},
        "rate_per_second": rate,
    }
