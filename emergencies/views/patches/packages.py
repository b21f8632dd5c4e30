"""The patch package page of a change and its actions. Thin: selectors read, services write."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from emergencies import selectors
from emergencies.forms.patches import (
    ApproveForm,
    ArtifactEnterForm,
    ArtifactUploadForm,
    ArtifactVerifyForm,
    FollowUpForm,
    PackageTextsForm,
    ReasonForm,
    UnitAddForm,
    UnitEventForm,
)
from emergencies.models.patches import PatchArtifact, PatchPackage, patch_package_required
from emergencies.selectors.patches import patch_page_get
from emergencies.services import patches as services
from qms.forms.base import apply_validation_error
from qms.roles import Role
from qms.security import signing_auth
from qms.services import content_hash
from qms.services.delegation import signable_roles

TEMPLATE = "emergencies/patch/package_detail.html"


def _change(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)  # 404 for no role
    if not patch_package_required(change):
        raise Http404("This change's procedure has no patch package.")
    return change


def _package(change, version) -> PatchPackage:
    package = get_object_or_404(PatchPackage.objects.select_related("author"), change=change, version=version)
    package.change = change
    return package


def _require_edit(change, user) -> None:
    if not services.can_edit_patch(change, user):
        raise PermissionDenied("You may not change this patch package.")


def _context(request, change, version=None, **bound) -> dict:
    page = patch_page_get(change=change, version=version)
    user = request.user
    can_edit = services.can_edit_patch(change, user)
    package = page.package
    draft = package is not None and package.is_draft and page.is_current
    live = package is not None and package.status != PatchPackage.Status.WITHDRAWN
    artifact_choices = [(a.pk, a.filename) for a in page.artifacts if a.kind == PatchArtifact.Kind.PATCH]
    approver_roles = signable_roles(user, services.APPROVER_ROLES) if draft and user.is_authenticated else []
    can_approve = package is not None and services.can_approve_patch(package, user)

    def form(name, factory):
        return bound.get(name) or factory()

    unit_rows = [
        (
            unit,
            bound.get(f"unit-{unit.pk}")
            or (
                UnitEventForm(prefix=f"unit-{unit.pk}", artifact_choices=artifact_choices)
                if can_edit and live
                else None
            ),
        )
        for unit in page.units
    ]
    artifact_rows = [
        (
            a,
            bound.get(f"verify-{a.pk}")
            or (ArtifactVerifyForm(prefix=f"verify-{a.pk}") if can_edit and draft and not a.is_verified else None),
            # An entered hash is shown to the one who entered it only, until verified: the second entry stays blind.
            a.is_verified or a.added_by_id == user.pk,
        )
        for a in page.artifacts
    ]
    follow_up_rows = [
        (
            row,
            bound.get(f"fu-{row.key}")
            or (
                FollowUpForm(prefix=f"fu-{row.key}")
                if can_edit and row.document is None and change.deployed_at is not None
                else None
            ),
        )
        for row in page.follow_ups
    ]
    current_hash = None
    if package is not None and page.signatures:
        current_hash = content_hash(package.signable_content(page.artifacts))
    mismatches = [u for u in page.units if u.hash_matches(package) is False]
    return {
        "change": change,
        "page": page,
        "package": package,
        "can_edit": can_edit,
        "draft": draft,
        "live": live,
        "artifact_rows": artifact_rows,
        "unit_rows": unit_rows,
        "follow_up_rows": follow_up_rows,
        "mismatches": mismatches,
        "signatures": [(s, s.content_hash == current_hash) for s in page.signatures],
        "can_create": can_edit and page.current is None,
        "texts_form": form("texts_form", lambda: PackageTextsForm(instance=package, prefix="texts"))
        if can_edit and draft
        else None,
        "upload_form": form("upload_form", lambda: ArtifactUploadForm(prefix="up")) if can_edit and draft else None,
        "enter_form": form("enter_form", lambda: ArtifactEnterForm(prefix="enter")) if can_edit and draft else None,
        "approve_form": form("approve_form", lambda: ApproveForm(prefix="approve", roles=approver_roles))
        if can_approve and page.is_current
        else None,
        "withdraw_form": form("withdraw_form", lambda: ReasonForm(prefix="withdraw"))
        if can_edit and live and page.is_current
        else None,
        "unit_form": form("unit_form", lambda: UnitAddForm(prefix="add")) if can_edit and live else None,
        "can_audit": can_edit and package is not None and package.is_released and bool(page.units),
    }


def _render(request, change, version=None, status=200, **bound):
    return render(request, TEMPLATE, _context(request, change, version, **bound), status=status)


def _act(request, change, package, form, name, action, success):
    """Run one service from a posted form; on error show the page again with the form's errors."""
    if form.is_valid():
        try:
            result = action(form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, success(result) if callable(success) else success)
            return redirect(package.get_absolute_url())
    return _render(request, change, package.version, status=400, **{name: form})


