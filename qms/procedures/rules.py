"""Procedures as data.

Every number the portal enforces (severity scale, emergency criteria, who authorises, clocks, day basis,
gates, whether a CCB decides) comes from a procedure version's ``definition``. The four procedure
documents the portal implements ship as the presets below; a migration loads them as version 1, and an
edit through :func:`qms.services.procedure_version_create` makes a new version, never rewriting an old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from qms.clock import deadline
from qms.procedures.ccb import CM_WF_CCB, CM_WF_COMMUNICATION, CCBRules, validate_ccb
from qms.procedures.training import TRAINING_CM_WF, TRAINING_EMERGENCY, TRAINING_QMS, TrainingRules, validate_training
from qms.roles import READ_ONLY_ROLES, Role
from qms.roster.response import validate_oncall_response

# Categories an on-call engineer can pick when filing. The last two exist so that the decision matrix
# (Emergency Bypass Workflow §6.1) can refuse them with its reason instead of a bare "invalid choice".
CATEGORY_CHOICES = [
    ("p1_incident", "P1 incident — production down, revenue impact"),
    ("critical_security", "Critical security — CVSS ≥ 9.0, active exploitation"),
    ("data_breach", "Data breach — customer data exposed"),
    ("p2_incident", "P2 incident — degraded, not down"),
    ("urgent_feature", "“Urgent” feature request"),
]
CATEGORY_LABELS = dict(CATEGORY_CHOICES)
CATEGORY_TAGS = {"p1_incident": "p1-incident", "critical_security": "critical-security", "data_breach": "data-breach"}

# The quality gates (checks) a bypass can skip, and the lowest level allowed to skip each
# (QMS Emergency Bypass Procedures v1.0, levels 1-3 and emergency).
CHECK_CATALOGUE = {
    "code_quality_minor": {"label": "Code quality (minor)", "min_level": "L1"},
    "documentation_coverage": {"label": "Documentation coverage", "min_level": "L1"},
    "performance_regression_warning": {"label": "Performance regression warning", "min_level": "L1"},
    "dor_dod": {"label": "DoR/DoD validation", "min_level": "L2"},
    "code_quality_major": {"label": "Code quality (major)", "min_level": "L2"},
    "security_high": {"label": "High-severity security finding", "min_level": "L2"},
    "security_critical": {"label": "Critical security vulnerability", "min_level": "L3"},
    "compliance_regulatory": {"label": "GDPR/PCI/regulatory compliance failure", "min_level": "L3"},
    "full_regression": {"label": "Full regression test suite", "min_level": "E"},
    "staging_deployment": {"label": "Staging deployment", "min_level": "E"},
    "standard_review_cycle": {"label": "Standard review cycle", "min_level": "E"},
}

# Remediation deadlines follow the "Post-Incident Actions" column of the Incident Classification Matrix
# (S4 → level 1: 5-day review, S3 → level 2: 3-day review, S2 → level 3: 24-hour review) and the 72-hour
# deliverables of the emergency bypass.
_BYPASS_LEVELS = {
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

_DECISION_TREE = {
    "high_impacts": ["critical", "high"],
    "high_with_security_or_compliance": "L3",
    "high_without": "L2",
    "low_code_quality_only": "L1",
    "low_other": "L2",
}

# Who may approve a post-mortem (Emergency Bypass Workflow §4.2) when a version does not say otherwise
# ("post_mortem_approvers").
POST_MORTEM_APPROVERS_DEFAULT = ("commander", "qms", "engmanager", "security", "quality", "lead")

# Who may write down an approval heard on the bridge call (Emergency Bypass Workflow §2.3 "Verbal + Stub",
# ENG-PROC-004 step 2 "obtains and documents verbal or written approval"): the incident side and the QMS
# coordinators. Never a read-only role.
VERBAL_RECORDER_ROLES = ["oncall", "commander", "lead", "architect", "engmanager", "security", "qms"]

# Which fields of a record each kind of channel audience gets (QMS Emergency Bypass Procedures v1.0, "slack
# notification automation"; CM-WF-EMERGENCY §12.2 internal/external). A public channel never carries the
# problem statement, and for the confidential categories not even the title: only the record id, what is
# asked and the link. A person's own messages (email, Slack DM) carry what their email does.
CHANNEL_FIELDS = {
    "audiences": {
        "public": ["record", "title", "status", "severity", "asked", "update", "link"],
        "responders": [
            "record",
            "title",
            "status",
            "category",
            "severity",
            "asked",
            "problem_statement",
            "update",
            "link",
        ],
        "external": ["record", "title", "asked", "update", "link"],
        "person": ["record", "title", "status", "category", "severity", "asked", "problem_statement", "update", "link"],
    },
    "withheld_in_public": {"data_breach": ["title", "problem_statement"], "critical_security": ["problem_statement"]},
    # The "internal list" a status update goes to (§12.2), besides the channels subscribed to updates.
    "internal_update_roles": ["commander", "cm", "program", "qms"],
}

# What the four procedures share: the bypass levels of QMS Emergency Bypass Procedures v1.0 and its
# decision tree, the verbal-approval confirmation window (and how long after the fact an approval may still
# be written down: no longer than the window, or its confirmation would be overdue at once), who records
# it, the rollback triggers of §3.4 and what a hotfix defers (§3.2).
_SHARED_RULES = {
    "channels": CHANNEL_FIELDS,
    "bypass_levels": _BYPASS_LEVELS,
    "decision_tree": _DECISION_TREE,
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


# What must hold before each step of the lifecycle (Emergency Bypass Workflow §2-§4, CM-WF-EMERGENCY §8-§14).
# Each code is checked by emergencies.services.preconditions; "gate:<code>" is a decision gate of the CCB that
# must have passed. "distribute" is the first send of a patch package to a unit. A definition without a
# "transitions" key (a version loaded before they existed) reads these defaults (CM-WF's when it has a CCB).
TRANSITION_PRECONDITIONS_DEFAULT = {
    "start_hotfix": ["emergency_authorised"],
    "deploy": ["emergency_authorised", "deployment_checklist"],
    "resolve": ["rollback_triggers_clear"],
    "close": ["closure_checklist"],
}
TRANSITION_PRECONDITIONS_CM_WF = {
    # §14.2: patch development starts once Gate 2 approved the fast track (Gate 1 before it).
    "start_hotfix": ["emergency_authorised", "gate:declare", "gate:fast_track"],
    # §8.2, §10, §14.3: an approved package (hashes verified) and Gate 3 before any unit or "deployed".
    "deploy": ["emergency_authorised", "deployment_checklist", "patch_package_approved", "gate:deployment"],
    "distribute": ["patch_package_approved", "gate:deployment"],
    "resolve": ["rollback_triggers_clear"],
    "close": ["closure_checklist"],
}
PRECONDITION_LABELS = {
    "emergency_authorised": "Emergency bypass authorised (signatures or recorded verbal approvals)",
    "deployment_checklist": "Emergency deployment checklist complete (§3.3)",
    "patch_package_approved": "Patch package approved, every hash verified (§8.2)",
    "rollback_triggers_clear": "No rollback trigger firing on the latest reading (§3.4)",
    "closure_checklist": "Closure checklist complete (§4.5)",
}
PRECONDITION_TRANSITIONS = ("start_hotfix", "deploy", "start_monitoring", "resolve", "close", "distribute")

_EMERGENCY_BYPASS_WORKFLOW = {
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
    **_SHARED_RULES,
    "training": TRAINING_EMERGENCY,
}

_QMS_BYPASS_PROCEDURES = {
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
    **_SHARED_RULES,
    "training": TRAINING_QMS,
}

_ENG_PROC_004 = {
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
    **_SHARED_RULES,
    "training": TRAINING_EMERGENCY,
}

_CM_WF_EMERGENCY = {
    "summary": "CM-WF-EMERGENCY: emergency patch with emergency CCB, gates 1-4, per-unit distribution.",
    "severity_scale": [
        {"code": "CRITICAL", "label": "Critical (deploy within 24 hours)"},
        {"code": "HIGH", "label": "High (deploy within 72 hours)"},
        {"code": "MEDIUM", "label": "Medium (deploy within 7 days)"},
    ],
    "category_severity": {"p1_incident": "CRITICAL", "critical_security": "CRITICAL", "data_breach": "CRITICAL"},
    "emergency_criteria": {
        "categories": ["p1_incident", "critical_security", "data_breach"],
        "cvss_required_for": ["critical_security"],
        "cvss_emergency_min": "9.0",
        "cvss_expedited_min": "7.0",
        "expedited_path": "High severity emergency patch",
    },
    "stub_authorisers": {
        "p1_incident": ["cm", "program"],
        "critical_security": ["security", "program"],
        "data_breach": ["security", "program"],
    },
    "stub_authorisers_if": {"safety_related": ["safety"]},
    "transitions": TRANSITION_PRECONDITIONS_CM_WF,
    "day_basis": "calendar",
    "clocks": [
        {
            "kind": "triage",
            "label": "Severity assessment",
            "amount": 4,
            "unit": "hours",
            "satisfied_on": ["authorize_bypass", "start_hotfix"],
        },
        {
            "kind": "hotfix",
            "label": "Patch deployed",
            "amount": 24,
            "unit": "hours",
            "satisfied_on": ["deploy"],
            "by_severity": {"HIGH": {"amount": 72, "unit": "hours"}, "MEDIUM": {"amount": 7, "unit": "days"}},
        },
        {
            "kind": "external_notification",
            "label": "External notification",
            "amount": 4,
            "unit": "hours",
            "satisfied_on": ["external_notification_sent"],
            "by_severity": {"HIGH": {"amount": 8, "unit": "hours"}, "MEDIUM": {"amount": 24, "unit": "hours"}},
        },
        {
            "kind": "follow_up_documentation",
            "label": "30-day follow-up documentation",
            "amount": 30,
            "unit": "days",
            "satisfied_on": ["follow_up_documentation_complete"],
        },
    ],
    "ccb_required": True,
    "ccb": CM_WF_CCB,
    # §13.2: the on-call primary acknowledges a page within 1 h (Critical) or 2 h (High), else the backup is paged.
    "oncall_response": {
        "by_severity": {"CRITICAL": {"amount": 1, "unit": "hours"}, "HIGH": {"amount": 2, "unit": "hours"}},
        "default": {"amount": 2, "unit": "hours"},
    },
    # A patch package (§8.2) distributed per affected unit (§10), its hashes audited before closure, and the
    # eight §11.2 follow-up documents within 30 days of deployment (emergencies.services.patches).
    "patch_package": True,
    "communication": CM_WF_COMMUNICATION,
    **_SHARED_RULES,
    "training": TRAINING_CM_WF,
    # §11.1-§11.5: what the deployment starts (besides the deferred full regression); the §11.2 documents are
    # the "follow_up_documentation" clock. Each duration's upper bound is the due time.
    "deferred_on_deploy": [
        *_SHARED_RULES["deferred_on_deploy"],
        {
            "kind": "post_deployment_monitoring",
            "label": "30-day intensive monitoring (§11.1)",
            "amount": 30,
            "unit": "days",
        },
        {
            "kind": "root_cause_analysis",
            "label": "Root cause analysis (§11.4, 30-60 days)",
            "amount": 60,
            "unit": "days",
            "satisfied_on": ["post_mortem_approved"],
        },
        {
            "kind": "lessons_learned",
            "label": "Lessons learned (§11.5, 60-90 days)",
            "amount": 90,
            "unit": "days",
        },
        {
            "kind": "formal_release",
            "label": "Formal release with CCB approval (§11.3, 30-60 days)",
            "amount": 60,
            "unit": "days",
        },
    ],
}

PRESETS: list[dict] = [
    {
        "code": "emergency-bypass-workflow",
        "title": "Emergency Bypass Workflow",
        "source_document": "000_a61b91c879e4ff78.txt",
        "definition": _EMERGENCY_BYPASS_WORKFLOW,
    },
    {
        "code": "qms-emergency-bypass-v1",
        "title": "QMS Emergency Bypass Procedures v1.0",
        "source_document": "001_7e35d047f7917cdb.txt",
        "definition": _QMS_BYPASS_PROCEDURES,
    },
    {
        "code": "eng-proc-004",
        "title": "Emergency Change Management Procedure (ENG-PROC-004)",
        "source_document": "002_4afcc398f10eef53.txt",
        "definition": _ENG_PROC_004,
    },
    {
        "code": "cm-wf-emergency",
        "title": "Emergency Patch Workflow (CM-WF-EMERGENCY)",
        "source_document": "003_13adccf32a989cad.txt",
        "definition": _CM_WF_EMERGENCY,
    },
]
DEFAULT_PROCEDURE_CODE = "emergency-bypass-workflow"

REQUIRED_KEYS = (
    "severity_scale",
    "category_severity",
    "emergency_criteria",
    "stub_authorisers",
    "day_basis",
    "clocks",
    "ccb_required",
)


@dataclass(frozen=True)
class Refusal:
    """Why a stub may not use the emergency path (decision matrix §6.1)."""

    code: str
    field: str
    message: str


@dataclass(frozen=True)
class ClockSpec:
    kind: str
    label: str
    amount: float
    unit: str
    basis: str
    owner: str = "author"
    satisfied_on: tuple[str, ...] = ()
    anchor: str = "declared"

    def due(self, start: datetime) -> datetime:
        return deadline(start, amount=self.amount, unit=self.unit, basis=self.basis)


def validate_definition(definition: dict) -> list[str]:
    """Return what is wrong with a procedure definition (empty when it is usable); each names its field."""
    from qms.procedures.validation import structure_problems

    problems = structure_problems(definition)
    if problems:
        return problems
    problems = [f"{key}: missing (required)." for key in REQUIRED_KEYS if key not in definition]
    if problems:
        return problems
    severities = {s["code"] for s in definition["severity_scale"]}
    for category, severity in definition["category_severity"].items():
        if severity not in severities:
            problems.append(f"Category {category} maps to unknown severity {severity}.")
    roles = {r.value for r in Role}
    for category, authorisers in definition["stub_authorisers"].items():
        problems += [f"Unknown role {r} for {category}." for r in authorisers if r not in roles]
    if definition["day_basis"] not in {"calendar", "business"}:
        problems.append("day_basis must be 'calendar' or 'business'.")
    for clock in definition["clocks"]:
        if clock.get("unit") not in {"minutes", "hours", "days"} or float(clock.get("amount", 0)) <= 0:
            problems.append(f"Clock {clock.get('kind')!r} needs a positive amount in minutes, hours or days.")
    recorders = definition.get("verbal_recorder_roles", VERBAL_RECORDER_ROLES)
    problems += [f"Unknown role {r} may record verbal approvals." for r in recorders if r not in roles]
    problems += [
        f"{Role(r).label} is read-only and cannot record approvals."
        for r in recorders
        if r in roles and Role(r) in READ_ONLY_ROLES
    ]
    if float(definition.get("verbal_recording_max_age_hours", 24)) <= 0:
        problems.append("verbal_recording_max_age_hours must be positive.")
    approvers = definition.get("post_mortem_approvers", POST_MORTEM_APPROVERS_DEFAULT)
    problems += [f"post_mortem_approvers: unknown role {r!r}." for r in approvers if r not in roles]
    problems += [
        f"post_mortem_approvers: {Role(r).label} is read-only."
        for r in approvers
        if r in roles and Role(r) in READ_ONLY_ROLES
    ]
    problems += validate_ccb(definition)
    problems += validate_training(definition)
    problems += validate_oncall_response(definition)
    gates = {g.get("code") for g in (definition.get("ccb") or {}).get("gates", [])} or {
        g["code"] for g in CM_WF_CCB["gates"]
    }
    for transition, codes in (definition.get("transitions") or {}).items():
        if transition not in PRECONDITION_TRANSITIONS:
            problems.append(f"Unknown transition {transition!r} in transitions.")
        for code in codes:
            known = code in PRECONDITION_LABELS or (code.startswith("gate:") and code[5:] in gates)
            if not known:
                problems.append(f"Unknown precondition {code!r} for {transition}.")
    return problems


class ProcedureRules(CCBRules, TrainingRules):
    """Typed questions asked of one procedure version's definition."""

    def __init__(self, definition: dict):
        self.definition = definition

    @property
    def severity_labels(self) -> dict[str, str]:
        return {s["code"]: s["label"] for s in self.definition["severity_scale"]}

    @property
    def ccb_required(self) -> bool:
        return bool(self.definition.get("ccb_required"))

    @property
    def channel_fields(self) -> dict:
        """The ``channels`` block; versions written before it existed get the preset's."""
        return self.definition.get("channels") or CHANNEL_FIELDS

    def fields_for_audience(self, audience: str, category: str) -> list[str]:
        block = self.channel_fields
        fields = list(block["audiences"].get(audience, ["record", "asked", "link"]))
        if audience in ("public", "external"):
            withheld = set(block.get("withheld_in_public", {}).get(category, []))
            fields = [f for f in fields if f not in withheld]
        return fields

    def transition_preconditions(self, transition: str) -> list[str]:
        """The precondition codes of a lifecycle step under this version (see PRECONDITION_LABELS)."""
        block = self.definition.get("transitions")
        if block is None:
            block = TRANSITION_PRECONDITIONS_CM_WF if self.ccb_required else TRANSITION_PRECONDITIONS_DEFAULT
        return list(block.get(transition, []))

    @property
    def proceed_before_authorisation(self) -> dict:
        """Who may sign a "proceed before authorisation" deviation, and for which steps ({} when nobody may)."""
        return self.definition.get("proceed_before_authorisation") or {}

    def severity_class(self, severity: str) -> dict:
        """The bypass level and post-incident actions a severity calls for ({} when the procedure has none)."""
        return (self.definition.get("severity_classes") or {}).get(severity, {})

    def severity_for(self, category: str) -> str:
        return self.definition["category_severity"].get(category, "")

    def emergency_refusal(self, category: str, cvss: Decimal | None) -> Refusal | None:
        """Apply the decision matrix: may this situation use the emergency bypass at all?"""
        criteria = self.definition["emergency_criteria"]
        label = CATEGORY_LABELS.get(category, category).split(" — ")[0]
        if category not in criteria["categories"]:
            return Refusal(
                "EMG-E002",
                "category",
                f"EMG-E002: a {label} does not qualify for the emergency bypass. Use the standard gate process.",
            )
        if category in criteria.get("cvss_required_for", []):
            minimum = Decimal(criteria["cvss_emergency_min"])
            if cvss is None:
                return Refusal(
                    "CVSS", "cvss_score", f"A critical security emergency needs its CVSS score (≥ {minimum})."
                )
            if cvss < minimum:
                expedited = Decimal(criteria["cvss_expedited_min"])
                if cvss >= expedited:
                    return Refusal(
                        "EMG-E002",
                        "cvss_score",
                        f"EMG-E002: CVSS {cvss} is high, not critical (the emergency bypass needs ≥ {minimum}). "
                        f"Use the expedited {criteria['expedited_path']} path.",
                    )
                return Refusal(
                    "EMG-E002",
                    "cvss_score",
                    f"EMG-E002: CVSS {cvss} is below {expedited}; this is not an emergency. "
                    "Use the standard gate process.",
                )
        return None

    def stub_authoriser_roles(self, category: str, flags: dict[str, bool]) -> list[Role]:
        roles = list(self.definition["stub_authorisers"].get(category, []))
        for flag, extra in self.definition.get("stub_authorisers_if", {}).items():
            if flags.get(flag):
                roles += [r for r in extra if r not in roles]
        return [Role(r) for r in roles]

    def clocks(self, severity: str) -> list[ClockSpec]:
        specs = []
        for clock in self.definition["clocks"]:
            override = clock.get("by_severity", {}).get(severity, {})
            specs.append(
                ClockSpec(
                    kind=clock["kind"],
                    label=clock["label"],
                    amount=override.get("amount", clock["amount"]),
                    unit=override.get("unit", clock["unit"]),
                    basis=clock.get("basis", self.definition["day_basis"]),
                    owner=clock.get("owner", "author"),
                    satisfied_on=tuple(clock.get("satisfied_on", ())),
                    anchor=clock.get("anchor", "declared"),
                )
            )
        return specs

    # --- bypasses ---------------------------------------------------------------------------------------

    def bypass_level(self, level: str) -> dict:
        return self.definition["bypass_levels"][level]

    def decide_bypass_level(self, *, production_impact: str, security_or_compliance: bool, code_quality_only: bool):
        """The decision tree of QMS Emergency Bypass Procedures v1.0: the level and the branch taken."""
        tree = self.definition["decision_tree"]
        if production_impact in tree["high_impacts"]:
            if security_or_compliance:
                return tree["high_with_security_or_compliance"], (
                    f"Production impact {production_impact} → security/compliance involved → Level 3/Emergency"
                )
            return tree["high_without"], f"Production impact {production_impact} → no security/compliance → Level 2"
        if code_quality_only:
            return tree["low_code_quality_only"], f"Production impact {production_impact} → code quality only → Level 1"
        return tree["low_other"], f"Production impact {production_impact} → not only code quality → Level 2"

    def bypass_slots(self, level: str, flags: dict[str, bool], *, category: str = "") -> list[list[Role]]:
        """Who must sign: one slot per required role (a slot may accept any of several roles).

        An emergency bypass that authorises an emergency stub uses the stub's authorisers (§2.3);
        every other request uses the level's authorisers.
        """
        if level == "E" and category:
            return [[role] for role in self.stub_authoriser_roles(category, flags)]
        spec = self.bypass_level(level)
        slots = [list(slot) for slot in spec["authorisers"]]
        for flag, extra in spec.get("authorisers_if", {}).items():
            if flags.get(flag):
                slots += [list(slot) for slot in extra]
        return [[Role(r) for r in slot] for slot in slots]

    def bypass_reviews(self, level: str, flags: dict[str, bool]) -> list[dict]:
        return [r for r in self.bypass_level(level)["reviews"] if not r.get("if") or flags.get(r["if"])]

    def remediation_due(self, level: str, start: datetime) -> datetime:
        spec = self.bypass_level(level)["remediation"]
        return deadline(start, amount=spec["amount"], unit=spec["unit"], basis=spec.get("basis", "calendar"))

    def max_remediation_due(self, level: str, start: datetime) -> datetime | None:
        spec = self.bypass_level(level).get("max_remediation")
        if not spec:
            return None
        return deadline(start, amount=spec["amount"], unit=spec["unit"], basis=spec.get("basis", "calendar"))

    @property
    def verbal_confirmation_hours(self) -> int:
        return int(self.definition.get("verbal_confirmation_hours", 24))

    @property
    def verbal_recording_max_age(self) -> timedelta:
        """How long after it was given an approval may still be recorded (default: the confirmation window)."""
        hours = self.definition.get("verbal_recording_max_age_hours", self.verbal_confirmation_hours)
        return timedelta(hours=float(hours))

    @property
    def verbal_recorder_roles(self) -> list[Role]:
        """The roles that may record someone else's verbal or written approval; never a read-only one."""
        names = self.definition.get("verbal_recorder_roles", VERBAL_RECORDER_ROLES)
        return [Role(r) for r in names if r in Role._value2member_map_ and Role(r) not in READ_ONLY_ROLES]

    @property
    def post_mortem_approver_roles(self) -> tuple[Role, ...]:
        """Who may approve a post-mortem (never its author, never a read-only role); the six roles by default."""
        names = self.definition.get("post_mortem_approvers") or POST_MORTEM_APPROVERS_DEFAULT
        return tuple(Role(r) for r in names if r in Role._value2member_map_ and Role(r) not in READ_ONLY_ROLES)

    @property
    def gate_catalogue(self) -> dict[str, dict]:
        """This version's checks a bypass may skip ({code: {label, min_level}}); older versions read the preset's."""
        return self.definition.get("gates") or CHECK_CATALOGUE

    def check_label(self, code: str) -> str:
        return (self.gate_catalogue.get(code) or CHECK_CATALOGUE.get(code) or {"label": code})["label"]

    def checks_allowed(self, level: str) -> list[str]:
        """The checks a level may bypass under this version: its own and those of every level below it."""
        return checks_allowed(level, self.gate_catalogue)

    @property
    def retroactive_checks(self) -> list[str]:
        """The checks an emergency bypass skips, each validated after the fact (default: the whole catalogue)."""
        checks = self.definition.get("retroactive_checks")
        return [c for c in checks if c in self.gate_catalogue] if checks else list(self.gate_catalogue)

    @property
    def rollback_triggers(self) -> dict:
        return self.definition.get("rollback_triggers", {})

    @property
    def deferred_on_deploy(self) -> list[dict]:
        return self.definition.get("deferred_on_deploy", [])


LEVEL_ORDER = {"L1": 1, "L2": 2, "L3": 3, "E": 4}


def checks_allowed(level: str, catalogue: dict | None = None) -> list[str]:
    """The checks a level may bypass: its own and those of every level below it (in ``catalogue``, a version's)."""
    catalogue = CHECK_CATALOGUE if catalogue is None else catalogue
    return [key for key, check in catalogue.items() if LEVEL_ORDER[check["min_level"]] <= LEVEL_ORDER[level]]


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
_QMS_BYPASS_PROCEDURES["compliance"] = COMPLIANCE_POLICY
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
