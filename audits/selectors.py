from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from audits.models import AuditEvent, Obligation
from qms.models import User
from qms.roles import Role

OVERSIGHT_ROLES = (Role.QMS, Role.AUDITOR, Role.EXECUTIVE, Role.QUALITY)


def can_oversee(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.has_role(*OVERSIGHT_ROLES))


def obligations_for_subject(*, subject: Model) -> list[Obligation]:
    ct = ContentType.objects.get_for_model(subject)
    return list(
        Obligation.objects.select_related("owner")
        .filter(subject_type=ct, subject_id=subject.pk)
        .order_by("satisfied_at", "due_at")
    )


def audit_events_for_subject(*, subject: Model, limit: int = 200) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(subject_type=subject._meta.label_lower, subject_id=str(subject.pk)).order_by(
            "-position"
        )[:limit]
    )


def obligations_overdue(*, user: User, mine_only: bool = False) -> QuerySet[Obligation]:
    qs = Obligation.objects.select_related("owner").filter(satisfied_at__isnull=True, due_at__lt=timezone.now())
    if mine_only or not can_oversee(user):
        roles = [r.value for r in user.roles]
        qs = qs.filter(Q(owner=user) | Q(owner__isnull=True, owner_role__in=roles))
    return qs.order_by("due_at")


def audit_event_list(*, user: User, action: str = "", subject: str = "") -> QuerySet[AuditEvent]:
    if not can_oversee(user):
        return AuditEvent.objects.none()
    qs = AuditEvent.objects.all()
    if action:
        qs = qs.filter(action__startswith=action)
    if subject:
        qs = qs.filter(subject_label__icontains=subject)
    return qs.order_by("-position")


def change_trail(*, change) -> dict:
    """Everything recorded about one change, in a fixed number of queries: its field history and that of
    its incident and records (bypasses, obligations, signatures…), and every audit event about them."""
    from audits.exports.collect import _Collector

    collector = _Collector([change])
    collector.collect()
    data = collector.per_change[change.pk]
    history = [{**row, "section": section} for section, rows in data["history"].items() for row in rows]
    history.sort(key=lambda row: (row["history_date"], row["history_id"]), reverse=True)
    users = {u.pk: u for u in User.objects.filter(pk__in=collector.user_ids)}
    for row in history:
        row["user"] = users.get(row.get("history_user_id"))
    return {"events": list(reversed(collector.events[change.pk])), "history": history}


# What the war room shows of the trail: decisions, not the bookkeeping of clocks, nor what the war room and
# the alert intake show themselves.
WAR_ROOM_HIDDEN_ACTIONS = ("obligation.opened", "obligation.satisfied", "obligation.reanchored", "change.status_update")
WAR_ROOM_HIDDEN_PREFIXES = ("warroom.", "alert.", "audit.", "permission.", "auth.")


def war_room_audit_rows(change) -> list[dict]:
    """The audit events of a change and of its records (bypasses, CCB sessions) as war-room rows:
    transitions, signatures, votes, decisions, escalations. Two queries."""
    from emergencies.models import BypassRequest, CCBSession

    subjects = Q(subject_type=change._meta.label_lower, subject_id=str(change.pk))
    bypasses = [str(pk) for pk in BypassRequest.objects.filter(change=change).values_list("pk", flat=True)]
    sessions = [str(pk) for pk in CCBSession.objects.filter(change=change).values_list("pk", flat=True)]
    if bypasses:
        subjects |= Q(subject_type=BypassRequest._meta.label_lower, subject_id__in=bypasses)
    if sessions:
        subjects |= Q(subject_type=CCBSession._meta.label_lower, subject_id__in=sessions)
    events = AuditEvent.objects.filter(subjects).exclude(action__in=WAR_ROOM_HIDDEN_ACTIONS).order_by("position")
    rows = []
    for event in events.only("position", "occurred_at", "action", "actor_name", "reason", "subject_label"):
        if event.action.startswith(WAR_ROOM_HIDDEN_PREFIXES):
            continue
        rows.append(
            {
                "key": f"audit-{event.position}",
                "at": event.occurred_at,
                "kind": event.action.split(".")[0].replace("_", " ").capitalize(),
                "who": event.actor_name,
                "text": f"{event.action.split('.', 1)[-1].replace('_', ' ')}"
                + (f": {event.reason}" if event.reason else ""),
            }
        )
    return rows
