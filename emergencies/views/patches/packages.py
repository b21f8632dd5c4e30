"""The actions on a patch package before distribution: start a version, edit its texts, add, verify, remove
and download its files, approve it by electronic signature, withdraw it."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_POST

from emergencies.forms.patches import (
    ApproveForm,
    ArtifactEnterForm,
    ArtifactUploadForm,
    ArtifactVerifyForm,
    PackageTextsForm,
    ReasonForm,
)
from emergencies.models.patches import PatchArtifact, PatchPackage
from emergencies.services import patches as services
from emergencies.views.patches.page import _act, _change, _package, _redirect, _require_edit
from qms.roles import Role
from qms.security import signing_auth


@require_POST
def patch_create(request, identifier):
    change = _change(request, identifier)
    _require_edit(change, request.user)
    try:
        package = services.patch_package_create(change_id=change.pk, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("emergencies:patch-detail", change.identifier)
    messages.success(request, f"{package.identifier} started. Add the files and write the procedures.")
    return _redirect(package)


@require_POST
def patch_update(request, identifier, version):
    change = _change(request, identifier)
    _require_edit(change, request.user)
    package = _package(change, version)
    form = PackageTextsForm(request.POST, instance=PatchPackage(), prefix="texts")
    return _act(
        request,
        change,
        package,
        form,
        "texts_form",
        lambda data: services.patch_package_update(
            package_id=package.pk, actor=request.user, texts={n: data[n] for n in PatchPackage.TEXT_FIELDS}
        ),
        "Package texts saved.",
    )


@require_POST
def artifact_upload(request, identifier, version):
    change = _change(request, identifier)
    _require_edit(change, request.user)
    package = _package(change, version)
    form = ArtifactUploadForm(request.POST, request.FILES, prefix="up")
    return _act(
        request,
        change,
        package,
        form,
        "upload_form",
        lambda data: services.patch_artifact_upload(
            package_id=package.pk,
            actor=request.user,
            file=data["file"],
            kind=data["kind"],
            expected_sha256=data["expected_sha256"],
        ),
        lambda a: f"{a.filename} added; SHA-256 {a.sha256} computed from the upload.",
    )


@require_POST
def artifact_enter(request, identifier, version):
    change = _change(request, identifier)
    _require_edit(change, request.user)
    package = _package(change, version)
    form = ArtifactEnterForm(request.POST, prefix="enter")
    return _act(
        request,
        change,
        package,
        form,
        "enter_form",
        lambda data: services.patch_artifact_enter(package_id=package.pk, actor=request.user, **data),
        lambda a: f"{a.filename} recorded. Its hash counts once the file is uploaded or a second person re-enters it.",
    )


@require_POST
def artifact_verify(request, identifier, version, artifact_id):
    change = _change(request, identifier)
    _require_edit(change, request.user)
    package = _package(change, version)
    artifact = get_object_or_404(PatchArtifact, pk=artifact_id, package=package)
    form = ArtifactVerifyForm(request.POST, request.FILES, prefix=f"verify-{artifact.pk}")

    def act(data):
        if data.get("file"):
            return services.patch_artifact_verify_upload(artifact_id=artifact.pk, actor=request.user, file=data["file"])
        return services.patch_artifact_verify_entry(artifact_id=artifact.pk, actor=request.user, sha256=data["sha256"])

    return _act(
        request, change, package, form, f"verify-{artifact.pk}", act, f"The hash of {artifact.filename} is verified."
    )


@require_POST
def artifact_remove(request, identifier, version, artifact_id):
    change = _change(request, identifier)
    _require_edit(change, request.user)
    package = _package(change, version)
    artifact = get_object_or_404(PatchArtifact, pk=artifact_id, package=package)
    try:
        services.patch_artifact_remove(artifact_id=artifact.pk, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{artifact.filename} removed from the draft.")
    return _redirect(package)


@require_GET
def artifact_download(request, identifier, version, artifact_id):
    change = _change(request, identifier)
    package = _package(change, version)
    artifact = get_object_or_404(PatchArtifact, pk=artifact_id, package=package)
    if not artifact.file:
        raise Http404("This artifact's file is kept elsewhere.")
    return FileResponse(artifact.file.open("rb"), as_attachment=True, filename=artifact.filename)


@require_POST
def patch_approve(request, identifier, version):
    change = _change(request, identifier)
    package = _package(change, version)
    if not services.can_approve_patch(package, request.user):
        raise PermissionDenied("You may not approve this patch package.")
    form = ApproveForm(request.POST, prefix="approve")

    def act(data):
        return services.patch_package_approve(
            package_id=package.pk,
            signer=request.user,
            password=data["password"],
            role=Role(data["role"]),
            comment=data["comment"],
            auth=signing_auth(request),
        )

    return _act(request, change, package, form, "approve_form", act, lambda p: f"{p.identifier} approved and signed.")


@require_POST
def patch_withdraw(request, identifier, version):
    change = _change(request, identifier)
    _require_edit(change, request.user)
    package = _package(change, version)
    form = ReasonForm(request.POST, prefix="withdraw")
    return _act(
        request,
        change,
        package,
        form,
        "withdraw_form",
        lambda data: services.patch_package_withdraw(package_id=package.pk, actor=request.user, reason=data["reason"]),
        lambda p: f"{p.identifier} withdrawn.",
    )
