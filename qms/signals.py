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
