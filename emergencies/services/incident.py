"""Completing the incident after filing: the commander, the severity on the procedure's scale, when and how it
was detected, the affected systems or serial numbers. Each edit is recorded with its user and reason."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies import signals
from emergencies.models import ChangeRecord, Incident
from qms.models import User
from qms.roles import Role
from qms.services import notification_queue

INCIDENT_EDITOR_ROLES = (Role.ONCALL, Role.COMMANDER, Role.QMS)
MAX_AFFECTED_CHARS = 10_000


def can_edit_incident(user: User) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_role(*INCIDENT_EDITOR_ROLES))


def incident_change(incident: Incident) -> ChangeRecord | None:
    """The emergency change the incident was declared with (its procedure says the severity scale)."""
    return (
        ChangeRecord.objects.select_related("procedure_version")
        .filter(incident=incident)
        .order_by("declared_at", "pk")
        .first()
    )


def _validated(incident: Incident, *, actor, commander, severity, detected_at, detection_source, affected, now):
    errors: dict[str, list[str]] = {}
    changes: dict[str, tuple] = {}
    if commander is not None and commander.pk != incident.commander_id:
        if not commander.is_active or not commander.has_role(Role.COMMANDER):
            errors["commander"] = [f"{commander.display_name} is not an incident commander."]
        else:
            changes["commander"] = (incident.commander, commander)
    if severity is not None and severity != incident.severity:
        change = incident_change(incident)
        scale = change.rules.severity_labels if change else {}
        if severity not in scale:
            errors["severity"] = [f"Choose a severity of the procedure's scale: {', '.join(scale.values())}."]
        else:
            changes["severity"] = (incident.severity, severity)
    if detected_at is not None and detected_at != incident.detected_at:
        if timezone.is_naive(detected_at):
            errors["detected_at"] = ["Give the time with its time zone."]
        elif detected_at > now:
            errors["detected_at"] = ["The detection time is in the future."]
        elif detected_at > incident.declared_at:
            errors["detected_at"] = ["An incident is detected before it is declared."]
        else:
            changes["detected_at"] = (incident.detected_at, detected_at)
    if detection_source is not None and detection_source != incident.detection_source:
        if detection_source not in Incident.DetectionSource.values:
            errors["detection_source"] = ["Choose how the incident was detected."]
        else:
            changes["detection_source"] = (incident.detection_source, detection_source)
    if affected is not None:
        affected = "\n".join(line.strip() for line in affected.strip().splitlines() if line.strip())
        if len(affected) > MAX_AFFECTED_CHARS:
            errors["affected_systems"] = [f"At most {MAX_AFFECTED_CHARS} characters."]
        elif affected != incident.affected_systems:
            changes["affected_systems"] = (incident.affected_systems, affected)
    if errors:
        raise ValidationError(errors)
    return changes


@transaction.atomic
def incident_update(
    *,
    incident_id: int,
    actor: User,
    reason: str,
    commander: User | None = None,
    severity: str | None = None,
    detected_at: datetime | None = None,
    detection_source: str | None = None,
    affected_systems: str | None = None,
    now: datetime | None = None,
) -> Incident:
    """Complete or correct the incident (``None`` leaves a field as it is). A new commander is told; a new
    severity or detection time re-anchors the response clocks of its changes (audits hears the signal)."""
    if not can_edit_incident(actor):
        raise PermissionDenied("The on-call engineer, the incident commander or a QMS coordinator completes it.")
    incident = Incident.objects.select_for_update(of=("self",)).select_related("commander").get(pk=incident_id)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": ["Say why: the reason is kept in the incident's history."]})
    now = now or timezone.now()
    changes = _validated(
        incident,
        actor=actor,
        commander=commander,
        severity=severity,
        detected_at=detected_at,
        detection_source=detection_source,
        affected=affected_systems,
        now=now,
    )
    if not changes:
        raise ValidationError("Nothing changed.")
    for field, (_before, after) in changes.items():
        setattr(incident, field, after)
    incident._history_user, incident._change_reason = actor, reason
    incident.save()
    signals.incident_updated.send(sender=Incident, incident=incident, changes=changes, actor=actor, reason=reason)
    if "commander" in changes:
        change = incident_change(incident)
        notification_queue(
            recipients=[incident.commander],
            dedupe_prefix=f"incident-commander:{incident.pk}:{now.isoformat()}",
            template="incident_commander_assigned",
            context={"incident": incident, "change": change, "actor": actor, "reason": reason},
            link=change.get_absolute_url() if change else "",
        )
    return incident
