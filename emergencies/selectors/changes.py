"""Every read a page needs, with its queries fixed in advance (select_related / prefetch_related): the change
records (their list, one change, its history, the commanders one can name, one's open changes, the changes
with findings)."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from emergencies import permissions
from emergencies.models import BypassRequest, ChangeRecord
from qms.models import ProcedureVersion, User
from qms.roles import Role

CHANGE_LIST_RELATED = ("incident", "incident__commander", "author", "procedure_version__procedure")
# Lists load each row's procedure version by prefetch, not by join: a join decodes the version's JSON definition
# once per row (50 times for a page of one version: most of the change list's time), a prefetch once per version.
LIST_JOINED = ("incident", "incident__commander", "author")


def _versions() -> Prefetch:
    return Prefetch("procedure_version", queryset=ProcedureVersion.objects.select_related("procedure"))


def change_list(
    *, user: User, status: str = "", q: str = "", open_only: bool = False, procedure_version: int | None = None
) -> QuerySet[ChangeRecord]:
    """The changes a user may see, filtered, newest first, each with its incident, people and procedure."""
    qs = _changes_filtered(user=user, status=status, q=q, open_only=open_only, procedure_version=procedure_version)
    return qs.select_related(*LIST_JOINED).prefetch_related(_versions())


# What a row of the change list page shows (identifier and link, title, incident ticket, status, declared, author):
# the row without the other columns, the commander and the procedure version (building the full rows was about
# half of the page's time, for these fields).
CHANGE_ROW_FIELDS = (
    "identifier",
    "title",
    "status",
    "declared_at",
    "incident__ticket",
    "author__username",
    "author__first_name",
    "author__last_name",
)


def change_list_rows(
    *, user: User, status: str = "", q: str = "", procedure_version: int | None = None
) -> QuerySet[ChangeRecord]:
    """The change list page's rows: :func:`change_list`'s records, reading only :data:`CHANGE_ROW_FIELDS`."""
    qs = _changes_filtered(user=user, status=status, q=q, procedure_version=procedure_version)
    return qs.select_related("incident", "author").only(*CHANGE_ROW_FIELDS)


def _changes_filtered(
    *, user: User, status: str = "", q: str = "", open_only: bool = False, procedure_version: int | None = None
) -> QuerySet[ChangeRecord]:
    if not permissions.can_view_changes(user):
        return ChangeRecord.objects.none()
    qs = ChangeRecord.objects.all()
    if procedure_version:
        qs = qs.filter(procedure_version_id=procedure_version)
    if status:
        qs = qs.filter(status=status)
    if open_only:
        qs = qs.filter(status__in=ChangeRecord.UNFINISHED_STATUSES)
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


# What the dashboard's "your open emergencies" row shows: a change list row without its joins (about a third of
# the dashboard's time went into building the full rows, their incidents and people, for these four fields).
MY_OPEN_FIELDS = ("identifier", "title", "status", "declared_at")


def my_open_changes(*, user: User, limit: int = 20) -> list[ChangeRecord]:
    if not permissions.can_view_changes(user):
        return []
    return list(
        ChangeRecord.objects.filter(status__in=ChangeRecord.UNFINISHED_STATUSES)
        .filter(Q(author=user) | Q(incident__commander=user))
        .only(*MY_OPEN_FIELDS)
        .order_by("-declared_at", "-identifier")[:limit]
    )


def changes_with_findings(*, user: User, limit: int = 200):
    """Emergency changes still open or closed recently, each with its EMG codes, in a fixed number of queries."""
    from emergencies.models import PostMortem, PreventiveMeasure
    from emergencies.validation import findings

    if not permissions.can_view_changes(user):
        return []
    changes = list(
        ChangeRecord.objects.select_related(*LIST_JOINED)
        .filter(level=ChangeRecord.Level.EMERGENCY)
        .prefetch_related(
            _versions(),
            Prefetch(
                "bypasses",
                queryset=BypassRequest.objects.filter(level=BypassRequest.Level.EMERGENCY),
                to_attr="emergency_bypasses",
            ),
            Prefetch("post_mortem__preventive_measures", queryset=PreventiveMeasure.objects.all()),
        )
        .order_by("-declared_at")[:limit]
    )
    rows = []
    for change in changes:
        bypass = change.emergency_bypasses[0] if change.emergency_bypasses else None
        try:
            post_mortem = change.post_mortem
        except PostMortem.DoesNotExist:
            post_mortem = None
        found = findings(change, bypass=bypass, post_mortem=post_mortem, prefetched=True)
        if found:
            rows.append((change, found))
    return rows
