"""Compliance reports: every figure of a report, collected from the metrics into the payload a snapshot stores.

QMS Emergency Bypass Procedures v1.0, "Audit Report Generation": daily (active bypass status, overdue
remediations, new bypass requests, critical escalations), weekly (bypass trend, remediation progress,
compliance gap, stakeholder notifications) and monthly (executive metrics, compliance posture, process
effectiveness, improvement recommendations: ``audits.reports.monthly``). The figures are defined in
``audits.reports.metrics``.
"""

from __future__ import annotations

import json
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from audits.reports import metrics as m
from audits.reports.figures import (
    _h,
    _level_chart,
    _on_time_table,
    _overdue_parts,
    _patterns_table,
    _pct,
    _trend_chart,
    figure,
)
from audits.reports.monthly import monthly_sections
from audits.reports.periods import period_bounds, previous_periods
from audits.reports.scope import ResolvedScope
from qms.procedures import compliance_policy

FORMAT = "qms-compliance-report/1"
TITLES = {
    "daily": "Daily compliance report",
    "weekly": "Weekly compliance summary",
    "monthly": "Monthly compliance report",
}


def compliance_report_build(
    *, kind: str, period_start: date | datetime, now: datetime | None = None, scope: ResolvedScope | None = None
) -> dict:
    """Every figure of a report of ``kind`` for the period containing ``period_start``; nothing is written.

    ``scope`` (``audits.reports.scope.report_scope_resolve``) narrows every figure to the changes, bypass
    requests and clocks pinned to one procedure or one of its versions; without it the report covers all.
    Runs a fixed number of queries whatever the volume of data (see ``audits.reports.metrics``).
    """
    from audits.escalation import compliance_definition

    start, end = period_bounds(kind, period_start)
    now = now or timezone.now()
    if start > now:
        raise ValidationError({"period_start": ["This period has not started yet."]})
    policy = compliance_policy(compliance_definition())
    scope = scope or ResolvedScope()
    w = m.Window(start=start, end=end, as_of=min(end, now), scope=scope.scope)
    refs = m.Refs()
    if kind == "daily":
        sections = daily_sections(w, refs, policy=policy)
    else:
        sections = period_sections(kind, w, refs, policy=policy, start=start)
    payload = {
        "format": FORMAT,
        "kind": kind,
        "title": TITLES[kind],
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "as_of": w.as_of.isoformat(),
        "procedure": scope.as_payload(),
        "complete": now >= end,
        "sections": sections,
        "refs": refs.items,
    }
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def daily_sections(w: m.Window, refs: m.Refs, *, policy: dict) -> list[dict]:
    """Active bypass status, overdue remediations, new bypass requests and critical escalations."""
    active = m.bypasses_active(w, refs)
    overdue = m.overdue(w, refs)
    new = m.bypass_requests_new(w, refs)
    critical = m.critical_escalations(w, refs, critical_level=policy["critical_level"])
    _, overdue_table = _overdue_parts(overdue)
    return [
        {
            "key": "active",
            "title": "Active bypass status",
            "figures": [figure("active", "Active bypasses (remediation open)", active["total"], ref=active["ref"])]
            + [figure(f"active_{lv['key']}", lv["label"], lv["value"], ref=lv["ref"]) for lv in active["levels"]],
            "charts": [_level_chart("chart-active-level", "Active bypasses by level", active["levels"])],
        },
        {
            "key": "overdue",
            "title": "Overdue remediations",
            "figures": [
                figure(
                    "overdue_remediation",
                    "Remediations overdue",
                    overdue["remediation"],
                    ref=overdue["remediation_ref"],
                    alert=bool(overdue["remediation"]),
                ),
                figure(
                    "overdue_all",
                    "All overdue obligations",
                    overdue["total"],
                    ref=overdue["ref"],
                    alert=bool(overdue["total"]),
                ),
            ],
            "tables": [overdue_table],
        },
        {
            "key": "new",
            "title": "New bypass requests",
            "figures": [
                figure("new_requests", "Requests filed", new["total"], ref=new["ref"]),
                figure("new_pending", "Still awaiting signatures", new["pending"]),
            ],
            "charts": [_level_chart("chart-new-level", "New bypass requests by level", new["levels"])],
        },
        {
            "key": "critical",
            "title": "Critical escalations",
            "figures": [
                figure(
                    "critical",
                    "Escalated to the QMS coordinator or above",
                    critical["total"],
                    ref=critical["ref"],
                    alert=bool(critical["total"]),
                ),
                figure("critical_executive", "Of which to the executive", critical["executive"]),
            ],
        },
    ]


