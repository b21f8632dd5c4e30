"""Procedures as data: the four presets, their schema and validation, the rule accessors, YAML and diffs."""

from qms.procedures.compliance import (
    COMPLIANCE_POLICY,
    COMPLIANCE_PROCEDURE_CODE,
    REPORT_SCHEDULE_DEFAULTS,
    EscalationStep,
    compliance_policy,
    escalation_steps,
    parse_duration,
)
from qms.procedures.presets import DEFAULT_PROCEDURE_CODE, PRESETS
from qms.procedures.rules import ClockSpec, ProcedureRules, Refusal, checks_allowed
from qms.procedures.schema import (
    CATEGORY_CHOICES,
    CATEGORY_LABELS,
    CATEGORY_TAGS,
    CHANNEL_FIELDS,
    CHECK_CATALOGUE,
    LEVEL_ORDER,
    POST_MORTEM_APPROVERS_DEFAULT,
    PRECONDITION_LABELS,
    PRECONDITION_TRANSITIONS,
    REQUIRED_KEYS,
    TRANSITION_PRECONDITIONS_CM_WF,
    TRANSITION_PRECONDITIONS_DEFAULT,
    VERBAL_RECORDER_ROLES,
)
from qms.procedures.validation import validate_definition

__all__ = [
    "CATEGORY_CHOICES",
    "CATEGORY_LABELS",
    "CATEGORY_TAGS",
    "CHANNEL_FIELDS",
    "CHECK_CATALOGUE",
    "COMPLIANCE_POLICY",
    "COMPLIANCE_PROCEDURE_CODE",
    "DEFAULT_PROCEDURE_CODE",
    "LEVEL_ORDER",
    "POST_MORTEM_APPROVERS_DEFAULT",
    "PRECONDITION_LABELS",
    "PRECONDITION_TRANSITIONS",
    "PRESETS",
    "REPORT_SCHEDULE_DEFAULTS",
    "REQUIRED_KEYS",
    "TRANSITION_PRECONDITIONS_CM_WF",
    "TRANSITION_PRECONDITIONS_DEFAULT",
    "VERBAL_RECORDER_ROLES",
    "ClockSpec",
    "EscalationStep",
    "ProcedureRules",
    "Refusal",
    "checks_allowed",
    "compliance_policy",
    "escalation_steps",
    "parse_duration",
    "validate_definition",
]
