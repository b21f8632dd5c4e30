"""The actions after approval: add the units (by hand or from the incident), record each unit's events, run
the configuration audit, complete the §11.2 follow-up documents."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from emergencies.forms.patches import FollowUpForm, UnitAddForm, UnitEventForm
from emergencies.models.patches import PatchArtifact
from emergencies.services import patches as services
from emergencies.views.patches.page import _act, _change, _package, _redirect, _render, _require_edit
from qms.forms.base import apply_validation_error


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
