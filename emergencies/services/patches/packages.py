"""The emergency patch package (CM-WF-EMERGENCY §8.2, §9.2, §10, §11.2): every write, and what blocks closure.

Each write is one transaction with an explicit actor; it locks the package first (then the unit), checks
every guard, saves with a history user and reason, and announces itself by a signal that oversight
(``audits.receivers.patches``) turns into audit events and obligations.

Hashes (§15, "Hash verification" is never waived):

* an uploaded file's SHA-256 is computed by the portal while it streams the upload: verified at once;
* a hash entered by hand (the file is kept elsewhere) stays unverified until the file is uploaded and its
  computed hash matches, or a second person re-enters the hash from their own source and it matches.
  A failed verification is recorded in the audit trail even though the attempt is refused;
* a package is approved only when every artifact's hash is verified; the approval signature covers the
  artifacts and freezes their hashes in ``approved_hashes``; nothing about an approved package changes;
* a unit whose reported (deployed) hash differs from the approved one blocks the change's closure.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, SuspiciousFileOperation, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename
from django_fsm import can_proceed

from emergencies import permissions, signals
from emergencies.models import ChangeRecord
from emergencies.models.patches import (
    FOLLOW_UP_DAYS,
    FOLLOW_UP_ITEMS,
    FOLLOW_UP_LABELS,
    SHA256_VALIDATOR,
    FollowUpDocument,
    PatchArtifact,
    PatchPackage,
    UnitDistribution,
    UnitEvent,
    artifact_manifest,
    normalise_sha256,
    patch_package_required,
)
from emergencies.signals import (
    patch_artifact_changed,
    patch_configuration_audited,
    patch_follow_up_completed,
    patch_package_created,
    patch_package_updated,
    patch_unit_changed,
)
from qms.clock import deadline
from qms.models import Signature, User
from qms.roles import Role
from qms.services import SigningAuth, signature_record, signer_authenticate
from qms.services.delegation import may_sign_in, on_behalf_refusal, signable_roles

APPROVER_ROLES = (Role.CM, Role.RELEASE)
FOLLOW_UP_MILESTONE = "follow_up_documentation_complete"
Kind, InstallStatus = UnitEvent.Kind, UnitDistribution.InstallStatus
# What clocks on a unit's reported time tolerate: the unit's clock and ours differ a little.
CLOCK_SKEW = timedelta(minutes=5)


# --- who may do what -----------------------------------------------------------------------------------


def can_edit_patch(change: ChangeRecord, user: User) -> bool:
    """Build the package, record distribution events, complete follow-up documents."""
    return patch_package_required(change) and permissions.can_edit_change(change, user)


def can_approve_patch(package: PatchPackage, user: User) -> bool:
    return (
        package.is_draft
        and package.change.is_open
        and bool(user and user.is_authenticated and signable_roles(user, APPROVER_ROLES))
        and user.pk != package.author_id
    )


# --- helpers -------------------------------------------------------------------------------------------


def _lock_change(change_id: int) -> ChangeRecord:
    return (
        ChangeRecord.objects.select_for_update(of=("self",))
        .select_related("procedure_version", "incident")
        .get(pk=change_id)
    )


def _lock_package(package_id: int) -> PatchPackage:
    return (
        PatchPackage.objects.select_for_update(of=("self",))
        .select_related("change__procedure_version", "change__incident")
        .get(pk=package_id)
    )


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


def _sha256_field(value: str, field: str, *, required: bool = True) -> str:
    value = normalise_sha256(value)
    if not value:
        if required:
            raise ValidationError({field: ["Give the SHA-256."]})
        return ""
    try:
        SHA256_VALIDATOR(value)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from exc
    return value


def _safe_filename(name: str) -> str:
    try:
        filename = get_valid_filename(os.path.basename(name or ""))
    except SuspiciousFileOperation as exc:
        raise ValidationError({"filename": ["This is not a usable file name."]}) from exc
    if len(filename) > 255:
        raise ValidationError({"filename": ["The file name is longer than 255 characters."]})
    return filename


def sha256_of(file) -> tuple[str, int]:
    """SHA-256 and size of a file, read in chunks (an upload is never held in memory whole)."""
    digest, size = hashlib.sha256(), 0
    file.seek(0)
    for chunk in file.chunks():
        digest.update(chunk)
        size += len(chunk)
    file.seek(0)
    return digest.hexdigest(), size


def _check_editable_draft(package: PatchPackage, actor: User) -> None:
    if not can_edit_patch(package.change, actor):
        raise PermissionDenied("You may not change this patch package.")
    if not package.is_draft:
        raise ValidationError(
            f"{package.identifier} is {package.get_status_display().lower()}; its content is frozen. "
            "Withdraw it and build a new version to change it."
        )


def _clean_texts(texts: dict) -> dict:
    unknown = set(texts) - set(PatchPackage.TEXT_FIELDS)
    if unknown:
        raise ValidationError({"texts": [f"Unknown field(s): {', '.join(sorted(unknown))}."]})
    return {name: (value or "").strip() for name, value in texts.items()}


# --- the package ---------------------------------------------------------------------------------------


@transaction.atomic
def patch_package_create(
    *, change_id: int, actor: User, texts: dict | None = None, now: datetime | None = None
) -> PatchPackage:
    """Start the next version of a change's patch package. A new version copies the texts of the last."""
    change = _lock_change(change_id)
    if not patch_package_required(change):
        raise ValidationError(f"{change.procedure_version} does not use patch packages.")
    if not can_edit_patch(change, actor):
        raise PermissionDenied("You may not build a patch package for this change.")
    packages = list(PatchPackage.objects.filter(change=change).order_by("-version"))
    active = next((p for p in packages if p.status != PatchPackage.Status.WITHDRAWN), None)
    if active is not None:
        raise ValidationError(
            f"{active.identifier} is {active.get_status_display().lower()}; withdraw it before building a new version."
        )
    previous = packages[0] if packages else None
    version = previous.version + 1 if previous else 1
    values = {name: getattr(previous, name) for name in PatchPackage.TEXT_FIELDS} if previous else {}
    values.update(_clean_texts(texts or {}))
    package = PatchPackage(
        identifier=f"PATCH-{change.identifier.removeprefix('CHG-')}-v{version}",
        change=change,
        version=version,
        author=actor,
        created_at=now or timezone.now(),
        **values,
    )
    package.full_clean(exclude=["status"], validate_constraints=False)
    package._history_user = actor
    package._change_reason = f"version {version} started" + (f" from {previous.identifier}" if previous else "")
    package.save()
    patch_package_created.send(sender=PatchPackage, package=package, actor=actor)
    return package


