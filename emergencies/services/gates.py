"""The decision gates of a procedure with a change control board (CM-WF-EMERGENCY §14): who sits on its
CCB, what each gate needs before it can pass, Gate 1 (declare emergency) recorded by one authorised
person, the gates' state on a change, and Gate 4 as a closure condition. Sessions that decide Gates 2-4
and ratifications are in :mod:`emergencies.services.ccb`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from emergencies import permissions
from emergencies import signals as signals
from emergencies.models import CCBSession, ChangeRecord, GateDecision
from emergencies.models.ccb import Gate
from qms.models import Signature, User
from qms.procedures.ccb import GateSpec, Seat
from qms.roles import Role
from qms.services import SigningAuth, signature_record, signer_authenticate
from qms.services.delegation import may_sign_in

BEFORE_DEPLOYMENT = (
    ChangeRecord.Status.STUB,
    ChangeRecord.Status.BYPASS_AUTHORISED,
    ChangeRecord.Status.HOTFIX,
    ChangeRecord.Status.ROLLED_BACK,
)


def severity_of(change: ChangeRecord) -> str:
    return change.incident.severity if change.incident_id else ""


def flags_of(change: ChangeRecord) -> dict[str, bool]:
    return change.incident.flags if change.incident_id else {}


def ccb_available(change: ChangeRecord) -> bool:
    """Whether the change's procedure has a change control board (only CM-WF-EMERGENCY among the presets)."""
    return change.rules.ccb_required and bool(change.rules.ccb_session_gates())


def required_seats(change: ChangeRecord) -> list[Seat]:
    return change.rules.ccb_required_seats(severity_of(change), flags_of(change))


def member_roles(change: ChangeRecord) -> list[Role]:
    return change.rules.ccb_member_roles(severity_of(change), flags_of(change))


def lock_change(change_id: int) -> ChangeRecord:
    return (
        ChangeRecord.objects.select_for_update(of=("self",))
        .select_related("incident", "procedure_version")
        .get(pk=change_id)
    )


def latest_decision(change: ChangeRecord, gate: str) -> GateDecision | None:
    return GateDecision.objects.filter(change=change, gate=gate).order_by("-decided_at", "-pk").first()


# --- gate preconditions (§14.3, §14.4) ---------------------------------------------------------------------


def _text(change: ChangeRecord, name: str) -> bool:
    return bool((getattr(change, name, "") or "").strip())


def _follow_up_documentation_complete(change: ChangeRecord) -> bool:
    """The full documentation is complete and, where the procedure keeps the §11.2 follow-up items, every
    item is recorded."""
    documented = getattr(change, "documentation_completed_at", None) is not None or all(
        _text(change, name)
        for name in ("root_cause", "impact_assessment", "timeline", "affected_artifacts", "resolution")
    )
    documents = getattr(change, "follow_up_documents", None)
    if documented and documents is not None and change.rules.definition.get("patch_package"):
        wanted = {key for key, _ in documents.model._meta.get_field("key").choices}
        return wanted <= set(documents.values_list("key", flat=True))
    return documented


def _issue_resolved(change: ChangeRecord) -> bool:
    return (
        getattr(change, "resolved_at", None) is not None
        or (change.incident_id is not None and change.incident.resolved_at is not None)
        or change.status in (ChangeRecord.Status.POST_INCIDENT, ChangeRecord.Status.CLOSED)
    )


# Each named precondition of a gate, as a check of the change. Other parts of the lifecycle may replace
# an entry with a finer check (e.g. the §11.2 follow-up documents).
GATE_PRECONDITIONS: dict[str, Callable[[ChangeRecord], bool]] = {
    "verification_complete": lambda change: bool(getattr(change, "verification_complete", False)),
    "risk_assessment_documented": lambda change: _text(change, "impact_assessment"),
    "rollback_ready": lambda change: _text(change, "rollback_plan"),
    "follow_up_documentation_complete": _follow_up_documentation_complete,
    "issue_resolved": _issue_resolved,
    "lessons_learned_captured": lambda change: _text(change, "lessons_learned"),
}


@dataclass(frozen=True)
class Precondition:
    code: str
    label: str
    met: bool


