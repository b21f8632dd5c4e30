"""The vocabulary a procedure definition is written in: the categories, the check catalogue and the bypass
levels' order, the CCB's vote codes, the precondition codes of the lifecycle, the defaults a version reads for
a key it does not carry, and the keys every definition must have (:func:`qms.procedures.validate_definition`
checks them).
"""

from __future__ import annotations

from django.core.validators import RegexValidator

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
# (QMS Emergency Bypass Procedures v1.0, levels 1-3 and emergency). This is the presets' catalogue and the
# fallback of a version stored without ``gates``; a procedure's own ``gates`` may add codes of its own.
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

LEVEL_ORDER = {"L1": 1, "L2": 2, "L3": 3, "E": 4}

# How a gate (check) code is written, in a procedure's ``gates`` and wherever a record names one: a lowercase
# slug (a letter, then letters, digits and underscores), at most GATE_CODE_MAX characters.
GATE_CODE_MAX = 64
GATE_CODE_PATTERN = r"^[a-z][a-z0-9_]{0,63}\Z"
GATE_CODE_HELP = "a lowercase code: a letter, then letters, digits or _ (at most 64)"
GATE_CODE_VALIDATOR = RegexValidator(GATE_CODE_PATTERN, f"A gate code is {GATE_CODE_HELP}.")
# The most gates a catalogue holds, and so the most a request names at once (the bulk gate results).
GATE_CATALOGUE_MAX = 100

# The outcomes a CCB member votes for and a gate records (CM-WF-EMERGENCY §7.2, §14).
APPROVE, STANDARD, MORE_INFO = "approve", "standard", "more_info"

# Who may approve a post-mortem (Emergency Bypass Workflow §4.2) when a version does not say otherwise
# ("post_mortem_approvers").
POST_MORTEM_APPROVERS_DEFAULT = ("commander", "qms", "engmanager", "security", "quality", "lead")

# Who may write down an approval heard on the bridge call (Emergency Bypass Workflow §2.3 "Verbal + Stub",
# ENG-PROC-004 step 2 "obtains and documents verbal or written approval"): the incident side and the QMS
# coordinators. Never a read-only role.
VERBAL_RECORDER_ROLES = ["oncall", "commander", "lead", "architect", "engmanager", "security", "qms"]

# The facts a notification can carry (qms.services.channels builds them), with their names in a message, and
# the audiences a procedure's ``channels`` block names the facts for (a channel's audience, or "person": a
# person's own messages).
CHANNEL_FACTS = {
    "record": "Record",
    "title": "Title",
    "status": "Status",
    "category": "Category",
    "severity": "Severity",
    "asked": "Asked",
    "problem_statement": "Problem statement",
    "update": "Update",
    "link": "Link",
}
CHANNEL_AUDIENCES = ("public", "responders", "external", "person")

# Who is told when a bypass of a level becomes active, for a level that does not say ("notify").
BYPASS_NOTIFY_DEFAULT = ("qms",)

# The incident flags a rule may depend on (an extra stub authoriser, a CCB seat), in words.
INCIDENT_FLAGS = {
    "safety_related": "the incident is safety-related",
    "security_involved": "security is involved",
    "compliance_involved": "compliance is involved",
}

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

REQUIRED_KEYS = (
    "severity_scale",
    "category_severity",
    "emergency_criteria",
    "stub_authorisers",
    "day_basis",
    "clocks",
    "ccb_required",
)

# The kinds of clock a procedure's ``clocks`` may name: each is a clock the portal can open on a change and has a
# way to be met (audits.clocks lists what meets it; a test checks that every kind here is there).
CLOCK_KINDS = (
    "triage",
    "hotfix",
    "documentation",
    "post_mortem",
    "external_notification",
    "follow_up_documentation",
    "full_regression",
)
# The lifecycle events a clock's ``satisfied_on`` may name: a change's transitions and its milestones.
CLOCK_EVENTS = {
    "authorize_bypass": "the emergency bypass authorised",
    "start_hotfix": "the hotfix started",
    "deploy": "the change deployed",
    "resolve": "the change resolved",
    "close": "the change closed",
    "documentation_complete": "the full CHG documentation complete",
    "post_mortem_approved": "the post-mortem approved",
    "gates_validated": "the skipped gates validated retroactively",
    "external_notification_sent": "an external notification sent",
    "follow_up_documentation_complete": "the follow-up documentation complete",
}
