"""The metrics of the compliance reports, as set-based queries.

QMS Emergency Bypass Procedures v1.0 ("Metrics and KPIs", "Audit Report Generation") and CM-WF-EMERGENCY §16.
Every function here runs a fixed number of queries (one or two), whatever the number of rows, and returns
the figures together with the ids of the records behind them, so a report can link each number to its records.

Definitions (a period is [start, end) in UTC; ``as_of`` is the end of the period, or the generation time for a
period still running; "granted" means a bypass request that became active, dated by its decision):

- bypasses per repository / level distribution: granted bypasses decided in the period, by repository (emergency
  stubs, which name no repository, are grouped as "(emergency stubs)") and by level.
- repeat patterns: repository/check pairs granted ``min_bypasses`` times or more in the ``window_days`` before
  ``as_of`` (the escalation sweep's own rule).
- remediation time (mean, 90th percentile): from the start of each remediation clock (the bypass's activation) to
  its completion, over remediation clocks completed in the period. The 90th percentile interpolates linearly
  (PostgreSQL's percentile_cont).
- remediation completion rate: remediation clocks due in the period (before ``as_of``) that were completed by
  ``as_of``, over all of them.
- on-time rate per kind of obligation: clocks due in the period (before ``as_of``) met by their due time, over all
  of them; a clock still open at ``as_of`` counts as late.
- overdue: clocks due before ``as_of`` and still open at ``as_of``.
- critical escalations: clocks whose latest escalation, in the period, reached the QMS coordinator or above.
- rollback rate: emergency changes deployed in the period that were rolled back at any point, over all of them.
- response time: identification (the incident's detection time, else its declaration) to deployment, over
  changes deployed in the period.
- effectiveness, issue resolution rate (CM-WF-EMERGENCY §16.2): changes deployed in the period whose issue was
  resolved (the change marked resolved: ``resolved_at``) by ``as_of``, over all changes deployed in the period;
  a change rolled back and later resolved counts as resolved, one not yet resolved at ``as_of`` does not.
- follow-up and preventive changes: those opened in the period, counted done (verified or closed) or open
  (draft, approved, implemented) as they stand when the report is generated.
- 30-day follow-up documentation compliance: "follow_up_documentation" clocks due in the period met on time.
- false alarms: emergencies declared in the period that were converted to the standard process or judged not
  warranted (Gate 1 or a ratification session: ``false_alarm``), and their share of all emergencies declared in
  the period.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, DurationField, Exists, ExpressionWrapper, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce, StrIndex, Substr, Trunc

from audits.models import Obligation
from emergencies.models import BypassRequest, ChangeRecord
from qms.models import Notification

GRANTED = (BypassRequest.Status.ACTIVE, BypassRequest.Status.REMEDIATED)
NO_REPOSITORY = "(emergency stubs)"
MAX_IDS = 5000  # ids kept per figure in a snapshot; the drill-down says when there were more


@dataclass
class Window:
    start: datetime
    end: datetime
    as_of: datetime

    @property
    def due_until(self) -> datetime:
        return min(self.end, self.as_of)


@dataclass
class Refs:
    """The records behind each number, by reference key: {"model": ..., "ids": [...], "total": n, "title": ...}."""

    items: dict[str, dict] = field(default_factory=dict)

    def add(self, key: str, model: str, ids, title: str) -> str:
        ids = list(ids)
        self.items[key] = {"model": model, "ids": ids[:MAX_IDS], "total": len(ids), "title": title}
        return key

    def add_range(self, key: str, model: str, start: datetime, end: datetime, total: int, title: str) -> str:
        """Records by period: granted bypasses by decision time, emergencies by declaration time."""
        self.items[key] = {
            "model": model,
            "range": [start.isoformat(), end.isoformat()],
            "total": total,
            "title": title,
        }
        return key


def _hours(delta: timedelta | None) -> float | None:
    return None if delta is None else round(delta.total_seconds() / 3600, 2)


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont(p)."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _bypass_ct() -> ContentType:
    return ContentType.objects.get_for_model(BypassRequest)


# --- bypasses ---------------------------------------------------------------------------------------------


def bypasses_granted(w: Window, refs: Refs) -> dict:
    """Granted bypasses of the period by repository and level (one query)."""
    rows = list(
        BypassRequest.objects.filter(status__in=GRANTED, decided_at__gte=w.start, decided_at__lt=w.end)
        .order_by("decided_at", "pk")
        .values_list("pk", "repository", "level")
    )
    by_repo, by_level = defaultdict(list), defaultdict(list)
    for pk, repository, level in rows:
        by_repo[repository.strip() or NO_REPOSITORY].append(pk)
        by_level[level].append(pk)
    refs.add("bypasses_granted", "bypass", [r[0] for r in rows], "Bypasses granted in the period")
    per_repository = [
        {"label": repo, "value": len(ids), "ref": refs.add(f"repo:{repo}", "bypass", ids, f"Bypasses of {repo}")}
        for repo, ids in sorted(by_repo.items(), key=lambda item: (-len(item[1]), item[0]))
    ]
    levels = []
    for level, label in BypassRequest.Level.choices:
        ids = by_level.get(level, [])
        levels.append(
            {"label": label, "key": level, "value": len(ids), "ref": refs.add(f"level:{level}", "bypass", ids, label)}
        )
    return {"total": len(rows), "per_repository": per_repository, "levels": levels, "ref": "bypasses_granted"}


def bypass_requests_new(w: Window, refs: Refs) -> dict:
    """Bypass requests filed in the period, whatever became of them (one query)."""
    rows = list(
        BypassRequest.objects.filter(requested_at__gte=w.start, requested_at__lt=w.end)
        .order_by("requested_at", "pk")
        .values_list("pk", "level", "status")
    )
    by_level = defaultdict(list)
    for pk, level, _status in rows:
        by_level[level].append(pk)
    return {
        "total": len(rows),
        "ref": refs.add("requests_new", "bypass", [r[0] for r in rows], "Bypass requests filed in the period"),
        "pending": sum(1 for r in rows if r[2] == BypassRequest.Status.PENDING),
        "levels": [
            {
                "label": label,
                "key": level,
                "value": len(by_level.get(level, [])),
                "ref": refs.add(f"new:{level}", "bypass", by_level.get(level, []), f"New {label} requests"),
            }
            for level, label in BypassRequest.Level.choices
        ],
    }


def bypasses_active(w: Window, refs: Refs) -> dict:
    """Bypasses granted before ``as_of`` with a remediation still open at ``as_of`` (one query)."""
    open_remediation = Obligation.objects.filter(
        subject_type=_bypass_ct(), subject_id=OuterRef("pk"), kind="remediation"
    ).filter(Q(satisfied_at__isnull=True) | Q(satisfied_at__gte=w.as_of))
    rows = list(
        BypassRequest.objects.filter(status__in=GRANTED, decided_at__lt=w.as_of)
        .filter(Exists(open_remediation))
        .order_by("decided_at", "pk")
        .values_list("pk", "level")
    )
    by_level = defaultdict(list)
    for pk, level in rows:
        by_level[level].append(pk)
    return {
        "total": len(rows),
        "ref": refs.add("active", "bypass", [r[0] for r in rows], "Bypasses active (remediation open) at period end"),
        "levels": [
            {
                "label": label,
                "key": level,
                "value": len(by_level.get(level, [])),
                "ref": refs.add(f"active:{level}", "bypass", by_level.get(level, []), f"Active {label} bypasses"),
            }
            for level, label in BypassRequest.Level.choices
        ],
    }


def repeat_patterns(w: Window, refs: Refs, *, min_bypasses: int, window_days: int) -> list[dict]:
    from audits.escalation import repeat_patterns as find

    patterns = find(start=w.as_of - timedelta(days=window_days), end=w.as_of, min_bypasses=min_bypasses)
    return [
        {
            "repository": p.repository,
            "check": p.check_label,
            "count": len(p.bypass_ids),
            "ref": refs.add(f"pattern:{p.key}", "bypass", p.bypass_ids, f"{p.check_label} bypassed in {p.repository}"),
        }
        for p in patterns
    ]


def bypass_trend(kind: str, periods: list[tuple[datetime, datetime]], refs: Refs) -> list[dict]:
    """Granted bypasses and declared emergencies per period (two aggregate queries).

    A trend spans a year of records, so its points refer to their records by period (the drill-down lists the
    records of that period: their dates never change) rather than by stored ids.
    """
    unit = {"daily": "day", "weekly": "week", "monthly": "month"}[kind]
    first, last = periods[0][0], periods[-1][1]
    granted = dict(
        BypassRequest.objects.filter(status__in=GRANTED, decided_at__gte=first, decided_at__lt=last)
        .annotate(bucket=Trunc("decided_at", unit, tzinfo=first.tzinfo))
        .values_list("bucket")
        .annotate(n=Count("pk"))
        .order_by()
    )
    declared = dict(
        ChangeRecord.objects.filter(source=ChangeRecord.Source.EMERGENCY, declared_at__gte=first, declared_at__lt=last)
        .annotate(bucket=Trunc("declared_at", unit, tzinfo=first.tzinfo))
        .values_list("bucket")
        .annotate(n=Count("pk"))
        .order_by()
    )
    fmt = "%b %y" if kind == "monthly" else "%d %b"
    points = []
    for start, end in periods:
        label = f"{start:{fmt}}"
        points.append(
            {
                "label": label,
                "bypasses": granted.get(start, 0),
                "emergencies": declared.get(start, 0),
                "bypass_ref": refs.add_range(
                    f"trend:b:{label}", "bypass", start, end, granted.get(start, 0), f"Bypasses granted, {label}"
                ),
                "change_ref": refs.add_range(
                    f"trend:c:{label}", "change", start, end, declared.get(start, 0), f"Emergencies declared, {label}"
                ),
            }
        )
    return points


# --- obligations ------------------------------------------------------------------------------------------


def remediation(w: Window, refs: Refs) -> dict:
    """Remediation time and completion (two queries)."""
    duration = ExpressionWrapper(F("satisfied_at") - F("started_at"), output_field=DurationField())
    done = list(
        Obligation.objects.filter(kind="remediation", satisfied_at__gte=w.start, satisfied_at__lt=w.due_until)
        .annotate(took=duration)
        .order_by("satisfied_at", "pk")
        .values_list("pk", "took")
    )
    hours = [_hours(took) for _, took in done]
    due = list(
        Obligation.objects.filter(kind="remediation", due_at__gte=w.start, due_at__lt=w.due_until)
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
        Obligation.objects.filter(kind="remediation")
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
        Obligation.objects.filter(due_at__lt=w.as_of)
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
        Obligation.objects.filter(due_at__gte=w.start, due_at__lt=w.due_until)
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
            escalation_level__gte=critical_level, last_escalated_at__gte=w.start, last_escalated_at__lt=w.end
        )
        .order_by("-escalation_level", "due_at", "pk")
        .values_list("pk", "escalation_level")
    )
    return {
        "total": len(rows),
        "executive": sum(1 for _, level in rows if level > critical_level),
        "ref": refs.add("critical", "obligation", [r[0] for r in rows], "Critical escalations in the period"),
    }


# --- changes (CM-WF-EMERGENCY §16) ---------------------------------------------------------------------


def deployments(w: Window, refs: Refs) -> dict:
    """Response time (identification to deployment), rollback rate and issue resolution rate of changes
    deployed in the period."""
    history = ChangeRecord.history.model
    rolled_back = history.objects.filter(id=OuterRef("pk"), status=ChangeRecord.Status.ROLLED_BACK)
    identified = Coalesce("incident__detected_at", "incident__declared_at", "declared_at")
    rows = list(
        ChangeRecord.objects.filter(deployed_at__gte=w.start, deployed_at__lt=w.due_until)
        .annotate(
            response=ExpressionWrapper(F("deployed_at") - identified, output_field=DurationField()),
            was_rolled_back=Exists(rolled_back),
        )
        .order_by("deployed_at", "pk")
        .values_list("pk", "response", "was_rolled_back", "resolved_at")
    )
    hours = [_hours(r[1]) for r in rows if r[1] is not None]
    rolled = [r[0] for r in rows if r[2]]
    resolved = [r[0] for r in rows if r[3] is not None and r[3] < w.as_of]
    return {
        "deployed": len(rows),
        "deployed_ref": refs.add("deployed", "change", [r[0] for r in rows], "Changes deployed in the period"),
        "response_mean_hours": round(statistics.fmean(hours), 2) if hours else None,
        "response_p90_hours": None if not hours else round(percentile(hours, 0.9), 2),
        "rolled_back": len(rolled),
        "rolled_back_ref": refs.add("rolled_back", "change", rolled, "Deployed changes rolled back"),
        "rollback_rate": rate(len(rolled), len(rows)),
        "resolved": len(resolved),
        "resolved_ref": refs.add("resolved", "change", resolved, "Deployed changes whose issue was resolved"),
        "resolution_rate": rate(len(resolved), len(rows)),
    }


def false_alarms(w: Window, refs: Refs) -> dict:
    rows = list(
        ChangeRecord.objects.filter(
            source=ChangeRecord.Source.EMERGENCY, declared_at__gte=w.start, declared_at__lt=w.end
        )
        .order_by("declared_at", "pk")
        .values_list("pk", "status", "false_alarm")
    )
    converted = [pk for pk, status, unwarranted in rows if unwarranted or status == ChangeRecord.Status.CONVERTED]
    return {
        "declared": len(rows),
        "declared_ref": refs.add("declared", "change", [r[0] for r in rows], "Emergencies declared in the period"),
        "false_alarms": len(converted),
        "ref": refs.add(
            "false_alarms", "change", converted, "Emergencies converted to the standard process or judged unwarranted"
        ),
        "rate": rate(len(converted), len(rows)),
    }


def follow_up_changes(w: Window, refs: Refs) -> dict:
    """Follow-up and preventive changes opened in the period, done or open (their own standard lifecycle)."""
    rows = list(
        ChangeRecord.objects.filter(
            source__in=(ChangeRecord.Source.FOLLOW_UP, ChangeRecord.Source.PREVENTIVE),
            declared_at__gte=w.start,
            declared_at__lt=w.end,
        )
        .order_by("declared_at", "pk")
        .values_list("pk", "status")
    )
    done = [pk for pk, status in rows if status in ChangeRecord.STANDARD_DONE_STATUSES]
    still_open = [pk for pk, status in rows if status not in ChangeRecord.STANDARD_DONE_STATUSES]
    return {
        "opened": len(rows),
        "done": len(done),
        "done_ref": refs.add("follow_ups_done", "change", done, "Follow-up and preventive changes done"),
        "open": len(still_open),
        "open_ref": refs.add("follow_ups_open", "change", still_open, "Follow-up and preventive changes still open"),
    }


def notifications(w: Window, refs: Refs) -> list[dict]:
    """Stakeholder notifications written in the period, by what they were about (one query)."""
    what = Substr("dedupe_key", 1, StrIndex("dedupe_key", Value(":")) - 1)
    rows = (
        Notification.objects.filter(created_at__gte=w.start, created_at__lt=w.end)
        .annotate(what=what)
        .order_by("what", "pk")
        .values_list("pk", "what", "sent_at")
    )
    grouped = defaultdict(lambda: ([], 0))
    for pk, about, sent_at in rows:
        ids, sent = grouped[about or "other"]
        ids.append(pk)
        grouped[about or "other"] = (ids, sent + (1 if sent_at is not None else 0))
    return [
        {
            "label": about,
            "value": len(ids),
            "sent": sent,
            "ref": refs.add(f"notify:{about}", "notification", ids, f"Notifications: {about}"),
        }
        for about, (ids, sent) in sorted(grouped.items(), key=lambda item: (-len(item[1][0]), item[0]))
    ]
