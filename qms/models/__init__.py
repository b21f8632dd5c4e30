"""Models of the project: users and signatures (``core``), training and delegation, the outbox, procedure drafts."""

from qms.models.core import (
    TIME_ZONE_CHOICES,
    ApiToken,
    IdempotencyRecord,
    Notification,
    NotificationChannel,
    Procedure,
    ProcedureVersion,
    Signature,
    SignerState,
    User,
)
from qms.models.outbox import (
    OutboxMessage,
)
from qms.models.procedure_drafts import (
    ProcedureDraft,
)
from qms.models.training import (
    Delegation,
    TrainingRecord,
)

# The on-call roster's models live in their own module (qms.roster.models); imported here for the app registry.
from qms.roster.models import (
    OnCallImport,
    OnCallPage,
    OnCallRotation,
    OnCallRotationMember,
    OnCallShift,
)

__all__ = [
    "TIME_ZONE_CHOICES",
    "ApiToken",
    "Delegation",
    "IdempotencyRecord",
    "Notification",
    "NotificationChannel",
    "OnCallImport",
    "OnCallPage",
    "OnCallRotation",
    "OnCallRotationMember",
    "OnCallShift",
    "OutboxMessage",
    "Procedure",
    "ProcedureDraft",
    "ProcedureVersion",
    "Signature",
    "SignerState",
    "TrainingRecord",
    "User",
]
