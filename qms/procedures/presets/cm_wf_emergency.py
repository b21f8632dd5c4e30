"""The Emergency Patch Workflow (CM-WF-EMERGENCY: emergency CCB, gates 1-4, per-unit distribution) as procedure
data, with its change control board and communication plan (§4, §7, §12, §14, §15), which a definition
that needs a CCB but carries no ``ccb`` block reads (:class:`qms.procedures.ccb.CCBRules`)."""

from __future__ import annotations

from qms.procedures.presets.shared import SHARED_RULES
from qms.procedures.schema import APPROVE, MORE_INFO, STANDARD, TRANSITION_PRECONDITIONS_CM_WF
from qms.procedures.training import TRAINING_CM_WF

# §4: the severity classification Gate 1 is recorded against.
_SEVERITY_CRITERIA = {
    "CRITICAL": [
        "Immediate threat to life or spacecraft",
        "Security vulnerability actively exploited",
        "Total loss of critical function",
        "Regulatory emergency order",
    ],
    "HIGH": [
        "Potential safety issue (hazard identified but not yet manifested)",
        "Security vulnerability disclosed but not yet exploited",
        "Major operational impact (degraded but not lost capability)",
        "Airworthiness Directive with short compliance time",
    ],
    "MEDIUM": [
        "Degraded safety margin",
        "Security risk but no immediate threat",
        "Significant operational limitation",
        "Standard AD compliance",
    ],
}

# Change statuses (emergencies.ChangeRecord) in which a gate's session may be convened.
_BEFORE_DEPLOYMENT = ["stub", "bypass_authorised", "hotfix_in_progress", "rolled_back"]

CM_WF_CCB: dict = {
    "summary": "Emergency CCB (CM-WF-EMERGENCY §7, §14, §15).",
    "chair_role": "cm",
    "convener_roles": ["cm"],
    # §7.1 minimum representation. "if" names an incident flag; "severities" the severities it applies to.
    "representation": [
        {"role": "cm", "reason": "chair"},
        {"role": "safety", "if": "safety_related", "reason": "safety-related"},
        {"role": "security", "if": "security_involved", "reason": "security-related"},
        {"role": "engmanager", "reason": "always"},
        {"role": "quality", "reason": "always"},
        {"role": "program", "severities": ["CRITICAL"], "reason": "critical severity"},
    ],
    # Who else may sit on a session (in addition to the required roles).
    "member_roles": ["commander", "release", "certlead", "lead", "architect", "qms", "security", "safety", "program"],
    # §7.2 authority: the chair, or the program manager for critical severity.
    "decider": {"default": "chair", "by_severity": {"CRITICAL": "program"}},
    "vote_choices": [
        {"code": APPROVE, "label": "Approve emergency process"},
        {"code": STANDARD, "label": "Use standard process"},
        {"code": MORE_INFO, "label": "More information needed"},
    ],
    "decision_rule": {
        "quorum": "required_roles_voted",
        "majority": "more_than_half",
        "otherwise": MORE_INFO,
        "summary": (
            "Every required role must be represented by a member who has voted. Each member's latest signed "
            "vote counts once. An outcome chosen by more than half of the current votes carries; otherwise "
            "(a split or a tie) the outcome is “more information needed”. The decider records the outcome the "
            "votes give, with a reason."
        ),
    },
    # §7.2: the CCB decides within an hour of convening.
    "decision_window": {"amount": 1, "unit": "hours"},
    # §14 decision gates. Gate 1 is recorded by one authorised person; the others by an emergency CCB session.
    "gates": [
        {
            "code": "declare",
            "number": 1,
            "label": "Gate 1: Declare emergency",
            "question": "Is the emergency process warranted?",
            "criteria": "Meets the severity classification (§4).",
            "session": False,
            "roles": ["safety", "security", "cm"],
        },
        {
            "code": "fast_track",
            "requires": ["declare"],
            "number": 2,
            "label": "Gate 2: Approve fast-track",
            "question": "Approve the expedited process?",
            "criteria": "The risk/benefit assessment supports immediate action.",
            "session": True,
            "outcomes": [APPROVE, STANDARD, MORE_INFO],
            "grants_waivers": True,
            "statuses": _BEFORE_DEPLOYMENT,
        },
        {
            "code": "deployment",
            "requires": ["fast_track"],
            "number": 3,
            "label": "Gate 3: Approve deployment",
            "question": "Deploy the patch?",
            "criteria": "Verification complete, risk acceptable, rollback ready.",
            "session": True,
            "outcomes": [APPROVE, STANDARD, MORE_INFO],
            "preconditions": ["verification_complete", "risk_assessment_documented", "rollback_ready"],
            "statuses": _BEFORE_DEPLOYMENT,
            "labels": {APPROVE: "Approve deployment"},
        },
        {
            "code": "close",
            "requires": ["deployment"],
            "number": 4,
            "label": "Gate 4: Close emergency",
            "question": "Return to the normal process?",
            "criteria": "Follow-up documentation complete, issue resolved, lessons learned captured.",
            "session": True,
            "outcomes": [APPROVE, MORE_INFO],
            "preconditions": ["follow_up_documentation_complete", "issue_resolved", "lessons_learned_captured"],
            "statuses": ["deployed", "monitoring", "post_incident"],
            "labels": {APPROVE: "Close the emergency"},
        },
        {
            "code": "ratification",
            "number": None,
            "label": "Ratification after the fact",
            "question": "Was the emergency process warranted?",
            "criteria": "Formal CCB approval, retroactive (§11.2).",
            "session": True,
            "outcomes": [APPROVE, STANDARD, MORE_INFO],
            "grants_waivers": True,
            "retroactive": True,
            "statuses": [*_BEFORE_DEPLOYMENT, "deployed", "monitoring", "post_incident", "closed"],
            "labels": {APPROVE: "Ratify: the emergency was warranted", STANDARD: "Unwarranted: a false alarm"},
        },
    ],
    "preconditions": {
        "verification_complete": "Verification complete (§9.1 focused testing done)",
        "risk_assessment_documented": "Risk assessment documented (§9.3)",
        "rollback_ready": "Rollback ready (§9.2 rollback procedure)",
        "follow_up_documentation_complete": "30-day follow-up documentation complete (§11.2)",
        "issue_resolved": "Issue resolved",
        "lessons_learned_captured": "Lessons learned captured (§11.5)",
    },
    # §15 process waivers.
    "waivable": [
        {"code": "extended_verification", "label": "Extended verification testing (reduced to focused testing)"},
        {
            "code": "full_compliance_documentation",
            "label": "Full compliance documentation (interim approval with 30-day follow-up)",
        },
        {"code": "standard_ccb_cycle", "label": "Standard CCB review cycle (fast-track approval)"},
        {"code": "distribution_controls", "label": "Distribution controls (targeted immediate deployment)"},
    ],
    "not_waivable": [
        {"code": "code_review", "label": "Code review"},
        {"code": "rollback_testing", "label": "Rollback testing"},
        {"code": "hash_verification", "label": "Hash verification"},
        {"code": "minimum_testing", "label": "Minimum required testing"},
        {"code": "safety_assessment", "label": "Safety assessment"},
        {"code": "regulatory_notification", "label": "Regulatory notification (for safety issues)"},
    ],
    "severity_criteria": _SEVERITY_CRITERIA,
}

