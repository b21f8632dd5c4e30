"""What the four preset procedures share: the bypass levels of QMS Emergency Bypass Procedures v1.0 and its
decision tree, the verbal approvals, the rollback triggers and what a hotfix defers."""

from __future__ import annotations

from qms.procedures.schema import CHANNEL_FIELDS, CHECK_CATALOGUE, VERBAL_RECORDER_ROLES

# Remediation deadlines follow the "Post-Incident Actions" column of the Incident Classification Matrix
# (S4 → level 1: 5-day review, S3 → level 2: 3-day review, S2 → level 3: 24-hour review) and the 72-hour
# deliverables of the emergency bypass.
BYPASS_LEVELS = {
    "L1": {
        "label": "Level 1 — non-critical quality issues",
        "authorisers": [["lead"]],
        "required": ["reason", "impact_assessment", "remediation_due", "risk_evaluation"],
        "max_remediation": {"amount": 5, "unit": "days", "basis": "business"},
        "reviews": [{"kind": "lead_review", "label": "Lead review", "amount": 2, "unit": "hours", "role": "lead"}],
        "remediation": {"amount": 5, "unit": "days", "basis": "business"},
        "notify": ["qms"],
    },
    "L2": {
        "label": "Level 2 — standard quality gates",
        "authorisers": [["architect"], ["qms"]],
        "required": [
            "impact_assessment",
            "complexity_score",
            "test_coverage_impact",
            "integration_risk",
            "rollback_feasibility",
            "business_factors",
            "business_justification",
            "remediation_plan",
            "stakeholder_notification_plan",
        ],
        "reviews": [
            {"kind": "architect_review", "label": "Architect review", "amount": 4, "unit": "hours", "role": "architect"}
        ],
        "remediation": {"amount": 3, "unit": "days", "basis": "business"},
        "notify": ["qms"],
    },
    "L3": {
        "label": "Level 3 — security and compliance gates",
        "authorisers": [["qms"], ["security"]],
        "authorisers_if": {"compliance_involved": [["legal"]]},
        "required": [
            "security_impact_analysis",
            "legal_compliance_assessment",
            "remediation_roadmap",
            "incident_response_plan",
            "communication_strategy",
        ],
        "reviews": [
            {"kind": "initial_review", "label": "Initial review", "amount": 2, "unit": "hours", "role": "qms"},
            {
                "kind": "security_review",
                "label": "Security consultation",
                "amount": 4,
                "unit": "hours",
                "role": "security",
            },
            {
                "kind": "legal_review",
                "label": "Legal review",
                "amount": 8,
                "unit": "hours",
                "role": "legal",
                "if": "compliance_involved",
            },
            {"kind": "final_approval", "label": "Final approval", "amount": 12, "unit": "hours", "role": "qms"},
        ],
        "remediation": {"amount": 24, "unit": "hours", "basis": "calendar"},
        "notify": ["qms", "executive"],
    },
    "E": {
        "label": "Emergency — all quality gates",
        "authorisers": [["executive"], ["commander"]],
        "required": ["incident"],
        "reviews": [],
        "remediation": {"amount": 72, "unit": "hours", "basis": "calendar"},
        "notify": ["qms", "executive"],
    },
}

DECISION_TREE = {
    "high_impacts": ["critical", "high"],
    "high_with_security_or_compliance": "L3",
    "high_without": "L2",
    "low_code_quality_only": "L1",
    "low_other": "L2",
}

# What the four procedures share: the bypass levels of QMS Emergency Bypass Procedures v1.0 and its
# decision tree, the verbal-approval confirmation window (and how long after the fact an approval may still
# be written down: no longer than the window, or its confirmation would be overdue at once), who records
# it, the rollback triggers of §3.4 and what a hotfix defers (§3.2).
SHARED_RULES = {
    "channels": CHANNEL_FIELDS,
    "bypass_levels": BYPASS_LEVELS,
    "decision_tree": DECISION_TREE,
    "verbal_confirmation_hours": 24,
    "verbal_recording_max_age_hours": 24,
    "verbal_recorder_roles": VERBAL_RECORDER_ROLES,
    "rollback_triggers": {"error_rate_increase_pct": "5", "response_time_ratio": "2", "new_critical_errors": 0},
    # Each procedure's own gate catalogue (copied so that a version edits its own), and the checks an
    # emergency bypass skips, each of which its post-incident review validates retroactively.
    "gates": {code: dict(check) for code, check in CHECK_CATALOGUE.items()},
    "retroactive_checks": list(CHECK_CATALOGUE),
    "deferred_on_deploy": [
        {
            "kind": "full_regression",
            "label": "Full regression (deferred from the hotfix)",
            "amount": 72,
            "unit": "hours",
            "gate": "full_regression",
        },
    ],
}
