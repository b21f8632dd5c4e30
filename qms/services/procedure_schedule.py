"""Cancelling a scheduled procedure version before its date.

Nothing is deleted: the scheduled version keeps its number and definition and is marked cancelled, so it is
never in force; the version it would have ended is in force again with no end, and its draft is withdrawn.
Changes cannot have pinned it: filing looks versions up by date, and the date has not come.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from qms.limits import COMMENT_MAX
from qms.models import ProcedureDraft, ProcedureVersion, User
from qms.services.procedure_drafts import _audit, _locked, _require_editor

Status = ProcedureDraft.Status


@transaction.atomic
def procedure_schedule_cancel(*, draft_id: int, actor: User, reason: str) -> ProcedureDraft:
    """A QMS coordinator or quality manager cancels a scheduled version before it takes effect, saying why."""
    draft = _locked(draft_id)
    _require_editor(actor)
    reason = (reason or "").strip()
    if not reason or len(reason) > COMMENT_MAX:
        raise ValidationError({"reason": [f"Say why the schedule is cancelled (at most {COMMENT_MAX} characters)."]})
    if draft.status != Status.SCHEDULED or draft.published_version_id is None:
        raise ValidationError("Only a scheduled version can be cancelled.")
    version = ProcedureVersion.objects.select_for_update().get(pk=draft.published_version_id)
    now = timezone.now()
    if version.effective_from <= now:
        raise ValidationError(
            f"{version} took effect at {version.effective_from:%Y-%m-%d %H:%M} UTC; publish a new one."
        )
    if version.effective_until is not None or version.cancelled_at is not None:
        raise ValidationError(f"{version} is followed by a later version; cancel that one first.")
    if version.changes.exists() or version.bypasses.exists():
        raise ValidationError(f"{version} is already pinned by a change or bypass; it cannot be cancelled.")
    previous = (
        ProcedureVersion.objects.select_for_update()
        .filter(procedure=version.procedure, effective_until=version.effective_from, version__lt=version.version)
        .order_by("-version")
        .first()
    )
    version.cancelled_at = now
    version._history_user, version._change_reason = actor, f"schedule cancelled: {reason}"
    version.save(update_fields=["cancelled_at"])
    if previous is not None:
        previous.effective_until = None
        previous._history_user, previous._change_reason = actor, f"stays in force: {version} cancelled"
        previous.save(update_fields=["effective_until"])
    draft.status = Status.WITHDRAWN
    draft._history_user, draft._change_reason = actor, f"schedule cancelled: {reason}"
    draft.save(update_fields=["status", "updated_at"])
    _audit(
        "procedure.schedule_cancelled",
        draft,
        actor,
        reason,
        {"version": version.version, "effective_from": version.effective_from.isoformat()},
    )
    return draft
