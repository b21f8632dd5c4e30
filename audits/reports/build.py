"""Compliance reports: build the figures, render them, store an immutable snapshot and mail it.

QMS Emergency Bypass Procedures v1.0, "Audit Report Generation": daily (active bypass status, overdue
remediations, new bypass requests, critical escalations), weekly (bypass trend, remediation progress,
compliance gap, stakeholder notifications) and monthly (executive metrics, compliance posture, process
effectiveness, improvement recommendations). The figures are defined in ``audits.reports.metrics``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, date, datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audits.models import ComplianceReport
from audits.reports import metrics as m
from audits.reports.periods import KINDS, period_bounds, previous_periods
from qms.models import User
from qms.procedures import compliance_policy
from qms.roles import Role

FORMAT = "qms-compliance-report/1"
GENERATE_ROLES = (Role.QMS,)
TITLES = {
    "daily": "Daily compliance report",
    "weekly": "Weekly compliance summary",
    "monthly": "Monthly compliance report",
}
KIND_LABELS = {
    "remediation": "Remediations",
    "review": "Bypass reviews",
    "triage": "Triage",
    "hotfix": "Hotfix deployed",
    "documentation": "CHG documentation",
    "post_mortem": "Post-mortem",
    "follow_up_documentation": "30-day follow-up documentation",
    "action_item": "Post-mortem action items",
    "preventive_change": "Preventive follow-up changes",
    "verbal_confirmation": "Verbal approval confirmations",
    "external_notification": "External notification",
    "update_cadence": "Status update cadence",
    "full_regression": "Deferred full regression",
}


def can_generate_reports(user: User | None) -> bool:
    return bool(user and user.is_active and (user.is_superuser or user.has_role(*GENERATE_ROLES)))


# --- figures ------------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _h(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} h"


def figure(
    key: str,
    label: str,
    value,
    *,
    display: str | None = None,
    ref: str | None = None,
    hint: str = "",
    alert: bool = False,
) -> dict:
    return {
        "key": key,
        "label": label,
        "value": value,
        "display": display if display is not None else ("—" if value is None else str(value)),
        "ref": ref if value is not None else None,
        "hint": hint,
        "alert": alert,
    }


def _kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())


def _level_chart(chart_id: str, title: str, levels: list[dict]) -> dict:
    return {
        "id": chart_id,
        "type": "bar",
        "title": title,
        "desc": ", ".join(f"{lv['label']}: {lv['value']}" for lv in levels) or "none",
        "unit": "",
        "bars": [{"label": lv["label"], "value": lv["value"], "ref": lv["ref"]} for lv in levels],
    }


def _trend_chart(chart_id: str, title: str, points: list[dict]) -> dict:
    return {
        "id": chart_id,
        "type": "line",
        "title": title,
        "desc": "; ".join(f"{p['label']}: {p['bypasses']} bypasses, {p['emergencies']} emergencies" for p in points),
        "labels": [p["label"] for p in points],
        "series": [
            {
                "name": "Bypasses granted",
                "values": [p["bypasses"] for p in points],
                "refs": [p["bypass_ref"] for p in points],
            },
            {
                "name": "Emergencies declared",
                "values": [p["emergencies"] for p in points],
                "refs": [p["change_ref"] for p in points],
            },
        ],
    }


def _on_time_table(on_time: list[dict], thresholds: dict) -> tuple[dict, dict]:
    table = {
        "title": "On-time rate by kind of obligation",
        "columns": ["Kind", "Due", "On time", "Late or open", "On-time rate"],
        "rows": [
            [
                _kind_label(r["kind"]),
                {"text": str(r["due"]), "ref": r["due_ref"]},
                str(r["on_time"]),
                {"text": str(r["late"]), "ref": r["late_ref"]},
                _pct(r["rate"]),
            ]
            for r in on_time
        ],
    }
    chart = {
        "id": "chart-on-time",
        "type": "bar",
        "title": "On-time rate by kind of obligation",
        "desc": ", ".join(f"{_kind_label(r['kind'])}: {_pct(r['rate'])}" for r in on_time) or "no clocks were due",
        "unit": "%",
        "bars": [
            {
                "label": _kind_label(r["kind"]),
                "value": r["rate"],
                "ref": r["late_ref"],
                "alert": r["rate"] is not None and r["rate"] < thresholds["on_time_rate_min"],
            }
            for r in on_time
        ],
    }
    return table, chart


def _overdue_parts(overdue: dict) -> tuple[dict, dict]:
    chart = {
        "id": "chart-overdue-kind",
        "type": "bar",
        "title": "Overdue at period end, by kind",
        "desc": ", ".join(f"{_kind_label(r['label'])}: {r['value']}" for r in overdue["by_kind"]) or "nothing overdue",
        "unit": "",
        "bars": [
            {"label": _kind_label(r["label"]), "value": r["value"], "ref": r["ref"], "alert": True}
            for r in overdue["by_kind"]
        ],
    }
    table = {
        "title": "Overdue at period end, by escalation level",
        "columns": ["Escalation level", "Obligations"],
        "rows": [[_level_label(r["label"]), {"text": str(r["value"]), "ref": r["ref"]}] for r in overdue["by_level"]],
    }
    return chart, table


def _level_label(label: str) -> str:
    """ "level 3" → "3 — QMS coordinator" (the ladder's names)."""
    from qms.procedures import escalation_steps

    level = int(label.split()[-1])
    names = {0: "not escalated yet", **{step.level: step.label for step in escalation_steps()}}
    return f"{level} — {names.get(level, '')}"


def _patterns_table(patterns: list[dict]) -> dict:
    return {
        "title": "Repeat-bypass patterns",
        "columns": ["Repository", "Check", "Bypasses"],
        "rows": [[p["repository"], p["check"], {"text": str(p["count"]), "ref": p["ref"]}] for p in patterns],
        "empty": "No repository and check was bypassed often enough to form a pattern.",
    }


def _recommendations(*, thresholds: dict, on_time, rem, dep, alarms, follow, patterns, overdue) -> list[str]:
    """Improvement recommendations ("improvement_triggers" of the Continuous Improvement Framework)."""
    notes = []
    for r in on_time:
        if r["rate"] is not None and r["rate"] < thresholds["on_time_rate_min"]:
            notes.append(
                f"{_kind_label(r['kind'])}: only {_pct(r['rate'])} met on time (target "
                f"{_pct(thresholds['on_time_rate_min'])}). Review the deadline and who owns it."
            )
    if rem["completion_rate"] is not None and rem["completion_rate"] < thresholds["remediation_completion_min"]:
        notes.append(
            f"Remediation completion is {_pct(rem['completion_rate'])}: bypassed gates stay skipped. "
            "Schedule remediation reviews with the owners' leads."
        )
    if dep["rollback_rate"] is not None and dep["rollback_rate"] > thresholds["rollback_rate_max"]:
        notes.append(
            f"Rollback rate {_pct(dep['rollback_rate'])} is above {_pct(thresholds['rollback_rate_max'])}: "
            "strengthen the smoke test and rollback triggers of the hotfix phase."
        )
    if alarms["rate"] is not None and alarms["rate"] > thresholds["false_alarm_rate_max"]:
        notes.append(
            f"{_pct(alarms['rate'])} of emergencies were converted to the standard process: refresh the "
            "severity assessment training."
        )
    if follow["rate"] is not None and follow["rate"] < thresholds["follow_up_compliance_min"]:
        notes.append(
            f"30-day follow-up documentation met on time for {_pct(follow['rate'])}: the standard process "
            "documentation lags the emergency patches."
        )
    for p in patterns:
        notes.append(
            f"“{p['check']}” in {p['repository']} was bypassed {p['count']} times: a preventive follow-up change "
            "is required for it."
        )
    if overdue["total"] and not notes:
        notes.append(f"{overdue['total']} obligations are overdue: follow them up with their owners.")
    return notes or ["No improvement trigger was reached this period."]


def compliance_report_build(*, kind: str, period_start: date | datetime, now: datetime | None = None) -> dict:
    """Every figure of a report of ``kind`` for the period containing ``period_start``; nothing is written.

    Runs a fixed number of queries whatever the volume of data (see ``audits.reports.metrics``).
    """
    from audits.escalation import compliance_definition

    start, end = period_bounds(kind, period_start)
    now = now or timezone.now()
    if start > now:
        raise ValidationError({"period_start": ["This period has not started yet."]})
    policy = compliance_policy(compliance_definition())
    thresholds = policy["improvement_thresholds"]
    w = m.Window(start=start, end=end, as_of=min(end, now))
    refs = m.Refs()
    sections: list[dict] = []

    if kind == "daily":
        active = m.bypasses_active(w, refs)
        overdue = m.overdue(w, refs)
        new = m.bypass_requests_new(w, refs)
        critical = m.critical_escalations(w, refs, critical_level=policy["critical_level"])
        _, overdue_table = _overdue_parts(overdue)
        sections = [
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
    else:
        trend_count = policy["reports"]["trend_weeks" if kind == "weekly" else "trend_months"]
        trend = m.bypass_trend(kind, previous_periods(kind, start, int(trend_count)), refs)
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
        if kind == "weekly":
            progress = m.remediation_progress(w, refs)
            notes = m.notifications(w, refs)
            sections = [
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
                        figure(
                            "rem_opened", "Remediation clocks started", progress["opened"], ref=progress["opened_ref"]
                        ),
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
                {
                    "key": "notifications",
                    "title": "Stakeholder notifications",
                    "figures": [figure("notified", "Notifications written", sum(n["value"] for n in notes))],
                    "tables": [
                        {
                            "title": "Notifications by subject",
                            "columns": ["About", "Written", "Sent"],
                            "rows": [
                                [n["label"], {"text": str(n["value"]), "ref": n["ref"]}, str(n["sent"])] for n in notes
                            ],
                            "empty": "No notifications this week.",
                        }
                    ],
                },
            ]
        else:
            dep = m.deployments(w, refs)
            alarms = m.false_alarms(w, refs)
            follow_ups = m.follow_up_changes(w, refs)
            follow = m.follow_up_compliance(on_time)
            critical = m.critical_escalations(w, refs, critical_level=policy["critical_level"])
            overall_due = sum(r["due"] for r in on_time)
            overall_rate = m.rate(sum(r["on_time"] for r in on_time), overall_due)
            recommendations = _recommendations(
                thresholds=thresholds,
                on_time=on_time,
                rem=rem,
                dep=dep,
                alarms=alarms,
                follow=follow,
                patterns=patterns,
                overdue=overdue,
            )
            sections = [
                {
                    "key": "executive",
                    "title": "Executive dashboard metrics",
                    "figures": [
                        figure("granted", "Bypasses granted", granted["total"], ref=granted["ref"]),
                        figure("declared", "Emergencies declared", alarms["declared"], ref=alarms["declared_ref"]),
                        figure(
                            "overdue_all",
                            "Overdue at month end",
                            overdue["total"],
                            ref=overdue["ref"],
                            alert=bool(overdue["total"]),
                        ),
                        figure(
                            "critical",
                            "Critical escalations",
                            critical["total"],
                            ref=critical["ref"],
                            alert=bool(critical["total"]),
                        ),
                        figure("on_time", "Obligations met on time", overall_rate, display=_pct(overall_rate)),
                        figure(
                            "rem_completion",
                            "Remediation completion rate",
                            rem["completion_rate"],
                            display=_pct(rem["completion_rate"]),
                            ref=rem["due_ref"],
                        ),
                        figure(
                            "rollback_rate",
                            "Rollback rate",
                            dep["rollback_rate"],
                            display=_pct(dep["rollback_rate"]),
                            ref=dep["rolled_back_ref"],
                        ),
                        figure(
                            "false_alarm_rate",
                            "False alarms",
                            alarms["rate"],
                            display=_pct(alarms["rate"]),
                            ref=alarms["ref"],
                        ),
                    ],
                    "charts": [
                        trend_chart,
                        _level_chart("chart-levels", "Bypass level distribution", granted["levels"]),
                        repo_chart,
                    ],
                },
                {
                    "key": "posture",
                    "title": "Compliance posture assessment",
                    "figures": [
                        figure(
                            "overdue_remediation",
                            "Remediations overdue",
                            overdue["remediation"],
                            ref=overdue["remediation_ref"],
                            alert=bool(overdue["remediation"]),
                        ),
                        figure(
                            "follow_up",
                            "30-day follow-up documentation on time",
                            follow["rate"],
                            display=_pct(follow["rate"]),
                            ref=follow["ref"],
                            hint=f"{follow['on_time']} of {follow['due']} due",
                        ),
                        figure("patterns", "Repeat-bypass patterns", len(patterns)),
                    ],
                    "charts": [overdue_chart, on_time_chart],
                    "tables": [on_time_table, overdue_table, _patterns_table(patterns)],
                },
                {
                    "key": "effectiveness",
                    "title": "Process effectiveness analysis",
                    "figures": [
                        figure(
                            "rem_mean",
                            "Mean remediation time",
                            rem["mean_hours"],
                            display=_h(rem["mean_hours"]),
                            ref=rem["completed_ref"],
                            hint=f"{rem['completed_in_period']} completed",
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
                            hint=f"{rem['completed_of_due']} of {rem['due']} due",
                        ),
                        figure(
                            "response_mean",
                            "Response time, identification to deployment (mean)",
                            dep["response_mean_hours"],
                            display=_h(dep["response_mean_hours"]),
                            ref=dep["deployed_ref"],
                        ),
                        figure(
                            "response_p90",
                            "Response time (90th percentile)",
                            dep["response_p90_hours"],
                            display=_h(dep["response_p90_hours"]),
                            ref=dep["deployed_ref"],
                        ),
                        figure(
                            "rollback_rate",
                            "Rollback rate",
                            dep["rollback_rate"],
                            display=_pct(dep["rollback_rate"]),
                            ref=dep["rolled_back_ref"],
                            hint=f"{dep['rolled_back']} of {dep['deployed']} deployed",
                        ),
                        figure(
                            "resolution_rate",
                            "Effectiveness: issue resolution rate",
                            dep["resolution_rate"],
                            display=_pct(dep["resolution_rate"]),
                            ref=dep["resolved_ref"],
                            hint=f"{dep['resolved']} of {dep['deployed']} deployed resolved",
                        ),
                        figure(
                            "false_alarms",
                            "False alarms (converted or judged unwarranted)",
                            alarms["false_alarms"],
                            ref=alarms["ref"],
                            hint=f"of {alarms['declared']} declared",
                        ),
                        figure(
                            "follow_ups_done",
                            "Follow-up and preventive changes done",
                            follow_ups["done"],
                            ref=follow_ups["done_ref"],
                            hint=f"of {follow_ups['opened']} opened (verified or closed)",
                        ),
                        figure(
                            "follow_ups_open",
                            "Follow-up and preventive changes open",
                            follow_ups["open"],
                            ref=follow_ups["open_ref"],
                            hint=f"of {follow_ups['opened']} opened",
                        ),
                    ],
                },
                {"key": "recommendations", "title": "Improvement recommendations", "notes": recommendations},
            ]
    payload = {
        "format": FORMAT,
        "kind": kind,
        "title": TITLES[kind],
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "as_of": w.as_of.isoformat(),
        "complete": now >= end,
        "sections": sections,
        "refs": refs.items,
    }
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


# --- rendering ----------------------------------------------------------------------------------------------


def payload_digest(payload: dict) -> str:
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)
    return hashlib.sha256(encoded.encode()).hexdigest()


def render_report(payload: dict) -> tuple[str, str]:
    """The HTML body (charts inline, links relative to the report's page) and the plain text of a report."""
    from audits.reports.charts import bar_chart, line_chart

    sections = []
    for section in payload["sections"]:
        charts = []
        for chart in section.get("charts", []):
            if chart["type"] == "line":
                svg = line_chart(
                    chart_id=chart["id"],
                    title=chart["title"],
                    desc=chart["desc"],
                    labels=chart["labels"],
                    series=chart["series"],
                )
            else:
                svg = bar_chart(
                    chart_id=chart["id"],
                    title=chart["title"],
                    desc=chart["desc"],
                    bars=chart["bars"],
                    unit=chart.get("unit", ""),
                )
            if chart["type"] == "line":
                columns = ["Period", *(s["name"] for s in chart["series"])]
                rows = [
                    [label, *({"text": str(s["values"][i]), "ref": s["refs"][i]} for s in chart["series"])]
                    for i, label in enumerate(chart["labels"])
                ]
            else:
                columns = ["Item", "Value"]
                rows = [
                    [b["label"], {"text": _shown(b["value"], chart.get("unit", "")), "ref": b.get("ref")}]
                    for b in chart["bars"]
                ]
            charts.append({**chart, "svg": svg, "columns": columns, "rows": rows})
        sections.append({**section, "charts": charts})
    context = {"payload": payload, "sections": sections, "period": _period_text(payload)}
    html = render_to_string("audits/reports/report_body.html", context)
    text = render_to_string("audits/reports/report_body.txt", context)
    return html, text


def _shown(value, unit: str) -> str:
    if value is None:
        return "—"
    return _pct(value) if unit == "%" else str(value)


def _period_text(payload: dict) -> str:
    start = datetime.fromisoformat(payload["period_start"]).astimezone(UTC)
    end = datetime.fromisoformat(payload["period_end"]).astimezone(UTC)
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"


# --- the snapshot -------------------------------------------------------------------------------------------


def report_generate(
    *,
    kind: str,
    period_start: date | datetime,
    actor: User | None = None,
    now: datetime | None = None,
    email: bool | None = None,
) -> ComplianceReport:
    """Store an immutable snapshot of the report of the period containing ``period_start`` and mail it.

    The system (``actor`` None: the beat, the management command) makes one snapshot per period: running it
    again returns that one. A QMS coordinator may generate any past or running period again: each time a new
    snapshot, mailed only when ``email`` asks for it. Scheduled snapshots are always mailed.
    """
    if kind not in KINDS:
        raise ValidationError({"kind": [f"One of {', '.join(KINDS)}."]})
    if actor is not None and not can_generate_reports(actor):
        raise PermissionDenied("Only QMS coordinators generate compliance reports.")
    start, end = period_bounds(kind, period_start)
    if actor is None:
        existing = ComplianceReport.objects.filter(kind=kind, period_start=start, generated_by__isnull=True).first()
        if existing is not None:
            return existing
    now = now or timezone.now()
    payload = compliance_report_build(kind=kind, period_start=start, now=now)
    html, text = render_report(payload)
    report = ComplianceReport(
        kind=kind,
        period_start=start,
        period_end=end,
        generated_at=now,
        generated_by=actor,
        payload=payload,
        html=html,
        text=text,
        sha256=payload_digest(payload),
    )
    try:
        with transaction.atomic():
            report.save()
            _record(report, actor=actor)
            if email if email is not None else actor is None:
                _mail(report)
    except IntegrityError:
        if actor is not None:
            raise
        # Another beat process stored the same period a moment ago: that snapshot is the one.
        return ComplianceReport.objects.get(kind=kind, period_start=start, generated_by__isnull=True)
    return report


def _record(report: ComplianceReport, *, actor: User | None) -> None:
    from audits.services import audit_event_record

    audit_event_record(
        action="report.generated",
        actor=actor,
        subject=report,
        subject_label=f"{report.get_kind_display()} report {report.period_label}",
        reason="scheduled" if actor is None else "generated on request",
        after={
            "kind": report.kind,
            "period_start": report.period_start,
            "period_end": report.period_end,
            "sha256": report.sha256,
        },
    )


def _mail(report: ComplianceReport) -> None:
    from audits.escalation import compliance_definition
    from qms.services import notification_queue

    roles = [Role(r) for r in compliance_policy(compliance_definition())["reports"]["recipients"]]
    recipients = User.objects.filter(is_active=True, groups__name__in=[r.group_name for r in roles]).distinct()
    headline = [f for s in report.payload["sections"] for f in s.get("figures", [])][:8]
    notification_queue(
        recipients=recipients,
        dedupe_prefix=f"report:{report.pk}",
        template="report_ready",
        context={"report": report, "headline": headline, "sections": report.payload["sections"]},
        link=reverse("audits:report-detail", kwargs={"pk": report.pk}),
        attachment=(export_filename(report, "csv"), report_csv(report), "text/csv"),
    )


# --- exports ------------------------------------------------------------------------------------------------


def export_filename(report: ComplianceReport, extension: str) -> str:
    return f"qms-{report.kind}-report-{report.period_start:%Y%m%d}-{report.pk}.{extension}"


def report_rows(payload: dict):
    """Every figure and table cell of a report as (section, item, value, records) rows."""
    refs = payload.get("refs", {})

    def records(ref):
        return refs.get(ref, {}).get("total", "") if ref else ""

    for section in payload["sections"]:
        for f in section.get("figures", []):
            yield section["title"], f["label"], f["display"], records(f.get("ref"))
        for chart in section.get("charts", []):
            if chart["type"] == "line":
                for i, label in enumerate(chart["labels"]):
                    for series in chart["series"]:
                        yield (
                            section["title"],
                            f"{chart['title']}: {label} — {series['name']}",
                            str(series["values"][i]),
                            records(series["refs"][i]),
                        )
            else:
                for bar in chart["bars"]:
                    yield (
                        section["title"],
                        f"{chart['title']}: {bar['label']}",
                        _shown(bar["value"], chart.get("unit", "")),
                        records(bar.get("ref")),
                    )
        for table in section.get("tables", []):
            for row in table["rows"]:
                cells = [c if isinstance(c, str) else c["text"] for c in row]
                for column, cell in zip(table["columns"][1:], row[1:], strict=False):
                    ref = None if isinstance(cell, str) else cell.get("ref")
                    yield (
                        section["title"],
                        f"{table['title']}: {cells[0]} — {column}",
                        (cell if isinstance(cell, str) else cell["text"]),
                        records(ref),
                    )
        for note in section.get("notes", []):
            yield section["title"], "Recommendation", note, ""


def report_csv(report: ComplianceReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    p = report.payload
    writer.writerow(["report", p["title"], "period", p["period_start"], p["period_end"], "sha256", report.sha256])
    writer.writerow(["section", "item", "value", "records"])
    for row in report_rows(p):
        writer.writerow([_csv_safe(str(c)) for c in row])
    return out.getvalue()


def _csv_safe(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas; quote them as text."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") and not value[1:2].isdigit() else value


def report_pdf(report: ComplianceReport) -> bytes:
    from audits.reports.pdf import render_pdf

    return render_pdf(report)
