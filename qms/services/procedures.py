from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from qms.models import Procedure, ProcedureVersion, User
from qms.procedures import validate_definition


@transaction.atomic
def procedure_version_create(
    *, procedure: Procedure, definition: dict, actor: User, change_note: str, effective_from=None
) -> ProcedureVersion:
    """Publish a new version of a procedure, in force now or from ``effective_from``. Older versions stay as
    they were (changes pin them); the one in force until then ends where the new one starts."""
    problems = validate_definition(definition)
    if problems:
        raise ValidationError({"definition": problems})
    if not change_note.strip():
        raise ValidationError({"change_note": "Say what changed and why."})
    now = timezone.now()
    starts = effective_from or now
    if starts < now:
        raise ValidationError({"effective_from": ["A version takes effect now or later, never in the past."]})
    Procedure.objects.select_for_update().filter(pk=procedure.pk).first()
    current = (
        ProcedureVersion.objects.select_for_update()
        .filter(procedure=procedure, effective_until__isnull=True, cancelled_at__isnull=True)
        .order_by("-version")
        .first()
    )
    latest = procedure.versions.order_by("-version").values_list("version", flat=True).first() or 0
    if current is not None:
        if current.effective_from > now:
            raise ValidationError(
                {
                    "effective_from": [
                        f"v{current.version} is already scheduled for {current.effective_from:%Y-%m-%d %H:%M} UTC."
                    ]
                }
            )
        if starts <= current.effective_from:
            raise ValidationError({"effective_from": [f"Must be after v{current.version} took effect."]})
        current.effective_until = starts
        current._history_user, current._change_reason = actor, f"superseded by v{latest + 1}"
        current.save(update_fields=["effective_until"])
    version = ProcedureVersion(
        procedure=procedure,
        version=latest + 1,
        effective_from=starts,
        definition=definition,
        change_note=change_note,
        created_by=actor,
    )
    version._history_user, version._change_reason = actor, change_note
    version.full_clean()
    version.save()
    return version


def procedure_versions_in_force(at=None):
    """The version of each procedure in force at ``at`` (now): a scheduled version counts from its date."""
    at = at or timezone.now()
    return (
        ProcedureVersion.objects.select_related("procedure")
        .filter(effective_from__lte=at, cancelled_at__isnull=True)
        .filter(Q(effective_until__isnull=True) | Q(effective_until__gt=at))
    )


def procedure_version_current(*, code: str, at=None) -> ProcedureVersion:
    return procedure_versions_in_force(at).filter(procedure__code=code).order_by("-version").first()


def procedure_gates_check(*, version: ProcedureVersion, codes, field: str) -> None:
    """Refuse, naming ``field``, every code that is not a gate of ``version`` (the version the change or bypass
    pinned: a procedure may define gates of its own, so no list of codes holds for every record)."""
    catalogue = version.rules.gate_catalogue
    unknown = [str(code) for code in dict.fromkeys(codes) if code not in catalogue]
    if unknown:
        raise ValidationError(
            {field: [f"Unknown check(s) under {version}: {', '.join(unknown)} (its gates: {', '.join(catalogue)})."]}
        )


def procedure_gate_codes(*, code: str) -> dict[str, str]:
    """Every gate code of any published version of the procedure ``code`` (cancelled ones aside), with its
    label in the latest version that has it: what a setting made ahead of time (a repository's required
    checks) may name. A record still checks its code against the version it pinned."""
    codes: dict[str, str] = {}
    versions = ProcedureVersion.objects.filter(procedure__code=code, cancelled_at__isnull=True).order_by("-version")
    for version in versions.only("definition"):
        for gate, spec in version.rules.gate_catalogue.items():
            codes.setdefault(gate, spec["label"])
    return codes


@transaction.atomic
def user_preferences_update(
    *,
    user: User,
    time_zone: str,
    notify_by_email: bool | None = None,
    notify_by_slack: bool | None = None,
    slack_user_id: str | None = None,
) -> User:
    """A person's own preferences: their time zone and where their notifications go."""
    from django.core.exceptions import ValidationError

    user.time_zone = time_zone
    fields = ["time_zone"]
    for name, value in (
        ("notify_by_email", notify_by_email),
        ("notify_by_slack", notify_by_slack),
        ("slack_user_id", slack_user_id),
    ):
        if value is not None:
            setattr(user, name, value.strip() if isinstance(value, str) else value)
            fields.append(name)
    if user.notify_by_slack and not user.slack_user_id:
        raise ValidationError({"slack_user_id": ["Give your Slack member id to get direct messages."]})
    if not user.notify_by_email and not user.notify_by_slack:
        raise ValidationError({"notify_by_email": ["Keep at least one way of being told."]})
    user._history_user, user._change_reason = user, "preferences updated"
    user.full_clean(exclude=["password"])
    user.save(update_fields=fields)
    return user