@transaction.atomic
def patch_package_update(*, package_id: int, actor: User, texts: dict) -> PatchPackage:
    """Edit the procedures and the release notice of a draft package."""
    package = _lock_package(package_id)
    _check_editable_draft(package, actor)
    changed = [name for name, value in _clean_texts(texts).items() if getattr(package, name) != value]
    if not changed:
        return package
    for name in changed:
        setattr(package, name, texts[name].strip())
    package.full_clean(exclude=["status"], validate_constraints=False)
    package._history_user, package._change_reason = actor, f"edited: {', '.join(changed)}"
    package.save()
    patch_package_updated.send(sender=PatchPackage, package=package, actor=actor, fields=changed)
    return package


@transaction.atomic
def patch_package_withdraw(*, package_id: int, actor: User, reason: str, now: datetime | None = None) -> PatchPackage:
    package = _lock_package(package_id)
    if not can_edit_patch(package.change, actor):
        raise PermissionDenied("You may not withdraw this patch package.")
    if not can_proceed(package.withdraw):
        raise ValidationError(f"{package.identifier} is already withdrawn.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the package is withdrawn."]})
    package.withdraw(by=actor, at=now or timezone.now(), reason=reason)
    package._history_user, package._change_reason = actor, f"withdrawn: {reason}"
    package.save()
    return package


# --- artifacts -----------------------------------------------------------------------------------------


def _verify(artifact: PatchArtifact, *, actor: User, method: str, at: datetime) -> None:
    artifact.verified_by, artifact.verified_at, artifact.verification_method = actor, at, method


