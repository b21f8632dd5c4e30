"""Completing the incident from its change's page."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from emergencies import selectors
from emergencies.forms import IncidentForm
from emergencies.services.incident import can_edit_incident, incident_update


@require_POST
def incident_edit(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    if not can_edit_incident(request.user):
        raise PermissionDenied("The on-call engineer, the incident commander or a QMS coordinator completes it.")
    form = IncidentForm(request.POST, change=change)
    if change.incident_id is None:
        messages.error(request, f"{change.identifier} has no incident.")
        return redirect(change)
    if not form.is_valid():
        messages.error(
            request,
            " ".join(
                f"{form.fields[f].label if f in form.fields else ''}: {' '.join(e)}".strip(": ")
                for f, e in form.errors.items()
            ),
        )
        return redirect(f"{change.get_absolute_url()}#incident")
    data = form.cleaned_data
    try:
        incident_update(
            incident_id=change.incident_id,
            actor=request.user,
            reason=data["reason"],
            commander=data["commander"],
            severity=data["severity"] or None,
            detected_at=data["detected_at"],
            detection_source=data["detection_source"] or None,
            affected_systems=data["affected_systems"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{change.incident.ticket} updated.")
    return redirect(f"{change.get_absolute_url()}#incident")
