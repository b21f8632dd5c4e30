"""After a level 1-3 bypass: each skipped check shown to pass again, against the level's remediation deadline."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies import permissions, signals
from emergencies.models import BypassRemediation, BypassRequest
from emergencies.services.bypasses.signing import _lock
from qms.models import User
from qms.services import procedure_gates_check


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
    procedure_gates_check(version=bypass.procedure_version, codes=[gate], field="gate")
    if gate not in bypass.checks:
        raise ValidationError({"gate": [f"{bypass.rules.check_label(gate)} was not bypassed."]})
    done = BypassRemediation.objects.filter(bypass=bypass, gate=gate).select_related("validated_by").first()
    if done is not None:
        raise ValidationError(
            {"gate": [f"{done.gate_label} was already shown to pass by {done.validated_by.display_name}."]}
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


def remediation_due_date(bypass: BypassRequest, start: datetime) -> datetime:
    """The remediation plan's date when it is earlier than the level's deadline, else the deadline."""
    deadline = bypass.rules.remediation_due(bypass.level, start)
    if isinstance(bypass.remediation_due, date):
        planned = datetime.combine(bypass.remediation_due, datetime.max.time().replace(microsecond=0), tzinfo=UTC)
        return min(planned, deadline)
    return deadline