def gate_preconditions(change: ChangeRecord, gate: GateSpec) -> list[Precondition]:
    rules = change.rules
    return [
        Precondition(
            code, rules.ccb_precondition_label(code), bool(GATE_PRECONDITIONS.get(code, lambda c: False)(change))
        )
        for code in gate.preconditions
    ]


def gate_missing(change: ChangeRecord, gate: GateSpec) -> list[str]:
    return [p.label for p in gate_preconditions(change, gate) if not p.met]


def gate_requires_missing(change: ChangeRecord, gate: GateSpec, latest: dict | None = None) -> list[str]:
    """The earlier gates that must pass before this one (empty when it may be taken up now)."""
    missing = []
    for code in gate.requires:
        decision = latest.get(code) if latest is not None else latest_decision(change, code)
        if decision is None or decision.result != GateDecision.Result.PASSED:
            try:
                label = change.rules.ccb_gate(code).label
            except KeyError:
                label = code
            missing.append(f"{label} must pass first")
    return missing


def leave_emergency_path(change: ChangeRecord, *, actor: User, at: datetime, reason: str, convert: bool) -> None:
    """Mark the change a false alarm and, when it still can, take it off the emergency path."""
    change.false_alarm = True
    change.false_alarm_reason = reason
    if convert:
        from emergencies.services.bypasses import bypass_emergency_withdraw_pending

        bypass_emergency_withdraw_pending(change=change, actor=actor, at=at, reason=reason)
        change.convert_to_standard(by=actor, at=at, reason=reason)
        change.status_reason = reason
    change._history_user, change._change_reason = actor, reason
    change.save()
    signals.change_false_alarm.send(sender=ChangeRecord, change=change, reason=reason, actor=actor)


# --- Gate 1: declare emergency (§14.1) -----------------------------------------------------------------------


@dataclass(frozen=True)
class DeclareInput:
    warranted: bool
    severity: str
    criteria: tuple[str, ...]
    reason: str
    role: Role


def _check_declare(change: ChangeRecord, actor: User, data: DeclareInput) -> GateSpec:
    rules = change.rules
    if not ccb_available(change):
        raise ValidationError(f"{change.procedure_version.procedure.title} has no decision gates to record.")
    try:
        gate = rules.ccb_gate(Gate.DECLARE)
    except KeyError:
        raise ValidationError("This procedure has no Gate 1.") from None
    if data.role not in gate.roles or not may_sign_in(actor, data.role):
        raise PermissionDenied(f"{gate.label} is recorded by a {' or '.join(r.label for r in gate.roles)} (§14.1).")
    if change.status in (ChangeRecord.Status.CONVERTED, ChangeRecord.Status.CLOSED):
        raise ValidationError(f"{change.identifier} is {change.get_status_display().lower()}.")
    previous = latest_decision(change, Gate.DECLARE)
    if previous is not None:
        raise ValidationError(f"{gate.label} was already recorded on {previous.decided_at:%Y-%m-%d %H:%M} UTC.")
    errors: dict[str, list[str]] = {}
    if data.severity not in rules.severity_labels:
        errors["severity"] = ["Choose the severity (§4)."]
    else:
        allowed = rules.severity_criteria(data.severity)
        unknown = [c for c in data.criteria if c not in allowed]
        if unknown:
            errors["criteria"] = [f"Not a criterion of {rules.severity_labels[data.severity]}: {', '.join(unknown)}."]
        elif data.warranted and not data.criteria:
            errors["criteria"] = ["Tick the §4 criteria the issue meets: an emergency must meet at least one."]
    if not data.reason.strip():
        errors["reason"] = ["Give the reason for the decision."]
    if errors:
        raise ValidationError(errors)
    return gate


