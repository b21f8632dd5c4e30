"""Writes of the portal core: procedures, notifications, users and electronic signatures."""

from qms.services.notifications import (
    QueuedMessage,
    absolute_url,
    notification_deliver,
    notification_pending_ids,
    notification_queue,
    notification_queue_many,
)
from qms.services.procedures import (
    procedure_gate_codes,
    procedure_gates_check,
    procedure_version_create,
    procedure_version_current,
    user_preferences_update,
)
from qms.services.signatures import (
    PASSWORD_ONLY,
    SecondFactorRequired,
    SigningAuth,
    SigningLocked,
    content_hash,
    signature_record,
    signatures_for,
    signer_authenticate,
    signer_unlock,
    signing_refusal,
)

__all__ = [
    "PASSWORD_ONLY",
    "QueuedMessage",
    "SecondFactorRequired",
    "SigningAuth",
    "SigningLocked",
    "absolute_url",
    "content_hash",
    "notification_deliver",
    "notification_pending_ids",
    "notification_queue",
    "notification_queue_many",
    "procedure_gate_codes",
    "procedure_gates_check",
    "procedure_version_create",
    "procedure_version_current",
    "signature_record",
    "signatures_for",
    "signer_authenticate",
    "signer_unlock",
    "signing_refusal",
    "user_preferences_update",
]
