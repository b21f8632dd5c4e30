"""Bypass requests and their authorisation by electronic signature."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies import permissions, signals
from emergencies.identifiers import save_with_unique_identifier
from emergencies.models import BypassRemediation, BypassRequest, ChangeRecord, Incident
from qms.models import Signature, User
from qms.procedures import DEFAULT_PROCEDURE_CODE
from qms.roles import Role
from qms.roster.paging import notification_queue_roles
from qms.services import (
    SigningAuth,
    notification_queue,
    procedure_version_current,
    signature_record,
    signatures_for,
    signer_authenticate,
)
from qms.services.delegation import acting_for, delegation_for, signature_persons, signing_persons

Meaning, Method = Signature.Meaning, Signature.Method
REQUESTER_ROLES = (Role.ONCALL, Role.LEAD, Role.ARCHITECT, Role.ENGMANAGER, Role.SECURITY, Role.COMMANDER)
FIELD_LABELS = {
    "reason": "Reason for the bypass",
    "impact_assessment": "Impact assessment",
    "remediation_due": "Remediation target date",
    "risk_evaluation": "Risk evaluation",
    "complexity_score": "Complexity score (1-10)",
    "test_coverage_impact": "Test-coverage impact (%)",
    "integration_risk": "Integration risk",
    "rollback_feasibility": "Rollback feasibility",
    "business_factors": "Business factors",
    "business_justification": "Business justification",
    "remediation_plan": "Remediation plan",
    "stakeholder_notification_plan": "Stakeholder notification plan",
    "security_impact_analysis": "Security impact analysis",
    "legal_compliance_assessment": "Legal/compliance risk assessment",
    "remediation_roadmap": "Remediation roadmap",
    "incident_response_plan": "Incident response plan",
    "communication_strategy": "Communication strategy",
    "incident": "Incident",
}


@dataclass(frozen=True)
class BypassInput:
    repository: str
    pull_request: str
    checks: list[str]
    production_impact: str
    security_involved: bool = False
    compliance_involved: bool = False
    code_quality_only: bool = False
    incident_ticket: str = ""
    implementer: User | None = None
    procedure_code: str = DEFAULT_PROCEDURE_CODE
    details: dict = field(default_factory=dict)  # the level's required information and the remediation plan

    @staticmethod
    def detail_names() -> tuple[str, ...]:
        return DETAIL_FIELDS


DETAIL_FIELDS = (
    "reason",
    "impact_assessment",
    "risk_evaluation",
    "complexity_score",
    "test_coverage_impact",
    "integration_risk",
    "rollback_feasibility",
    "business_factors",
    "business_justification",
    "stakeholder_notification_plan",
    "security_impact_analysis",
    "legal_compliance_assessment",
    "remediation_roadmap",
    "incident_response_plan",
    "communication_strategy",
    "remediation_plan",
    "remediation_due",
    "remediation_assignee",
    "tracking_issue",
    "success_criteria",
)


def can_request_bypass(user: User) -> bool:
    return user.is_active and user.has_role(*REQUESTER_ROLES)


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _validate_request(bypass: BypassRequest, *, now: datetime) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    rules = bypass.rules
    if not bypass.repository.strip():
        errors["repository"] = ["Name the repository."]
    if not bypass.pull_request.strip():
        errors["pull_request"] = ["Name the pull request."]
    catalogue = rules.gate_catalogue
    unknown = [c for c in bypass.checks if c not in catalogue]
    if unknown:
        errors["checks"] = [f"Unknown check(s) under {bypass.procedure_version}: {', '.join(unknown)}."]
    elif not bypass.checks:
        errors["checks"] = ["List the failing checks the bypass would skip."]
    else:
        allowed = rules.checks_allowed(bypass.level)
        too_high = [c for c in bypass.checks if c not in allowed]
        if too_high:
            errors["checks"] = [
                f"{bypass.get_level_display()} may not bypass "
                + ", ".join(f"“{catalogue[c]['label']}” (needs {catalogue[c]['min_level']})" for c in too_high)
                + "."
            ]
    for name in rules.bypass_level(bypass.level)["required"]:
        value = bypass.incident if name == "incident" else getattr(bypass, name)
        if _is_missing(value):
            errors.setdefault(name, []).append(f"{FIELD_LABELS[name]} is required at {bypass.get_level_display()}.")
    if bypass.remediation_due is not None:
        today = now.astimezone(UTC).date()
        if bypass.remediation_due < today:
            errors.setdefault("remediation_due", []).append("The remediation date is in the past.")
        latest = rules.max_remediation_due(bypass.level, now)
        if latest is not None and bypass.remediation_due > latest.date():
            errors.setdefault("remediation_due", []).append(
                f"At {bypass.get_level_display()} remediation is due within 5 business days (by {latest:%Y-%m-%d})."
            )
    return errors


@transaction.atomic
def bypass_request_create(*, data: BypassInput, actor: User, now: datetime | None = None) -> BypassRequest:
    """File a bypass request; its level comes from the decision tree, its deadlines from the procedure."""
    if not can_request_bypass(actor):
        raise PermissionDenied("Your roles do not allow requesting bypasses.")
    if data.production_impact not in BypassRequest.Impact.values:
        raise ValidationError({"production_impact": ["Choose the production impact."]})
    procedure = procedure_version_current(code=data.procedure_code)
    if procedure is None:
        raise ValidationError({"procedure_code": [f"No procedure {data.procedure_code!r} is in effect."]})
    rules = procedure.rules
    now = (now or timezone.now()).astimezone(UTC)
    level, branch = rules.decide_bypass_level(
        production_impact=data.production_impact,
        security_or_compliance=data.security_involved or data.compliance_involved,
        code_quality_only=data.code_quality_only,
    )
    incident = None
    if data.incident_ticket.strip():
        incident = Incident.objects.filter(ticket=data.incident_ticket.strip().upper()).first()
        if incident is None:
            raise ValidationError({"incident_ticket": [f"No incident {data.incident_ticket.strip()}."]})
        if level == "L3":
            level, branch = "E", branch + " → active incident → Emergency"
    unknown = set(data.details) - set(DETAIL_FIELDS)
    if unknown:
        raise ValidationError({"details": [f"Unknown field(s): {', '.join(sorted(unknown))}."]})
    bypass = BypassRequest(
        level=level,
        decision_branch=branch,
        procedure_version=procedure,
        incident=incident,
        requested_by=actor,
        implementer=data.implementer or actor,
        requested_at=now,
        repository=data.repository.strip(),
        pull_request=data.pull_request.strip(),
        checks=list(dict.fromkeys(data.checks)),
        production_impact=data.production_impact,
        security_involved=data.security_involved,
        compliance_involved=data.compliance_involved,
        code_quality_only=data.code_quality_only,
        **data.details,
    )
    errors = _validate_request(bypass, now=now)
    if errors:
        raise ValidationError(errors)
    try:
        bypass.full_clean(exclude=["identifier", "status"], validate_constraints=False)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from exc
    return _save_new_bypass(bypass, actor=actor, now=now)


def _save_new_bypass(bypass: BypassRequest, *, actor: User, now: datetime, notify: bool = True) -> BypassRequest:
    bypass._history_user, bypass._change_reason = actor, f"{bypass.get_level_display()} bypass requested"
    save_with_unique_identifier(bypass, field_name="identifier", base=f"BYPASS-{bypass.level}-{now:%Y%m%d-%H%M%S}")
    signals.bypass_requested.send(sender=BypassRequest, bypass=bypass, actor=actor)
    if not notify:
        return bypass
    slot_roles = {role for slot in _slots(bypass) for role in slot}
    change = bypass.change
    notification_queue_roles(
        roles=sorted(slot_roles),
        dedupe_prefix=f"bypass-requested:{bypass.pk}",
        template="bypass_requested",
        context={"bypass": bypass, "actor": actor},
        link=bypass.get_absolute_url(),
        severity=change.incident.severity if change is not None and change.incident_id else "",
        definition=bypass.procedure_version.definition if bypass.procedure_version_id else None,
        now=now,
    )
    return bypass


def bypass_emergency_open(
    *, change: ChangeRecord, actor: User, at: datetime | None = None, save: bool = True
) -> BypassRequest:
    """The "bypass authorised" step of an emergency stub: an emergency bypass of every gate, signed by
    the stub's authorisers (Emergency Bypass Workflow §2.3). Runs inside the filing transaction (or a
    re-request's, with ``at`` and ``save=False``: the caller saves it)."""
    incident = change.incident
    bypass = BypassRequest(
        level=BypassRequest.Level.EMERGENCY,
        procedure_version=change.procedure_version,
        change=change,
        incident=incident,
        requested_by=actor,
        implementer=actor,
        requested_at=at or change.declared_at,
        checks=change.rules.retroactive_checks,
        production_impact=BypassRequest.Impact.CRITICAL,
        security_involved=incident.security_involved,
        compliance_involved=incident.compliance_involved,
        decision_branch=f"{incident.category_label} declared → emergency stub → all gates bypassed",
        reason=change.problem_statement,
    )
    if not save:
        return bypass
    # The authorisers were just notified of the emergency itself; one message each is enough.
    return _save_new_bypass(bypass, actor=actor, now=change.declared_at, notify=False)