def gate_declare_record(
    *, change_id: int, actor: User, password: str, data: DeclareInput, auth: SigningAuth | None = None
) -> GateDecision:
    """Gate 1, signed by a safety manager, security officer or configuration manager against the severity
    criteria of §4. An emergency judged not warranted leaves the emergency path as a false alarm."""
    change = ChangeRecord.objects.select_related("incident", "procedure_version__procedure").get(pk=change_id)
    _check_declare(change, actor, data)
    signer_authenticate(user=actor, password=password, auth=auth)
    with transaction.atomic():
        change = lock_change(change_id)
        gate = _check_declare(change, actor, data)
        now = timezone.now()
        reason = data.reason.strip()
        signature = signature_record(
            subject=change,
            content={
                "change": change.identifier,
                "gate": gate.code,
                "warranted": data.warranted,
                "severity": data.severity,
                "criteria": list(data.criteria),
                "reason": reason,
            },
            signer=actor,
            role=data.role,
            meaning=Signature.Meaning.APPROVED if data.warranted else Signature.Meaning.REJECTED,
            comment=reason,
            auth=auth,
        )
        decision = GateDecision(
            change=change,
            gate=gate.code,
            result=GateDecision.Result.PASSED if data.warranted else GateDecision.Result.FAILED,
            decided_by=actor,
            role=data.role.value,
            reason=reason,
            decided_at=now,
            retroactive=change.status not in BEFORE_DEPLOYMENT,
            severity=data.severity,
            criteria=list(data.criteria),
            signature=signature,
        )
        decision.full_clean(validate_constraints=False)
        decision.save()
        incident = change.incident
        if incident is not None and incident.severity != data.severity:
            before = incident.severity
            incident.severity = data.severity
            incident._history_user = actor
            incident._change_reason = f"severity assessed at {gate.label}: {before or '—'} → {data.severity}"
            incident.save(update_fields=["severity"])
        signals.gate_decision_recorded.send(sender=GateDecision, change=change, decision=decision, actor=actor)
        if not data.warranted:
            leave_emergency_path(
                change,
                actor=actor,
                at=now,
                reason=f"{gate.label}: not warranted: {reason}",
                convert=can_proceed(change.convert_to_standard),
            )
        return decision


# --- gates overview ------------------------------------------------------------------------------------------


@dataclass
class GateRow:
    gate: GateSpec
    decision: GateDecision | None
    open_session: CCBSession | None
    missing: list[str]
    blocked_by: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.decision is not None and self.decision.result == GateDecision.Result.PASSED

    @property
    def failed(self) -> bool:
        return self.decision is not None and self.decision.result == GateDecision.Result.FAILED

    @property
    def state(self) -> str:
        """passed / failed / blocked (an earlier gate has not passed) / pending (it can be taken up now)."""
        if self.passed:
            return "passed"
        if self.failed:
            return "failed"
        return "blocked" if self.blocked_by else "pending"


def gate_rows(change: ChangeRecord, decisions: list[GateDecision], sessions: list[CCBSession]) -> list[GateRow]:
    """Each gate of the procedure with its latest decision and open session, from rows already loaded."""
    latest: dict[str, GateDecision] = {}
    for decision in sorted(decisions, key=lambda d: (d.decided_at, d.pk), reverse=True):
        latest.setdefault(decision.gate, decision)
    open_by_gate = {s.gate: s for s in sessions if s.status == CCBSession.Status.OPEN}
    return [
        GateRow(
            gate,
            latest.get(gate.code),
            open_by_gate.get(gate.code),
            gate_missing(change, gate),
            gate_requires_missing(change, gate, latest),
        )
        for gate in change.rules.ccb_gates()
    ]


def ccb_closure_problems(change: ChangeRecord) -> list[str]:
    """Closing a change whose procedure has a CCB needs Gate 4 passed (§14.4)."""
    if not ccb_available(change):
        return []
    try:
        gate = change.rules.ccb_gate(Gate.CLOSE)
    except KeyError:
        return []
    latest = latest_decision(change, gate.code)
    if latest is None or latest.result != GateDecision.Result.PASSED:
        return [f"{gate.label}: not yet approved by an emergency CCB session (§14.4)."]
    return []


# --- verification (§9.1), a Gate 3 precondition -------------------------------------------------------------


@transaction.atomic
def change_verification_set(*, change_id: int, complete: bool, actor: User) -> ChangeRecord:
    change = lock_change(change_id)
    if not permissions.can_edit_change(change, actor):
        raise PermissionDenied("You may not update this change.")
    if change.verification_complete == complete:
        return change
    change.verification_complete = complete
    change._history_user = actor
    change._change_reason = "verification complete" if complete else "verification reopened"
    change.save(update_fields=["verification_complete", "updated_at"])
    signals.change_verification_set.send(sender=ChangeRecord, change=change, complete=complete, actor=actor)
    return change
