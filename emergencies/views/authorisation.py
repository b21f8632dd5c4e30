"""The emergency authorisation from the change page: the signed "proceed before authorisation" deviation and
re-requesting an authorisation that was rejected or withdrawn."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from emergencies import selectors
from emergencies.services import authorisation
from qms.security import signing_auth


@require_POST
def proceed_deviation(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    try:
        authorisation.change_proceed_before_authorisation(
            change_id=change.pk,
            actor=request.user,
            password=request.POST.get("password", ""),
            reason=request.POST.get("reason", "")[:2000],
            auth=signing_auth(request),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"Deviation signed: {change.identifier} may proceed before its authorisation. EMG-E001 stays open "
            "until it is authorised; the QMS coordinators and the missing authorisers have been told.",
        )
    return redirect(change)


@require_POST
def authorisation_rerequest(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    try:
        bypass = authorisation.change_authorisation_rerequest(
            change_id=change.pk, actor=request.user, reason=request.POST.get("reason", "")[:2000]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Authorisation re-requested as {bypass.identifier}; the authorisers are notified.")
    return redirect(change)