def bypass_emergency_withdraw_pending(*, change: ChangeRecord, actor: User, at: datetime, reason: str) -> list:
    """Withdraw the change's emergency bypasses still awaiting signatures (the change leaves the emergency
    path); the receivers void their review clocks. Runs inside the caller's transaction."""
    withdrawn = []
    pending = BypassRequest.objects.select_for_update().filter(
        change=change, level=BypassRequest.Level.EMERGENCY, status=BypassRequest.Status.PENDING
    )
    for bypass in pending:
        note = f"withdrawn: {change.identifier} left the emergency path" + (f" ({reason})" if reason else "")
        bypass.withdraw(by=actor, at=at, reason=note)
        bypass._history_user, bypass._change_reason = actor, note
        bypass.save()
        withdrawn.append(bypass)
    return withdrawn


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


def bypass_slot_status(bypass: BypassRequest, signatures: list[Signature] | None = None) -> list[Slot]:
    """Assign the current, matching approvals to the required slots, one person per slot."""
    from qms.services import content_hash

    signatures = signatures_for(bypass) if signatures is None else signatures
    current = content_hash(bypass.signable_content())
    approvals = [s for s in signatures if s.meaning == Meaning.APPROVED and s.content_hash == current]
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
    notify = [Role(r) for r in bypass.rules.bypass_level(bypass.level).get("notify", ["qms"])]
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


