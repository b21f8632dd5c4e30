"""Oversight writes: the audit chain (``trail``) and the obligations, or clocks (``obligations``)."""

from audits.services.obligations import (
    EVIDENCE_RECORDER_ROLES,
    MAX_EVIDENCE_CHARS,
    can_record_evidence,
    obligation_evidence_record,
    obligation_preventive_change_meet,
    obligation_sweep,
    obligations_open,
    obligations_reanchor,
    obligations_reassign,
    obligations_satisfy,
    subject_ref,
)
from audits.services.trail import (
    GENESIS,
    HASHED_FIELDS,
    ChainReport,
    audit_chain_verify,
    audit_event_digest,
    audit_event_record,
    audit_events_append,
    audit_rows_append,
    audit_values_digest,
)

__all__ = [
    "EVIDENCE_RECORDER_ROLES",
    "GENESIS",
    "HASHED_FIELDS",
    "MAX_EVIDENCE_CHARS",
    "ChainReport",
    "audit_chain_verify",
    "audit_event_digest",
    "audit_event_record",
    "audit_events_append",
    "audit_rows_append",
    "audit_values_digest",
    "can_record_evidence",
    "obligation_evidence_record",
    "obligation_preventive_change_meet",
    "obligation_sweep",
    "obligations_open",
    "obligations_reanchor",
    "obligations_reassign",
    "obligations_satisfy",
    "subject_ref",
]
