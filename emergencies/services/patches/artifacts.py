"""The files of a draft package and their hashes: an upload whose SHA-256 the portal computes, a hash
entered by hand for a file kept elsewhere, its verification (the upload, or a second person's re-entry),
the record of a failed verification, and taking a wrong file out."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime

from django.core.exceptions import PermissionDenied, SuspiciousFileOperation, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from emergencies.models.patches import SHA256_VALIDATOR, PatchArtifact, PatchPackage, normalise_sha256
from emergencies.services.patches.packages import _check_editable_draft, _lock_package
from emergencies.signals import patch_artifact_changed
from qms.models import User

# --- helpers -------------------------------------------------------------------------------------------


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
