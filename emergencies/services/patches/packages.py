"""The patch package itself: who may build and approve it, the locks every write takes (the package first,
then what is in it), starting, editing and withdrawing a version, and its approval by electronic signature."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from emergencies import permissions
from emergencies.models import ChangeRecord
from emergencies.models.patches import PatchArtifact, PatchPackage, artifact_manifest, patch_package_required
from emergencies.selectors.patches import patch_approval_problems
from emergencies.signals import patch_package_created, patch_package_updated
from qms.models import Signature, User
from qms.roles import Role
from qms.services import SigningAuth, signature_record, signer_authenticate
from qms.services.delegation import may_sign_in, on_behalf_refusal, signable_roles

APPROVER_ROLES = (Role.CM, Role.RELEASE)


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


# --- approval ------------------------------------------------------------------------------------------


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
