"""The patch package page of a change: what it shows, and what every action on it shares (the change and
package lookups, the edit check, running a service from a posted form and showing the page again with its
errors). Thin: selectors read, services write."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

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
