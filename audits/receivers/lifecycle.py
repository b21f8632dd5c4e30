"""How oversight hears about the lifecycle of changes and incidents: signals in, audit events and clocks out.

Bypasses and signatures are heard in ``audits.receivers.bypasses``, what follows a deployment in
``audits.receivers.postincident``, sign-ins in ``audits.receivers.security``."""

from django.dispatch import receiver
from django.utils import timezone
from django_fsm.signals import post_transition

from audits import services
from audits.clocks import SEVERITY_ACTION_KINDS
from emergencies import signals as lifecycle
from emergencies.models import BypassRequest, ChangeRecord
from emergencies.signals import change_record_checklist_changed, change_record_filed
from qms.clock import deadline
from qms.roles import Role

VOIDING_TRANSITIONS = {"convert_to_standard": "Voided: the change left the emergency path."}
# Its emergency bypass's remediation clocks go with it: the standard process runs the gates it skipped.
VOIDED_BYPASS_NOTE = "Voided: the change left the emergency path; the standard process runs the skipped gates."


@receiver(change_record_filed)
def on_change_filed(sender, *, change: ChangeRecord, actor, incident_new: bool = False, **kwargs):
    """A change was just created: its clocks start (none can run on it yet), and the severity actions of its
    incident when it is the incident's first change (``incident_new``: the filing declared the incident)."""
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
        subject=change,
        specs=specs,
        started_at=change.declared_at,
        actor=actor,
        subject_url=change.get_absolute_url(),
        new_subject=True,
    )
    if incident_new or not ChangeRecord.objects.filter(incident=incident).exclude(pk=change.pk).exists():
        _open_severity_actions(change, incident.severity, actor, change.declared_at)


def _open_severity_actions(change: ChangeRecord, severity: str, actor, at) -> None:
    """The post-incident actions of the incident's severity class (S1-S4), owned by the incident commander.
    Each opening has its own key, so a severity changed back opens its actions again."""
    actions = change.rules.severity_class(severity).get("actions", [])
    commander = change.incident.commander if change.incident_id else None
    specs = [
        {
            "kind": action["kind"],
            "key": f"{severity}@{at:%Y%m%dT%H%M%S.%f}",
            "label": f"{severity}: {action['label']}",
            "due_at": deadline(at, amount=action["amount"], unit=action["unit"]),
            "owner": commander or change.author,
            "owner_role": Role.COMMANDER.value,
        }
        for action in actions
    ]
    if specs:
        services.obligations_open(
            subject=change, specs=specs, started_at=at, actor=actor, subject_url=change.get_absolute_url()
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
        for bypass in BypassRequest.objects.filter(change=instance):
            services.obligations_satisfy(subject=bypass, kinds=None, actor=actor, note=VOIDED_BYPASS_NOTE, at=at)
        return
    _satisfy_clocks(instance, name, actor, at)
    if name == "deploy":
        _open_deferred(instance, actor, at)
    elif name == "resolve":
        services.obligations_reanchor(subject=instance, due_by_kind=_resolution_dues(instance, at), actor=actor)


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


@receiver(lifecycle.change_proceed_deviation_signed)
def on_proceed_deviation(sender, *, change, signature, actor, reason, **kwargs):
    services.audit_event_record(
        action="change.proceed_before_authorisation",
        actor=actor,
        subject=change,
        reason=reason,
        before={"proceed_deviation_at": None},
        after={"proceed_deviation_at": change.proceed_deviation_at, "signature": signature.pk},
    )


@receiver(lifecycle.incident_updated)
def on_incident_updated(sender, *, incident, changes, actor, reason, **kwargs):
    """The incident completed after filing: audited; a new commander owns the commander's clocks; a new
    severity or detection time re-anchors the declared-anchored clocks (the response clock first)."""
    services.audit_event_record(
        action="incident.updated",
        actor=actor,
        subject=incident,
        reason=reason,
        before={field: getattr(before, "pk", before) for field, (before, _after) in changes.items()},
        after={field: getattr(after, "pk", after) for field, (_before, after) in changes.items()},
    )
    first_pk = (
        ChangeRecord.objects.filter(incident=incident).order_by("declared_at", "pk").values_list("pk", flat=True)[0]
    )
    for change in ChangeRecord.objects.filter(incident=incident, status__in=ChangeRecord.OPEN_STATUSES).select_related(
        "procedure_version"
    ):
        if "commander" in changes:
            services.obligations_reassign(
                subject=change,
                owner_role=Role.COMMANDER.value,
                owner=incident.commander,
                actor=actor,
                note=f"incident commander now {incident.commander.display_name}",
            )
        if "severity" in changes and change.pk == first_pk:
            before, after = changes["severity"]
            services.obligations_satisfy(
                subject=change,
                kinds=sorted(SEVERITY_ACTION_KINDS),
                actor=actor,
                note=f"Voided: severity changed from {before or 'none'} to {after}: {reason}",
            )
            _open_severity_actions(change, after, actor, timezone.now())
        if "severity" in changes or "detected_at" in changes:
            start = incident.detected_at or change.declared_at
            dues = {c.kind: c.due(start) for c in change.rules.clocks(incident.severity) if c.anchor == "declared"}
            services.obligations_reanchor(subject=change, due_by_kind=dues, actor=actor, note=f"re-anchored: {reason}")


def _clocks(change: ChangeRecord):
    return change.rules.clocks(change.incident.severity if change.incident_id else "")


def _satisfy_clocks(change: ChangeRecord, event: str, actor, at) -> None:
    kinds = [c.kind for c in _clocks(change) if event in c.satisfied_on]
    if kinds:
        services.obligations_satisfy(
            subject=change, kinds=kinds, actor=actor, note=f"met by “{event.replace('_', ' ')}”", at=at
        )


def _resolution_dues(change: ChangeRecord, at) -> dict:
    """Documentation and post-mortem run from resolution (§4: 24 h and 72 h after it)."""
    return {c.kind: c.due(at) for c in _clocks(change) if c.anchor == "resolved"}


def _open_deferred(change: ChangeRecord, actor, at) -> None:
    """What the hotfix deferred (full regression, §3.2) becomes an obligation when it is deployed."""
    specs = [
        {
            "kind": d["kind"],
            "label": d["label"],
            "owner": change.author,
            "due_at": deadline(at, amount=d["amount"], unit=d["unit"]),
        }
        for d in change.rules.deferred_on_deploy
    ]
    if specs:
        services.obligations_open(
            subject=change, specs=specs, started_at=at, actor=actor, subject_url=change.get_absolute_url()
        )
