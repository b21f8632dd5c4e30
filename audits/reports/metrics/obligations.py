"""Obligation metrics: remediation time and progress, overdue clocks, on-time rates by kind, the 30-day
follow-up documentation and critical escalations (definitions: ``audits.reports.metrics``)."""

from __future__ import annotations

import statistics
from collections import defaultdict

from django.db import models
from django.db.models import (
    BooleanField,
    CharField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Func,
    Q,
)
from django.db.models.functions import RowNumber

from audits.models import Obligation
from audits.reports.metrics.common import MAX_IDS, Refs, Window, _hours, percentile, rate

# At 10^5 changes a month's report counts hundreds of thousands of clocks. A snapshot keeps the first MAX_IDS
# ids of each figure (due time, then id) with its total, so the queries hand back counts and those ids, and no
# datetimes Python would only compare.
DUE_ORDER = (F("due_at").asc(), F("pk").asc())


class _KindGroup(Func):
    """``kind_group`` in SQL: the part of the kind before the first ":" (``split_part`` on PostgreSQL; the
    zero-setup SQLite has no ``split_part``, so there it is ``substr`` up to ``instr``)."""

    output_field = CharField()
    template = "substr(%(expressions)s, 1, instr(%(expressions)s || ':', ':') - 1)"

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="split_part(%(expressions)s, ':', 1)", **extra)


def _first_ids(partition: list) -> dict:
    """Per partition: how many rows it has and each row's place in it (due time, then id)."""
    return {
        "n": models.Window(Count("pk"), partition_by=partition),
        "place": models.Window(RowNumber(), partition_by=partition, order_by=DUE_ORDER),
    }


def remediation(w: Window, refs: Refs) -> dict:
    """Remediation time and completion (two queries)."""
    duration = ExpressionWrapper(F("satisfied_at") - F("started_at"), output_field=DurationField())
    done = list(
        Obligation.objects.filter(
            w.scope.obligations(), kind="remediation", satisfied_at__gte=w.start, satisfied_at__lt=w.due_until
        )
        .annotate(took=duration)
        .order_by("satisfied_at", "pk")
        .values_list("pk", "took")
    )
    hours = [_hours(took) for _, took in done]
    completed_by_then = ExpressionWrapper(
        Q(satisfied_at__isnull=False, satisfied_at__lt=w.as_of), output_field=BooleanField()
    )
    due = list(
        Obligation.objects.filter(
            w.scope.obligations(), kind="remediation", due_at__gte=w.start, due_at__lt=w.due_until
        )
        .annotate(completed=completed_by_then)
        .order_by("due_at", "pk")
        .values_list("pk", "completed")
    )
    completed = [pk for pk, done_then in due if done_then]
    missing = [pk for pk, done_then in due if not done_then]
    return {
        "completed_in_period": len(done),
        "completed_ref": refs.add(
            "remediation_done", "obligation", [pk for pk, _ in done], "Remediations completed in the period"
        ),
        "mean_hours": round(statistics.fmean(hours), 2) if hours else None,
        "p90_hours": None if not hours else round(percentile(hours, 0.9), 2),
        "due": len(due),
        "due_ref": refs.add("remediation_due", "obligation", [pk for pk, _ in due], "Remediations due in the period"),
        "completed_of_due": len(completed),
        "not_completed_ref": refs.add(
            "remediation_missing", "obligation", missing, "Remediations due in the period and not completed"
        ),
        "completion_rate": rate(len(completed), len(due)),
    }


def remediation_progress(w: Window, refs: Refs) -> dict:
    """Remediation clocks opened and completed in the period, open and overdue at its end (one query)."""
    rows = list(
        Obligation.objects.filter(w.scope.obligations(), kind="remediation")
        .filter(
            Q(started_at__gte=w.start, started_at__lt=w.due_until)
            | Q(satisfied_at__gte=w.start, satisfied_at__lt=w.due_until)
            | (Q(started_at__lt=w.as_of) & (Q(satisfied_at__isnull=True) | Q(satisfied_at__gte=w.as_of)))
        )
        .order_by("due_at", "pk")
        .values_list("pk", "started_at", "satisfied_at", "due_at")
    )

    def is_open(s):
        return s is None or s >= w.as_of

    opened = [r[0] for r in rows if w.start <= r[1] < w.due_until]
    completed = [r[0] for r in rows if r[2] is not None and w.start <= r[2] < w.due_until]
    still_open = [r[0] for r in rows if r[1] < w.as_of and is_open(r[2])]
    overdue = [r[0] for r in rows if r[1] < w.as_of and is_open(r[2]) and r[3] < w.as_of]
    return {
        "opened": len(opened),
        "opened_ref": refs.add("rem_opened", "obligation", opened, "Remediation clocks started in the period"),
        "completed": len(completed),
        "completed_ref": refs.add("rem_completed", "obligation", completed, "Remediations completed in the period"),
        "open": len(still_open),
        "open_ref": refs.add("rem_open", "obligation", still_open, "Remediations open at period end"),
        "overdue": len(overdue),
        "overdue_ref": refs.add("rem_overdue", "obligation", overdue, "Remediations overdue at period end"),
    }


