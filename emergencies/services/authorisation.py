"""The emergency authorisation as the lifecycle sees it: a signed "proceed before authorisation" deviation
where the procedure allows acting first, and a way out when the authorisation was rejected or withdrawn."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies import permissions, signals
from emergencies.models import BypassRequest, ChangeRecord
from emergencies.services.bypasses import bypass_emergency_open, bypass_slot_status
from emergencies.services.bypasses.requests import _save_new_bypass
from emergencies.services.preconditions import emergency_bypass
from qms.models import Signature, User
from qms.roles import Role
from qms.services import notification_queue, signature_record, signer_authenticate
from qms.services.signatures import SigningAuth


def _lock(change_id: int) -> ChangeRecord:
    return (
        ChangeRecord.objects.select_for_update(of=("self",))
        .select_related("incident", "incident__commander", "procedure_version__procedure")
        .get(pk=change_id)
    )


def _deviation_state_problems(change: ChangeRecord) -> list[str]:
    rule = change.rules.proceed_before_authorisation
    if not rule:
        return [f"{change.procedure_version.procedure.title} does not allow proceeding before authorisation."]
    if change.proceed_deviation_at is not None:
        return [f"The deviation was already signed at {change.proceed_deviation_at:%Y-%m-%d %H:%M} UTC."]
    bypass = emergency_bypass(change)
    if change.status != ChangeRecord.Status.STUB or bypass is None or bypass.status != BypassRequest.Status.PENDING:
        return ["Only a stub whose authorisation is still awaiting signatures can proceed before it."]
    return []


def _deviation_role_problem(change: ChangeRecord, actor: User) -> str:
    roles = [Role(r) for r in change.rules.proceed_before_authorisation.get("roles", [])]
    if not actor.has_role(*roles):
        return f"Only the {' or '.join(r.label.lower() for r in roles)} signs this deviation."
    commander = change.incident.commander if change.incident_id else None
    if commander is not None and commander.pk != actor.pk:
        return f"Only {commander.display_name}, the incident commander of this change, signs this deviation."
    return ""


def proceed_deviation_problems(change: ChangeRecord, actor: User) -> list[str]:
    """Why this actor may not sign the deviation now (empty when they may)."""
    problems = _deviation_state_problems(change)
    if problems:
        return problems
    role_problem = _deviation_role_problem(change, actor)
    return [role_problem] if role_problem else []


def change_proceed_before_authorisation(
    *, change_id: int, actor: User, password: str, reason: str, auth: SigningAuth | None = None
) -> ChangeRecord:
    """The incident commander signs that the hotfix goes ahead before the authorisation is complete.

    It is recorded on the change with its signature and audit event, EMG-E001 stays open until the
    authorisation completes, and the QMS coordinators and the authorisers still missing are told."""
    reason = reason.strip()
    change = _lock_unlocked(change_id)
    _check_deviation(change, actor, reason)
    signer_authenticate(user=actor, password=password, auth=auth)
    with transaction.atomic():
        change = _lock(change_id)
        _check_deviation(change, actor, reason)
        now = timezone.now()
        signature = signature_record(
            subject=change,
            content={"change": change.identifier, "deviation": "proceed_before_authorisation", "reason": reason},
            signer=actor,
            role=Role.COMMANDER,
            meaning=Signature.Meaning.APPROVED,
            comment=f"Proceed before authorisation: {reason}",
            auth=auth,
        )
        change.proceed_deviation_by, change.proceed_deviation_at = actor, now
        change.proceed_deviation_reason = reason
        change._history_user, change._change_reason = actor, f"proceed before authorisation: {reason}"
        change.save(update_fields=["proceed_deviation_by", "proceed_deviation_at", "proceed_deviation_reason"])
        signals.change_proceed_deviation_signed.send(
            sender=ChangeRecord, change=change, signature=signature, actor=actor, reason=reason
        )
        bypass = emergency_bypass(change)
        missing_roles = {r for slot in bypass_slot_status(bypass) if not slot.filled for r in slot.roles}
        recipients = {
            u.pk: u
            for u in User.objects.filter(
                is_active=True, groups__name__in=[Role.QMS.group_name, *(r.group_name for r in missing_roles)]
            ).exclude(pk=actor.pk)
        }
        notification_queue(
            recipients=recipients.values(),
            dedupe_prefix=f"proceed-deviation:{change.pk}",
            template="proceed_deviation",
            context={"change": change, "bypass": bypass, "actor": actor, "reason": reason},
            link=change.get_absolute_url(),
        )
        return change


def _lock_unlocked(change_id: int) -> ChangeRecord:
    return ChangeRecord.objects.select_related("incident__commander", "procedure_version__procedure").get(pk=change_id)


def _check_deviation(change: ChangeRecord, actor: User, reason: str) -> None:
    problems = _deviation_state_problems(change)
    if problems:
        raise ValidationError(problems)
    role_problem = _deviation_role_problem(change, actor)
    if role_problem:
        raise PermissionDenied(role_problem)
    if not reason:
        raise ValidationError({"reason": ["Say why the work cannot wait for the authorisation."]})


def authorisation_rerequest_problems(change: ChangeRecord, actor: User) -> list[str]:
    if not permissions.can_work_on_change(change, actor):
        return ["You may not take this action on this change."]
    if not change.is_open or change.level != ChangeRecord.Level.EMERGENCY:
        return [f"{change.identifier} is {change.get_status_display().lower()}."]
    bypass = emergency_bypass(change)
    if bypass is not None and bypass.status not in (BypassRequest.Status.REJECTED, BypassRequest.Status.WITHDRAWN):
        return [f"{bypass.identifier} is {bypass.get_status_display().lower()}; nothing to re-request."]
    return []


@transaction.atomic
def change_authorisation_rerequest(*, change_id: int, actor: User, reason: str) -> BypassRequest:
    """After a rejected or withdrawn authorisation, ask the authorisers again with a new emergency bypass."""
    change = _lock(change_id)
    problems = authorisation_rerequest_problems(change, actor)
    if problems:
        if problems[0].startswith("You may not"):
            raise PermissionDenied(problems[0])
        raise ValidationError(problems)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": ["Say what changed since the authorisation ended."]})
    now = timezone.now()
    bypass = bypass_emergency_open(change=change, actor=actor, at=now, save=False)
    bypass.reason = f"{change.problem_statement}\n\nRe-requested: {reason}"
    bypass = _save_new_bypass(bypass, actor=actor, now=now)
    change._history_user, change._change_reason = actor, f"authorisation re-requested ({bypass.identifier}): {reason}"
    change.status_reason = f"Authorisation re-requested: {reason}"
    change.save(update_fields=["status_reason", "updated_at"])
    return bypass
