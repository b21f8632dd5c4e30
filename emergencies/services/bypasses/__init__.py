"""Bypass requests and their authorisation by electronic signature."""

from emergencies.services.bypasses.remediation import (
    bypass_remediation_record,
    remediation_due_date,
)
from emergencies.services.bypasses.requests import (
    DETAIL_FIELDS,
    EDITABLE_WHILE_PENDING,
    FIELD_LABELS,
    REQUESTER_ROLES,
    BypassInput,
    bypass_emergency_open,
    bypass_emergency_withdraw_pending,
    bypass_identifier_base,
    bypass_request_create,
    bypass_request_update,
    can_request_bypass,
)
from emergencies.services.bypasses.signing import (
    Slot,
    bypass_reject,
    bypass_sign,
    bypass_signer_roles,
    bypass_slot_status,
    bypass_verbal_approval_record,
    bypass_withdraw,
    signature_confirm,
)

__all__ = [
    "DETAIL_FIELDS",
    "EDITABLE_WHILE_PENDING",
    "FIELD_LABELS",
    "REQUESTER_ROLES",
    "BypassInput",
    "Slot",
    "bypass_emergency_open",
    "bypass_emergency_withdraw_pending",
    "bypass_identifier_base",
    "bypass_reject",
    "bypass_remediation_record",
    "bypass_request_create",
    "bypass_request_update",
    "bypass_sign",
    "bypass_signer_roles",
    "bypass_slot_status",
    "bypass_verbal_approval_record",
    "bypass_withdraw",
    "can_request_bypass",
    "remediation_due_date",
    "signature_confirm",
]
