"""What closes the patch side of a change: the configuration audit (what every unit reports against the
approved hashes), the §11.2 follow-up documents, and the closure hook that lists what still blocks."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies import signals
from emergencies.models import ChangeRecord
from emergencies.models.patches import (
    FOLLOW_UP_LABELS,
    FollowUpDocument,
    PatchPackage,
    UnitDistribution,
    patch_package_required,
)
from emergencies.selectors.patches import closure_problems_for, patch_closure_data
from emergencies.services.patches.packages import _lock_change, _lock_package, can_edit_patch
from emergencies.services.patches.units import InstallStatus
from emergencies.signals import patch_configuration_audited, patch_follow_up_completed
from qms.models import User

FOLLOW_UP_MILESTONE = "follow_up_documentation_complete"


# --- configuration audit and closure -------------------------------------------------------------------


def configuration_audit_rows(package: PatchPackage, units: list[UnitDistribution]) -> list[dict]:
    rows = []
    for unit in units:
        approved = unit.expected_hash(package)
        rows.append(
            {
                "serial_number": unit.serial_number,
                "install_status": unit.install_status,
                "reported": unit.reported_hash,
                "approved": approved,
                "ok": unit.install_status == InstallStatus.INSTALLED
                and bool(approved)
                and unit.reported_hash == approved,
            }
        )
    return rows


@transaction.atomic
def patch_configuration_audit(*, package_id: int, actor: User, now: datetime | None = None) -> PatchPackage:
    """Compare what every unit reports as deployed with the approved hashes, and keep the result."""
    package = _lock_package(package_id)
    if not can_edit_patch(package.change, actor):
        raise PermissionDenied("You may not audit this patch package.")
    if not package.is_released:
        raise ValidationError(f"{package.identifier} is {package.get_status_display().lower()}, not approved.")
    units = list(package.units.select_related("installed_artifact").order_by("serial_number"))
    if not units:
        raise ValidationError(f"{package.identifier} has no units to audit.")
    rows = configuration_audit_rows(package, units)
    package.configuration_audited_at, package.configuration_audited_by = now or timezone.now(), actor
    package.configuration_audit = rows
    ok = all(row["ok"] for row in rows)
    package._history_user = actor
    package._change_reason = "configuration audit: " + ("all units match" if ok else "mismatch or incomplete")
    package.save()
    patch_configuration_audited.send(sender=PatchPackage, package=package, actor=actor, rows=rows, ok=ok)
    return package


def patch_closure_problems(change: ChangeRecord) -> list[str]:
    """Human-readable reasons the change must not close: empty when its procedure has no patch package,
    or when the package is approved, every affected unit acknowledged, installed with the approved hash
    and verified, and the §11.2 follow-up documentation is complete."""
    if not patch_package_required(change):
        return []
    package, units, follow_ups = patch_closure_data(change=change)
    return closure_problems_for(change, package, units, follow_ups)


# --- §11.2 follow-up documentation ---------------------------------------------------------------------


@transaction.atomic
def follow_up_document_complete(
    *, change_id: int, key: str, actor: User, evidence: str, reference: str = "", now: datetime | None = None
) -> FollowUpDocument:
    """Mark one §11.2 document done with its evidence. The last of the eight completes the 30-day follow-up."""
    change = _lock_change(change_id)
    if not patch_package_required(change):
        raise ValidationError(f"{change.procedure_version} has no 30-day follow-up documentation.")
    if key not in FOLLOW_UP_LABELS:
        raise ValidationError({"key": [f"Unknown follow-up document {key!r}."]})
    if not can_edit_patch(change, actor):
        raise PermissionDenied("You may not record follow-up documentation for this change.")
    if change.deployed_at is None:
        raise ValidationError("The 30-day follow-up documentation starts when the patch is deployed.")
    evidence = (evidence or "").strip()
    if not evidence:
        raise ValidationError({"evidence": ["Say what was produced and where it is."]})
    if FollowUpDocument.objects.filter(change=change, key=key).exists():
        raise ValidationError(f"{FOLLOW_UP_LABELS[key]} is already recorded.")
    now = now or timezone.now()
    document = FollowUpDocument(
        change=change,
        key=key,
        evidence=evidence,
        reference=(reference or "").strip(),
        completed_by=actor,
        completed_at=now,
    )
    document.full_clean(validate_constraints=False)
    document.save()
    done = set(FollowUpDocument.objects.filter(change=change).values_list("key", flat=True))
    all_done = done >= set(FOLLOW_UP_LABELS)
    patch_follow_up_completed.send(
        sender=FollowUpDocument, change=change, document=document, actor=actor, all_done=all_done
    )
    if all_done:
        signals.change_record_milestone.send(
            sender=ChangeRecord, change=change, name=FOLLOW_UP_MILESTONE, actor=actor, at=now
        )
    return document
