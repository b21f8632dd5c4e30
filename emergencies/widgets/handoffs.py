from django.middleware.csrf import get_token

from emergencies import permissions, selectors


def awaiting_widget(request) -> dict:
    return {"bypasses": selectors.bypasses_awaiting_signature(user=request.user)}


def my_open_widget(request) -> dict:
    return {
        "changes": selectors.my_open_changes(user=request.user),
        "can_file": permissions.can_file_emergency(request.user),
    }


def waiting_for_you_widget(request) -> dict:
    return {"handoffs": selectors.handoffs_waiting_for(user=request.user)}


def handoff_change_panel(request, change) -> dict:
    from emergencies.forms import HandoffRequestForm
    from emergencies.services.handoffs import can_request_handoff

    can_request = can_request_handoff(request.user, change)
    form = None
    if can_request:
        form = HandoffRequestForm(candidates=selectors.handoff_candidates(change=change, exclude=request.user))
    return {
        "handoffs": selectors.handoffs_for_change(change=change),
        "form": form,
        "change": change,
        "user": request.user,
        # Panels render without the request context: the form carries its token explicitly.
        "csrf_token": get_token(request),
    }


def handoff_subject_panel(request, subject) -> dict:
    return {
        "handoffs": selectors.handoffs_for_subject(subject=subject),
        "form": None,
        "user": request.user,
        "csrf_token": get_token(request),
    }
