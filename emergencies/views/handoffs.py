"""Asking the next person for a step, and withdrawing the ask."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from emergencies import selectors
from emergencies.forms import HandoffRequestForm
from emergencies.models import HandoffRequest
from emergencies.services.handoffs import can_request_handoff, handoff_request_create, handoff_request_withdraw


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(m for errors in exc.message_dict.values() for m in errors)
    return " ".join(exc.messages)


@require_POST
def handoff_request(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    if not can_request_handoff(request.user, change):
        raise PermissionDenied("Your roles do not allow asking for steps on this change.")
    form = HandoffRequestForm(
        request.POST, candidates=selectors.handoff_candidates(change=change, exclude=request.user)
    )
    if not form.is_valid():
        messages.error(request, "The request was not sent: " + _errors(ValidationError(form.errors)))
        return redirect(f"{change.get_absolute_url()}#handoffs")
    data = form.cleaned_data
    try:
        handoff = handoff_request_create(
            change_id=change.pk,
            kind=data["kind"],
            assignee=data["assignee"],
            role=data["role"],
            note=data["note"],
            actor=request.user,
        )
    except ValidationError as exc:
        messages.error(request, "The request was not sent: " + _errors(exc))
    else:
        messages.success(request, f"{handoff.get_kind_display()} asked of {handoff.asked_of}; they have been notified.")
    return redirect(f"{change.get_absolute_url()}#handoffs")


@require_POST
def handoff_withdraw(request, pk):
    handoff = get_object_or_404(HandoffRequest.objects.select_related("change"), pk=pk)
    if handoff.change is not None:
        selectors.change_get_for_user(identifier=handoff.change.identifier, user=request.user)
    elif handoff.requested_by_id != request.user.pk:
        raise PermissionDenied("Only the person who asked withdraws a request.")
    try:
        handoff_request_withdraw(request_id=handoff.pk, actor=request.user, reason=request.POST.get("reason", "")[:300])
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, "Request withdrawn.")
    return redirect(handoff.change.get_absolute_url() + "#handoffs" if handoff.change else "qms:dashboard")
