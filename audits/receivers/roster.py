"""The on-call roster's writes and pages into the audit trail."""

from django.dispatch import receiver

from audits import services
from qms.roster.services import roster_event


@receiver(roster_event, dispatch_uid="audits.on_roster_event")
def on_roster_event(sender, *, action, actor, role, subject, reason="", after=None, **kwargs):
    services.audit_event_record(
        action=f"oncall.{action}",
        actor=actor,
        subject=subject,
        subject_label=str(subject)[:100],
        reason=reason[:1000],
        after={"role": role.value, **(after or {})},
    )
