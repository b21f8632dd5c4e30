"""Hand-offs on shared pages: the dashboard widget of what waits for you, and the panel of a change's or a
record's requests."""

from django.middleware.csrf import get_token

from emergencies import selectors


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
