"""Follow-up and preventive changes: standard changes of their own, linked to what caused them."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies.identifiers import save_with_unique_identifier
from emergencies.models import ChangeRecord
from qms.models import User
from qms.procedures import DEFAULT_PROCEDURE_CODE
from qms.roles import Role
from qms.services import procedure_version_current

# Who opens a preventive change for a repeat-bypass pattern: the pattern's owner (the leads) and the
# people the pattern escalates to.
PREVENTIVE_OWNER_ROLES = (Role.LEAD, Role.QMS, Role.ENGMANAGER, Role.ARCHITECT)


def can_open_preventive_change(user: User) -> bool:
    return bool(user and user.is_active and user.has_role(*PREVENTIVE_OWNER_ROLES))


@transaction.atomic
def preventive_change_create(*, actor: User, title: str, problem_statement: str) -> ChangeRecord:
    """A standard preventive change that answers something other than one emergency (a repeat-bypass pattern)."""
    if not can_open_preventive_change(actor):
        raise PermissionDenied("Only a development lead, architect, engineering manager or QMS coordinator opens it.")
    title, problem_statement = title.strip(), problem_statement.strip()
    if not title:
        raise ValidationError({"title": ["Say in a few words what the preventive change does."]})
    procedure = procedure_version_current(code=DEFAULT_PROCEDURE_CODE)
    now = timezone.now()
    change = ChangeRecord(
        title=title[:250],
        level=ChangeRecord.Level.STANDARD,
        source=ChangeRecord.Source.PREVENTIVE,
        status=ChangeRecord.Status.DRAFT,
        procedure_version=procedure,
        author=actor,
        declared_at=now,
        problem_statement=problem_statement or title,
    )
    change._history_user, change._change_reason = actor, "preventive change opened"
    save_with_unique_identifier(change, field_name="identifier", base=f"CHG-{now:%Y%m%d-%H%M}")
    return change


def preventive_change_for_link(*, identifier: str) -> ChangeRecord:
    """An existing change that can answer a preventive obligation: any change that is not itself an emergency."""
    change = ChangeRecord.objects.filter(identifier=identifier.strip().upper()).first()
    if change is None:
        raise ValidationError({"change": [f"No change {identifier.strip()!r}."]})
    if change.level == ChangeRecord.Level.EMERGENCY:
        raise ValidationError({"change": [f"{change.identifier} is an emergency change, not a preventive one."]})
    return change
