"""Authorising a bypass by electronic signature: the slots to fill, signatures, recorded verbal approvals and
their confirmation, rejection and withdrawal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies import permissions, signals
from emergencies.models import BypassRequest, ChangeRecord
from qms.models import Signature, User
from qms.roles import Role
from qms.services import (
    SigningAuth,
    notification_queue,
    signature_record,
    signatures_for,
    signer_authenticate,
)
from qms.services.delegation import acting_for, delegation_for, signature_persons, signing_persons

Meaning, Method = Signature.Meaning, Signature.Method

# --- who has signed, who still must ------------------------------------------------------------------


@dataclass
class Slot:
    roles: list[Role]
    signature: Signature | None = None

    @property
    def label(self) -> str:
        return " or ".join(r.label for r in self.roles)

    @property
    def filled(self) -> bool:
        return self.signature is not None


def _slots(bypass: BypassRequest) -> list[list[Role]]:
    if bypass.change_id and bypass.incident_id:  # an emergency stub: the incident says who authorises
        return bypass.rules.bypass_slots(bypass.level, bypass.incident.flags, category=bypass.incident.category)
    return bypass.rules.bypass_slots(bypass.level, bypass.flags)


def bypass_signer_roles(bypass: BypassRequest) -> set[Role]:
    """Every role asked to sign ``bypass``, in any of its slots (without reading its signatures)."""
    return {role for slot in _slots(bypass) for role in slot}


def bypass_slot_status(bypass: BypassRequest, signatures: list[Signature] | None = None) -> list[Slot]:
    """Assign the current, matching approvals to the required slots, one person per slot."""
    from qms.services import content_hash

    signatures = signatures_for(bypass) if signatures is None else signatures
    approvals = [s for s in signatures if s.meaning == Meaning.APPROVED]
    if approvals:  # only an approval of the request as it now reads fills a slot
        current = content_hash(bypass.signable_content())
        approvals = [s for s in approvals if s.content_hash == current]
    slots = [Slot(roles=roles) for roles in _slots(bypass)]
    used: set[int] = set()
    for slot in slots:
        for signature in approvals:
            persons = signature_persons(signature)
            if not persons & used and signature.role in slot.roles:
                slot.signature = signature
                used |= persons
                break
    return slots


def _check_may_approve(bypass: BypassRequest, slots: list[Slot], *, approver: User, role: Role) -> None:
    if bypass.status != BypassRequest.Status.PENDING:
        raise ValidationError(f"{bypass.identifier} is {bypass.get_status_display().lower()}, not awaiting signatures.")
    if approver.pk == bypass.requested_by_id:
        raise PermissionDenied("Nobody approves their own request.")
    # A delegate signs for the delegator: every rule below holds for both people.
    delegator = acting_for(approver, role)
    persons = {approver.pk} | ({delegator.pk} if delegator else set())
    if delegator is not None and delegator.pk == bypass.requested_by_id:
        raise PermissionDenied(f"{delegator.display_name} requested this; nobody approves it on their behalf.")
    if not any(role in slot.roles for slot in slots):
        raise ValidationError({"role": [f"{role.label} is not asked to sign {bypass.identifier}."]})
    if any(slot.filled and signature_persons(slot.signature) & persons for slot in slots):
        raise PermissionDenied("One person cannot fill two required roles on one request, in person or by delegation.")
    if not any(role in slot.roles and not slot.filled for slot in slots):
        raise ValidationError({"role": [f"The {role.label} signature is already given."]})
    if bypass.implementer_id in persons and len(slots) == 1:
        raise PermissionDenied("The implementer is never the only approver.")


def _lock(bypass_id: int) -> BypassRequest:
    return (
        BypassRequest.objects.select_for_update(of=("self",))
        .select_related("procedure_version", "incident", "change", "requested_by")
        .get(pk=bypass_id)
    )


def _activate_if_complete(bypass: BypassRequest, *, actor: User, now: datetime) -> BypassRequest:
    slots = bypass_slot_status(bypass)
    if not all(slot.filled for slot in slots):
        return bypass
    signers = ", ".join(f"{s.signature.signer_name} ({s.signature.role_label})" for s in slots)
    bypass.activate(by=actor, at=now, reason=f"signed by {signers}")
    bypass._history_user, bypass._change_reason = actor, f"active: signed by {signers}"
    bypass.save()
    signals.bypass_activated.send(sender=BypassRequest, bypass=bypass, actor=actor, at=now)
    notify = bypass.rules.bypass_notify_roles(bypass.level)
    notification_queue(
        recipients=User.objects.filter(is_active=True, groups__name__in=[r.group_name for r in notify]).distinct(),
        dedupe_prefix=f"bypass-active:{bypass.pk}",
        template="bypass_active",
        context={"bypass": bypass, "signers": signers},
        link=bypass.get_absolute_url(),
    )
    change = bypass.change
    if change is not None and change.status == ChangeRecord.Status.STUB:
        change = ChangeRecord.objects.select_for_update(of=("self",)).select_related("incident").get(pk=change.pk)
        change.authorize_bypass(by=actor, at=now, reason=f"Emergency bypass {bypass.identifier} signed by {signers}")
        change.status_reason = f"Authorised by {signers}"
        change._history_user, change._change_reason = actor, change.status_reason
        change.save()
    return bypass


def bypass_sign(
    *,
    bypass_id: int,
    signer: User,
    password: str,
    role: Role,
    comment: str = "",
    auth: SigningAuth | None = None,
) -> BypassRequest:
    """Approve with an electronic signature. The last required signature makes the bypass active."""
    bypass = BypassRequest.objects.select_related("procedure_version", "incident").get(pk=bypass_id)
    _check_may_approve(bypass, bypass_slot_status(bypass), approver=signer, role=role)
    signer_authenticate(user=signer, password=password, auth=auth)
    with transaction.atomic():
        bypass = _lock(bypass_id)
        _check_may_approve(bypass, bypass_slot_status(bypass), approver=signer, role=role)
        signature = signature_record(
            subject=bypass,
            content=bypass.signable_content(),
            signer=signer,
            role=role,
            meaning=Meaning.APPROVED,
            comment=comment,
            auth=auth,
        )
        signals.bypass_signed.send(sender=BypassRequest, bypass=bypass, signature=signature, role=role, actor=signer)
        return _activate_if_complete(bypass, actor=signer, now=timezone.now())


def bypass_verbal_approval_record(
    *,
    bypass_id: int,
    approver: User,
    role: Role,
    approved_at: datetime,
    recorded_by: User,
    password: str,
    comment: str,
    method: str = Method.VERBAL,
    auth: SigningAuth | None = None,
) -> BypassRequest:
    """Record an approval given by voice or in writing during an emergency. It counts at once, shows as
    unconfirmed, and the approver owes a confirmation signature within the procedure's deadline.

    Recording is an approval act: the recorder must be allowed to record (``permissions``), and the
    requester, the implementer and the person recorded for are different people."""
    if method not in (Method.VERBAL, Method.WRITTEN):
        raise ValidationError({"method": ["Verbal or written."]})
    bypass = BypassRequest.objects.select_related("procedure_version", "incident").get(pk=bypass_id)
    _check_may_record(bypass, recorded_by=recorded_by, approver=approver, role=role)
    if not comment.strip():
        raise ValidationError({"comment": ["Say how and why the approval was given."]})
    approved_at = _check_approval_time(bypass, approved_at, now=timezone.now())
    _check_may_approve(bypass, bypass_slot_status(bypass), approver=approver, role=role)
    signer_authenticate(user=recorded_by, password=password, auth=auth)
    with transaction.atomic():
        bypass = _lock(bypass_id)
        _check_may_record(bypass, recorded_by=recorded_by, approver=approver, role=role)
        approved_at = _check_approval_time(bypass, approved_at, now=timezone.now())
        _check_may_approve(bypass, bypass_slot_status(bypass), approver=approver, role=role)
        signature = signature_record(
            subject=bypass,
            content=bypass.signable_content(),
            signer=approver,
            role=role,
            meaning=Meaning.APPROVED,
            method=method,
            recorded_by=recorded_by,
            approved_at=approved_at,
            comment=comment,
            auth=auth,
        )
        signals.verbal_approval_recorded.send(
            sender=BypassRequest,
            bypass=bypass,
            signature=signature,
            actor=recorded_by,
            due=approved_at + timedelta(hours=bypass.rules.verbal_confirmation_hours),
        )
        notification_queue(
            recipients=[approver],
            dedupe_prefix=f"verbal-confirm:{signature.pk}",
            template="verbal_confirm",
            context={"bypass": bypass, "signature": signature},
            link=bypass.get_absolute_url(),
        )
        return _activate_if_complete(bypass, actor=recorded_by, now=timezone.now())


def _check_may_record(bypass: BypassRequest, *, recorded_by: User, approver: User, role: Role) -> None:
    refusal = permissions.approval_recording_refusal(bypass, recorded_by, approver)
    if refusal:
        raise PermissionDenied(refusal)
    if recorded_by.pk in signing_persons(approver, role):
        raise PermissionDenied("Nobody records an approval given on their own behalf; sign it yourself.")
    if approver.pk == bypass.implementer_id:
        raise PermissionDenied("The implementer's own approval cannot be recorded by someone else; they sign it.")


def _check_approval_time(bypass: BypassRequest, approved_at: datetime, *, now: datetime) -> datetime:
    """An approval is given after the request existed, not in the future, and is recorded within the
    procedure's allowance. The form gives minutes: an approval in the request's own minute counts from
    the request."""
    if approved_at is None or timezone.is_naive(approved_at):
        raise ValidationError({"approved_at": ["Give the date and time the approval was given, with its zone."]})
    requested = bypass.requested_at
    allowance = bypass.rules.verbal_recording_max_age
    if approved_at > now:
        raise ValidationError({"approved_at": ["The approval cannot be in the future."]})
    if approved_at < requested.replace(second=0, microsecond=0):
        raise ValidationError(
            {
                "approved_at": [
                    f"The approval cannot be given before the request existed "
                    f"({bypass.identifier} was requested at {requested.astimezone(UTC):%Y-%m-%d %H:%M} UTC)."
                ]
            }
        )
    if approved_at < now - allowance:
        hours = allowance.total_seconds() / 3600
        raise ValidationError(
            {
                "approved_at": [
                    f"An approval must be recorded within {hours:g} hours of being given; this one is older. "
                    "Ask the approver to sign instead."
                ]
            }
        )
    return max(approved_at, requested)


def signature_confirm(*, signature_id: int, signer: User, password: str, auth: SigningAuth | None = None) -> Signature:
    """The named approver confirms a recorded verbal or written approval with their own signature."""
    verbal = Signature.objects.select_related("confirmation").get(pk=signature_id)
    if not verbal.needs_confirmation:
        raise ValidationError("Only a recorded verbal or written approval needs confirming.")
    if verbal.signer_id != signer.pk:
        raise PermissionDenied("Only the person who gave the approval can confirm it.")
    if hasattr(verbal, "confirmation"):
        raise ValidationError("This approval is already confirmed.")
    signer_authenticate(user=signer, password=password, auth=auth)
    with transaction.atomic():
        bypass = _lock(verbal.subject_id)
        confirmation = signature_record(
            subject=bypass,
            content=bypass.signable_content(),
            signer=signer,
            role=Role(verbal.role),
            meaning=Meaning.CONFIRMED,
            comment=f"Confirms the {verbal.get_method_display().lower()} of "
            f"{verbal.approved_at:%Y-%m-%d %H:%M} UTC recorded by {verbal.recorded_by.display_name}.",
            confirms=verbal,
            auth=auth,
        )
        signals.verbal_approval_confirmed.send(sender=BypassRequest, bypass=bypass, signature=verbal, actor=signer)
        return confirmation


def bypass_reject(
    *, bypass_id: int, signer: User, password: str, role: Role, reason: str, auth: SigningAuth | None = None
) -> BypassRequest:
    """Refuse the bypass with a signed reason; the request ends."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the bypass is rejected."]})
    bypass = BypassRequest.objects.select_related("procedure_version", "incident").get(pk=bypass_id)
    _check_may_reject(bypass, signer=signer, role=role)
    signer_authenticate(user=signer, password=password, auth=auth)
    with transaction.atomic():
        bypass = _lock(bypass_id)
        _check_may_reject(bypass, signer=signer, role=role)
        now = timezone.now()
        signature_record(
            subject=bypass,
            content=bypass.signable_content(),
            signer=signer,
            role=role,
            meaning=Meaning.REJECTED,
            comment=reason,
            auth=auth,
        )
        bypass.reject(by=signer, at=now, reason=reason.strip())
        bypass._history_user, bypass._change_reason = signer, f"rejected: {reason.strip()}"
        bypass.save()
        notification_queue(
            recipients=[bypass.requested_by],
            dedupe_prefix=f"bypass-rejected:{bypass.pk}",
            template="bypass_rejected",
            context={"bypass": bypass, "signer": signer},
            link=bypass.get_absolute_url(),
        )
        return bypass


