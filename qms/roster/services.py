"""Writes of the on-call roster: rotations, overrides, iCalendar imports and acknowledgements.

Every write checks who may make it, validates everything before writing anything, and sends ``roster_event``
inside its transaction (oversight records it in the audit trail)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from qms.limits import COMMENT_MAX, TITLE_MAX, too_long_message
from qms.models import User
from qms.roles import KEY_ROLES, Role
from qms.roster.ical import ical_parse
from qms.roster.models import OnCallImport, OnCallPage, OnCallRotation, OnCallRotationMember, OnCallShift, Slot
from qms.roster.permissions import can_edit_roster

# action ("rotation_created", "override_added", "imported", "acknowledged", "escalated"), actor, role,
# subject (the row), reason, after (what was written)
roster_event = Signal()

MAX_MEMBERS = 52
MAX_OVERRIDE_DAYS = 90
IMPORT_HORIZON_DAYS = 366


def _role(value) -> Role:
    try:
        role = Role(value)
    except ValueError:
        role = None
    if role not in KEY_ROLES:
        raise ValidationError({"role": "Choose one of the key roles (CM-WF-EMERGENCY §13.1)."})
    return role


def _check_editor(actor: User, role: Role) -> None:
    if not can_edit_roster(actor, role):
        raise PermissionDenied(f"Only QMS coordinators and the role's manager edit the {role.label} roster.")


def _holders(role: Role, users: list[User], field: str) -> None:
    """Refuse anyone who is not an active holder of ``role`` (one query)."""
    ids = {u.pk for u in users}
    holding = set(
        User.objects.filter(pk__in=ids, is_active=True, groups__name=role.group_name).values_list("pk", flat=True)
    )
    strangers = [u.display_name for u in users if u.pk not in holding]
    if strangers:
        raise ValidationError({field: f"Not an active {role.label}: {', '.join(sorted(set(strangers)))}."})


def _slot(value: str) -> str:
    if value not in Slot.values:
        raise ValidationError({"slot": "Choose primary or backup."})
    return value


def _text(value: str, *, field: str, limit: int, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError({field: "This field is required."})
    if len(value) > limit:
        raise ValidationError({field: too_long_message(limit=limit, length=len(value))})
    return value


@transaction.atomic
def rotation_create(
    *,
    role: str,
    slot: str,
    name: str,
    members: list[User],
    starts_at: datetime,
    period_days: int = 7,
    ends_at: datetime | None = None,
    actor: User,
) -> OnCallRotation:
    """A rotation of ``members`` (in turn, ``period_days`` each) in one slot of a role from ``starts_at``."""
    role = _role(role)
    _check_editor(actor, role)
    slot = _slot(slot)
    name = _text(name, field="name", limit=TITLE_MAX, required=True)
    if not members:
        raise ValidationError({"members": "Name at least one person."})
    if len(members) > MAX_MEMBERS:
        raise ValidationError({"members": f"At most {MAX_MEMBERS} people take turns in one rotation."})
    if len({m.pk for m in members}) != len(members):
        raise ValidationError({"members": "Each person takes one turn per round; remove the repeated names."})
    if not 1 <= int(period_days) <= 28:
        raise ValidationError({"period_days": "A turn lasts 1 to 28 days (7 is a weekly rotation)."})
    if ends_at is not None and ends_at <= starts_at:
        raise ValidationError({"ends_at": "The rotation must end after it starts."})
    _holders(role, members, "members")
    rotation = OnCallRotation(
        role=role.value,
        slot=slot,
        name=name,
        starts_at=starts_at,
        ends_at=ends_at,
        period_days=int(period_days),
        created_by=actor,
    )
    rotation.full_clean()
    rotation._history_user, rotation._change_reason = actor, "rotation created"
    rotation.save()
    OnCallRotationMember.objects.bulk_create(
        OnCallRotationMember(rotation=rotation, user=m, position=i) for i, m in enumerate(members)
    )
    roster_event.send(
        sender=OnCallRotation,
        action="rotation_created",
        actor=actor,
        role=role,
        subject=rotation,
        reason=f"{role.label} {slot} rotation “{name}”",
        after={
            "slot": slot,
            "members": [m.username for m in members],
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat() if ends_at else None,
            "period_days": rotation.period_days,
        },
    )
    return rotation


@transaction.atomic
def override_add(
    *,
    role: str,
    slot: str,
    user: User,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    actor: User,
    now: datetime | None = None,
) -> OnCallShift:
    """Put ``user`` in a slot of a role for a period, over whatever the rotation or calendar says."""
    role = _role(role)
    _check_editor(actor, role)
    slot = _slot(slot)
    now = now or timezone.now()
    reason = _text(reason, field="reason", limit=COMMENT_MAX, required=True)
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "The override must end after it starts."})
    if ends_at <= now:
        raise ValidationError({"ends_at": "The override is over already; the past is not rewritten."})
    if ends_at - starts_at > timedelta(days=MAX_OVERRIDE_DAYS):
        raise ValidationError({"ends_at": f"An override lasts at most {MAX_OVERRIDE_DAYS} days; change the rotation."})
    _holders(role, [user], "user")
    shift = OnCallShift(
        role=role.value,
        slot=slot,
        user=user,
        starts_at=starts_at,
        ends_at=ends_at,
        kind=OnCallShift.Kind.OVERRIDE,
        reason=reason,
        created_by=actor,
    )
    shift.full_clean()
    shift._history_user, shift._change_reason = actor, "override added"
    shift.save()
    roster_event.send(
        sender=OnCallShift,
        action="override_added",
        actor=actor,
        role=role,
        subject=shift,
        reason=reason,
        after={"slot": slot, "user": user.username, "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()},
    )
    return shift


@transaction.atomic
def roster_import(
    *, role: str, content: bytes, filename: str = "", actor: User, now: datetime | None = None
) -> OnCallImport:
    """Import an iCalendar schedule for a role: its shifts from now to the horizon replace the earlier import's.
    Nothing is written unless every event is understood."""
    role = _role(role)
    _check_editor(actor, role)
    now = now or timezone.now()
    horizon = now + timedelta(days=IMPORT_HORIZON_DAYS)
    parsed = ical_parse(content=content, role=role, start=now, end=horizon)
    imported = OnCallImport(
        role=role.value,
        filename=_text(filename, field="file", limit=TITLE_MAX)[:TITLE_MAX],
        sha256=hashlib.sha256(content).hexdigest(),
        content=content.decode("utf-8"),
        shift_count=len(parsed),
        horizon_end=horizon,
        imported_by=actor,
        imported_at=now,
    )
    imported.full_clean()
    imported.save()
    OnCallShift.objects.bulk_create(
        OnCallShift(
            role=role.value,
            slot=p.slot,
            user=p.user,
            starts_at=p.starts_at,
            ends_at=p.ends_at,
            kind=OnCallShift.Kind.IMPORTED,
            source=imported,
            uid=p.uid,
            created_by=actor,
        )
        for p in parsed
    )
    roster_event.send(
        sender=OnCallImport,
        action="imported",
        actor=actor,
        role=role,
        subject=imported,
        reason=f"{role.label} roster imported from {imported.filename or 'an iCalendar file'}",
        after={"sha256": imported.sha256, "shifts": len(parsed), "horizon_end": horizon.isoformat()},
    )
    return imported


@transaction.atomic
def page_acknowledge(
    *, page_id: int, actor: User, via: str = OnCallPage.Via.SESSION, now: datetime | None = None
) -> OnCallPage:
    """The paged primary (or, once paged, the backup) takes the page. Single use: a second acknowledgement
    changes nothing and says who took it."""
    page = OnCallPage.objects.select_for_update().filter(pk=page_id).first()
    if page is None:
        raise ValidationError("There is no such page.")
    may = actor.pk == page.primary_id or (page.escalated_at is not None and actor.pk == page.backup_id)
    if not may or not actor.is_active:
        raise PermissionDenied("Only the on-call person paged acknowledges this page.")
    if page.acknowledged_at is not None:
        who = User.objects.get(pk=page.acknowledged_by_id).display_name
        raise ValidationError(f"Already acknowledged by {who} at {page.acknowledged_at:%Y-%m-%d %H:%M} UTC.")
    if via not in OnCallPage.Via.values:
        raise ValidationError("Unknown acknowledgement channel.")
    page.acknowledged_at = now or timezone.now()
    page.acknowledged_by = actor
    page.acknowledged_via = via
    page._history_user, page._change_reason = actor, f"acknowledged ({via})"
    page.save()
    late = page.acknowledged_at > page.respond_by
    roster_event.send(
        sender=OnCallPage,
        action="acknowledged",
        actor=actor,
        role=Role(page.role),
        subject=page,
        reason=f"{page.subject}" + (" (after the response time)" if late else ""),
        after={"via": via, "late": late, "respond_by": page.respond_by.isoformat()},
    )
    return page
