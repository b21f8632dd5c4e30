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


def audit_chain_full(ctx) -> dict:
    """``verify_audit_chain`` as the nightly task runs it: every seeded event, from the first, hashed again."""
    from audits.services import audit_chain_verify

    started = time.perf_counter()
    report = audit_chain_verify()
    seconds = time.perf_counter() - started
    if not report.ok:
        raise AssertionError(f"the seeded chain does not verify: {report.problem}")
    rate = report.checked / seconds if seconds else 0.0
    return {
        "seconds": seconds,
        "figure": f"{rate:,.0f} events/s",
        "detail": f"{report.checked:,} events, from the first to the head (#{report.head_position:,})",
        "events": report.checked,
        "rate_per_second": rate,
    }


def _day_of_events() -> int:
    """A realistic day's appends at this size: the seeded trail's mean over its last 30 days."""
    from datetime import timedelta

    from audits.models import AuditEvent

    since = timezone.now() - timedelta(days=30)
    return max(1, round(AuditEvent.objects.filter(occurred_at__gte=since).count() / 30))


def _append_day(*, events: int, actor) -> None:
    """Append ``events`` events through ``audit_event_record``, the service every write calls, a few per
    transaction as a write does; their payloads are those of the newest seeded events (realistic sizes)."""
    from django.db import transaction

    from audits.models import AuditEvent
    from audits.services import audit_event_record
    from emergencies.models import ChangeRecord

    shapes = list(
        AuditEvent.objects.exclude(action="").order_by("-position").values("action", "reason", "before", "after")[:200]
    )
    change = ChangeRecord.objects.order_by("-pk").first()
    per_write = 5
    for first in range(0, events, per_write):
        with transaction.atomic():
            for i in range(first, min(first + per_write, events)):
                shape = shapes[i % len(shapes)]
                audit_event_record(
                    action=shape["action"],
                    actor=actor,
                    subject=change,
                    reason=shape["reason"],
                    before=shape["before"],
                    after=shape["after"],
                    ip_address="127.0.0.1",
                )


def audit_chain_incremental(ctx) -> dict:
    """Sign a checkpoint at the chain's head (``audit_checkpoint_write``, with a key generated for the run in a
    temporary folder, the sink a folder beside it), append a day's events through the normal service, then
    time ``verify_audit_chain --incremental``: the checkpoint's own event and every event after it."""
    import tempfile
    from pathlib import Path

    from django.test import override_settings

    from audits.checkpoints.keys import key_pair_generate, private_key_load
    from audits.checkpoints.services import audit_chain_verify_incremental, audit_checkpoint_write
    from audits.checkpoints.sinks import FolderSink
    from audits.models import AuditCheckpoint

    if AuditCheckpoint.objects.exists():
        raise AssertionError("the seeded database holds checkpoints signed with a key the bench does not have")
    with tempfile.TemporaryDirectory(prefix="qms-bench-checkpoint-") as tmp:
        key_path = Path(tmp) / "checkpoint-signing-key.pem"
        key_pair_generate(path=key_path)
        public_key = private_key_load(key_path).public_key()
        with override_settings(QMS_CHECKPOINT_KEY=key_path, QMS_CHECKPOINT_DIR=Path(tmp) / "checkpoints"):
            t0 = time.perf_counter()
            checkpoint = audit_checkpoint_write(sink=FolderSink(Path(tmp) / "checkpoints"))
            first_write = time.perf_counter() - t0
            day = _day_of_events()
            t0 = time.perf_counter()
            _append_day(events=day, actor=ctx.users["oncall"])
            appending = time.perf_counter() - t0
            t0 = time.perf_counter()
            report = audit_chain_verify_incremental(public_key=public_key)
            seconds = time.perf_counter() - t0
    if not report.ok:
        raise AssertionError("; ".join(report.problems))
    rate = report.checked / seconds if seconds else 0.0
    return {
        "seconds": seconds,
        "figure": f"{rate:,.0f} events/s",
        "detail": (
            f"checkpoint 1 at #{checkpoint.position:,} (its first write verified the whole chain: "
            f"{first_write:.1f} s), then {day:,} events appended through audit_event_record, 5 per transaction "
            f"(the seed's daily mean over its last 30 days; {appending:.1f} s); verified {report.checked:,} "
            f"events from the checkpoint to #{report.head_position:,}"
        ),
        "events": report.checked,
        "rate_per_second": rate,
        "checkpoint_write_seconds": first_write,
        "append_seconds": appending,
    }
