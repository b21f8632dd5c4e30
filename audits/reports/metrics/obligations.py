"""Obligation metrics: remediation time and progress, overdue clocks, on-time rates by kind, the 30-day
follow-up documentation and critical escalations (definitions: ``audits.reports.metrics``)."""

from __future__ import annotations

import statistics
from collections import defaultdict

from django.db.models import DurationField, ExpressionWrapper, F, Q

from audits.models import Obligation
from audits.reports.metrics.common import Refs, Window, _hours, percentile, rate


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
    due = list(
        Obligation.objects.filter(
            w.scope.obligations(), kind="remediation", due_at__gte=w.start, due_at__lt=w.due_until
        )
        .order_by("due_at", "pk")
        .values_list("pk", "satisfied_at", "started_at")
    )
    completed = [pk for pk, satisfied, _ in due if satisfied is not None and satisfied < w.as_of]
    missing = [pk for pk, satisfied, _ in due if satisfied is None or satisfied >= w.as_of]
    return {
        "completed_in_period": len(done),
        "completed_ref": refs.add(
            "remediation_done", "obligation", [pk for pk, _ in done], "Remediations completed in the period"
        ),
        "mean_hours": round(statistics.fmean(hours), 2) if hours else None,
        "p90_hours": None if not hours else round(percentile(hours, 0.9), 2),
        "due": len(due),
        "due_ref": refs.add("remediation_due", "obligation", [pk for pk, *_ in due], "Remediations due in the period"),
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
    rows = list(
        Obligation.objects.filter(w.scope.obligations(), due_at__lt=w.as_of)
        .filter(Q(satisfied_at__isnull=True) | Q(satisfied_at__gte=w.as_of))
        .order_by("due_at", "pk")
        .values_list("pk", "kind", "escalation_level")
    )
    by_kind, by_level = defaultdict(list), defaultdict(list)
    for pk, kind, level in rows:
        by_kind[kind_group(kind)].append(pk)
        by_level[level].append(pk)
    kinds = [
        {
            "label": kind,
            "value": len(ids),
            "ref": refs.add(f"overdue:{kind}", "obligation", ids, f"Overdue at period end: {kind.replace('_', ' ')}"),
        }
        for kind, ids in sorted(by_kind.items(), key=lambda item: (-len(item[1]), item[0]))
    ]
    return {
        "total": len(rows),
        "ref": refs.add("overdue", "obligation", [r[0] for r in rows], "Overdue at period end"),
        "remediation": len(by_kind.get("remediation", [])),
        "remediation_ref": refs.add(
            "overdue:remediation", "obligation", by_kind.get("remediation", []), "Remediations overdue at period end"
        ),
        "by_kind": kinds,
        "by_level": [
            {
                "label": f"level {level}",
                "value": len(ids),
                "ref": refs.add(f"overdue:level:{level}", "obligation", ids, f"Overdue at escalation level {level}"),
            }
            for level, ids in sorted(by_level.items())
        ],
    }


def kind_group(kind: str) -> str:
    """Reviews are kinds "review:<which>"; they are one kind for the on-time figures."""
    return kind.split(":", 1)[0]


def on_time_by_kind(w: Window, refs: Refs) -> list[dict]:
    """Per kind of clock due in the period: met on time, late, and the rate (one query)."""
    rows = (
        Obligation.objects.filter(w.scope.obligations(), due_at__gte=w.start, due_at__lt=w.due_until)
        .order_by("due_at", "pk")
        .values_list("pk", "kind", "satisfied_at", "due_at")
    )
    on_time, late = defaultdict(list), defaultdict(list)
    for pk, kind, satisfied, due in rows:
        if satisfied is not None and satisfied <= due:
            on_time[kind_group(kind)].append(pk)
        else:
            late[kind_group(kind)].append(pk)
    out = []
    for kind in sorted(set(on_time) | set(late)):
        n_on, n_late = len(on_time.get(kind, [])), len(late.get(kind, []))
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
                    on_time.get(kind, []) + late.get(kind, []),
                    f"{kind} clocks due in the period",
                ),
                "late_ref": refs.add(
                    f"late:{kind}", "obligation", late.get(kind, []), f"{kind} clocks met late or open"
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
    rows = list(
        Obligation.objects.filter(
            w.scope.obligations(),
            escalation_level__gte=critical_level,
            last_escalated_at__gte=w.start,
            last_escalated_at__lt=w.end,
        )
        .order_by("-escalation_level", "due_at", "pk")
        .values_list("pk", "escalation_level")
    )
    return {
        "total": len(rows),
        "executive": sum(1 for _, level in rows if level > critical_level),
        "ref": refs.add("critical", "obligation", [r[0] for r in rows], "Critical escalations in the period"),
    }
