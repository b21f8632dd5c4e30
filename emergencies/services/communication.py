"""The communication plan of an emergency (CM-WF-EMERGENCY §7.3, §12): status updates at the cadence of
its severity, and the notification of certification authorities. Their clocks are kept by oversight
(audits.receivers.ccb)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies import permissions
from emergencies import signals as signals
from emergencies.models import ChangeRecord, RegulatoryNotification, StatusUpdate
from emergencies.services.gates import lock_change, severity_of
from qms.models import NotificationChannel, User
from qms.roles import Role
from qms.services import absolute_url, notification_queue
from qms.services.channels import channel_rows
from qms.services.notifications import outbox_write


def can_post_status_update(user: User, change: ChangeRecord) -> bool:
    if not user.is_active or not permissions.can_view_changes(user):
        return False
    return permissions.can_work_on_change(change, user) or user.has_role(*change.rules.status_update_roles)


@dataclass(frozen=True)
class StatusUpdateInput:
    current_status: str
    actions_taken: str = ""
    next_steps: str = ""
    audience: str = StatusUpdate.Audience.INTERNAL


@transaction.atomic
def status_update_post(*, change_id: int, data: StatusUpdateInput, actor: User) -> StatusUpdate:
    """Post a status update (§12): it meets the update cadence, and an external one the external
    notification deadline."""
    change = lock_change(change_id)
    if not can_post_status_update(actor, change):
        raise PermissionDenied("You may not post updates on this change.")
    if change.status in (ChangeRecord.Status.CLOSED, ChangeRecord.Status.CONVERTED):
        raise ValidationError(f"{change.identifier} is {change.get_status_display().lower()}; updates have stopped.")
    if not data.current_status.strip():
        raise ValidationError({"current_status": ["Say where things stand."]})
    update = StatusUpdate(
        change=change,
        audience=data.audience,
        change_status=change.status,
        current_status=data.current_status.strip(),
        actions_taken=data.actions_taken.strip(),
        next_steps=data.next_steps.strip(),
        posted_by=actor,
        posted_at=timezone.now(),
    )
    update.full_clean(validate_constraints=False)
    update.save()
    signals.status_update_posted.send(sender=StatusUpdate, change=change, update=update, actor=actor)
    status_update_send(change=change, update=update)
    return update


def status_update_send(*, change: ChangeRecord, update: StatusUpdate) -> int:
    """Queue the update to the audiences the procedure names (§12.2): the internal list (its roles and the
    incident's commander, by their own channels) and the channels subscribed to updates; an external update
    to the external contacts. The cadence and external-notification clocks are met when one of these
    messages is actually sent (audits hears ``notification_delivered``), not when the update is posted."""
    prefix = f"status-update:{update.pk}"
    context = {"change": change, "incident": change.incident, "update": update}
    link = change.get_absolute_url() + "war-room/"
    if update.audience == StatusUpdate.Audience.EXTERNAL:
        contacts = [
            c
            for c in NotificationChannel.objects.filter(
                active=True, kind=NotificationChannel.Kind.EMAIL, audience=NotificationChannel.Audience.EXTERNAL
            )
            if "status_update" in (c.events or []) and c.procedure_id in (None, change.procedure_version.procedure_id)
        ]
        rows = channel_rows(
            template="status_update",
            context=context,
            link=absolute_url(link),
            dedupe_prefix=f"{prefix}:ext",
            people=[],
            channels=contacts,
            event="status_update",
        )
        return len(outbox_write(rows=rows))
    roles = [Role(r) for r in change.rules.channel_fields.get("internal_update_roles", [])]
    people = set(User.objects.filter(is_active=True, groups__name__in=[r.group_name for r in roles]).distinct())
    if change.incident_id and change.incident.commander_id:
        people.add(change.incident.commander)
    return len(
        notification_queue(
            recipients=sorted(people, key=lambda u: u.pk),
            dedupe_prefix=f"{prefix}:int",
            template="status_update",
            context=context,
            link=link,
        )
    )


def next_status_update_due(change: ChangeRecord, last: StatusUpdate | None) -> datetime | None:
    """When the next update is due under the cadence (the clocks in audits say the same)."""
    interval = change.rules.status_update_interval(severity_of(change), change.status)
    if interval is None:
        return None
    return interval.due(last.posted_at if last else change.declared_at)


def can_record_regulatory(user: User, change: ChangeRecord) -> bool:
    return user.is_active and user.has_role(*change.rules.regulatory_recorder_roles)


@dataclass(frozen=True)
class RegulatoryInput:
    authority: str
    notified_at: datetime
    reference: str
    description: str
    follow_up_commitment: str
    authority_name: str = ""
    emergency_approval_requested: bool = True
    follow_up_due: date | None = None


@transaction.atomic
def regulatory_notification_record(*, change_id: int, data: RegulatoryInput, actor: User) -> RegulatoryNotification:
    """Record the notification of a certification authority (§7.3): who, when, their reference and the
    follow-up documentation committed to."""
    change = lock_change(change_id)
    rules = change.rules
    if not rules.regulatory_authorities:
        raise ValidationError("This procedure has no regulatory notification.")
    if not can_record_regulatory(actor, change):
        roles = " or ".join(r.label for r in rules.regulatory_recorder_roles)
        raise PermissionDenied(f"A regulatory notification is recorded by a {roles}.")
    errors: dict[str, list[str]] = {}
    if data.authority not in rules.regulatory_authorities:
        errors["authority"] = ["Choose the authority."]
    if data.authority == RegulatoryNotification.Authority.OTHER and not data.authority_name.strip():
        errors["authority_name"] = ["Name the authority."]
    if timezone.is_naive(data.notified_at):
        errors["notified_at"] = ["Give the time with its time zone."]
    elif data.notified_at > timezone.now() + timedelta(minutes=5):
        errors["notified_at"] = ["The notification cannot be in the future."]
    for name in ("reference", "description", "follow_up_commitment"):
        if not getattr(data, name).strip():
            errors[name] = ["Required."]
    if data.follow_up_due is not None and data.follow_up_due < timezone.now().date():
        errors["follow_up_due"] = ["The follow-up date is in the past."]
    if errors:
        raise ValidationError(errors)
    notification = RegulatoryNotification(
        change=change,
        authority=data.authority,
        authority_name=data.authority_name.strip(),
        notified_at=data.notified_at.astimezone(UTC),
        reference=data.reference.strip(),
        description=data.description.strip(),
        emergency_approval_requested=data.emergency_approval_requested,
        follow_up_commitment=data.follow_up_commitment.strip(),
        follow_up_due=data.follow_up_due,
        recorded_by=actor,
        recorded_at=timezone.now(),
    )
    notification.full_clean(validate_constraints=False)
    notification.save()
    signals.regulatory_notification_recorded.send(
        sender=RegulatoryNotification, change=change, notification=notification, actor=actor
    )
    return notification
