"""The Emergency Change Management Procedure (ENG-PROC-004: Engineering Lead and Security approval, post-mortem
within 3 business days) as procedure data."""

from __future__ import annotations

from qms.procedures.presets.shared import SHARED_RULES
from qms.procedures.schema import TRANSITION_PRECONDITIONS_DEFAULT
from qms.procedures.training import TRAINING_EMERGENCY

ENG_PROC_004 = {
    "summary": "ENG-PROC-004: Engineering Lead and Security approval, post-mortem within 3 business days.",
    "severity_scale": [{"code": "CRITICAL", "label": "Critical issue"}],
    "category_severity": {"p1_incident": "CRITICAL", "critical_security": "CRITICAL", "data_breach": "CRITICAL"},
    "emergency_criteria": {
        "categories": ["p1_incident", "critical_security", "data_breach"],
        "cvss_required_for": ["critical_security"],
        "cvss_emergency_min": "9.0",
        "cvss_expedited_min": "7.0",
        "expedited_path": "standard change",
    },
    "stub_authorisers": {
        "p1_incident": ["lead", "security"],
        "critical_security": ["lead", "security"],
        "data_breach": ["lead", "security"],
    },
    "stub_authorisers_if": {},
    "transitions": TRANSITION_PRECONDITIONS_DEFAULT,
    "day_basis": "business",
    "clocks": [
        {
            "kind": "post_mortem",
            "anchor": "resolved",
            "label": "Post-mortem review",
            "amount": 3,
            "unit": "days",
            "basis": "business",
            "satisfied_on": ["post_mortem_approved"],
        },
        {
            "kind": "documentation",
            "anchor": "resolved",
            "label": "Retroactive change documentation",
            "amount": 3,
            "unit": "days",
            "basis": "business",
            "satisfied_on": ["documentation_complete"],
        },
    ],
    "ccb_required": False,
    **SHARED_RULES,
    "training": TRAINING_EMERGENCY,
}

PRESET = {
    "code": "eng-proc-004",
    "title": "Emergency Change Management Procedure (ENG-PROC-004)",
    "source_document": "002_4afcc398f10eef53.txt",
    "definition": ENG_PROC_004,
}
