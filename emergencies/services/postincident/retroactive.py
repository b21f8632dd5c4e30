"""Retroactive validation of the gates an emergency skipped (CM-WF-EMERGENCY §4.4)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies import signals
from emergencies.models import (
    BypassRequest,
    ChangeRecord,
    GateResult,
)
from emergencies.services.postincident.change import VALIDATOR_ROLES, _lock_change, _milestone
from qms.models import User
from qms.roles import Role
from qms.services import procedure_gates_check

# --- retroactive gates ------------------------------------------------------------------------------------


def emergency_bypass(change: ChangeRecord) -> BypassRequest | None:
    return BypassRequest.objects.filter(change=change, level=BypassRequest.Level.EMERGENCY).order_by("-pk").first()


def gate_catalogue(change: ChangeRecord) -> list[str]:
    """The gates the emergency bypassed, which must each be validated after the fact."""
    bypass = emergency_bypass(change)
    return list(bypass.checks) if bypass else []


def gate_status(change: ChangeRecord) -> list[tuple[str, str, GateResult | None]]:
    latest: dict[str, GateResult] = {}
    for result in change.gate_results.select_related("validated_by").order_by("-validated_at", "-pk"):
        latest.setdefault(result.gate, result)
    rules = change.rules
    return [(gate, rules.check_label(gate), latest.get(gate)) for gate in gate_catalogue(change)]


def gates_not_cleared(change: ChangeRecord) -> list[str]:
    return [label for _, label, result in gate_status(change) if result is None or not result.clears_gate]


def gate_result_record(*, change_id: int, gate: str, result: str, evidence: str, actor: User) -> GateResult:
    with transaction.atomic():
        change = _lock_change(change_id)
        if not change.is_open:
            raise ValidationError(f"{change.identifier} is closed.")
        if not actor.has_role(*VALIDATOR_ROLES):
            raise PermissionDenied("Validating gates needs a QMS, quality, architect, lead, security or CM role.")
        if actor.pk == change.author_id:
            raise PermissionDenied("The author of the emergency change cannot validate its gates.")
        procedure_gates_check(version=change.procedure_version, codes=[gate], field="gate")
        if gate not in gate_catalogue(change):
            raise ValidationError({"gate": [f"{gate!r} was not bypassed by this emergency."]})
        if result not in GateResult.Result.values:
            raise ValidationError({"result": [f"Unknown result {result!r}."]})
        if not evidence.strip():
            raise ValidationError({"evidence": ["Attach or describe the evidence."]})
        if result == GateResult.Result.WAIVED and not actor.has_role(Role.QMS):
            raise PermissionDenied("Only a QMS coordinator may waive a gate.")
        record = GateResult(
            change=change,
            gate=gate,
            result=result,
            evidence=evidence.strip(),
            validated_by=actor,
            validated_at=timezone.now(),
        )
        record.full_clean()
        record.save()
        bypass = emergency_bypass(change)
        signals.gate_result_recorded.send(sender=GateResult, result=record, bypass=bypass, actor=actor)
        if bypass is not None and bypass.status == BypassRequest.Status.ACTIVE and not gates_not_cleared(change):
            bypass = BypassRequest.objects.select_for_update(of=("self",)).get(pk=bypass.pk)
            bypass.mark_remediated(by=actor, reason="every bypassed gate validated retroactively")
            bypass._history_user, bypass._change_reason = actor, "all gates validated retroactively"
            bypass.save()
            _milestone(change, "gates_validated", actor, record.validated_at)
        return record


@transaction.atomic
def gate_results_record(
    *, change_id: int, results: list[tuple[str, str, str]], actor: User, evidence_for_all: str = ""
) -> list[GateResult]:
    """Record the retroactive results of several gates at once: all of them, or none if one is refused.

    ``results`` holds (gate, result, evidence); an empty evidence takes ``evidence_for_all`` (one CI run or
    report often shows several gates passing). Each row goes through ``gate_result_record``, guards and all.
    """
    if not results:
        raise ValidationError("Choose a result for at least one gate.")
    gates = [gate for gate, _, _ in results]
    if len(set(gates)) != len(gates):
        raise ValidationError("Each gate once per submission.")
    recorded, errors = [], []
    change = ChangeRecord.objects.select_related("procedure_version").filter(pk=change_id).first()
    for gate, result, evidence in results:
        label = change.rules.check_label(gate) if change else gate
        try:
            recorded.append(
                gate_result_record(
                    change_id=change_id,
                    gate=gate,
                    result=result,
                    evidence=evidence.strip() or evidence_for_all,
                    actor=actor,
                )
            )
        except ValidationError as exc:
            errors.append(f"{label}: {' '.join(exc.messages)}")
    if errors:
        raise ValidationError(errors)  # the atomic block rolls back the rows already written
    return recorded
