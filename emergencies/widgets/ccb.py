"""The emergency CCB's pieces on shared pages: a panel on a change's page, a dashboard widget."""

from emergencies.selectors import ccb as selectors_ccb
from emergencies.services import ccb


def change_panel(request, change) -> dict:
    context = selectors_ccb.ccb_change_panel(change=change)
    context["can_convene"] = context["ccb"] and ccb.can_convene(request.user, change)
    return context


def awaiting_vote_widget(request) -> dict:
    return {"sessions": selectors_ccb.ccb_sessions_awaiting_vote(user=request.user)}