def patch_artifact_upload(
    *,
    package_id: int,
    actor: User,
    file,
    kind: str = PatchArtifact.Kind.PATCH,
    expected_sha256: str = "",
    now: datetime | None = None,
) -> PatchArtifact:
    """Add a file to a draft package; the portal computes its SHA-256 from the upload.

    ``expected_sha256`` (the hash the build system printed) is optional; when given, the upload must match.
    """
    filename = _safe_filename(file.name)
    expected = _sha256_field(expected_sha256, "expected_sha256", required=False)
    package = PatchPackage.objects.select_related("change__procedure_version").get(pk=package_id)
    _check_editable_draft(package, actor)
    digest, size = sha256_of(file)  # before the lock: hashing a large file must not hold the package
    if expected and expected != digest:
        _record_failed_verification(
            package_id=package.pk,
            artifact=None,
            actor=actor,
            detail=f"{filename}: upload {digest}, expected {expected}",
        )
        raise ValidationError(
            {"expected_sha256": [f"The uploaded file's SHA-256 is {digest}, not the expected {expected}."]}
        )
    with transaction.atomic():
        package = _lock_package(package_id)
        _check_editable_draft(package, actor)
        if package.artifacts.filter(filename=filename).exists():
            raise ValidationError({"file": [f"{filename} is already in the package; remove it first."]})
        now = now or timezone.now()
        artifact = PatchArtifact(
            package=package,
            filename=filename,
            kind=kind,
            size=size,
            sha256=digest,
            hash_source=PatchArtifact.Source.COMPUTED,
            added_by=actor,
            added_at=now,
        )
        _verify(artifact, actor=actor, method=PatchArtifact.Verification.COMPUTED, at=now)
        artifact.full_clean(exclude=["file"], validate_constraints=False)
        _store_and_save(artifact, file, actor=actor, reason=f"uploaded, SHA-256 computed {digest}")
        patch_artifact_changed.send(
            sender=PatchArtifact, artifact=artifact, package=package, actor=actor, action="added", detail="uploaded"
        )
        return artifact


def _store_and_save(artifact: PatchArtifact, file, *, actor: User, reason: str) -> None:
    """Write the file to storage, then the row; a failed save leaves no stray file behind."""
    artifact.file.save(artifact.filename, file, save=False)
    stored = artifact.file.name
    try:
        artifact._history_user, artifact._change_reason = actor, reason
        artifact.save()
    except Exception:
        artifact.file.storage.delete(stored)
        raise


@transaction.atomic
def patch_artifact_enter(
    *,
    package_id: int,
    actor: User,
    filename: str,
    sha256: str,
    kind: str = PatchArtifact.Kind.PATCH,
    size: int | None = None,
    location: str = "",
    now: datetime | None = None,
) -> PatchArtifact:
    """Record a file kept elsewhere by its hash. It is unverified until uploaded or re-entered by a second person."""
    filename = _safe_filename(filename)
    digest = _sha256_field(sha256, "sha256")
    package = _lock_package(package_id)
    _check_editable_draft(package, actor)
    if package.artifacts.filter(filename=filename).exists():
        raise ValidationError({"filename": [f"{filename} is already in the package."]})
    artifact = PatchArtifact(
        package=package,
        filename=filename,
        kind=kind,
        size=size,
        sha256=digest,
        location=(location or "").strip(),
        hash_source=PatchArtifact.Source.ENTERED,
        added_by=actor,
        added_at=now or timezone.now(),
    )
    artifact.full_clean(validate_constraints=False)
    artifact._history_user, artifact._change_reason = actor, "hash entered, awaiting verification"
    artifact.save()
    patch_artifact_changed.send(
        sender=PatchArtifact, artifact=artifact, package=package, actor=actor, action="added", detail="hash entered"
    )
    return artifact


def _lock_artifact(artifact_id: int) -> tuple[PatchPackage, PatchArtifact]:
    package_id = PatchArtifact.objects.values_list("package_id", flat=True).get(pk=artifact_id)
    package = _lock_package(package_id)
    return package, PatchArtifact.objects.select_for_update().get(pk=artifact_id)


def _check_verifiable(package: PatchPackage, artifact: PatchArtifact, actor: User) -> None:
    _check_editable_draft(package, actor)
    if artifact.is_verified:
        raise ValidationError(f"The hash of {artifact.filename} is already verified.")


def _record_failed_verification(*, package_id: int, artifact: PatchArtifact | None, actor: User, detail: str) -> None:
    """Committed on its own: the attempt is refused, but the audit trail keeps it."""
    with transaction.atomic():
        package = PatchPackage.objects.get(pk=package_id)
        patch_artifact_changed.send(
            sender=PatchArtifact,
            artifact=artifact,
            package=package,
            actor=actor,
            action="verification_failed",
            detail=detail,
        )


def patch_artifact_verify_entry(*, artifact_id: int, actor: User, sha256: str) -> PatchArtifact:
    """A second person re-enters an entered hash from their own source; it must match exactly."""
    digest = _sha256_field(sha256, "sha256")
    with transaction.atomic():
        package, artifact = _lock_artifact(artifact_id)
        _check_verifiable(package, artifact, actor)
        if artifact.added_by_id == actor.pk:
            raise PermissionDenied("A second person re-enters the hash: not the one who entered it.")
        if digest == artifact.sha256:
            _verify(artifact, actor=actor, method=PatchArtifact.Verification.SECOND_ENTRY, at=timezone.now())
            artifact._history_user, artifact._change_reason = actor, "hash re-entered by a second person: matches"
            artifact.save()
            patch_artifact_changed.send(
                sender=PatchArtifact,
                artifact=artifact,
                package=package,
                actor=actor,
                action="verified",
                detail="re-entered by a second person",
            )
            return artifact
    _record_failed_verification(
        package_id=package.pk, artifact=artifact, actor=actor, detail=f"{artifact.filename}: re-entered {digest}"
    )
    # The entered hash is not shown: the second entry must stay independent of the first.
    raise ValidationError({"sha256": ["This does not match the hash entered for the file. Check your source."]})


