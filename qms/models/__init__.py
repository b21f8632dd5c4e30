"""Models of the portal core, a module per sub-domain: users, procedures and their drafts, notifications,
signatures, API tokens and idempotency, training and delegation, the task outbox."""

from qms.models.notifications import (
    Notification,
    NotificationChannel,
)
from qms.models.outbox import (
    OutboxMessage,
)
from qms.models.procedure_drafts import (
    ProcedureDraft,
)
from qms.models.procedures import (
    Procedure,
    ProcedureVersion,
)
from qms.models.signatures import (
    Signature,
    SignerState,
)
from qms.models.tokens import (
    ApiToken,
    IdempotencyRecord,
)
from qms.models.training import (
    Delegation,
    TrainingRecord,
)
from qms.models.users import (
    TIME_ZONE_CHOICES,
    User,
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
