"""Distribution to the affected units (§10): a unit per serial number, and the events of each (sent,
receipt acknowledged, installed with the hash it reports, verified, rolled back), with one entry point for
the per-unit form."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies.models.patches import PatchArtifact, PatchPackage, UnitDistribution, UnitEvent
from emergencies.selectors.patches import affected_units
from emergencies.services.patches.artifacts import _sha256_field
from emergencies.services.patches.packages import _lock_package, can_edit_patch
from emergencies.signals import patch_unit_changed
from qms.models import User

Kind, InstallStatus = UnitEvent.Kind, UnitDistribution.InstallStatus
# What clocks on a unit's reported time tolerate: the unit's clock and ours differ a little.
CLOCK_SKEW = timedelta(minutes=5)


# --- helpers -------------------------------------------------------------------------------------------


def _lock_unit(distribution_id: int) -> tuple[PatchPackage, UnitDistribution]:
    package_id = UnitDistribution.objects.values_list("package_id", flat=True).get(pk=distribution_id)
    package = _lock_package(package_id)  # always the package first, then the unit
    unit = UnitDistribution.objects.select_for_update(of=("self",)).select_related("installed_artifact")
    return package, unit.get(pk=distribution_id)


def _occurred(at: datetime | None, now: datetime, *, after: datetime | None = None) -> datetime:
    if at is None:
        return now
    if at > now + CLOCK_SKEW:
        raise ValidationError({"occurred_at": ["This time is in the future."]})
    if after is not None and at < after:
        raise ValidationError({"occurred_at": [f"This is before the previous step ({after:%Y-%m-%d %H:%M} UTC)."]})
    return at


# --- distribution to the affected units ----------------------------------------------------------------


def _check_units_editable(package: PatchPackage, actor: User) -> None:
    if not can_edit_patch(package.change, actor):
        raise PermissionDenied("You may not record distribution for this patch package.")
    if package.status == PatchPackage.Status.WITHDRAWN:
        raise ValidationError(f"{package.identifier} is withdrawn.")


def _new_unit(package: PatchPackage, *, actor: User, serial: str, description: str, listed: bool) -> UnitDistribution:
    if "/" in serial:  # a unit is addressed by its serial number (…/units/<serial>/): it must be one path segment
        raise ValidationError(
            {"serial_number": [f"“{serial[:100]}”: a serial number cannot contain “/”; write it with “-” instead."]}
        )
    unit = UnitDistribution(
        package=package,
        serial_number=serial,
        description=description,
        listed_on_incident=listed,
        created_by=actor,
        created_at=timezone.now(),
    )
    unit.full_clean(validate_constraints=False)
    unit._history_user, unit._change_reason = actor, "added to the distribution"
    unit.save()
    patch_unit_changed.send(
        sender=UnitDistribution, unit=unit, package=package, actor=actor, action="added", event=None
    )
    return unit


@transaction.atomic
def unit_distribution_add(
    *, package_id: int, actor: User, serial_number: str, description: str = ""
) -> UnitDistribution:
    package = _lock_package(package_id)
    _check_units_editable(package, actor)
    serial = (serial_number or "").strip()
    if not serial:
        raise ValidationError({"serial_number": ["Give the unit's serial number."]})
    if package.units.filter(serial_number=serial).exists():
        raise ValidationError({"serial_number": [f"{serial} is already in the distribution."]})
    listed = serial in dict(affected_units(package.change.incident))
    return _new_unit(package, actor=actor, serial=serial, description=(description or "").strip(), listed=listed)


@transaction.atomic
def unit_distributions_from_incident(*, package_id: int, actor: User) -> list[UnitDistribution]:
    """One distribution for every serial number the incident lists that has none yet."""
    package = _lock_package(package_id)
    _check_units_editable(package, actor)
    existing = set(package.units.values_list("serial_number", flat=True))
    return [
        _new_unit(package, actor=actor, serial=serial, description=description, listed=True)
        for serial, description in affected_units(package.change.incident)
        if serial not in existing
    ]


def _record(
    package: PatchPackage, unit: UnitDistribution, *, actor: User, kind: str, at: datetime, reason: str, **event_fields
) -> UnitEvent:
    unit.full_clean(validate_constraints=False)
    unit._history_user, unit._change_reason = actor, reason
    unit.save()
    event = UnitEvent(distribution=unit, kind=kind, occurred_at=at, actor=actor, **event_fields)
    event.full_clean(validate_constraints=False)
    event.save()
    patch_unit_changed.send(sender=UnitDistribution, unit=unit, package=package, actor=actor, action=kind, event=event)
    return event


@transaction.atomic
def unit_sent_record(
    *, distribution_id: int, actor: User, channel: str, occurred_at: datetime | None = None, detail: str = ""
) -> UnitDistribution:
    """The package went to the unit by a secure channel (§10.2). The first send distributes the package."""
    package, unit = _lock_unit(distribution_id)
    _check_units_editable(package, actor)
    if not package.is_released:
        raise ValidationError(
            f"{package.identifier} is {package.get_status_display().lower()}: only an approved package is sent."
        )
    if channel not in UnitDistribution.Channel.values:
        raise ValidationError({"channel": ["Choose how the package was sent."]})
    from emergencies.services.preconditions import transition_check

    transition_check(package.change, "distribute")  # §14.3: no unit before Gate 3 approved the deployment
    now = timezone.now()
    at = _occurred(occurred_at, now, after=package.approved_at)
    unit.sent_at, unit.channel = at, channel
    _record(package, unit, actor=actor, kind=Kind.SENT, at=at, reason="sent", channel=channel, detail=detail.strip())
    if package.status == PatchPackage.Status.APPROVED:
        package.distribute(by=actor, at=at, reason=f"first sent to {unit.serial_number}")
        package._history_user, package._change_reason = actor, f"distributed: first sent to {unit.serial_number}"
        package.save()
    return unit


def _check_sent(unit: UnitDistribution) -> None:
    if unit.sent_at is None:
        raise ValidationError(f"{unit.serial_number} has not been sent the package yet.")


@transaction.atomic
def unit_acknowledgement_record(
    *,
    distribution_id: int,
    actor: User,
    acknowledged_by: str,
    occurred_at: datetime | None = None,
    detail: str = "",
) -> UnitDistribution:
    """The unit's operator acknowledged receipt (§10.2 step 4)."""
    package, unit = _lock_unit(distribution_id)
    _check_units_editable(package, actor)
    _check_sent(unit)
    acknowledged_by = (acknowledged_by or "").strip()
    if not acknowledged_by:
        raise ValidationError({"acknowledged_by": ["Who acknowledged receipt at the unit?"]})
    at = _occurred(occurred_at, timezone.now(), after=unit.sent_at)
    unit.acknowledged_at, unit.acknowledged_by = at, acknowledged_by[:200]
    _record(
        package,
        unit,
        actor=actor,
        kind=Kind.ACKNOWLEDGED,
        at=at,
        reason=f"receipt acknowledged by {acknowledged_by}",
        detail=(f"by {acknowledged_by}. " + detail.strip()).strip(),
    )
    return unit