def overdue(w: Window, refs: Refs) -> dict:
    """Clocks due before ``as_of`` and open at ``as_of``, by kind and escalation level (one query)."""
    rows = (
        Obligation.objects.filter(w.scope.obligations(), due_at__lt=w.as_of)
        .filter(Q(satisfied_at__isnull=True) | Q(satisfied_at__gte=w.as_of))
        .order_by("due_at", "pk")
        .values_list("pk", "kind", "escalation_level")
    )
    # Every overdue clock is counted, but only the first MAX_IDS of each figure are kept.
    first, by_kind, by_level = [], defaultdict(list), defaultdict(list)
    kind_n, level_n = defaultdict(int), defaultdict(int)
    for pk, kind, level in rows:
        group = kind_group(kind)
        if len(first) < MAX_IDS:
            first.append(pk)
        kind_n[group] += 1
        level_n[level] += 1
        if kind_n[group] <= MAX_IDS:
            by_kind[group].append(pk)
        if level_n[level] <= MAX_IDS:
            by_level[level].append(pk)
    total = sum(kind_n.values())
    kinds = [
        {
            "label": kind,
            "value": n,
            "ref": refs.add(
                f"overdue:{kind}",
                "obligation",
                by_kind[kind],
                f"Overdue at period end: {kind.replace('_', ' ')}",
                total=n,
            ),
        }
        for kind, n in sorted(kind_n.items(), key=lambda item: (-item[1], item[0]))
    ]
    return {
        "total": total,
        "ref": refs.add("overdue", "obligation", first, "Overdue at period end", total=total),
        "remediation": kind_n.get("remediation", 0),
        "remediation_ref": refs.add(
            "overdue:remediation",
            "obligation",
            by_kind.get("remediation", []),
            "Remediations overdue at period end",
            total=kind_n.get("remediation", 0),
        ),
        "by_kind": kinds,
        "by_level": [
            {
                "label": f"level {level}",
                "value": n,
                "ref": refs.add(
                    f"overdue:level:{level}",
                    "obligation",
                    by_level[level],
                    f"Overdue at escalation level {level}",
                    total=n,
                ),
            }
            for level, n in sorted(level_n.items())
        ],
    }


def kind_group(kind: str) -> str:
    """Reviews are kinds "review:<which>"; they are one kind for the on-time figures."""
    return kind.split(":", 1)[0]


def on_time_by_kind(w: Window, refs: Refs) -> list[dict]:
    """Per kind of clock due in the period: met on time, late, and the rate (one query)."""
    late_expr = ExpressionWrapper(
        ~Q(satisfied_at__isnull=False, satisfied_at__lte=F("due_at")), output_field=BooleanField()
    )
    part = _first_ids(["group", "late"])
    rows = (
        Obligation.objects.filter(w.scope.obligations(), due_at__gte=w.start, due_at__lt=w.due_until)
        .annotate(group=_KindGroup(F("kind")), late=late_expr, n=part["n"], place=part["place"])
        .filter(place__lte=MAX_IDS)
        .order_by("due_at", "pk")
        .values_list("pk", "group", "late", "n")
    )
    # A kind's due list is its on-time clocks then its late ones (the first MAX_IDS of each are enough).
    ids, counts = {False: defaultdict(list), True: defaultdict(list)}, {False: {}, True: {}}
    for pk, group, late, n in rows:
        ids[late][group].append(pk)
        counts[late][group] = n
    out = []
    for kind in sorted(set(counts[False]) | set(counts[True])):
        n_on, n_late = counts[False].get(kind, 0), counts[True].get(kind, 0)
        on_ids, late_ids = ids[False].get(kind, []), ids[True].get(kind, [])
        out.append(
            {
                "kind": kind,
                "due": n_on + n_late,
                "on_time": n_on,
                "late": n_late,
                "rate": rate(n_on, n_on + n_late),
                "due_ref": refs.add(
                    f"due:{kind}",
                    "obligation",
                    (on_ids + late_ids)[:MAX_IDS],
                    f"{kind} clocks due in the period",
                    total=n_on + n_late,
                ),
                "late_ref": refs.add(
                    f"late:{kind}", "obligation", late_ids, f"{kind} clocks met late or open", total=n_late
                ),
            }
        )
    return out


def follow_up_compliance(on_time: list[dict]) -> dict:
    """30-day follow-up documentation compliance (CM-WF-EMERGENCY §16.4), from the on-time figures."""
    row = next((r for r in on_time if r["kind"] == "follow_up_documentation"), None)
    if row is None:
        return {"due": 0, "on_time": 0, "rate": None, "ref": None, "late_ref": None}
    return {
        "due": row["due"],
        "on_time": row["on_time"],
        "rate": row["rate"],
        "ref": row["due_ref"],
        "late_ref": row["late_ref"],
    }


def critical_escalations(w: Window, refs: Refs, *, critical_level: int) -> dict:
    """Clocks whose latest escalation, in the period, reached ``critical_level`` or above (one query: the counts
    are windows over every such clock, read off the first of the ``MAX_IDS`` rows kept)."""
    rows = list(
        Obligation.objects.filter(
            w.scope.obligations(),
            escalation_level__gte=critical_level,
            last_escalated_at__gte=w.start,
            last_escalated_at__lt=w.end,
        )
        .annotate(
            n=models.Window(Count("pk")),
            executive=models.Window(Count("pk", filter=Q(escalation_level__gt=critical_level))),
        )
        .order_by("-escalation_level", "due_at", "pk")
        .values_list("pk", "n", "executive")[:MAX_IDS]
    )
    total, executive = rows[0][1:] if rows else (0, 0)
    return {
        "total": total,
        "executive": executive,
        "ref": refs.add(
            "critical", "obligation", [pk for pk, _, _ in rows], "Critical escalations in the period", total=total
        ),
    }