def patch_artifact_verify_upload(*, artifact_id: int, actor: User, file) -> PatchArtifact:
    """Upload the file behind an entered hash; the portal computes its SHA-256 and it must match."""
    digest, size = sha256_of(file)
    with transaction.atomic():
        package, artifact = _lock_artifact(artifact_id)
        _check_verifiable(package, artifact, actor)
        if digest == artifact.sha256:
            artifact.size = size
            _verify(artifact, actor=actor, method=PatchArtifact.Verification.UPLOAD_MATCHED, at=timezone.now())
            _store_and_save(artifact, file, actor=actor, reason="file uploaded: computed hash matches")
            patch_artifact_changed.send(
                sender=PatchArtifact,
                artifact=artifact,
                package=package,
                actor=actor,
                action="verified",
                detail="file uploaded, computed hash matches",
            )
            return artifact
    _record_failed_verification(
        package_id=package.pk, artifact=artifact, actor=actor, detail=f"{artifact.filename}: upload {digest}"
    )
    raise ValidationError(
        {
            "file": [
                f"The uploaded file's SHA-256 is {digest}, not the {artifact.sha256} entered for {artifact.filename}."
            ]
        }
    )


@transaction.atomic
def patch_artifact_remove(*, artifact_id: int, actor: User) -> None:
    """Take a wrong file out of a draft package (its history keeps that it was there)."""
    package, artifact = _lock_artifact(artifact_id)
    _check_editable_draft(package, actor)
    stored, storage = artifact.file.name, artifact.file.storage
    artifact._history_user, artifact._change_reason = actor, "removed from the draft package"
    patch_artifact_changed.send(
        sender=PatchArtifact, artifact=artifact, package=package, actor=actor, action="removed", detail=""
    )
    artifact.delete()
    if stored:
        transaction.on_commit(lambda: storage.delete(stored), robust=True)


# --- approval ------------------------------------------------------------------------------------------


def patch_approval_problems(package: PatchPackage, artifacts: list[PatchArtifact]) -> list[str]:
    """What must be done before the package can be approved."""
    problems = []
    if not any(a.kind == PatchArtifact.Kind.PATCH for a in artifacts):
        problems.append("Add the patch file(s) with their SHA-256.")
    problems += [f"Verify the hash of {a.filename}." for a in artifacts if not a.is_verified]
    for name in PatchPackage.REQUIRED_FOR_APPROVAL:
        if not getattr(package, name).strip():
            problems.append(f"Write the {PatchPackage._meta.get_field(name).verbose_name}.")
    return problems


def _check_may_approve(package: PatchPackage, artifacts: list[PatchArtifact], *, signer: User, role: Role) -> None:
    if not package.is_draft:
        raise ValidationError(f"{package.identifier} is {package.get_status_display().lower()}, not a draft.")
    if not package.change.is_open:
        raise ValidationError(f"{package.change.identifier} is {package.change.get_status_display().lower()}.")
    if role not in APPROVER_ROLES:
        raise ValidationError(
            {"role": [f"A patch package is approved by a {' or '.join(r.label for r in APPROVER_ROLES)}."]}
        )
    if not may_sign_in(signer, role):
        raise PermissionDenied(f"{signer.display_name} does not hold the role {role.label}.")
    if signer.pk == package.author_id:
        raise PermissionDenied("The author of a patch package cannot approve it.")
    refusal = on_behalf_refusal(signer, role, author_id=package.author_id, what="A patch package")
    if refusal:
        raise PermissionDenied(refusal)
    problems = patch_approval_problems(package, artifacts)
    if problems:
        raise ValidationError(problems)


