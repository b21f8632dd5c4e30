"""Retention: the record of an emergency change is kept 7 years (``QMS_RETENTION_YEARS``) from when it was
last in effect: its closing, or the last change to it when it left the emergency path some other way.
Open changes are never eligible.

Decision on deleting: the portal deletes nothing. The field history and the audit events are append-only
(database triggers, ``audits.append_only``), and deleting a change's live row would leave its whole content
in the history anyway, while deleting audit events would break the hash chain the auditors rely on. So
``records_purge`` refuses any cut-off younger than the retention period and, for an allowed one, reports
which records have passed it. With ``confirm`` it records that disposition review in the audit trail
(``retention.reviewed``), so the decision to archive or destroy them outside the portal, under a change
of its own, has its evidence. Keeping a record longer than required is compliant; destroying it early is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import DateTimeField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from audits.models import AuditEvent
from audits.services import audit_event_record
from emergencies.models import ChangeRecord
from qms.models import User
from qms.roles import Role

PURGE_ROLES = (Role.QMS,)


def retention_years() -> int:
    return settings.QMS_RETENTION_YEARS


def retention_cutoff(*, now: datetime | None = None) -> datetime:
    """The latest moment a record may have been last in effect and still be past retention."""
    now = now or timezone.now()
    years = retention_years()
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February
        return now.replace(year=now.year - years, day=28)


def changes_with_last_in_effect() -> QuerySet[ChangeRecord]:
    """Changes annotated with ``last_in_effect``: the later of their closing and their last history row."""
    history = ChangeRecord.history.model
    last_history = Subquery(
        history.objects.filter(id=OuterRef("pk")).order_by("-history_date").values("history_date")[:1],
        output_field=DateTimeField(),
    )
    return ChangeRecord.objects.annotate(
        last_history=last_history,
        last_in_effect=Greatest(
            Coalesce("closed_at", last_history, "declared_at"), Coalesce(last_history, "closed_at", "declared_at")
        ),
    )


def changes_past_retention(*, before: datetime) -> QuerySet[ChangeRecord]:
    return (
        changes_with_last_in_effect()
        .exclude(status__in=ChangeRecord.UNFINISHED_STATUSES)
        .filter(last_in_effect__lt=before)
        .order_by("last_in_effect", "pk")
    )


@dataclass(frozen=True)
class PurgeResult:
    before: datetime
    eligible: list[str]
    deleted: int
    event: AuditEvent | None


@transaction.atomic
def records_purge(
    *, before: datetime, actor: User | None, confirm: bool = False, now: datetime | None = None
) -> PurgeResult:
    """Refuse a cut-off younger than the retention period; otherwise report what has passed it.

    Nothing is deleted (see the module's docstring). ``confirm`` records the review as an audit event.
    """
    if actor is not None and not (actor.is_active and (actor.is_superuser or actor.has_role(*PURGE_ROLES))):
        raise PermissionDenied("Only QMS coordinators may review records for disposal.")
    if timezone.is_naive(before):
        raise ValidationError({"before": ["Give the cut-off with a time zone (UTC)."]})
    cutoff = retention_cutoff(now=now)
    if before > cutoff:
        raise ValidationError(
            {
                "before": [
                    f"Refused: records must be kept {retention_years()} years from when they were last in effect; "
                    f"the latest allowed cut-off today is {cutoff:%Y-%m-%d %H:%M} UTC."
                ]
            }
        )
    eligible = list(changes_past_retention(before=before).values_list("identifier", flat=True))
    event = None
    if confirm:
        event = audit_event_record(
            action="retention.reviewed",
            actor=actor,
            reason=(
                f"{len(eligible)} change records last in effect before {before:%Y-%m-%d} are past the "
                f"{retention_years()}-year retention; nothing deleted (the trail is append-only)"
            ),
            after={"before": before.isoformat(), "eligible": eligible, "deleted": 0},
        )
    return PurgeResult(before=before, eligible=eligible, deleted=0, event=event)