def _redirect(package):
    return redirect(package.get_absolute_url())


@require_GET
def patch_detail(request, identifier, version=None):
    change = _change(request, identifier)
    if version is not None and not PatchPackage.objects.filter(change=change, version=version).exists():
        raise Http404
    return _render(request, change, version)


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


@require_POST
def unit_add(request, identifier, version):
    change = _change(request, identifier)
    _require_edit(change, request.user)
    package = _package(change, version)
    form = UnitAddForm(request.POST, prefix="add")
    return _act(
        request,
        change,
        package,
        form,
        "unit_form",
        lambda data: services.unit_distribution_add(package_id=package.pk, actor=request.user, **data),
        lambda u: f"{u.serial_number} added to the distribution.",
    )


@require_POST
def units_from_incident(request, identifier, version):
    change = _change(request, identifier)
    _require_edit(change, request.user)
    package = _package(change, version)
    try:
        units = services.unit_distributions_from_incident(package_id=package.pk, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{len(units)} unit(s) from {change.incident.ticket} added to the distribution.")
    return _redirect(package)


@require_POST
def unit_event(request, identifier, version, unit_id):
    change = _change(request, identifier)
    _require_edit(change, request.user)
    package = _package(change, version)
    unit = get_object_or_404(package.units, pk=unit_id)
    choices = [(a.pk, a.filename) for a in package.artifacts.filter(kind=PatchArtifact.Kind.PATCH)]
    form = UnitEventForm(request.POST, prefix=f"unit-{unit.pk}", artifact_choices=choices)

    def act(data):
        result = services.unit_event_record(distribution_id=unit.pk, actor=request.user, kind=data["kind"], data=data)
        if result.hash_matches() is False:
            messages.warning(
                request,
                f"Configuration audit: {result.serial_number} reports {result.reported_hash}, approved "
                f"{result.expected_hash() or 'unknown'}. The change cannot close until they match.",
            )
        return result

    kind_label = services.UNIT_EVENT_KINDS.get(request.POST.get(f"unit-{unit.pk}-kind", ""), "Event")
    return _act(
        request, change, package, form, f"unit-{unit.pk}", act, f"{unit.serial_number}: {kind_label.lower()} recorded."
    )


@require_POST
def configuration_audit(request, identifier, version):
    change = _change(request, identifier)
    _require_edit(change, request.user)
    package = _package(change, version)
    try:
        package = services.patch_configuration_audit(package_id=package.pk, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if package.configuration_audit_ok:
            messages.success(request, "Configuration audit: every unit reports the approved hash.")
        else:
            messages.error(
                request, "Configuration audit: some units do not report the approved hash or are not installed."
            )
    return _redirect(package)


@require_POST
def follow_up_complete(request, identifier, key):
    change = _change(request, identifier)
    _require_edit(change, request.user)
    form = FollowUpForm(request.POST, prefix=f"fu-{key}")
    if form.is_valid():
        try:
            document = services.follow_up_document_complete(
                change_id=change.pk,
                key=key,
                actor=request.user,
                evidence=form.cleaned_data["evidence"],
                reference=form.cleaned_data["reference"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{document.get_key_display()} recorded.")
            return redirect("emergencies:patch-detail", change.identifier)
    return _render(request, change, None, status=400, **{f"fu-{key}": form})
