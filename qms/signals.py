"""Events of the portal core that oversight records. Sent inside the writing transaction."""

from django.dispatch import Signal

# signature, subject
signature_recorded = Signal()
# user, failures, locked
signing_failed = Signal()
# user, actor
signing_unlocked = Signal()
# notification — an outbox row was delivered (sent inside the delivering transaction)
notification_delivered = Signal()
# record (a TrainingRecord), actor
training_recorded = Signal()
# signature, subject, missing (course codes) — a signature given without the role's valid certification
training_deviation_signed = Signal()
# delegation, actor
delegation_created = Signal()
# delegation, actor, reason
delegation_revoked = Signal()
# action, draft, actor, reason, after — a step of a procedure draft under document control (started, submitted,
# approved, returned, published, withdrawn, in force)
procedure_draft_event = Signal()
