"""Compliance tracking as procedure data: the escalation ladder of an overdue remediation, repeated bypasses,
the improvement thresholds and the reports (QMS Emergency Bypass Procedures v1.0), with the accessors that
read a version's ``compliance`` key (defaults filled in for what it does not say).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

# --- compliance tracking: escalation, repeat bypasses, reports ---------------------------------------------
#
# QMS Emergency Bypass Procedures v1.0 ("Compliance Tracking and Audit Framework", "Metrics and KPIs", "Audit
# Report Generation") names the escalation triggers (remediation deadline missed, pattern of repeated bypasses)
# and the daily / weekly / monthly reports, but gives no ladder timings. The ladder below is derived from it:
#   - overdue (0 h)  → the owner: "remediation_deadline_missed" is the first escalation trigger;
#   - 24 h overdue   → the owner's lead: a missed day is a missed "daily_progress_updates" (L1) and
#                      "daily_compliance_status_reports" (L2) cycle. The portal has no team structure, so the
#                      owner's lead is every Development lead (the level-1 authorisers, "Lead review"), or the
#                      Engineering managers when no Development lead is active (ENG-PROC-004's Engineering Lead);
#   - 48 h overdue   → the QMS coordinator, who owns compliance tracking (two daily cycles missed, and the L3
#                      "24-hour review" missed twice over);
#   - 72 h overdue   → the executive: the 72-hour deliverables of the post-emergency procedure end in
#                      "board_level_presentation_materials"; anything still open past them is executive business.
# A procedure version may carry its own "compliance" key; versions without one use these defaults.
COMPLIANCE_POLICY: dict = {
    "escalation": [
        {"level": 1, "after": "0h", "to": "owner", "label": "Owner"},
        {
            "level": 2,
            "after": "24h",
            "to": "lead",
            "label": "Owner's lead",
            "roles": ["lead"],
            "fallback_roles": ["engmanager"],
        },
        {"level": 3, "after": "48h", "to": "qms", "label": "QMS coordinator", "roles": ["qms"]},
        {"level": 4, "after": "72h", "to": "executive", "label": "Executive", "roles": ["executive"]},
    ],
    # Escalations that reached the QMS coordinator or above are the daily report's "critical escalations".
    "critical_level": 3,
    # "pattern_of_repeated_bypasses" (level 1 escalation triggers): the same repository and check bypassed
    # min_bypasses times within window_days escalates to the roles below and requires a preventive follow-up
    # change, due within the longest remediation timeline of the procedure (5 business days, level 1).
    "repeat_bypass": {
        "min_bypasses": 3,
        "window_days": 30,
        "notify": ["lead", "qms"],
        "owner_role": "lead",
        "preventive_due": {"amount": 5, "unit": "days", "basis": "business"},
    },
    # "improvement_triggers" (Continuous Improvement Framework): a report recommends an improvement when a
    # metric crosses one of these.
    "improvement_thresholds": {
        "on_time_rate_min": 0.9,
        "remediation_completion_min": 0.9,
        "rollback_rate_max": 0.1,
        "false_alarm_rate_max": 0.1,
        "follow_up_compliance_min": 1.0,
    },
    "reports": {"recipients": ["qms"], "trend_months": 12, "trend_weeks": 8},
}
COMPLIANCE_PROCEDURE_CODE = "qms-emergency-bypass-v1"

# When the beat generates the reports (UTC); qms.settings reads COMPLIANCE_REPORT_* from the environment
# with these defaults. Weekly reports run on Monday (day_of_week 1), monthly ones on the 1st.
REPORT_SCHEDULE_DEFAULTS = {
    "daily": {"hour": 6, "minute": 0},
    "weekly": {"hour": 6, "minute": 30, "day_of_week": 1},
    "monthly": {"hour": 7, "minute": 0, "day_of_month": 1},
}

_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """ "0h", "24h", "30m", "3d" → a timedelta (calendar time: the ladder runs on wall-clock time)."""
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in _DURATION_UNITS or not text[:-1].isdigit():
        raise ValueError(f"A duration looks like 24h, 30m or 3d, not {text!r}.")
    return timedelta(**{_DURATION_UNITS[text[-1]]: int(text[:-1])})


@dataclass(frozen=True)
class EscalationStep:
    level: int
    after: timedelta
    to: str
    label: str
    roles: tuple[str, ...] = ()
    fallback_roles: tuple[str, ...] = ()

    @property
    def after_label(self) -> str:
        minutes = int(self.after.total_seconds() // 60)
        return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def compliance_policy(definition: dict | None = None) -> dict:
    """The compliance settings of a procedure definition, defaults filled in for what it does not say."""
    given = (definition or {}).get("compliance") or {}
    return {**COMPLIANCE_POLICY, **given}


def escalation_steps(definition: dict | None = None) -> list[EscalationStep]:
    """The escalation ladder, lowest level first. Levels are 1, 2, 3… and their delays never decrease."""
    steps = [
        EscalationStep(
            level=int(step["level"]),
            after=parse_duration(step["after"]),
            to=step["to"],
            label=step.get("label", step["to"]),
            roles=tuple(step.get("roles", ())),
            fallback_roles=tuple(step.get("fallback_roles", ())),
        )
        for step in compliance_policy(definition)["escalation"]
    ]
    steps.sort(key=lambda s: s.level)
    if [s.level for s in steps] != list(range(1, len(steps) + 1)):
        raise ValueError("Escalation levels must be 1, 2, 3… without gaps.")
    if any(steps[i].after < steps[i - 1].after for i in range(1, len(steps))):
        raise ValueError("A higher escalation level cannot come sooner than a lower one.")
    return steps
