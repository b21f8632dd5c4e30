"""The monthly compliance report's sections: executive dashboard metrics, compliance posture, process
effectiveness and the improvement recommendations (the Continuous Improvement Framework's triggers)."""

from __future__ import annotations

from audits.reports import metrics as m
from audits.reports.figures import _h, _kind_label, _level_chart, _patterns_table, _pct, figure


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


def monthly_sections(
    w: m.Window,
    refs: m.Refs,
    *,
    policy: dict,
    granted: dict,
    rem: dict,
    overdue: dict,
    on_time: list[dict],
    patterns: list[dict],
    trend_chart: dict,
    repo_chart: dict,
    on_time_table: dict,
    on_time_chart: dict,
    overdue_chart: dict,
    overdue_table: dict,
) -> list[dict]:
    """The month's sections, from the figures it shares with the weekly summary (``audits.reports.build``)."""
    thresholds = policy["improvement_thresholds"]
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
    return [
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