@transaction.atomic
def unit_install_record(
    *,
    distribution_id: int,
    actor: User,
    succeeded: bool,
    reported_hash: str = "",
    artifact_id: int | None = None,
    occurred_at: datetime | None = None,
    detail: str = "",
) -> UnitDistribution:
    """The result of the installation and the hash the unit reports as deployed.

    A reported hash that differs from the approved one is recorded as reported (it is what the unit
    runs); the configuration audit then shows the mismatch and the change cannot close.
    """
    package, unit = _lock_unit(distribution_id)
    _check_units_editable(package, actor)
    _check_sent(unit)
    detail = (detail or "").strip()
    reported = _sha256_field(reported_hash, "reported_hash", required=succeeded)
    artifact = None
    patches = [a for a in package.artifacts.all() if a.kind == PatchArtifact.Kind.PATCH]
    if artifact_id:
        artifact = next((a for a in patches if a.pk == int(artifact_id)), None)
        if artifact is None:
            raise ValidationError({"artifact": ["Choose a patch file of this package."]})
    elif succeeded and len(patches) > 1:
        raise ValidationError({"artifact": ["The package has several patch files: say which one was installed."]})
    if not succeeded and not detail:
        raise ValidationError({"detail": ["Describe how the installation failed."]})
    at = _occurred(occurred_at, timezone.now(), after=unit.sent_at)
    unit.installed_artifact = artifact
    unit.reported_hash = reported
    unit.post_install_verified, unit.verified_at, unit.verification_notes = False, None, ""
    if succeeded:
        unit.install_status, unit.installed_at = InstallStatus.INSTALLED, at
    else:
        unit.install_status = InstallStatus.FAILED
    matches = unit.hash_matches(package)
    reason = "installed" if succeeded else "installation failed"
    if matches is False:
        reason += f": reports {reported}, approved {unit.expected_hash(package) or 'unknown'}"
    _record(
        package,
        unit,
        actor=actor,
        kind=Kind.INSTALLED if succeeded else Kind.INSTALL_FAILED,
        at=at,
        reason=reason,
        reported_hash=reported,
        detail=detail,
    )
    return unit


