from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from qms.models import Procedure, ProcedureVersion, User
from qms.procedures import validate_definition


@transaction.atomic
def procedure_version_create(
    *, procedure: Procedure, definition: dict, actor: User, change_note: str
) -> ProcedureVersion:
    """Publish a new version of a procedure. Older versions stay as they were (changes pin them)."""
    problems = validate_definition(definition)
    if problems:
        raise ValidationError({"definition": problems})
    if not change_note.strip():
        raise ValidationError({"change_note": "Say what changed and why."})
    now = timezone.now()
    current = (
        ProcedureVersion.objects.select_for_update()
        .filter(procedure=procedure, effective_until__isnull=True)
        .order_by("-version")
        .first()
    )
    latest = procedure.versions.order_by("-version").values_list("version", flat=True).first() or 0
    if current is not None:
        current.effective_until = now
        current._history_user, current._change_reason = actor, f"superseded by v{latest + 1}"
        current.save(update_fields=["effective_until"])
    version = ProcedureVersion(
        procedure=procedure,
        version=latest + 1,
        effective_from=now,
        definition=definition,
        change_note=change_note,
        created_by=actor,
    )
    version._history_user, version._change_reason = actor, change_note
    version.full_clean()
    version.save()
    return version


def procedure_version_current(*, code: str) -> ProcedureVersion:
    return (
        ProcedureVersion.objects.select_related("procedure")
        .filter(procedure__code=code, effective_until__isnull=True)
        .order_by("-version")
        .first()
    )


@transaction.atomic
def user_preferences_update(*, user: User, time_zone: str) -> User:
    user.time_zone = time_zone
    user._history_user, user._change_reason = user, "preferences updated"
    user.full_clean(exclude=["password"])
    user.save(update_fields=["time_zone"])
    return user
