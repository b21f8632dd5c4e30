"""The reads of hand-off requests: what waits for a person, what they asked, a change's or a record's requests,
and who could be asked."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, Q, QuerySet

from emergencies.models import ChangeRecord, HandoffRequest
from qms.models import User
from qms.roles import Role

HANDOFF_RELATED = ("assignee", "requested_by", "change")


def handoffs_waiting_for(*, user: User, limit: int = 50) -> list[HandoffRequest]:
    """What others asked of this person, or of a role they hold, and is still open: oldest first."""
    if not (user.is_authenticated and user.is_active):
        return []
    roles = [r.value for r in user.roles]
    mine = Q(assignee=user) | Q(assignee=None, role__in=roles)
    qs = HandoffRequest.objects.filter(mine, status=HandoffRequest.Status.OPEN).exclude(requested_by=user)
    return list(qs.select_related(*HANDOFF_RELATED).order_by("requested_at", "pk")[:limit])


def handoffs_asked_by(*, user: User, limit: int = 20) -> list[HandoffRequest]:
    qs = HandoffRequest.objects.filter(requested_by=user, status=HandoffRequest.Status.OPEN)
    return list(qs.select_related(*HANDOFF_RELATED).order_by("requested_at", "pk")[:limit])


def handoffs_for_change(*, change: ChangeRecord, limit: int = 50) -> list[HandoffRequest]:
    """Every request of a change (open ones first), whatever record of the change it is taken on."""
    qs = HandoffRequest.objects.filter(change=change).select_related(*HANDOFF_RELATED)
    return _open_first(qs, limit)


def handoffs_for_subject(*, subject: Model, limit: int = 50) -> list[HandoffRequest]:
    qs = HandoffRequest.objects.filter(subject_type=ContentType.objects.get_for_model(subject), subject_id=subject.pk)
    return _open_first(qs.select_related(*HANDOFF_RELATED), limit)


def handoff_candidates(*, change: ChangeRecord, exclude: User) -> QuerySet[User]:
    """People who could be asked for a step of this change: active, holding a role that works on it."""
    roles = [r.group_name for r in Role if r.value != Role.AUDITOR]
    qs = User.objects.filter(is_active=True, groups__name__in=roles).exclude(pk=exclude.pk).distinct()
    return qs.order_by("first_name", "last_name", "username")


def _open_first(qs, limit: int) -> list[HandoffRequest]:
    rows = list(qs.order_by("-requested_at", "-pk")[:limit])
    return sorted(rows, key=lambda r: not r.is_open)