@transaction.atomic
def unit_verification_record(
    *, distribution_id: int, actor: User, passed: bool, notes: str = "", occurred_at: datetime | None = None
) -> UnitDistribution:
    """The post-installation verification of the unit, per the package's verification procedure."""
    package, unit = _lock_unit(distribution_id)
    _check_units_editable(package, actor)
    if unit.install_status != InstallStatus.INSTALLED:
        raise ValidationError(f"{unit.serial_number} is {unit.get_install_status_display().lower()}, not installed.")
    notes = (notes or "").strip()
    if not passed and not notes:
        raise ValidationError({"detail": ["Describe what failed in the verification."]})
    at = _occurred(occurred_at, timezone.now(), after=unit.installed_at)
    unit.post_install_verified, unit.verification_notes, unit.verified_at = passed, notes, at
    _record(
        package,
        unit,
        actor=actor,
        kind=Kind.VERIFIED if passed else Kind.VERIFICATION_FAILED,
        at=at,
        reason="post-install verification " + ("passed" if passed else "failed"),
        detail=notes,
    )
    return unit


@transaction.atomic
def unit_rollback_record(
    *,
    distribution_id: int,
    actor: User,
    reason: str,
    reported_hash: str = "",
    occurred_at: datetime | None = None,
) -> UnitDistribution:
    """The unit went back to its previous version (§10.4). ``reported_hash`` is what it runs afterwards."""
    package, unit = _lock_unit(distribution_id)
    _check_units_editable(package, actor)
    if unit.install_status not in (InstallStatus.INSTALLED, InstallStatus.FAILED):
        raise ValidationError(
            f"{unit.serial_number} is {unit.get_install_status_display().lower()}: nothing to roll back."
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"detail": ["Say why the unit was rolled back."]})
    restored = _sha256_field(reported_hash, "reported_hash", required=False)
    at = _occurred(occurred_at, timezone.now(), after=unit.sent_at)
    unit.install_status, unit.reported_hash, unit.installed_artifact = InstallStatus.ROLLED_BACK, restored, None
    unit.post_install_verified, unit.verified_at = False, None
    _record(
        package,
        unit,
        actor=actor,
        kind=Kind.ROLLED_BACK,
        at=at,
        reason=f"rolled back: {reason}",
        reported_hash=restored,
        detail=reason,
    )
    return unit


UNIT_EVENT_KINDS = {
    Kind.SENT: "Sent",
    Kind.ACKNOWLEDGED: "Receipt acknowledged",
    Kind.INSTALLED: "Installed",
    Kind.INSTALL_FAILED: "Installation failed",
    Kind.VERIFIED: "Verification passed",
    Kind.VERIFICATION_FAILED: "Verification failed",
    Kind.ROLLED_BACK: "Rolled back",
}


def unit_event_record(*, distribution_id: int, actor: User, kind: str, data: dict) -> UnitDistribution:
    """One entry point for the per-unit form: ``data`` holds occurred_at, channel, acknowledged_by,
    reported_hash, artifact, detail."""
    common = {"distribution_id": distribution_id, "actor": actor, "occurred_at": data.get("occurred_at")}
    detail = data.get("detail", "")
    if kind == Kind.SENT:
        return unit_sent_record(**common, channel=data.get("channel", ""), detail=detail)
    if kind == Kind.ACKNOWLEDGED:
        return unit_acknowledgement_record(**common, acknowledged_by=data.get("acknowledged_by", ""), detail=detail)
    if kind in (Kind.INSTALLED, Kind.INSTALL_FAILED):
        return unit_install_record(
            **common,
            succeeded=kind == Kind.INSTALLED,
            reported_hash=data.get("reported_hash", ""),
            artifact_id=data.get("artifact") or None,
            detail=detail,
        )
    if kind in (Kind.VERIFIED, Kind.VERIFICATION_FAILED):
        return unit_verification_record(**common, passed=kind == Kind.VERIFIED, notes=detail)
    if kind == Kind.ROLLED_BACK:
        return unit_rollback_record(**common, reason=detail, reported_hash=data.get("reported_hash", ""))
    raise ValidationError({"kind": [f"Unknown event {kind!r}."]})