def patch_package_approve(
    *, package_id: int, signer: User, password: str, role: Role, comment: str = "", auth: SigningAuth | None = None
) -> PatchPackage:
    """Approve by electronic signature. The signature covers the artifacts; their hashes are frozen."""
    package = PatchPackage.objects.select_related("change__procedure_version").get(pk=package_id)
    _check_may_approve(package, list(package.artifacts.all()), signer=signer, role=role)
    signer_authenticate(user=signer, password=password, auth=auth)
    with transaction.atomic():
        package = _lock_package(package_id)
        artifacts = list(package.artifacts.select_for_update())
        _check_may_approve(package, artifacts, signer=signer, role=role)
        signature = signature_record(
            subject=package,
            content=package.signable_content(artifacts),
            signer=signer,
            role=role,
            meaning=Signature.Meaning.APPROVED,
            comment=comment,
            auth=auth,
        )
        package.approve(
            by=signer,
            at=signature.signed_at,
            signature=signature,
            manifest=artifact_manifest(artifacts),
            reason=comment.strip() or f"approved by {signer.display_name} ({role.label})",
        )
        package._history_user, package._change_reason = signer, f"approved by {signer.display_name} ({role.label})"
        package.save()
        return package


# --- distribution to the affected units ----------------------------------------------------------------


def affected_units(incident) -> list[tuple[str, str]]:
    """Serial numbers listed on the incident, one per line: ``SN-123 — flight computer, tail 4``."""
    units: dict[str, str] = {}
    for line in (incident.affected_systems if incident is not None else "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        serial, _, rest = line.partition(" ")
        serial = serial.strip(",;:")[:100]
        if serial and serial not in units:
            units[serial] = rest.strip().lstrip("-–—:,; ").strip()[:200]
    return list(units.items())


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


def closure_problems_for(
    change: ChangeRecord,
    package: PatchPackage | None,
    units: list[UnitDistribution],
    follow_ups: list[FollowUpDocument],
) -> list[str]:
    """The reasons closure is blocked, from data already loaded (the page and the check share it)."""
    if not patch_package_required(change):
        return []
    problems = []
    if package is None:
        problems.append(f"No patch package: {change.procedure_version.procedure.code.upper()} requires one (§8.2).")
    else:
        if not package.is_released:
            problems.append(
                f"Patch package {package.identifier} is not approved ({package.get_status_display().lower()})."
            )
        elif not units:
            problems.append(f"Patch package {package.identifier} has not been distributed to any unit.")
        have = {u.serial_number for u in units}
        problems += [
            f"Affected unit {serial} (listed on {change.incident.ticket}) has no distribution."
            for serial, _ in affected_units(change.incident)
            if serial not in have
        ]
        for unit in units:
            problems += _unit_problems(package, unit)
    done = {d.key for d in follow_ups}
    missing = [label for key, label in FOLLOW_UP_ITEMS if key not in done]
    if missing:
        problems.append(
            f"30-day follow-up documentation: {len(missing)} of {len(FOLLOW_UP_ITEMS)} items outstanding "
            f"({', '.join(missing)})."
        )
    return problems


def _unit_problems(package: PatchPackage, unit: UnitDistribution) -> list[str]:
    sn = unit.serial_number
    if not package.is_released:
        return []
    if unit.sent_at is None:
        return [f"Unit {sn}: package not sent."]
    problems = []
    if unit.acknowledged_at is None:
        problems.append(f"Unit {sn}: receipt not acknowledged.")
    if unit.install_status != InstallStatus.INSTALLED:
        problems.append(f"Unit {sn}: {unit.get_install_status_display().lower()}, not installed.")
    if unit.reported_hash:
        expected = unit.expected_hash(package)
        if unit.reported_hash != expected:
            problems.append(
                f"Configuration audit: unit {sn} reports {unit.reported_hash}, approved {expected or 'unknown'}"
            )
    elif unit.install_status == InstallStatus.INSTALLED:
        problems.append(f"Unit {sn}: no deployed hash reported.")
    if unit.install_status == InstallStatus.INSTALLED and not unit.post_install_verified:
        problems.append(
            f"Unit {sn}: post-install verification " + ("failed." if unit.verified_at is not None else "not recorded.")
        )
    return problems


def patch_closure_problems(change: ChangeRecord) -> list[str]:
    """Human-readable reasons the change must not close: empty when its procedure has no patch package,
    or when the package is approved, every affected unit acknowledged, installed with the approved hash
    and verified, and the §11.2 follow-up documentation is complete."""
    if not patch_package_required(change):
        return []
    from emergencies.selectors.patches import patch_closure_data

    package, units, follow_ups = patch_closure_data(change=change)
    return closure_problems_for(change, package, units, follow_ups)


# --- §11.2 follow-up documentation ---------------------------------------------------------------------


def follow_up_due(change: ChangeRecord) -> datetime | None:
    if change.deployed_at is None:
        return None
    return deadline(change.deployed_at, amount=FOLLOW_UP_DAYS, unit="days", basis="calendar")


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
