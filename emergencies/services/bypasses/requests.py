"""Bypass requests: the decision tree's checks, filing (standalone or for an emergency) and editing while pending."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies import signals
from emergencies.identifiers import save_with_unique_identifier
from emergencies.models import BypassRequest, ChangeRecord, Incident
from emergencies.services.bypasses.signing import _lock, _slots
from qms.models import User
from qms.procedures import DEFAULT_PROCEDURE_CODE
from qms.roles import Role
from qms.roster.paging import notification_queue_roles
from qms.services import procedure_gates_check, procedure_version_current

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
    try:
        procedure_gates_check(version=bypass.procedure_version, codes=bypass.checks, field="checks")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if not bypass.checks:
        errors["checks"] = ["List the failing checks the bypass would skip."]
    elif "checks" not in errors:
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


def bypass_identifier_base(level: str, at: datetime) -> str:
    """What a bypass's identifier starts with (``emergencies.identifiers``): its level and second."""
    return f"BYPASS-{level}-{at:%Y%m%d-%H%M%S}"


def _save_new_bypass(
    bypass: BypassRequest, *, actor: User, now: datetime, notify: bool = True, identifier: str | None = None
) -> BypassRequest:
    bypass._history_user, bypass._change_reason = actor, f"{bypass.get_level_display()} bypass requested"
    base = bypass_identifier_base(bypass.level, now)
    save_with_unique_identifier(bypass, field_name="identifier", base=base, identifier=identifier)
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
    *, change: ChangeRecord, actor: User, at: datetime | None = None, save: bool = True, identifier: str | None = None
) -> BypassRequest:
    """The "bypass authorised" step of an emergency stub: an emergency bypass of every gate, signed by
    the stub's authorisers (Emergency Bypass Workflow §2.3). Runs inside the filing transaction (or a
    re-request's, with ``at`` and ``save=False``: the caller saves it). ``identifier``: one the filing
    allocated with its own (``bypass_identifier_base`` of the change's declaration)."""
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
    return _save_new_bypass(bypass, actor=actor, now=change.declared_at, notify=False, identifier=identifier)


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