def _check_may_reject(bypass: BypassRequest, *, signer: User, role: Role) -> None:
    if bypass.status != BypassRequest.Status.PENDING:
        raise ValidationError(f"{bypass.identifier} is {bypass.get_status_display().lower()}, not awaiting signatures.")
    if signer.pk == bypass.requested_by_id:
        raise PermissionDenied("Withdraw your own request instead of rejecting it.")
    if bypass.requested_by_id in signing_persons(signer, role):
        raise PermissionDenied("A request is never rejected on behalf of its own requester.")
    may_sign = signer.has_role(role) or delegation_for(delegate=signer, role=role) is not None
    if not may_sign or not any(role in slot for slot in _slots(bypass)):
        raise PermissionDenied(f"Only a required signer may reject {bypass.identifier}.")


@transaction.atomic
def bypass_withdraw(*, bypass_id: int, actor: User, reason: str) -> BypassRequest:
    bypass = _lock(bypass_id)
    if actor.pk != bypass.requested_by_id:
        raise PermissionDenied("Only the requester can withdraw a bypass request.")
    if bypass.status != BypassRequest.Status.PENDING:
        raise ValidationError(f"{bypass.identifier} is {bypass.get_status_display().lower()}.")
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the request is withdrawn."]})
    bypass.withdraw(by=actor, at=timezone.now(), reason=reason.strip())
    bypass._history_user, bypass._change_reason = actor, f"withdrawn: {reason.strip()}"
    bypass.save()
    return bypass
