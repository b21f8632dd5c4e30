"""Procedures under document control into the audit trail: each step of a draft of the next version."""

from django.dispatch import receiver

from audits import services
from qms.signals import procedure_draft_event


@receiver(procedure_draft_event, dispatch_uid="audits.on_procedure_draft")
def on_procedure_draft(sender, *, action, draft, actor, reason, after, **kwargs):
    services.audit_event_record(action=action, actor=actor, subject=draft, reason=reason, after=after)
