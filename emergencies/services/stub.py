"""Every write of the emergency lifecycle. Each is one transaction with an explicit actor."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from emergencies import permissions, signals
from emergencies.identifiers import identifiers_allocate
from emergencies.models import BypassRequest, ChangeRecord, Incident
from emergencies.services.bypasses import (
    bypass_emergency_open,
    bypass_emergency_withdraw_pending,
    bypass_identifier_base,
)
from emergencies.services.preconditions import transition_check
from qms.batch import writes_batched
from qms.models import User
from qms.procedures import CATEGORY_LABELS, DEFAULT_PROCEDURE_CODE
from qms.roles import Role
from qms.roster.paging import notification_queue_roles
from qms.services import procedure_version_current


@dataclass(frozen=True)
class StubInput:
    """What an on-call engineer gives when filing; everything else defaults or comes later."""

    title: str
    category: str
    problem_statement: str
    incident_ticket: str = ""
    cvss_score: Decimal | None = None
    security_involved: bool = False
    compliance_involved: bool = False
    safety_related: bool = False
    commander: User | None = None
    procedure_code: str = DEFAULT_PROCEDURE_CODE
    affected_systems: str = ""
    flags: dict = field(default_factory=dict)


def _validate_stub(data: StubInput) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not data.title.strip():
        errors.setdefault("title", []).append("Say in a few words what is broken.")
    if not data.problem_statement.strip():
        errors.setdefault("problem_statement", []).append("Describe what is broken.")
    if data.category not in CATEGORY_LABELS:
        errors.setdefault("category", []).append(f"Unknown category {data.category!r}.")
    if data.cvss_score is not None and not Decimal("0.0") <= data.cvss_score <= Decimal("10.0"):
        errors.setdefault("cvss_score", []).append("A CVSS score is between 0.0 and 10.0.")
    if data.commander is not None and not data.commander.has_role(Role.COMMANDER):
        errors.setdefault("commander", []).append(f"{data.commander} is not an incident commander.")
    return errors


@transaction.atomic
def emergency_stub_file(*, data: StubInput, actor: User, now: datetime | None = None) -> ChangeRecord:
    """File an emergency stub: the incident (or link to the given ticket) and its CHG-EMG change record.

    Applies the decision matrix of the procedure; a refused stub creates nothing. The procedure's clocks
    start (audits listens to ``change_record_filed``) and the authorisers are notified on commit.
    """
    if not permissions.can_file_emergency(actor):
        raise PermissionDenied("You may not file emergency changes.")
    errors = _validate_stub(data)
    if errors:
        raise ValidationError(errors)
    procedure = procedure_version_current(code=data.procedure_code)
    if procedure is None:
        raise ValidationError({"procedure_code": [f"No procedure {data.procedure_code!r} is in effect."]})
    rules = procedure.rules
    refusal = rules.emergency_refusal(data.category, data.cvss_score)
    if refusal is not None:
        raise ValidationError({refusal.field: [ValidationError(refusal.message, code=refusal.code)]})

    now = (now or timezone.now()).astimezone(UTC)  # the id is read in UTC, whatever zone filed it
    incident, incident_new = _incident_for_stub(
        data=data, actor=actor, now=now, severity=rules.severity_for(data.category)
    )
    title = data.title.strip()
    change = ChangeRecord(
        title=title if title.upper().startswith("EMERGENCY:") else f"EMERGENCY: {title}",
        level=ChangeRecord.Level.EMERGENCY,
        source=ChangeRecord.Source.EMERGENCY,
        incident=incident,
        procedure_version=procedure,
        author=actor,
        problem_statement=data.problem_statement.strip(),
        declared_at=now,
    )
    change._history_user, change._change_reason = actor, "emergency stub filed"
    # The filing's identifiers in one statement: the incident's (unless linked or given), the change's, its bypass's.
    wanted = [(Incident, "ticket", f"INC-{now:%Y%m%d-%H%M}")] if incident_new and not incident.ticket else []
    wanted += [
        (ChangeRecord, "identifier", f"CHG-EMG-{now:%Y%m%d-%H%M}"),
        (BypassRequest, "identifier", bypass_identifier_base(BypassRequest.Level.EMERGENCY, now)),
    ]
    *incident_ticket, change.identifier, bypass_identifier = identifiers_allocate(wanted)
    # The filing's audit events (filed, clocks opened, bypass requested) are chained and written together at
    # the end: one head update and one insert, and the chain's head is locked only for the last statements.
    with writes_batched():
        if incident_new:
            incident.ticket = incident_ticket[0] if incident_ticket else incident.ticket
            incident.save()
        change.save()
        signals.change_record_filed.send(sender=ChangeRecord, change=change, actor=actor, incident_new=incident_new)
        bypass_emergency_open(change=change, actor=actor, identifier=bypass_identifier)
        _authorisers_notify(change=change, rules=rules, actor=actor, now=now)
    return change


def _authorisers_notify(*, change: ChangeRecord, rules, actor: User, now: datetime) -> None:
    """The authorising roles are paged through their on-call roster (the named commander instead of the roster)."""
    incident = change.incident
    roles = rules.stub_authoriser_roles(incident.category, incident.flags)
    named = incident.commander if Role.COMMANDER in roles else None
    notification_queue_roles(
        roles=[r for r in roles if not (r is Role.COMMANDER and named is not None)],
        also=[named] if named is not None else [],
        dedupe_prefix=f"change-filed:{change.pk}",
        template="emergency_filed",
        context={"change": change, "incident": incident, "roles": [r.label for r in roles], "actor": actor},
        link=change.get_absolute_url(),
        severity=incident.severity,
        definition=change.procedure_version.definition,
        now=now,
    )


def _incident_for_stub(*, data: StubInput, actor: User, now: datetime, severity: str) -> tuple[Incident, bool]:
    """The incident of the given ticket (locked), or a new one, validated but not yet saved (``True``)."""
    ticket = data.incident_ticket.strip().upper()
    if ticket:
        incident = Incident.objects.select_for_update().filter(ticket=ticket).first()
        if incident is not None:
            return incident, False
    incident = Incident(
        ticket=ticket,  # empty: the filing allocates INC-YYYYMMDD-HHMM
        title=data.title.strip(),
        category=data.category,
        severity=severity,
        cvss_score=data.cvss_score,
        production_impact=data.category == "p1_incident",
        security_involved=data.security_involved or data.category in {"critical_security", "data_breach"},
        compliance_involved=data.compliance_involved or data.category == "data_breach",
        safety_related=data.safety_related,
        commander=data.commander,
        reported_by=actor,
        declared_at=now,
        affected_systems=data.affected_systems.strip(),
    )
    try:
        # Constraints are the database's to enforce; the checks above already gave the friendly errors.
        # The commander and the reporter are users just read from the database: no need to look them up again.
        exclude = ["commander", "reported_by"] + ([] if ticket else ["ticket"])
        incident.full_clean(exclude=exclude, validate_constraints=False)
    except ValidationError as exc:
        raise ValidationError(
            {"incident_ticket" if k == "ticket" else k: v for k, v in exc.message_dict.items()}
        ) from exc
    incident._history_user, incident._change_reason = actor, "declared with an emergency stub"
    return incident, True


# "authorize_bypass" is not here: the last required signature on the emergency bypass takes it.
TRANSITIONS = {
    name: getattr(ChangeRecord, name)
    for name in (
        "start_hotfix",
        "deploy",
        "start_monitoring",
        "resolve",
        "close",
        "roll_back",
        "convert_to_standard",
        # follow-up and preventive changes
        "approve_change",
        "implement_change",
        "verify_change",
        "close_change",
    )
}


@transaction.atomic
def change_record_transition(
    *, change_id: int, transition: str, actor: User, reason: str = "", now: datetime | None = None
) -> ChangeRecord:
    """Move a change along its lifecycle, after checking the state, the actor's right and the reason."""
    if transition not in TRANSITIONS:
        raise ValidationError({"transition": [f"Unknown action {transition!r}."]})
    change = (
        ChangeRecord.objects.select_for_update(of=("self",))
        .select_related("incident", "procedure_version")
        .get(pk=change_id)
    )
    method = getattr(change, transition)
    label = method._django_fsm.get_transition(change.status)
    if not can_proceed(method, check_conditions=False):
        raise ValidationError(
            f"“{transition.replace('_', ' ')}” is not possible while the change is "
            f"{change.get_status_display().lower()}."
        )
    # The transition's own permission (django-fsm's has_transition_perm also demands its conditions).
    if not label.has_perm(change, actor):
        raise PermissionDenied("You may not take this action on this change.")
    # The procedure version's preconditions, every missing item named; nothing is written when one is unmet.
    transition_check(change, transition)
    if not can_proceed(method):
        raise ValidationError(["Not yet possible."])
    reason = reason.strip()
    if label.custom.get("reason_required") and not reason:
        raise ValidationError({"reason": ["Give a reason for this action."]})
    now = now or timezone.now()
    before = change.status
    if transition == "convert_to_standard":
        # A pending authorisation is withdrawn: nobody signs a bypass of a change that left the emergency path.
        bypass_emergency_withdraw_pending(change=change, actor=actor, at=now, reason=reason)
    method(by=actor, at=now, reason=reason)
    change.status_reason = reason
    change._history_user = actor
    change._change_reason = reason or f"{before} → {change.status}"
    change.save()
    return change


CHECKLIST_ITEMS = {"hotfix_in_progress": "Hotfix in progress", "monitoring_active": "Monitoring active"}


@transaction.atomic
def change_record_checklist_set(*, change_id: int, item: str, done: bool, actor: User) -> ChangeRecord:
    if item not in CHECKLIST_ITEMS:
        raise ValidationError({"item": [f"Unknown checklist item {item!r}."]})
    change = ChangeRecord.objects.select_for_update().get(pk=change_id)
    if not permissions.can_edit_change(change, actor):
        raise PermissionDenied("You may not update this change.")
    if getattr(change, item) == done:
        return change
    setattr(change, item, done)
    change._history_user = actor
    change._change_reason = f"{CHECKLIST_ITEMS[item]} {'ticked' if done else 'unticked'}"
    change.save(update_fields=[item, "updated_at"])
    signals.change_record_checklist_changed.send(sender=ChangeRecord, change=change, actor=actor, item=item, done=done)
    return change
