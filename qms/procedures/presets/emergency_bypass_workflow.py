"""The Emergency Bypass Workflow (CHG-EMG stub, hotfix, post-incident, EMG error codes) as procedure data."""

from __future__ import annotations

from qms.procedures.presets.shared import SHARED_RULES
from qms.procedures.schema import TRANSITION_PRECONDITIONS_DEFAULT
from qms.procedures.training import TRAINING_EMERGENCY

EMERGENCY_BYPASS_WORKFLOW = {
    "summary": "Emergency Bypass Workflow: CHG-EMG stub, hotfix, post-incident, EMG error codes.",
    "severity_scale": [
        {"code": "P1", "label": "P1 Incident"},
        {"code": "CRITICAL_SECURITY", "label": "Critical Security"},
        {"code": "DATA_BREACH", "label": "Data Breach"},
    ],
    "category_severity": {"p1_incident": "P1", "critical_security": "CRITICAL_SECURITY", "data_breach": "DATA_BREACH"},
    "emergency_criteria": {
        "categories": ["p1_incident", "critical_security", "data_breach"],
        "cvss_required_for": ["critical_security"],
        "cvss_emergency_min": "9.0",
        "cvss_expedited_min": "7.0",
        "expedited_path": "GATE-05",
    },
    "stub_authorisers": {
        "p1_incident": ["commander"],
        "critical_security": ["security", "commander"],
        "data_breach": ["legal", "commander", "security"],
    },
    "stub_authorisers_if": {},
    "transitions": TRANSITION_PRECONDITIONS_DEFAULT,
    # "IC Authorization: verbal + stub": the incident commander may sign a deviation that lets the hotfix and
    # its deployment go ahead before the authorisation is complete (EMG-E001 stays open until it is).
    "proceed_before_authorisation": {"roles": ["commander"], "transitions": ["start_hotfix", "deploy"]},
    "day_basis": "calendar",
    "clocks": [
        {
            "kind": "triage",
            "label": "Triage",
            "amount": 30,
            "unit": "minutes",
            "owner": "commander",
            "satisfied_on": ["authorize_bypass", "start_hotfix"],
        },
        {"kind": "hotfix", "label": "Hotfix deployed", "amount": 4, "unit": "hours", "satisfied_on": ["deploy"]},
        {
            "kind": "documentation",
            "anchor": "resolved",
            "label": "Full CHG documentation",
            "amount": 24,
            "unit": "hours",
            "satisfied_on": ["documentation_complete"],
        },
        {
            "kind": "post_mortem",
            "anchor": "resolved",
            "label": "Post-mortem",
            "amount": 72,
            "unit": "hours",
            "owner": "commander",
            "satisfied_on": ["post_mortem_approved"],
        },
    ],
    "ccb_required": False,
    **SHARED_RULES,
    "training": TRAINING_EMERGENCY,
}

PRESET = {
    "code": "emergency-bypass-workflow",
    "title": "Emergency Bypass Workflow",
    "source_document": "000_a61b91c879e4ff78.txt",
    "definition": EMERGENCY_BYPASS_WORKFLOW,
}
