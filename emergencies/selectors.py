"""Every read a page needs, with its queries fixed in advance (select_related / prefetch_related)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from emergencies import permissions
from emergencies.models import ChangeRecord
from qms.models import User
from qms.roles import Role

CHANGE_LIST_RELATED = ("incident", "incident__commander", "author", "procedure_version__procedure")


def change_list(*, user: User, status: str = "", q: str = "", open_only: bool = False) -> QuerySet[ChangeRecord]:
    if not permissions.can_view_changes(user):
        return ChangeRecord.objects.none()
    qs = ChangeRecord.objects.select_related(*CHANGE_LIST_RELATED)
    if status:
        qs = qs.filter(status=status)
    if open_only:
        qs = qs.filter(status__in=ChangeRecord.OPEN_STATUSES)
    if q:
        qs = qs.filter(Q(identifier__icontains=q) | Q(title__icontains=q) | Q(incident__ticket__icontains=q))
    return qs.order_by("-declared_at", "-identifier")


def change_get_for_user(*, identifier: str, user: User) -> ChangeRecord:
    """The change a user may see, or 404 (we never confirm that a hidden record exists)."""
    if not permissions.can_view_changes(user):
        raise Http404
    change = (
        ChangeRecord.objects.select_related(*CHANGE_LIST_RELATED, "bypass_authorised_by", "parent")
        .filter(identifier=identifier)
        .first()
    )
    if change is None:
        raise Http404
    return change


def change_history(*, change: ChangeRecord, limit: int = 200):
    return change.history.select_related("history_user").order_by("-history_date", "-history_id")[:limit]


def commanders() -> QuerySet[User]:
    return User.objects.filter(is_active=True, groups__name=Role.COMMANDER.group_name).order_by("first_name")


def my_open_changes(*, user: User, limit: int = 20) -> list[ChangeRecord]:
    return list(change_list(user=user, open_only=True).filter(Q(author=user) | Q(incident__commander=user))[:limit])


def changes_awaiting_action(*, user: User, limit: int = 20, scan: int = 200) -> list[ChangeRecord]:
    """Stubs this user may authorise. Authorisers depend on each change's procedure, so the last
    ``scan`` open stubs are filtered with the same predicate the transition uses."""
    if not user.roles:
        return []
    stubs = change_list(user=user, status=ChangeRecord.Status.STUB).exclude(author=user)[:scan]
    return [c for c in stubs if permissions.can_authorise_emergency(c, user)][:limit]
