"""QMS Emergency Bypass Procedures v1.0 (four bypass levels, the incident classification matrix and compliance
tracking) as procedure data."""

from __future__ import annotations

from qms.procedures.compliance import COMPLIANCE_POLICY
from qms.procedures.presets.shared import SHARED_RULES
from qms.procedures.schema import TRANSITION_PRECONDITIONS_DEFAULT
from qms.procedures.training import TRAINING_QMS

QMS_BYPASS_PROCEDURES = {
    "summary": "QMS Emergency Bypass Procedures v1.0: four bypass levels and compliance tracking.",
    "severity_scale": [
        {"code": "S1", "label": "S1 - Critical"},
        {"code": "S2", "label": "S2 - High"},
        {"code": "S3", "label": "S3 - Medium"},
        {"code": "S4", "label": "S4 - Low"},
    ],
    "category_severity": {"p1_incident": "S1", "critical_security": "S1", "data_breach": "S1"},
    # Incident Classification Matrix: the bypass level each severity calls for and its post-incident actions
    # (opened as clocks when the severity is set, at filing or after). The emergency categories file as S1; the
    # incident commander confirms or changes the severity afterwards, which re-anchors the response clock.
    "severity_classes": {
        "S1": {
            "bypass_level": "E",
            "actions": [
                {"kind": "board_notification", "label": "Board notification", "amount": 24, "unit": "hours"},
                {"kind": "incident_review", "label": "Immediate review", "amount": 24, "unit": "hours"},
            ],
        },
        "S2": {
            "bypass_level": "L3",
            "actions": [
                {"kind": "incident_review", "label": "24-hour review", "amount": 24, "unit": "hours"},
                {"kind": "executive_summary", "label": "Executive summary", "amount": 24, "unit": "hours"},
            ],
        },
        "S3": {
            "bypass_level": "L2",
            "actions": [
                {"kind": "incident_review", "label": "3-day review", "amount": 3, "unit": "days"},
                {"kind": "team_notification", "label": "Team notification", "amount": 3, "unit": "days"},
            ],
        },
        "S4": {
            "bypass_level": "L1",
            "actions": [
                {"kind": "incident_review", "label": "5-day review", "amount": 5, "unit": "days"},
                {"kind": "technical_debt", "label": "Technical-debt tracking", "amount": 5, "unit": "days"},
            ],
        },
    },
    "emergency_criteria": {
        "categories": ["p1_incident", "critical_security", "data_breach"],
        "cvss_required_for": ["critical_security"],
        "cvss_emergency_min": "9.0",
        "cvss_expedited_min": "7.0",
        "expedited_path": "Level 3 bypass",
    },
    "stub_authorisers": {
        "p1_incident": ["executive", "commander"],
        "critical_security": ["executive", "commander"],
        "data_breach": ["executive", "commander"],
    },
    "stub_authorisers_if": {},
    "transitions": TRANSITION_PRECONDITIONS_DEFAULT,
    "day_basis": "calendar",
    "clocks": [
        {
            "kind": "triage",
            "label": "Response",
            "amount": 15,
            "unit": "minutes",
            "owner": "commander",
            "satisfied_on": ["authorize_bypass", "start_hotfix"],
            # Incident Classification Matrix: S1 ≤ 15 min, S2 ≤ 1 h, S3 ≤ 4 h, S4 ≤ 24 h.
            "by_severity": {
                "S2": {"amount": 1, "unit": "hours"},
                "S3": {"amount": 4, "unit": "hours"},
                "S4": {"amount": 24, "unit": "hours"},
            },
        },
        {
            "kind": "documentation",
            "anchor": "resolved",
            "label": "Post-incident review",
            "amount": 24,
            "unit": "hours",
            "satisfied_on": ["documentation_complete"],
        },
        {
            "kind": "post_mortem",
            "anchor": "resolved",
            "label": "Detailed incident report",
            "amount": 72,
            "unit": "hours",
            "owner": "commander",
            "satisfied_on": ["post_mortem_approved"],
        },
    ],
    "ccb_required": False,
    **SHARED_RULES,
    "training": TRAINING_QMS,
    "compliance": COMPLIANCE_POLICY,
}

PRESET = {
    "code": "qms-emergency-bypass-v1",
    "title": "QMS Emergency Bypass Procedures v1.0",
    "source_document": "001_7e35d047f7917cdb.txt",
    "definition": QMS_BYPASS_PROCEDURES,
}
