"""The change after its fix: hotfix review, deployment checklist, rollback readings and documentation."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies import permissions, signals
from emergencies.models import (
    ChangeRecord,
    RollbackTriggerReading,
)
from qms.models import User

S = ChangeRecord.Status
VALIDATOR_ROLES = permissions.VALIDATOR_ROLES


DOCUMENTATION_SECTIONS = {
    "problem_statement": "Complete problem statement",
    "root_cause": "Root cause analysis",
    "impact_assessment": "Impact assessment",
    "timeline": "Timeline of events",
    "affected_artifacts": "All affected artifacts listed",
    "resolution": "Resolution details",
    "lessons_learned": "Lessons learned",
}
DEPLOYMENT_FLAGS = {
    "smoke_test_passed": "Smoke test passed",
    "security_scan_passed": "Security scan passed",
    "deployment_notification_sent": "Deployment notification sent",
    "dashboards_open": "Monitoring dashboards open",
    "oncall_team_notified": "On-call team notified",
    "stakeholders_notified": "Stakeholders notified",
}


def _lock_change(change_id: int) -> ChangeRecord:
    return (
        ChangeRecord.objects.select_for_update(of=("self",))
        .select_related("incident", "procedure_version", "author")
        .get(pk=change_id)
    )


def _require_editable(change: ChangeRecord, actor: User) -> None:
    if not change.is_open:
        raise ValidationError(f"{change.identifier} is {change.get_status_display().lower()}; it no longer changes.")
    if not permissions.can_work_on_change(change, actor):
        raise PermissionDenied("You may not update this change.")


def _milestone(change: ChangeRecord, name: str, actor: User, at: datetime) -> None:
    signals.change_record_milestone.send(sender=ChangeRecord, change=change, name=name, actor=actor, at=at)


# --- hotfix and deployment ------------------------------------------------------------------------------


@transaction.atomic
def hotfix_review_record(*, change_id: int, reviewer: User) -> ChangeRecord:
    """The second engineer confirms they reviewed the code change (pair programming, §3.1)."""
    change = _lock_change(change_id)
    _require_editable(change, reviewer)
    if reviewer.pk == change.author_id:
        raise PermissionDenied("The author cannot be the second engineer reviewing their own hotfix.")
    if change.status not in (S.HOTFIX, S.BYPASS_AUTHORISED, S.STUB, S.ROLLED_BACK):
        raise ValidationError("The hotfix can only be reviewed before it is deployed.")
    change.hotfix_reviewer = reviewer
    change._history_user, change._change_reason = reviewer, "hotfix reviewed by second engineer"
    change.save(update_fields=["hotfix_reviewer", "updated_at"])
    _milestone(change, "hotfix_reviewed", reviewer, timezone.now())
    return change


@transaction.atomic
def change_deployment_flag_set(*, change_id: int, flag: str, done: bool, actor: User) -> ChangeRecord:
    if flag not in DEPLOYMENT_FLAGS:
        raise ValidationError({"flag": [f"Unknown checklist item {flag!r}."]})
    change = _lock_change(change_id)
    _require_editable(change, actor)
    if getattr(change, flag) == done:
        return change
    setattr(change, flag, done)
    change._history_user = actor
    change._change_reason = f"{DEPLOYMENT_FLAGS[flag]} {'ticked' if done else 'unticked'}"
    change.save(update_fields=[flag, "updated_at"])
    signals.change_record_checklist_changed.send(sender=ChangeRecord, change=change, actor=actor, item=flag, done=done)
    return change


@transaction.atomic
def rollback_reading_record(
    *,
    change_id: int,
    actor: User,
    error_rate_increase_pct: Decimal,
    response_time_ratio: Decimal,
    new_critical_errors: int,
    note: str = "",
    at: datetime | None = None,
) -> RollbackTriggerReading:
    """Record the metrics after a hotfix; the page shows which trigger fired and the action it calls for."""
    change = _lock_change(change_id)
    _require_editable(change, actor)
    if change.status not in (S.DEPLOYED, S.MONITORING):
        raise ValidationError("Rollback triggers are read after deployment, while the change is deployed or monitored.")
    reading = RollbackTriggerReading(
        change=change,
        error_rate_increase_pct=error_rate_increase_pct,
        response_time_ratio=response_time_ratio,
        new_critical_errors=new_critical_errors,
        note=note.strip(),
        recorded_by=actor,
        recorded_at=at or timezone.now(),
    )
    reading.full_clean()
    reading.save()
    fired = reading.triggered(change.rules.rollback_triggers)
    _milestone(change, "rollback_reading", actor, reading.recorded_at)
    signals.change_record_checklist_changed.send(
        sender=ChangeRecord,
        change=change,
        actor=actor,
        item="rollback_reading",
        done=bool(fired),
    )
    return reading


# --- documentation ----------------------------------------------------------------------------------------


def documentation_missing(change: ChangeRecord) -> list[str]:
    return [label for name, label in DOCUMENTATION_SECTIONS.items() if not getattr(change, name).strip()]


@transaction.atomic
def change_documentation_update(*, change_id: int, actor: User, sections: dict[str, str]) -> ChangeRecord:
    """Complete the emergency stub into the full CHG document (§4.1)."""
    unknown = set(sections) - set(DOCUMENTATION_SECTIONS) - {"rollback_plan"}
    if unknown:
        raise ValidationError({"sections": [f"Unknown section(s): {', '.join(sorted(unknown))}."]})
    change = _lock_change(change_id)
    _require_editable(change, actor)
    if "problem_statement" in sections and not sections["problem_statement"].strip():
        raise ValidationError({"problem_statement": ["The problem statement cannot be emptied."]})
    changed = [name for name, value in sections.items() if getattr(change, name) != value.strip()]
    if not changed:
        return change
    for name in changed:
        setattr(change, name, sections[name].strip())
    now = timezone.now()
    newly_complete = not documentation_missing(change) and change.documentation_completed_at is None
    if newly_complete:
        change.documentation_completed_at = now
    change._history_user, change._change_reason = actor, f"documentation: {', '.join(changed)}"
    change.save()
    if newly_complete:
        _milestone(change, "documentation_complete", actor, now)
    return change
