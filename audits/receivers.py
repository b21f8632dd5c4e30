"""How oversight hears about the lifecycle: signals in, audit events and clocks out."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django_fsm.signals import post_transition

from audits import services
from emergencies.models import ChangeRecord
from emergencies.signals import change_record_checklist_changed, change_record_filed
from qms.roles import Role

VOIDING_TRANSITIONS = {"convert_to_standard": "Voided: the change left the emergency path."}


@receiver(change_record_filed)
def on_change_filed(sender, *, change: ChangeRecord, actor, **kwargs):
    incident = change.incident
    services.audit_event_record(
        action="change.filed",
        actor=actor,
        subject=change,
        reason=f"{incident.category_label} declared under {change.procedure_version}",
        after={
            "status": change.status,
            "incident": incident.ticket,
            "category": incident.category,
            "cvss_score": incident.cvss_score,
            "severity": incident.severity,
        },
    )
    commander = incident.commander
    specs = []
    for clock in change.rules.clocks(incident.severity):
        owner = commander if clock.owner == "commander" and commander else change.author
        specs.append(
            {
                "kind": clock.kind,
                "label": clock.label,
                "due_at": clock.due(change.declared_at),
                "owner": owner,
                "owner_role": Role.COMMANDER.value if clock.owner == "commander" else "",
            }
        )
    services.obligations_open(
        subject=change, specs=specs, started_at=change.declared_at, actor=actor, subject_url=change.get_absolute_url()
    )


@receiver(post_transition, sender=ChangeRecord)
def on_change_transition(sender, instance: ChangeRecord, name, source, target, **kwargs):
    method_kwargs = kwargs.get("method_kwargs", {})
    actor, reason, at = method_kwargs.get("by"), method_kwargs.get("reason", ""), method_kwargs.get("at")
    services.audit_event_record(
        action=f"change.{name}",
        actor=actor,
        subject=instance,
        reason=reason,
        before={"status": source},
        after={"status": target},
    )
    if name in VOIDING_TRANSITIONS:
        services.obligations_satisfy(subject=instance, kinds=None, actor=actor, note=VOIDING_TRANSITIONS[name], at=at)
        return
    kinds = [
        c.kind
        for c in instance.rules.clocks(instance.incident.severity if instance.incident_id else "")
        if name in c.satisfied_on
    ]
    if kinds:
        services.obligations_satisfy(
            subject=instance, kinds=kinds, actor=actor, note=f"met by “{name.replace('_', ' ')}”", at=at
        )


@receiver(change_record_checklist_changed)
def on_checklist_changed(sender, *, change, actor, item, done, **kwargs):
    services.audit_event_record(
        action="change.checklist",
        actor=actor,
        subject=change,
        reason=f"{item} {'ticked' if done else 'unticked'}",
        before={item: not done},
        after={item: done},
    )


@receiver(user_logged_in)
def on_login(sender, request, user, **kwargs):
    services.audit_event_record(action="auth.login", actor=user, subject=user)


@receiver(user_logged_out)
def on_logout(sender, request, user, **kwargs):
    if user is not None:
        services.audit_event_record(action="auth.logout", actor=user, subject=user)


@receiver(user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs):
    services.audit_event_record(
        action="auth.login_failed",
        reason="Wrong username or password",
        after={"username": str(credentials.get("username", ""))[:150]},
    )