def period_sections(kind: str, w: m.Window, refs: m.Refs, *, policy: dict, start: datetime) -> list[dict]:
    """The sections of a weekly or a monthly report: the figures both show, laid out as the weekly summary's
    sections here or as the monthly report's (``monthly_sections``)."""
    thresholds = policy["improvement_thresholds"]
    trend_count = policy["reports"]["trend_weeks" if kind == "weekly" else "trend_months"]
    trend = m.bypass_trend(kind, previous_periods(kind, start, int(trend_count)), refs, scope=w.scope)
    granted = m.bypasses_granted(w, refs)
    rem = m.remediation(w, refs)
    overdue = m.overdue(w, refs)
    on_time = m.on_time_by_kind(w, refs)
    window_days = int(policy["repeat_bypass"]["window_days"])
    patterns = m.repeat_patterns(
        w, refs, min_bypasses=int(policy["repeat_bypass"]["min_bypasses"]), window_days=window_days
    )
    on_time_table, on_time_chart = _on_time_table(on_time, thresholds)
    overdue_chart, overdue_table = _overdue_parts(overdue)
    trend_chart = _trend_chart(
        "chart-trend",
        f"Bypasses and emergencies, last {len(trend)} {'weeks' if kind == 'weekly' else 'months'}",
        trend,
    )
    repo_chart = {
        "id": "chart-repositories",
        "type": "bar",
        "title": "Bypasses per repository",
        "desc": ", ".join(f"{r['label']}: {r['value']}" for r in granted["per_repository"][:10]) or "none",
        "unit": "",
        "bars": granted["per_repository"][:10],
    }
    if kind != "weekly":
        return monthly_sections(
            w,
            refs,
            policy=policy,
            granted=granted,
            rem=rem,
            overdue=overdue,
            on_time=on_time,
            patterns=patterns,
            trend_chart=trend_chart,
            repo_chart=repo_chart,
            on_time_table=on_time_table,
            on_time_chart=on_time_chart,
            overdue_chart=overdue_chart,
            overdue_table=overdue_table,
        )
    progress = m.remediation_progress(w, refs)
    return [
        {
            "key": "trend",
            "title": "Bypass trend analysis",
            "figures": [figure("granted", "Bypasses granted this week", granted["total"], ref=granted["ref"])],
            "charts": [
                trend_chart,
                _level_chart("chart-levels", "Bypass level distribution", granted["levels"]),
                repo_chart,
            ],
        },
        {
            "key": "progress",
            "title": "Remediation progress",
            "figures": [
                figure("rem_opened", "Remediation clocks started", progress["opened"], ref=progress["opened_ref"]),
                figure(
                    "rem_completed",
                    "Remediations completed",
                    progress["completed"],
                    ref=progress["completed_ref"],
                ),
                figure("rem_open", "Open at week end", progress["open"], ref=progress["open_ref"]),
                figure(
                    "rem_overdue",
                    "Overdue at week end",
                    progress["overdue"],
                    ref=progress["overdue_ref"],
                    alert=bool(progress["overdue"]),
                ),
                figure(
                    "rem_mean",
                    "Mean remediation time",
                    rem["mean_hours"],
                    display=_h(rem["mean_hours"]),
                    ref=rem["completed_ref"],
                ),
                figure(
                    "rem_p90",
                    "90th percentile remediation time",
                    rem["p90_hours"],
                    display=_h(rem["p90_hours"]),
                    ref=rem["completed_ref"],
                ),
                figure(
                    "rem_completion",
                    "Remediation completion rate",
                    rem["completion_rate"],
                    display=_pct(rem["completion_rate"]),
                    ref=rem["due_ref"],
                ),
            ],
        },
        {
            "key": "gap",
            "title": "Compliance gap assessment",
            "figures": [
                figure(
                    "overdue_all",
                    "Overdue obligations",
                    overdue["total"],
                    ref=overdue["ref"],
                    alert=bool(overdue["total"]),
                )
            ],
            "charts": [overdue_chart, on_time_chart],
            "tables": [on_time_table, overdue_table, _patterns_table(patterns)],
        },
        notifications_section(w, refs),
    ]


def notifications_section(w: m.Window, refs: m.Refs) -> dict:
    """The notifications written in the period and the authorities notified; a report of one procedure counts
    those about its own records (``audits.reports.metrics.stakeholders``)."""
    notes = m.notifications(w, refs)
    regulatory = m.regulatory_notifications(w, refs)
    section = {
        "key": "notifications",
        "title": "Stakeholder notifications",
        "figures": [
            figure("notified", "Notifications written", sum(n["value"] for n in notes)),
            figure("regulatory", "Certification authorities notified", regulatory["total"], ref=regulatory["ref"]),
        ],
        "tables": [
            {
                "title": "Notifications by subject",
                "columns": ["About", "Written", "Sent"],
                "rows": [[n["label"], {"text": str(n["value"]), "ref": n["ref"]}, str(n["sent"])] for n in notes],
                "empty": "No notifications this week.",
            }
        ],
    }
    if not w.scope.everything:
        section["notes"] = [
            "Counts the notifications about this procedure's changes, bypass requests, status updates and CCB "
            "sessions; those about incidents and people are in the report of all procedures."
        ]
    return section