@transaction.atomic
def bypass_remediation_record(*, bypass_id: int, gate: str, evidence: str, actor: User) -> BypassRemediation:
    """A validator shows one check a level 1-3 bypass skipped to pass again, with evidence: its remediation clock
    is met, and the bypass is remediated once every check it skipped is."""
    bypass = _lock(bypass_id)
    if bypass.level == BypassRequest.Level.EMERGENCY:
        raise ValidationError(
            "An emergency's skipped gates are validated retroactively on its change, not here."
            + (f" Open {bypass.change.identifier}." if bypass.change_id else "")
        )
    if bypass.status != BypassRequest.Status.ACTIVE:
        raise ValidationError(f"{bypass.identifier} is {bypass.get_status_display().lower()}: nothing to remediate.")
    if not permissions.can_validate_remediation(bypass, actor):
        if actor.pk == bypass.requested_by_id:
            raise PermissionDenied("The requester of a bypass cannot validate its remediation.")
        raise PermissionDenied("Validating a remediation needs a QMS, quality, architect, lead, security or CM role.")
    if gate not in bypass.checks:
        raise ValidationError({"gate": [f"{bypass.rules.check_label(gate)} was not bypassed."]})
    done = BypassRemediation.objects.filter(bypass=bypass, gate=gate).select_related("validated_by").first()
    if done is not None:
        raise ValidationError(
            {"gate": [f"{done.get_gate_display()} was already shown to pass by {done.validated_by.display_name}."]}
        )
    if not evidence.strip():
        raise ValidationError({"evidence": ["Link or describe the passing run."]})
    record = BypassRemediation(
        bypass=bypass, gate=gate, evidence=evidence.strip(), validated_by=actor, validated_at=timezone.now()
    )
    record.full_clean()
    record.save()
    signals.bypass_remediation_recorded.send(sender=BypassRemediation, remediation=record, actor=actor)
    if set(bypass.remediations.values_list("gate", flat=True)) >= set(bypass.checks):
        bypass.mark_remediated(by=actor, reason="every skipped check shown to pass again")
        bypass._history_user, bypass._change_reason = actor, "remediated: every skipped check passes again"
        bypass.save()
    return record


EDITABLE_WHILE_PENDING = (*(f for f in DETAIL_FIELDS if f != "remediation_assignee"), "repository", "pull_request")


@transaction.atomic
def bypass_request_update(*, bypass_id: int, actor: User, changes: dict) -> BypassRequest:
    """The requester edits a pending request. Signatures given before no longer match and stop counting."""
    bypass = _lock(bypass_id)
    if actor.pk != bypass.requested_by_id:
        raise PermissionDenied("Only the requester can edit a bypass request.")
    if bypass.status != BypassRequest.Status.PENDING:
        raise ValidationError(f"{bypass.identifier} is {bypass.get_status_display().lower()} and can no longer change.")
    unknown = set(changes) - set(EDITABLE_WHILE_PENDING)
    if unknown:
        raise ValidationError({"changes": [f"Cannot edit: {', '.join(sorted(unknown))}."]})
    for name, value in changes.items():
        setattr(bypass, name, value)
    errors = _validate_request(bypass, now=timezone.now())
    if errors:
        raise ValidationError(errors)
    bypass._history_user, bypass._change_reason = actor, f"edited: {', '.join(sorted(changes))}"
    bypass.save()
    return bypass


def remediation_due_date(bypass: BypassRequest, start: datetime) -> datetime:
    """The remediation plan's date when it is earlier than the level's deadline, else the deadline."""
    deadline = bypass.rules.remediation_due(bypass.level, start)
    if isinstance(bypass.remediation_due, date):
        planned = datetime.combine(bypass.remediation_due, datetime.max.time().replace(microsecond=0), tzinfo=UTC)
        return min(planned, deadline)
    return deadline