CM_WF_COMMUNICATION: dict = {
    # §12.1: internal status updates during phases 1-5, then daily.
    "update_cadence": {
        "CRITICAL": {"amount": 1, "unit": "hours", "label": "hourly"},
        "HIGH": {"amount": 4, "unit": "hours", "label": "every 4 hours"},
        "MEDIUM": {"amount": 1, "unit": "days", "label": "daily"},
    },
    "after_phases": {"amount": 1, "unit": "days", "label": "daily"},
    # Change statuses that are phases 1-5 (identification to distribution); the cadence relaxes after them
    # and stops once the change is closed or leaves the emergency path.
    "phase_statuses": ["stub", "bypass_authorised", "hotfix_in_progress", "deployed", "rolled_back"],
    "stop_statuses": ["closed", "converted_standard"],
    "update_roles": [
        "oncall",
        "commander",
        "lead",
        "architect",
        "security",
        "safety",
        "cm",
        "engmanager",
        "quality",
        "program",
        "release",
        "certlead",
        "qms",
    ],
    # §12.2: the first external notification is due by the "external_notification" clock; the clock is met
    # by this event (a regulatory notification, or a status update sent to customers/operators).
    "external_event": "external_notification_sent",
    # §7.3: regulatory notification for safety-related issues, by the certification lead.
    "regulatory": {
        "required_if": "safety_related",
        "recorder_roles": ["certlead", "safety", "cm", "program"],
        "authorities": [
            {"code": "EASA", "label": "EASA"},
            {"code": "FAA", "label": "FAA"},
            {"code": "ESA", "label": "ESA"},
            {"code": "other", "label": "Other authority"},
        ],
    },
}

CM_WF_EMERGENCY = {
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
    **SHARED_RULES,
    "training": TRAINING_CM_WF,
    # §11.1-§11.5: what the deployment starts (besides the deferred full regression); the §11.2 documents are
    # the "follow_up_documentation" clock. Each duration's upper bound is the due time.
    "deferred_on_deploy": [
        *SHARED_RULES["deferred_on_deploy"],
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

PRESET = {
    "code": "cm-wf-emergency",
    "title": "Emergency Patch Workflow (CM-WF-EMERGENCY)",
    "source_document": "003_13adccf32a989cad.txt",
    "definition": CM_WF_EMERGENCY,
}
