"""Convening a CCB session, seating its members and cancelling it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from emergencies import signals
from emergencies.identifiers import save_with_unique_identifier
from emergencies.models import CCBMember, CCBSession, ChangeRecord, GateDecision
from emergencies.services.ccb.invitations import _notify
from emergencies.services.gates import (
    ccb_available,
    gate_requires_missing,
    latest_decision,
    lock_change,
    member_roles,
)
from qms.models import User
from qms.roles import Role
from qms.services.delegation import may_sign_in, signing_persons

MAX_DURATION_MINUTES = 8 * 60


def can_convene(user: User, change: ChangeRecord) -> bool:
    return user.is_active and ccb_available(change) and user.has_role(*change.rules.ccb_convener_roles)


# --- locking ---------------------------------------------------------------------------------------------


def _lock_session(session_id: int) -> CCBSession:
    return (
        CCBSession.objects.select_for_update(of=("self",))
        .select_related("change__incident", "change__procedure_version", "chair")
        .get(pk=session_id)
    )


def _get_session(session_id: int) -> CCBSession:
    return CCBSession.objects.select_related("change__incident", "change__procedure_version", "chair").get(
        pk=session_id
    )


# --- convening --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionInput:
    gate: str
    scheduled_at: datetime
    duration_minutes: int = 60
    location: str = ""
    agenda: str = ""
    members: tuple[tuple[User, Role], ...] = ()
    chair: User | None = None


def _check_seat(change: ChangeRecord, user: User, role: Role, *, field_name: str = "members") -> None:
    if role not in member_roles(change):
        raise ValidationError({field_name: [f"{role.label} is not a seat on this procedure's CCB."]})
    if not user.is_active or not may_sign_in(user, role):
        raise ValidationError({field_name: [f"{user.display_name} does not hold the role {role.label}."]})


def _check_seats_distinct(seats, *, field_name: str = "members") -> None:
    """One person never fills two seats, in person or by delegation (separation of duties, both people)."""
    seen: set[int] = set()
    for user, role in seats:
        persons = signing_persons(user, role)
        if persons & seen:
            raise ValidationError(
                {
                    field_name: [
                        f"{user.display_name} as {role.label}: one person cannot fill two seats, "
                        "in person or by delegation."
                    ]
                }
            )
        seen |= persons


@transaction.atomic
def ccb_session_convene(*, change_id: int, data: SessionInput, actor: User, now: datetime | None = None) -> CCBSession:
    """A configuration manager convenes an emergency CCB session to decide one gate of a change (§7.1).

    The members are notified with a calendar invitation; their votes and the decision are on the clock.
    """
    now = (now or timezone.now()).astimezone(UTC)
    change = lock_change(change_id)
    rules = change.rules
    if not ccb_available(change):
        raise ValidationError(
            f"{change.procedure_version.procedure.title} has no change control board; sessions are only for "
            "procedures that have one."
        )
    if not actor.has_role(*rules.ccb_convener_roles):
        raise PermissionDenied("Only a configuration manager convenes an emergency CCB (§7.1).")
    try:
        gate = rules.ccb_gate(data.gate)
    except KeyError:
        raise ValidationError({"gate": [f"Unknown gate {data.gate!r}."]}) from None
    if not gate.session:
        raise ValidationError({"gate": [f"{gate.label} is recorded by one authorised person, not by a session."]})
    if change.status not in gate.statuses:
        raise ValidationError(
            {
                "gate": [
                    f"{gate.label} cannot be decided while {change.identifier} is "
                    f"{change.get_status_display().lower()}."
                ]
            }
        )
    blocked = gate_requires_missing(change, gate)
    if blocked:
        raise ValidationError({"gate": [f"Not yet: {label} (gates in order, §14)." for label in blocked]})
    open_session = CCBSession.objects.filter(change=change, gate=gate.code, status=CCBSession.Status.OPEN).first()
    if open_session is not None:
        raise ValidationError({"gate": [f"{open_session.identifier} is already open for {gate.label}."]})
    latest = latest_decision(change, gate.code)
    if latest is not None and latest.result == GateDecision.Result.PASSED:
        raise ValidationError({"gate": [f"{gate.label} was already passed on {latest.decided_at:%Y-%m-%d %H:%M} UTC."]})
    errors: dict[str, list[str]] = {}
    if not 15 <= data.duration_minutes <= MAX_DURATION_MINUTES:
        errors["duration_minutes"] = ["A session lasts between 15 minutes and 8 hours."]
    if timezone.is_naive(data.scheduled_at):
        errors["scheduled_at"] = ["Give the time with its time zone."]
    elif data.scheduled_at < now - timedelta(hours=1):
        errors["scheduled_at"] = ["The session cannot start in the past."]
    if errors:
        raise ValidationError(errors)
    chair = data.chair or actor
    if not chair.is_active or not may_sign_in(chair, rules.ccb_chair_role):
        raise ValidationError({"chair": [f"The chair is a {rules.ccb_chair_role.label} (§7.1)."]})

    seats: list[tuple[User, Role]] = [(chair, rules.ccb_chair_role)]
    for user, role in data.members:
        if user.pk == chair.pk and role == rules.ccb_chair_role:
            continue
        if any(u.pk == user.pk for u, _ in seats):
            raise ValidationError({"members": [f"{user.display_name} can hold only one seat on a session."]})
        _check_seat(change, user, role)
        seats.append((user, role))
    _check_seats_distinct(seats)

    session = CCBSession(
        change=change,
        gate=gate.code,
        chair=chair,
        convened_by=actor,
        convened_at=now,
        scheduled_at=data.scheduled_at.astimezone(UTC),
        duration_minutes=data.duration_minutes,
        location=data.location.strip(),
        agenda=data.agenda.strip(),
    )
    session.full_clean(exclude=["identifier", "status"], validate_constraints=False)
    session._history_user, session._change_reason = actor, f"convened for {gate.label}"
    try:
        save_with_unique_identifier(session, field_name="identifier", base=f"CCB-{now:%Y%m%d-%H%M}")
    except IntegrityError:
        raise ValidationError({"gate": [f"A session for {gate.label} was convened at the same moment."]}) from None
    members = [_add_member(session, user, role, actor=actor, at=now) for user, role in seats]
    signals.ccb_session_convened.send(sender=CCBSession, session=session, actor=actor)
    _notify(session, members, template="ccb_convened", key=f"ccb-convened:{session.pk}", actor=actor, ics=True)
    return session


def _add_member(session: CCBSession, user: User, role: Role, *, actor: User, at: datetime) -> CCBMember:
    member = CCBMember(session=session, user=user, role=role.value, added_by=actor, added_at=at)
    member._history_user, member._change_reason = actor, f"seated as {role.label}"
    member.save()
    return member


@transaction.atomic
def ccb_member_add(*, session_id: int, user: User, role: Role, actor: User) -> CCBMember:
    """Seat one more member on an open session (a required role that was missing, or an adviser)."""
    session = _lock_session(session_id)
    change = session.change
    if not session.is_open:
        raise ValidationError(f"{session.identifier} is {session.get_status_display().lower()}.")
    if actor.pk != session.chair_id and not actor.has_role(*change.rules.ccb_convener_roles):
        raise PermissionDenied("Only the chair or a configuration manager seats members.")
    if CCBMember.objects.filter(session=session, user=user).exists():
        raise ValidationError({"user": [f"{user.display_name} already sits on {session.identifier}."]})
    _check_seat(change, user, role, field_name="role")
    seated = [(m.user, Role(m.role)) for m in CCBMember.objects.filter(session=session).select_related("user")]
    _check_seats_distinct([*seated, (user, role)], field_name="user")
    member = _add_member(session, user, role, actor=actor, at=timezone.now())
    signals.ccb_member_added.send(sender=CCBSession, session=session, member=member, actor=actor)
    _notify(
        session, [member], template="ccb_convened", key=f"ccb-seated:{session.pk}:{member.pk}", actor=actor, ics=True
    )
    return member


@transaction.atomic
def ccb_session_cancel(*, session_id: int, actor: User, reason: str) -> CCBSession:
    session = _lock_session(session_id)
    if not session.is_open:
        raise ValidationError(f"{session.identifier} is {session.get_status_display().lower()}.")
    if actor.pk != session.chair_id and not actor.has_role(*session.change.rules.ccb_convener_roles):
        raise PermissionDenied("Only the chair or a configuration manager cancels a session.")
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the session is cancelled."]})
    session.cancel(by=actor, at=timezone.now(), reason=reason.strip())
    session._history_user, session._change_reason = actor, f"cancelled: {reason.strip()}"
    session.save()
    signals.ccb_session_cancelled.send(sender=CCBSession, session=session, actor=actor)
    members = list(CCBMember.objects.filter(session=session).select_related("user"))
    _notify(session, members, template="ccb_cancelled", key=f"ccb-cancelled:{session.pk}", actor=actor, ics=True)
    return session
